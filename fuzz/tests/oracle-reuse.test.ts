// What the oracles keep between requests instead of computing again must
// equal the plain computation: the translation oracle's reference answers
// (reused while every word the walk read is unchanged, however the memory
// changed), and the fill counters read in place (no coverage probe hit, the
// same sums as Core.stats()).
import { describe, expect, it } from 'vitest';
import { loadCoreFromSync } from '../../host/src/core/load.js';
import { VTD_BASE } from '../../host/src/machine.js';
import { cacheFills, CacheScopeOracle } from '../cache-scope-oracle.js';
import { Executor, loadFuzzModule } from '../execute.js';
import type { FuzzInput, RawMachine } from '../input.js';
import { PooledMachine } from '../machine-pool.js';
import { Rng } from '../rng.js';
import { TranslationOracle } from '../translation-oracle.js';
import { seedsAndMutants } from './golden-mutants.js';

const { module } = loadFuzzModule();

const legacy: RawMachine = {
  profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 48 },
  devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:04.0', kind: 'dma-test' }],
};

/** Table pages: root 0x100000, context 0x101000, second-stage levels 0x200000.. (VT-d §9.1, §9.3, §9.8). */
const TABLE_PAGES = [0x100000, 0x101000, 0x200000, 0x201000, 0x202000, 0x203000];

/** The words the tables' walks read. */
const USED_WORDS = [0x100000, 0x101180, 0x101188, 0x101200, 0x101208, 0x200000, 0x201000, 0x202000, ...Array.from({ length: 9 }, (_, p) => 0x203000 + 8 * p)];

/** Legacy tables mapping IOVA pages 0..7 of 00:03.0 and 00:04.0 (domain 1 and 2, 4 levels) to 0x300000 + 4 KiB each. */
async function machineWithTables(): Promise<PooledMachine> {
  const pm = await PooledMachine.create(legacy, loadCoreFromSync(module));
  const ram = pm.machine.ram;
  ram.writeU64(0x100000n, 0x101001n);
  ram.writeU64(0x101180n, 0x200001n); ram.writeU64(0x101188n, 0x102n);
  ram.writeU64(0x101200n, 0x200001n); ram.writeU64(0x101208n, 0x202n);
  ram.writeU64(0x200000n, 0x201003n); ram.writeU64(0x201000n, 0x202003n); ram.writeU64(0x202000n, 0x203003n);
  for (let p = 0; p < 8; p++) ram.writeU64(BigInt(0x203000 + 8 * p), BigInt(0x300003 + 0x1000 * p));
  return pm;
}

/** The oracle state a reused answer must leave as a walk would: the table pages it counts as read. */
const pagesOf = (o: TranslationOracle): number[] => [...(o as unknown as { tablePages: Set<number> }).tablePages].sort((a, b) => (a < b ? -1 : 1));

const inputs = (n: number): FuzzInput[] => seedsAndMutants(3, 2, 23, n);

/** What the translation oracle said about each DMA of `all` run in order on one executor: the reference's pieces and the verdict. */
async function dmaVerdicts(all: readonly FuzzInput[], plain: boolean): Promise<unknown[]> {
  const log: unknown[] = [];
  const proto = TranslationOracle.prototype;
  const { before, after } = proto;
  proto.before = function (this: TranslationOracle, ...a: Parameters<typeof before>) {
    const pieces = before.apply(this, a);
    log.push(pieces.map((p) => ({ ...p, ref: { ...p.ref } })));
    return pieces;
  };
  proto.after = function (this: TranslationOracle, ...a: Parameters<typeof after>) {
    const v = after.apply(this, a);
    log.push(v ?? 'ok');
    return v;
  };
  try {
    const ex = new Executor(module, { plainOracles: plain, stepBudgetMs: 60_000 }); // no hang verdict from a loaded machine
    for (const input of all) log.push((await ex.run(input)).finding ?? 'none');
  } finally {
    Object.assign(proto, { before, after });
  }
  return log;
}

describe('oracle reuse', () => {
  it('kept answers reused across executions on pooled machines: every DMA judged as by fresh walks', async () => {
    const all = inputs(150);
    const kept = await dmaVerdicts(all, false);
    const plain = await dmaVerdicts(all, true);
    expect(kept.length).toBeGreaterThan(all.length * 3);
    expect(kept).toEqual(plain);
  }, 300_000);

  it('a reused reference answer equals a fresh walk, whatever changed the tables (writes the oracle never heard of included)', async () => {
    const pm = await machineWithTables();
    const reuse = new TranslationOracle(pm.machine);
    const plain = new TranslationOracle(pm.machine, true);
    for (const o of [reuse, plain]) {
      o.rootLatched(0x100000n);
      o.translationEnabled(true);
    }
    const bytes = pm.core.unsafeBytes();
    const offsetOf = (gpa: number): number => pm.machine.ram.offsetOf(BigInt(gpa), 8);
    const rng = new Rng(5);
    const flipped: [number, number][] = [];
    let same = 0;
    for (let i = 0; i < 4000; i++) {
      if (rng.chance(0.1)) { // a bit of a table word flips behind the oracle's back (as a core-side write would)
        const gpa = rng.chance(0.8) ? rng.pick(USED_WORDS) : rng.pick(TABLE_PAGES) + rng.below(512) * 8;
        const at = offsetOf(gpa) + rng.below(8);
        const bit = 1 << rng.below(8);
        bytes[at]! ^= bit;
        flipped.push([at, bit]);
        continue;
      }
      if (flipped.length && rng.chance(0.3)) { // and back
        const [at, bit] = flipped.splice(rng.below(flipped.length), 1)[0]!;
        bytes[at]! ^= bit;
        continue;
      }
      const bdf = rng.chance(0.5) ? '00:03.0' : '00:04.0';
      const iova = BigInt(rng.below(9) * 0x1000 + (rng.chance(0.3) ? rng.below(0x1000) : 0));
      const len = rng.pick([1, 8, 0x800, 0x1000, 0x1800]);
      const write = rng.chance(0.5);
      const a = reuse.before(bdf, iova, len, write);
      const b = plain.before(bdf, iova, len, write);
      expect(a).toEqual(b);
      expect(pagesOf(reuse)).toEqual(pagesOf(plain));
      if (a.length && a[0]!.ref.status === 0) same++;
    }
    expect(same).toBeGreaterThan(200); // translations succeeded often enough to mean something
  });

  it('an answer is reused while its words are unchanged, and not once the root changes', async () => {
    const pm = await machineWithTables();
    const o = new TranslationOracle(pm.machine);
    o.rootLatched(0x100000n);
    o.translationEnabled(true);
    const first = o.before('00:03.0', 0x1000n, 8, false)[0]!.ref;
    expect(first).toMatchObject({ status: 0, addr: 0x301000n });
    expect(o.before('00:03.0', 0x1000n, 8, false)[0]!.ref).toBe(first);
    pm.machine.ram.writeU64(0x203008n, 0x500003n);
    expect(o.before('00:03.0', 0x1000n, 8, false)[0]!.ref).toMatchObject({ status: 0, addr: 0x500000n });
    o.translationEnabled(false);
    expect(o.before('00:03.0', 0x1000n, 8, false)[0]!.ref).toMatchObject({ status: 0, addr: 0x1000n });
  });

  it('the fill counters read in place equal Core.stats() and hit no coverage probe', async () => {
    const pm = await machineWithTables();
    const map = pm.coverageMap()!;
    map.fill(0); // what building the tables reached
    const scope = new CacheScopeOracle(pm.core, pm.dumpBuf, () => false);
    expect(cacheFills(pm.core)).toBe(0);
    expect(scope.check()).toBeUndefined();
    expect(map.every((b) => b === 0)).toBe(true);
    const m = pm.machine;
    m.mmioWrite(VTD_BASE + 0x20n, 8, 0x100000n);
    m.mmioWrite(VTD_BASE + 0x18n, 4, 0x4000_0000n);
    m.mmioWrite(VTD_BASE + 0x18n, 4, 0x8000_0000n);
    m.dmaTest('00:03.0').read(0n, 8);
    m.dmaTest('00:04.0').read(0x2000n, 8);
    const s = pm.core.stats();
    expect(cacheFills(pm.core)).toBe(s.iotlb_misses! + s.walks! + s.ctx_misses! + s.pasid_misses! + s.psc_misses!);
    expect(cacheFills(pm.core)).toBeGreaterThan(0);
  });
});
