/**
 * Model-based property tests (STYLE §11): random page-table trees in every
 * format, random edit / invalidate / translate sequences, the WASM core
 * against the cache-free reference model on the same guest memory.
 *
 * 1. "walk == mapping list": a random tree built from a mapping list; every
 *    target (reference, core) must answer exactly what the list says.
 * 2. "core == reference under edits": after an edit followed by the
 *    invalidation the spec requires, the core must equal the reference
 *    exactly; after an edit *without* it, the core may give the old or the
 *    new answer, nothing else. A/D bits written by both are compared too.
 * Fixed seeds; fast-check prints the seed and path of a failure.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ArrayGuestMemory } from '../../host/src/tables/guest-ram.js';
import { PageAllocator } from '../../host/src/tables/page-allocator.js';
import { defaultCaps } from './reference/config.js';
import { ACC } from './reference/constants.js';
import { refTranslate } from './reference/translate.js';
import { DID, FORMATS, SID, buildFixture, fixturePasid, type Fixture, type Format } from './helpers/formats.js';
import { arbMappings, arbProbe, leafBits, oracle, type Mapping } from './helpers/random-tables.js';
import { RAM_BASE, RAM_SIZE, ReferenceTarget, TABLES_START, show, type Observed, type Target } from './helpers/targets.js';
import { loadCoreTarget } from './helpers/core-target.js';

const CAPS = defaultCaps();
const core = await loadCoreTarget();
const targets: Target[] = [new ReferenceTarget(), ...(core ? [core] : [])];
/** Fixed seed (H2_SEED overrides it to explore; H2_RUNS scales the run counts). */
const SEED = Number(process.env.H2_SEED ?? 0x5eed);
const RUNS = Number(process.env.H2_RUNS ?? 1);

/** Lays out `fmt` with `maps` on `t`; returns the fixture and its allocator. */
function setup(t: Target, fmt: Format, maps: readonly Mapping[]): Fixture & { alloc: PageAllocator } {
  t.reset(CAPS, { rta: 0n, ttm: 0, enabled: true });
  const alloc = new PageAllocator(t.mem, TABLES_START, RAM_BASE + BigInt(RAM_SIZE));
  const f = buildFixture(t.mem, alloc, fmt);
  for (const m of maps) f.table!.map(m.iova, m.gpa, m.pageLg2, leafBits(fmt, m));
  t.setRoot(f.root);
  return { ...f, alloc };
}

const arbFormat = fc.constantFrom(...FORMATS);
/** H2_SKIP_1G_TOP=1 avoids 1 GiB leaves in 3-level tables (known core bug, see the report) to look for others. */
const skip1gTop = (fmt: Format, maps: readonly Mapping[]): boolean => !!process.env.H2_SKIP_1G_TOP && fmt.levels === 3 && maps.some((m) => m.pageLg2 === 30);
const arbAccess = fc.constantFrom(ACC.READ, ACC.WRITE);

describe('walk == mapping list', () => {
  for (const t of targets) {
    it(`${t.name}: random trees in every format answer as their mapping list says`, () => {
      fc.assert(
        fc.property(arbFormat, arbMappings().chain((maps) => fc.tuple(fc.constant(maps), fc.array(fc.tuple(arbProbe(maps), arbAccess), { minLength: 1, maxLength: 12 }))), (fmt, [maps, probes]) => {
          fc.pre(!skip1gTop(fmt, maps));
          const f = setup(t, fmt, maps);
          for (const [iova, access] of probes) {
            const o = t.translate({ sid: SID, pasid: fixturePasid(f), iova, access: access | f.baseAccess | ACC.NO_AD });
            const e = oracle(fmt, maps, iova, access);
            const msg = `${fmt.name} iova=0x${iova.toString(16)} access=${access}: ${show(o)}`;
            expect(o.status, msg).toBe(e.status);
            if (e.status === 0 && 'addr' in e) {
              expect(o.addr, msg).toBe(e.addr);
              expect(o.pageLg2, msg).toBe(e.pageLg2);
              expect(o.perms & 3, msg).toBe(e.perms);
              expect(o.did, msg).toBe(DID);
            }
          }
        }),
        { seed: SEED, numRuns: 150 * RUNS },
      );
    });
  }
});

// ---------------------------------------------------------------------------
// Edits, invalidations, translations: core vs reference

/** One step of a random sequence. */
type Op =
  | { kind: 'translate'; probe: number; access: number }
  | { kind: 'remap'; map: number; write: boolean; read: boolean; inval: 'page' | 'page-ih' | 'domain' | 'none' }
  | { kind: 'unmap'; map: number; inval: 'page' | 'domain' | 'none' }
  | { kind: 'cut'; map: number; level: number; inval: 'page' | 'page-ih' | 'domain' | 'none' }
  | { kind: 'context'; fpd: boolean; present: boolean; inval: boolean }
  | { kind: 'pasid'; present: boolean; inval: boolean };

const arbInval4 = fc.constantFrom('page', 'page-ih', 'domain', 'none') as fc.Arbitrary<'page' | 'page-ih' | 'domain' | 'none'>;
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('translate' as const), probe: fc.nat(), access: arbAccess }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remap' as const), map: fc.nat(), write: fc.boolean(), read: fc.constant(true), inval: arbInval4 }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unmap' as const), map: fc.nat(), inval: fc.constantFrom('page', 'domain', 'none') as fc.Arbitrary<'page' | 'domain' | 'none'> }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), map: fc.nat(), level: fc.nat(), inval: arbInval4 }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('context' as const), fpd: fc.boolean(), present: fc.boolean(), inval: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pasid' as const), present: fc.boolean(), inval: fc.boolean() }) },
);

/** A copy of the reference RAM (the "before" state of an un-invalidated edit). */
function snapshot(mem: ArrayGuestMemory): ArrayGuestMemory {
  const copy = new ArrayGuestMemory(mem.base, mem.bytes.length);
  copy.bytes.set(mem.bytes);
  return copy;
}

/** Both targets and the bookkeeping of one sequence. */
interface Run {
  readonly fmt: Format;
  readonly maps: Mapping[];
  readonly ref: ReferenceTarget;
  readonly dut: Target;
  readonly fRef: Fixture & { alloc: PageAllocator };
  readonly fDut: Fixture & { alloc: PageAllocator };
  /** Reference RAM before an edit whose invalidation has not happened yet. */
  stale?: ArrayGuestMemory;
  /** The invalidation the spec requires for the stale edit, issued before the next edit. */
  pendingInval?: (t: Target) => void;
}

/** Issues the invalidation a pending stale edit needs; from here on the core must be exact. */
function settle(run: Run): void {
  if (run.pendingInval) run.pendingInval(run.dut);
  run.stale = undefined;
  run.pendingInval = undefined;
}

/**
 * Applies `write` to both RAMs (the edit) followed by `inval`, the
 * invalidation the spec requires; with `skip` the invalidation is postponed
 * (the next translation may see the old or the new tables).
 */
function edit(run: Run, write: (f: Fixture, t: Target) => void, inval: (t: Target) => void, skip: boolean): void {
  settle(run);
  const before = snapshot(run.ref.mem);
  write(run.fRef, run.ref);
  write(run.fDut, run.dut);
  if (!skip) {
    inval(run.dut);
    return;
  }
  run.stale = before;
  run.pendingInval = inval;
}

/** The spec's invalidation for a leaf/non-leaf edit of `iova` in the run's format. */
function pteInval(run: Run, kind: 'page' | 'page-ih' | 'domain', iova: bigint, pageLg2: number): (t: Target) => void {
  const am = pageLg2 - 12;
  const ih = kind === 'page-ih';
  const scalable = run.fmt.mode === 'scalable';
  const pasid = fixturePasid(run.fDut);
  if (kind === 'domain') return (t) => (scalable && run.fmt.kind !== 'ss' ? t.pasidIotlb(DID, pasid) : t.iotlbDomain(DID));
  const base = iova & ~((1n << BigInt(pageLg2)) - 1n);
  if (scalable && run.fmt.kind !== 'ss') return (t) => t.pasidIotlbPage(DID, pasid, base, am, ih);
  return (t) => t.iotlbPage(DID, base, am, ih);
}

/** The spec's invalidation after a context-entry edit: context cache, then IOTLB (§6.5.3.3). */
const contextInval = (t: Target): void => {
  t.contextGlobal();
  t.iotlbGlobal();
};
/** After a PASID-entry edit: PASID cache, then PASID-IOTLB / IOTLB domain (§6.5.3.3). */
const pasidInval = (t: Target): void => {
  t.pasidCache(3, DID, 0);
  t.iotlbGlobal();
};

function step(run: Run, op: Op): void {
  const maps = run.maps;
  const m = maps.length ? maps[('map' in op ? op.map : 0) % maps.length]! : undefined;
  switch (op.kind) {
    case 'translate':
      return compareTranslate(run, op.probe, op.access);
    case 'remap': {
      if (!m) return;
      const nm: Mapping = { ...m, write: op.write, read: op.read };
      maps[maps.indexOf(m)] = nm;
      const bits = leafBits(run.fmt, nm);
      return edit(run, (f) => f.table!.map(m.iova, m.gpa, m.pageLg2, bits), pteInval(run, op.inval === 'none' ? 'page' : op.inval, m.iova, m.pageLg2), op.inval === 'none');
    }
    case 'unmap': {
      if (!m) return;
      maps.splice(maps.indexOf(m), 1);
      return edit(run, (f) => f.table!.unmap(m.iova, m.pageLg2), pteInval(run, op.inval === 'none' ? 'page' : op.inval, m.iova, m.pageLg2), op.inval === 'none');
    }
    case 'cut': {
      // Clear a non-leaf entry above the mapping: every mapping below it disappears.
      if (!m) return;
      const leafLevel = (m.pageLg2 - 12) / 9;
      const top = run.fmt.levels - 1;
      if (leafLevel >= top) return;
      const level = leafLevel + 1 + (op.level % (top - leafLevel));
      const span = 1n << BigInt(12 + 9 * (level + 1));
      const base = m.iova & ~(span - 1n);
      for (const x of [...maps]) if (x.iova >= base && x.iova < base + span) maps.splice(maps.indexOf(x), 1);
      // IH=1 after a non-leaf change is not allowed (§6.5.2.3): page-selective with IH=0
      // over the whole span (AM <= 18, else domain-selective).
      const spanLg2 = 12 + 9 * (level + 1);
      const inval = op.inval === 'domain' || spanLg2 - 12 > 18 ? pteInval(run, 'domain', base, 12) : pteInval(run, 'page', base, spanLg2);
      return edit(run, (f) => f.table!.writeEntry(m.iova, level, 0n), inval, op.inval === 'none');
    }
    case 'context': {
      const patch = (f: Fixture, t: Target) => {
        const w = t.mem.readU64(f.contextEntry);
        t.mem.writeU64(f.contextEntry, (w & ~3n) | (op.present ? 1n : 0n) | (op.fpd ? 2n : 0n));
      };
      return edit(run, patch, contextInval, !op.inval);
    }
    case 'pasid': {
      if (run.fmt.mode !== 'scalable') return;
      const patch = (f: Fixture, t: Target) => {
        const w = t.mem.readU64(f.pasidEntry!);
        t.mem.writeU64(f.pasidEntry!, (w & ~1n) | (op.present ? 1n : 0n));
      };
      return edit(run, patch, pasidInval, !op.inval);
    }
  }
}

/** Builds the probe address for `n` from the current mappings. */
function probeAddress(run: Run, n: number): bigint {
  const all = run.maps.length ? run.maps : [{ iova: 1n << 30n, pageLg2: 12 as const }];
  const m = all[n % all.length]!;
  const size = 1n << BigInt(m.pageLg2);
  return [m.iova, m.iova + size - 1n, m.iova + size, m.iova + (BigInt(n) * 0x1357n) % size][(n >> 8) % 4]!;
}

function compareTranslate(run: Run, n: number, access: number): void {
  const iova = probeAddress(run, n);
  const req = { sid: SID, pasid: fixturePasid(run.fRef), iova, access: access | run.fRef.baseAccess };
  const got = run.dut.translate(req);
  const now = run.ref.translate(req);
  const msg = `${run.fmt.name} iova=0x${iova.toString(16)} access=${access}: core ${show(got)} vs reference ${show(now)}`;
  if (!run.stale) {
    expect(got, msg).toEqual(now);
    if (got.status !== 0) syncTables(run, 0x20n); // a faulting walk may have set A (x86 semantics): allowed
    return;
  }
  const old = refTranslate(run.stale, CAPS, run.fRef.root, req);
  const oldObs: Observed = { status: old.status, addr: old.addr, pageLg2: old.pageLg2, perms: old.perms, suppressed: old.suppressed, did: old.did };
  expect([show(now), show(oldObs)], `${msg} (stale edit pending; old: ${show(oldObs)})`).toContain(show(got));
  syncTables(run); // A/D effects of a possibly-stale answer: take the core's
}

/**
 * Copies the core's table words into the reference RAM; with `onlyBits`, only
 * words that differ in nothing but those bits (the rest stays for compareMemory).
 */
function syncTables(run: Run, onlyBits?: bigint): void {
  for (let gpa = TABLES_START; gpa < run.fDut.alloc.highWater; gpa += 8n) {
    const have = run.dut.mem.readU64(gpa);
    const want = run.ref.mem.readU64(gpa);
    if (have !== want && (onlyBits === undefined || ((have ^ want) & ~onlyBits) === 0n)) run.ref.mem.writeU64(gpa, have);
  }
}

describe('core == reference under edits and invalidations', () => {
  it(`${core ? 'core' : 'reference (core not built: harness self-check)'} vs reference`, () => {
    fc.assert(
      fc.property(arbFormat, arbMappings(), fc.array(arbOp, { minLength: 1, maxLength: 25 }), (fmt, maps0, ops) => {
        fc.pre(!skip1gTop(fmt, maps0));
        const ref = new ReferenceTarget();
        const dut = core ?? new ReferenceTarget();
        const maps = [...maps0];
        const run: Run = { fmt, maps, ref, dut, fRef: setup(ref, fmt, maps), fDut: setup(dut, fmt, maps) };
        for (const op of ops) {
          const wasStale = run.stale !== undefined;
          step(run, op);
          if (wasStale && op.kind === 'translate') settle(run); // one stale look, then the required invalidation
        }
        compareMemory(run);
      }),
      { seed: SEED, numRuns: 120 * RUNS },
    );
  });
});

/** Table pages must be identical in both RAMs (A/D updates included). */
function compareMemory(run: Run): void {
  for (let gpa = TABLES_START; gpa < run.fRef.alloc.highWater; gpa += 8n) {
    const want = run.ref.mem.readU64(gpa);
    const have = run.dut.mem.readU64(gpa);
    if (want !== have) expect(`0x${have.toString(16)}`, `${run.fmt.name}: RAM word at 0x${gpa.toString(16)}`).toBe(`0x${want.toString(16)}`);
  }
}

describe('regressions found by the properties', () => {
  // Seed 2 (H2_RUNS=4) shrank to this: first-stage leaf cached by a read, then a write.
  it.each(['sm-fs4', 'sm-fs5', 'sm-nested4'])('%s: a write after a read of the same page sets D in the leaf', (name) => {
    const fmt = FORMATS.find((f) => f.name === name)!;
    for (const t of targets) {
      const maps: Mapping[] = [{ iova: 1n << 30n, gpa: 0n, pageLg2: 12, read: true, write: true }];
      const f = setup(t, fmt, maps);
      const req = { sid: SID, pasid: fixturePasid(f), iova: 1n << 30n, access: f.baseAccess };
      expect(t.translate({ ...req, access: req.access | ACC.READ }).status).toBe(0);
      expect(t.translate({ ...req, access: req.access | ACC.WRITE }).status).toBe(0);
      expect(f.table!.readEntry(1n << 30n, 0)! & 0x60n, `${t.name}: leaf A|D`).toBe(0x60n);
    }
  });
});
