import { describe, expect, it } from 'vitest';
import { Engine } from '../engine.js';
import { StepCoverage } from '../coverage.js';
import { loadFuzzModule } from '../execute.js';
import { inputHash, sameInput, type FuzzInput, type Step } from '../input.js';
import { mutate } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs, withVmmVariants } from '../seeds.js';

const { module } = loadFuzzModule();

describe('fuzz engine', () => {
  it('announces every re-run of a finding (confirmation, minimization) as an execution, so a watchdog times single executions', async () => {
    const seen: number[] = [];
    // A negative step budget makes every step a hang finding: confirmed on a fresh machine, then minimized to one step.
    const engine = new Engine(module, { seed: 1, stepBudgetMs: -1 }, { beforeRun: (input) => seen.push(input.steps.length) });
    const input: FuzzInput = {
      machine: { profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] },
      steps: Array.from({ length: 8 }, (_, i) => ({ op: 'mmio.read' as const, offset: 0x10 + 8 * (i % 2), size: 8 as const })),
    };
    await engine.consider(input);
    expect(engine.bugs.size).toBe(1);
    expect([...engine.bugs.values()][0]!.input.steps.length).toBe(1);
    expect(seen.length).toBeGreaterThan(2); // the execution, the fresh confirmation and the minimizer's re-runs
    expect(seen).toContain(1); // the minimizer's last candidates are announced too
  });
});

describe('fuzz engine: input length', () => {
  const machine: FuzzInput['machine'] = { profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] };
  // Host writes to RAM: no core probe of their own beyond the first input's, so a later input's new features are its other steps'.
  const inert: Step[] = Array.from({ length: 6 }, (_, i) => ({ op: 'mem.write', gpa: 0x10_0000n + BigInt(8 * i), u64: [1n] }));
  const srtp: Step[] = [{ op: 'mmio.write', offset: 0x20, size: 8, value: 0x1_0000n }, { op: 'mmio.write', offset: 0x18, size: 4, value: 0x4000_0000n }];

  it('keeps a new corpus entry as the prefix its new features needed, confirmed by a re-run', async () => {
    const seen: number[] = [];
    const engine = new Engine(module, { seed: 1 }, { beforeRun: (input) => seen.push(input.steps.length) });
    await engine.consider({ machine, steps: inert });
    const before = engine.trims;
    await engine.consider({ machine, steps: [...srtp, ...inert] }); // SRTP's core work (root table latch, cache drops) is new
    expect(engine.trims).toBe(before + 1);
    expect(engine.corpus.at(-1)!.input.steps).toEqual(srtp);
    expect(seen.slice(-2)).toEqual([8, 2]); // the input as given, then its prefix
  });

  it('with --max-len, mutants are cut to the limit; the seeds run whole', async () => {
    const seen: number[] = [];
    const engine = new Engine(module, { seed: 2, maxLen: 4 }, { beforeRun: (input) => seen.push(input.steps.length) });
    await engine.consider({ machine, steps: [...srtp, ...inert, ...srtp] }, true);
    expect(seen[0]).toBe(10);
    const mark = seen.length;
    for (let i = 0; i < 20; i++) await engine.fuzzOne();
    expect(engine.maxLen).toBe(4); // LEN_CONTROL x 2 executions without new coverage before it grows
    expect(Math.max(...seen.slice(mark))).toBeLessThanOrEqual(4);
  });
});

describe('fuzz engine: mutants equal to their parent', () => {
  it('are not run, and the corpus, coverage and findings are those of running them', async () => {
    const seeds = withVmmVariants(loadInputs([goldenDir()])).filter((_s, i) => i % 120 === 0);
    const runs = async (rerunUnchanged: boolean) => {
      const ran: FuzzInput[] = [];
      const engine = new Engine(module, { seed: 4, rerunUnchanged }, { beforeRun: (input) => ran.push(input) });
      for (const [i, s] of seeds.entries()) await engine.consider(s, i === 0);
      const fromSeeds = ran.length;
      for (let i = 0; i < 200; i++) await engine.fuzzOne();
      return { engine, mutants: ran.slice(fromSeeds) };
    };
    const plain = await runs(true);
    const fast = await runs(false);
    expect(fast.engine.corpus.map((e) => e.hash)).toEqual(plain.engine.corpus.map((e) => e.hash));
    expect([...fast.engine.features.seen]).toEqual([...plain.engine.features.seen]);
    expect([...fast.engine.bugs.keys()]).toEqual([...plain.engine.bugs.keys()]);
    expect(fast.engine.unchanged, `${fast.engine.unchanged} of ${plain.engine.execs}`).toBeGreaterThan(1);
    expect(plain.engine.unchanged).toBe(0);
    expect(plain.engine.execs - fast.engine.execs).toBe(fast.engine.unchanged);
    // The mutants that ran are the plain run's less those equal to an input run before (by content, not only by step objects).
    const hashes = new Set<string>();
    const skipped = plain.mutants.filter((m) => { const h = inputHash(m); const dup = hashes.has(h); hashes.add(h); return dup; });
    expect(skipped.length).toBeGreaterThanOrEqual(fast.engine.unchanged);
  });

  it('sameInput says unchanged only for inputs of equal content', () => {
    const rng = new Rng(9);
    const pool = withVmmVariants(loadInputs([goldenDir()])).filter((_s, i) => i % 10 === 0);
    let same = 0;
    for (let i = 0; i < 4000; i++) {
      const parent = pool[rng.below(pool.length)]!;
      const { input } = mutate(parent, rng, pool);
      if (!sameInput(input, parent)) continue;
      same++;
      expect(inputHash(input)).toBe(inputHash(parent));
    }
    expect(same).toBeGreaterThan(10);
  });
});

describe('StepCoverage', () => {
  it('answers the same over a shared memory by doublewords as over a plain map by bytes, aligned or not, any length', () => {
    const rng = new Rng(11);
    const shared = new Uint8Array(new SharedArrayBuffer(4096));
    for (const [offset, len] of [[0, 1365], [8, 1366], [3, 1365], [16, 8], [24, 7], [4088, 8], [4090, 6]] as const) {
      const plain = new Uint8Array(len);
      const map = shared.subarray(offset, offset + len);
      const [a, b] = [new StepCoverage(), new StepCoverage()];
      a.start(plain);
      b.start(map);
      for (let step = 0; step < 300; step++) { // past the first growth of the rows (64)
        for (let k = 0; k < 3; k++) {
          const i = rng.below(len);
          plain[i] = Math.min(255, plain[i]! + 1 + rng.below(40));
          map[i] = plain[i]!;
        }
        a.after(step);
        b.after(step);
      }
      for (let f = 0; f < len * 8; f++) expect(b.stepOf(f), `offset ${offset} length ${len} feature ${f}`).toBe(a.stepOf(f));
      shared.fill(0);
    }
  });

  it('records the step that first put each probe in each hit bucket', () => {
    const map = new Uint8Array(16);
    map[3] = 1; // hit before the first step: not a step's
    const sc = new StepCoverage();
    sc.start(map);
    map[5] = 1;
    sc.after(0);
    map[5] = 2;
    map[9] = 4;
    sc.after(1);
    map[5] = 3;
    map[9] = 5; // same bucket (4-7) as at step 1
    sc.after(2);
    expect(sc.stepOf(5 * 8 + 0)).toBe(0);
    expect(sc.stepOf(5 * 8 + 1)).toBe(1);
    expect(sc.stepOf(5 * 8 + 2)).toBe(2);
    expect(sc.stepOf(9 * 8 + 3)).toBe(1);
    expect(sc.stepOf(3 * 8 + 0)).toBeUndefined();
    sc.start(undefined); // a VM input: nothing known
    expect(sc.stepOf(5 * 8 + 0)).toBeUndefined();
  });

  it('answers as a step-by-step comparison of the map would, over random runs and map sizes', () => {
    const bucket = (n: number): number => (n <= 1 ? 0 : n === 2 ? 1 : n === 3 ? 2 : n < 8 ? 3 : n < 16 ? 4 : n < 32 ? 5 : n < 128 ? 6 : 7);
    let seed = 7;
    const rand = (k: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % k;
    const sc = new StepCoverage();
    for (let run = 0; run < 40; run++) {
      const map = new Uint8Array(8 + rand(90));
      for (let i = 0; i < map.length; i++) if (rand(4) === 0) map[i] = rand(256);
      const first = new Map<number, number>(); // feature -> step, kept the plain way
      const prev = map.slice();
      sc.start(map);
      const steps = rand(300); // past the rows kept from the last run: growth
      for (let step = 0; step < steps; step++) {
        for (let k = rand(6); k > 0; k--) {
          const id = rand(map.length);
          map[id] = Math.min(255, map[id]! + 1 + rand(rand(2) ? 3 : 60));
        }
        for (let id = 0; id < map.length; id++) {
          if (map[id] === prev[id]) continue;
          prev[id] = map[id]!;
          const f = id * 8 + bucket(map[id]!);
          if (!first.has(f)) first.set(f, step);
        }
        sc.after(step);
      }
      for (let f = 0; f < map.length * 8 + 16; f++) expect(sc.stepOf(f)).toBe(first.get(f));
    }
  });
});
