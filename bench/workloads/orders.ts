/**
 * Request orders over a set of page indices: a fixed cycle (the same
 * sequence every pass, which a CPU's branch predictor learns) and uniform
 * random order (which it cannot).
 */
import { Rng } from './rng.js';

/** `length` indices cycling 0, 1, ..., setSize - 1, 0, 1, ... */
export function cycleOrder(setSize: number, length: number): Uint32Array {
  checkSizes(setSize, length);
  const order = new Uint32Array(length);
  for (let i = 0; i < length; i++) order[i] = i % setSize;
  return order;
}

/** `length` indices drawn uniformly from [0, setSize) with a seeded generator. */
export function uniformOrder(setSize: number, length: number, seed: number): Uint32Array {
  checkSizes(setSize, length);
  const rng = new Rng(seed);
  const order = new Uint32Array(length);
  for (let i = 0; i < length; i++) order[i] = rng.below(setSize);
  return order;
}

function checkSizes(setSize: number, length: number): void {
  if (!Number.isInteger(setSize) || setSize <= 0) throw new Error(`setSize must be a positive integer, got ${setSize}`);
  if (!Number.isInteger(length) || length <= 0) throw new Error(`length must be a positive integer, got ${length}`);
}
