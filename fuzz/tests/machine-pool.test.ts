import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Core } from '../../host/src/core/core.js';
import { loadCoreFromSync } from '../../host/src/core/load.js';
import { replayOn } from '../../host/src/scenario/replay.js';
import { snapshotMachine } from '../../host/src/snapshot/machine-snapshot.js';
import { loadFuzzModule } from '../execute.js';
import { shrinkRam, type FuzzInput } from '../input.js';
import { allZero, MachinePool, POOL_MACHINES, PooledMachine, takeTouchedBits, touchedBitmap } from '../machine-pool.js';
import { mutate } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs } from '../seeds.js';

// A reused machine must be indistinguishable from a fresh one: same
// observations, same thrown errors, same end state (snapshot bytes, cache
// contents), over golden seeds and inputs mutated from them.
const { module } = loadFuzzModule();
const newCore = (): Core => loadCoreFromSync(module);

/** Runs every step; what the guest saw and where it stopped (a thrown step ends the run). */
function runAll(pm: PooledMachine, input: FuzzInput): { observations: unknown[]; error?: string } {
  const run = replayOn(pm.machine, { name: 'x', description: '', iommu: 'intel-iommu', machine: {}, steps: input.steps, cpus: pm.apics.count }, pm.apics);
  try {
    while (run.next());
  } catch (err) {
    return { observations: run.output().observations, error: String(err) };
  }
  return { observations: run.output().observations };
}

/** Every APIC's IRR and TMR bits. */
const irrs = (pm: PooledMachine) => Array.from({ length: pm.apics.count }, (_, id) => pm.apics.read(id));

function inputs(n: number): FuzzInput[] {
  const seeds = loadInputs([goldenDir()]).filter((_s, i) => i % 3 === 0).map((s) => shrinkRam(s));
  const rng = new Rng(7);
  const out = [...seeds];
  let parent = seeds[0]!;
  for (let i = 0; i < n; i++) {
    const { input } = mutate(rng.chance(0.3) ? rng.pick(out) : parent, rng, out);
    out.push(input);
    parent = input;
  }
  return out;
}

describe('touched-page bitmap (coverage build)', () => {
  it('the core marks every page it accesses and the summary every word holding one; takeTouchedBits returns exactly them, with or without the summary, and clears both', () => {
    const core = newCore();
    core.addRam(0, 64 << 20);
    const buf = core.bufAlloc(8); // before the views: an allocation may grow (detach) the memory
    const t = touchedBitmap(core)!;
    expect(t.summary).toBeDefined(); // the build is the current transform's
    t.map.fill(0);
    t.summary!.fill(0);
    const pages = [0, 1, 31, 32, 100, 4095, 4096, 16383];
    for (const p of pages) core.dmaCopy(0x10, undefined, BigInt(p) * 4096n + 8n, 8, 1, buf); // translation off: DMA to GPA = IOVA
    const words = new Set(pages.map((p) => p >> 5));
    const flagged = [...t.summary!].flatMap((byte, i) => [0, 1, 2, 3, 4, 5, 6, 7].filter((b) => (byte >> b) & 1).map((b) => i * 8 + b));
    expect(flagged).toEqual([...words].sort((a, b) => a - b));
    const copy = t.map.slice();
    const viaSummary: number[] = [];
    takeTouchedBits(t.map, (p) => viaSummary.push(p), t.summary);
    expect(viaSummary.sort((a, b) => a - b)).toEqual(pages);
    expect(t.map.every((b) => b === 0) && t.summary!.every((b) => b === 0)).toBe(true);
    const full: number[] = [];
    takeTouchedBits(copy, (p) => full.push(p)); // no summary: every word is read
    expect(full.sort((a, b) => a - b)).toEqual(pages);
    expect(copy.every((b) => b === 0)).toBe(true);
  });
});

describe('allZero (the snapshot oracle\'s check of untracked RAM)', () => {
  /** The plain check: every byte compared with 0. */
  const plainZero = (b: Uint8Array, from: number, to: number): boolean => b.subarray(from, to).every((x) => x === 0);

  it('agrees with a byte-by-byte check on any range, wherever the non-zero bytes are (edges, the first 64 bytes, one past)', () => {
    const size = 3 * 4096 + 100;
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(size - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }), fc.nat(size), fc.nat(size), (bytes, a, b) => {
      const buf = Buffer.alloc(size);
      for (const [at, v] of bytes) buf[at] = v;
      const [from, to] = a <= b ? [a, b] : [b, a];
      expect(allZero(buf, from, to)).toBe(plainZero(buf, from, to));
      for (const [at] of bytes) {
        // Ranges that start or end right at a non-zero byte, or 64 bytes from it.
        for (const [f, t] of [[at, size], [0, at], [0, at + 1], [Math.max(0, at - 64), at + 1], [at + 1, size], [Math.max(0, at - 63), size]] as const) {
          expect(allZero(buf, f, t)).toBe(plainZero(buf, f, t));
        }
      }
    }), { numRuns: 400 });
  });
});

describe('machine pool', () => {
  it('a reused machine observes and ends exactly as a fresh one', async () => {
    const pool = new MachinePool(newCore);
    const all = inputs(160);
    let compared = 0;
    for (const input of all) {
      const pm = await pool.get(input.machine);
      const reused = runAll(pm, input);
      const fresh = await PooledMachine.create(input.machine, newCore());
      const expected = runAll(fresh, input);
      expect(reused).toEqual(expected);
      expect(pm.core.cacheContents()).toEqual(fresh.core.cacheContents());
      expect(irrs(pm)).toEqual(irrs(fresh)); // the APICs are cleared, not rebuilt, at reset (ScenarioApics.clear)
      const full = snapshotMachine(pm.machine); // all RAM read: a page the pool's tracking misses differs from the fresh machine's
      expect(Buffer.from(full).equals(Buffer.from(snapshotMachine(fresh.machine)))).toBe(true);
      expect(Buffer.from(pm.machine.snapshot()).equals(Buffer.from(full))).toBe(true); // the pool's tracked snapshot is the full one
      compared++;
    }
    expect(compared).toBeGreaterThan(190);
    expect(pool.built).toBeLessThan(compared / 4); // machines really are reused
    expect(pool.size).toBeLessThanOrEqual(POOL_MACHINES);
  }, 300_000);
});

describe('machine reuse and coverage', () => {
  it('an input reaches the same features each time it runs on a reused machine (the IOTLB slots are emptied, not only invalidated)', async () => {
    const { Executor } = await import('../execute.js');
    const { withVmmVariants } = await import('../seeds.js');
    const seeds = withVmmVariants(loadInputs([goldenDir()]));
    const ex = new Executor(loadFuzzModule().module);
    let pairs = 0;
    for (let i = 0; i < seeds.length; i += 9) {
      const s = seeds[i]!;
      const warm = seeds.find((o, j) => j !== i && JSON.stringify(o.machine) === JSON.stringify(s.machine) && o.vmm === s.vmm);
      if (!warm) continue;
      await ex.run(warm); // the machine is then reused, with whatever that input left in its caches
      const first = (await ex.run(s)).features;
      const again = (await ex.run(s)).features;
      expect(again, `seed ${i}`).toEqual(first);
      pairs++;
    }
    expect(pairs).toBeGreaterThan(20);
  });
});
