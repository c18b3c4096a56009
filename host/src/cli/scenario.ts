/**
 * Moved to host/src/scenario/parse.ts (scenarios are not a CLI concern);
 * this re-export keeps older imports (fuzz/input.ts) working.
 */
export * from '../scenario/parse.js';
