#!/usr/bin/env node
// The `viommu` command: runs the compiled CLI (dist/, built by `npm install` / `npm run build`).
// A command that runs better under V8 flags (host/src/cli/v8-flags.ts) is relaunched once with them.
import { fileURLToPath } from 'node:url';
import { missingV8Flags, relaunchWithFlags } from '../dist/host/src/cli/v8-flags.js';

const args = process.argv.slice(2);
const flags = missingV8Flags(args);
const run = flags.length > 0
  ? relaunchWithFlags(flags, fileURLToPath(import.meta.url), args)
  : import('../dist/host/src/cli/main.js').then(({ main }) => main(process.argv));
run.then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`viommu: error: ${err instanceof Error ? err.message : String(err)}`); process.exitCode = 1; },
);
