import { shrinkRam, type FuzzInput } from '../input.js';
import { mutate } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs } from '../seeds.js';

/**
 * Every `every`-th golden seed from index `first` (RAM shrunk as the fuzzer
 * runs them), then `n` mutants, each of an earlier input picked by an Rng
 * seeded with `seed`: the inputs the oracle comparison tests run both ways.
 */
export function seedsAndMutants(every: number, first: number, seed: number, n: number): FuzzInput[] {
  const seeds = loadInputs([goldenDir()]).filter((_s, i) => i % every === first).map((s) => shrinkRam(s));
  const rng = new Rng(seed);
  const out = [...seeds];
  for (let i = 0; i < n; i++) out.push(mutate(rng.pick(out), rng, out).input);
  return out;
}
