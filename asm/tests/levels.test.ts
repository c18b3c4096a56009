/**
 * Every level of every format (STYLE §9): hits, permission faults,
 * not-present and reserved bits at each level, superpage boundaries,
 * address-width limits and out-of-RAM table pointers. Each case states the
 * spec's expected answer; it is checked on the reference model and, when the
 * WASM core is built, on the core (which must also equal the reference).
 */
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../../host/src/tables/page-allocator.js';
import type { PageTableBuilder } from '../../host/src/tables/table-builders.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { defaultCaps, type RefCaps } from './reference/config.js';
import { ACC, FR, PERM } from './reference/constants.js';
import {
  FORMATS, PT_FORMATS, SID, buildFixture, fixturePasid, inputWidthBits, type Fixture, type Format,
} from './helpers/formats.js';
import { RAM_BASE, RAM_SIZE, ReferenceTarget, TABLES_START, show, type Observed, type Target } from './helpers/targets.js';
import { loadCoreTarget } from './helpers/core-target.js';

const CAPS: RefCaps = defaultCaps();
const core = await loadCoreTarget();
const targets: Target[] = [new ReferenceTarget(), ...(core ? [core] : [])];

/** Not in RAM (RAM is 16 MiB) but below HAW and inside the nested SS identity map. */
const NOT_RAM = 0xc000_0000n;
const GPA_4K = 0x0123_4000n;
const GPA_2M = 0x0260_0000n;
const GPA_1G = 0x8000_0000n;
/** IOVAs that share no paging table below the top level. */
const IOVA_4K = (1n << 30n) * 3n + (5n << 21n) + (7n << 12n);
const IOVA_2M = (1n << 30n) * 4n + (9n << 21n);
const IOVA_1G = (1n << 30n) * 6n;

/** One level-test case: edit the fixture, then translate and expect. */
interface Case {
  readonly name: string;
  readonly edit: (f: Fixture, t: Target) => void;
  readonly iova: bigint;
  readonly access: number;
  /** Expected status (0 = success) and, on success, address and page size. */
  readonly expect: { status: number; addr?: bigint; pageLg2?: number; perms?: number };
}

const pt = (f: Fixture): PageTableBuilder => f.table!;
const rw = (f: Fixture): bigint => f.leaf.rw;

/** The entry at `level` with its address replaced by `addr`. */
function withAddress(e: bigint, addr: bigint): bigint {
  return (e & ~0x000f_ffff_ffff_f000n) | addr;
}

/** Cases for one paging format: the one generator for all formats. */
function casesFor(fmt: Format): Case[] {
  const c = fmt.codes;
  const L = fmt.levels;
  const isFs = fmt.kind === 'fs' || fmt.kind === 'nested';
  const out: Case[] = [];
  const map4k = (f: Fixture, bits = rw(f)) => pt(f).map(IOVA_4K, GPA_4K, 12, bits);
  out.push({ name: 'hit 4K read', edit: (f) => map4k(f), iova: IOVA_4K + 0x123n, access: ACC.READ, expect: { status: 0, addr: GPA_4K + 0x123n, pageLg2: 12, perms: PERM.R | PERM.W } });
  out.push({ name: 'hit 4K write', edit: (f) => map4k(f), iova: IOVA_4K + 0xfffn, access: ACC.WRITE, expect: { status: 0, addr: GPA_4K + 0xfffn, pageLg2: 12 } });
  out.push({ name: 'write to read-only leaf', edit: (f) => map4k(f, f.leaf.ro), iova: IOVA_4K, access: ACC.WRITE, expect: { status: c.write } });
  if (!isFs) {
    out.push({ name: 'read of write-only leaf', edit: (f) => map4k(f, f.leaf.wo), iova: IOVA_4K, access: ACC.READ, expect: { status: fmt.mode === 'legacy' ? FR.READ : FR.SGN_READ } });
    out.push({ name: 'write through read-only non-leaf', edit: (f) => { map4k(f); pt(f).writeEntry(IOVA_4K, 1, pt(f).readEntry(IOVA_4K, 1)! & ~2n); }, iova: IOVA_4K, access: ACC.WRITE, expect: { status: c.write } });
  } else {
    out.push({ name: 'user request to supervisor leaf', edit: (f) => map4k(f, f.leaf.supervisor), iova: IOVA_4K, access: ACC.READ, expect: { status: FR.SGN_USER } });
    out.push({ name: 'supervisor request to supervisor leaf', edit: (f) => map4k(f, f.leaf.supervisor), iova: IOVA_4K, access: ACC.READ | ACC.PRIV, expect: { status: 0, addr: GPA_4K } });
    out.push({ name: 'execute of XD leaf', edit: (f) => map4k(f, rw(f) | encodeFsPte({ XD: true })), iova: IOVA_4K, access: ACC.READ | ACC.EXEC, expect: { status: FR.SGN_EXEC } });
    out.push({ name: 'write through read-only non-leaf', edit: (f) => { map4k(f); pt(f).writeEntry(IOVA_4K, 1, pt(f).readEntry(IOVA_4K, 1)! & ~2n); }, iova: IOVA_4K, access: ACC.WRITE, expect: { status: c.write } });
  }
  for (let level = 0; level < L; level++) {
    out.push({ name: `not present at level ${level}`, edit: (f) => { map4k(f); pt(f).writeEntry(IOVA_4K, level, 0n); }, iova: IOVA_4K, access: ACC.READ, expect: { status: c.notPresent } });
    out.push({ name: `reserved address bit 50 at level ${level}`, edit: (f) => { map4k(f); pt(f).writeEntry(IOVA_4K, level, pt(f).readEntry(IOVA_4K, level)! | (1n << 50n)); }, iova: IOVA_4K, access: ACC.READ, expect: { status: c.reserved } });
    if (level >= 1) {
      out.push({ name: `level ${level} points outside RAM`, edit: (f) => { map4k(f); pt(f).writeEntry(IOVA_4K, level, withAddress(pt(f).readEntry(IOVA_4K, level)!, NOT_RAM)); }, iova: IOVA_4K, access: ACC.READ, expect: { status: c.unreadable } });
    }
  }
  if (L >= 4) {
    out.push({ name: `PS in the top-level entry is reserved`, edit: (f) => { map4k(f); pt(f).writeEntry(IOVA_4K, L - 1, pt(f).readEntry(IOVA_4K, L - 1)! | 0x80n); }, iova: IOVA_4K, access: ACC.READ, expect: { status: c.reserved } });
  }
  out.push({ name: '2M leaf: last byte', edit: (f) => pt(f).map(IOVA_2M, GPA_2M, 21, rw(f)), iova: IOVA_2M + 0x1f_ffffn, access: ACC.READ, expect: { status: 0, addr: GPA_2M + 0x1f_ffffn, pageLg2: 21 } });
  out.push({ name: '2M leaf: first byte after', edit: (f) => pt(f).map(IOVA_2M, GPA_2M, 21, rw(f)), iova: IOVA_2M + 0x20_0000n, access: ACC.READ, expect: { status: c.notPresent } });
  out.push({ name: '2M leaf with address bit 12 set is reserved (SS) / PAT (FS)', edit: (f) => { pt(f).map(IOVA_2M, GPA_2M, 21, rw(f)); pt(f).writeEntry(IOVA_2M, 1, pt(f).readEntry(IOVA_2M, 1)! | (1n << 12n)); }, iova: IOVA_2M, access: ACC.READ, expect: isFs ? { status: 0, addr: GPA_2M, pageLg2: 21 } : { status: c.reserved } });
  out.push({ name: '2M leaf with address bit 13 set is reserved', edit: (f) => { pt(f).map(IOVA_2M, GPA_2M, 21, rw(f)); pt(f).writeEntry(IOVA_2M, 1, pt(f).readEntry(IOVA_2M, 1)! | (1n << 13n)); }, iova: IOVA_2M, access: ACC.READ, expect: { status: c.reserved } });
  out.push({ name: '1G leaf: last byte', edit: (f) => pt(f).map(IOVA_1G, GPA_1G, 30, rw(f)), iova: IOVA_1G + 0x3fff_ffffn, access: ACC.READ, expect: { status: 0, addr: GPA_1G + 0x3fff_ffffn, pageLg2: 30 } });
  out.push({ name: '1G leaf: first byte after', edit: (f) => pt(f).map(IOVA_1G, GPA_1G, 30, rw(f)), iova: IOVA_1G + 0x4000_0000n, access: ACC.READ, expect: { status: c.notPresent } });
  const W = inputWidthBits(fmt);
  const last = (1n << BigInt(W)) - 1n;
  out.push({ name: `highest valid iova 2^${W}-1`, edit: (f) => pt(f).map(last & ~0xfffn, GPA_4K, 12, rw(f)), iova: last, access: ACC.READ, expect: { status: 0, addr: GPA_4K + 0xfffn, pageLg2: 12 } });
  out.push({ name: `first invalid iova 2^${W}`, edit: (f) => map4k(f), iova: last + 1n, access: ACC.READ, expect: { status: c.width } });
  out.push({ name: 'top-level table outside RAM', edit: (f, t) => setTopPointer(f, t, NOT_RAM), iova: IOVA_4K, access: ACC.READ, expect: { status: c.topUnreadable } });
  return out;
}

/** Points the context / PASID entry's table pointer at `addr` (nested: the FS pointer). */
function setTopPointer(f: Fixture, t: Target, addr: bigint): void {
  const mem = t.mem;
  if (f.format.mode === 'legacy') {
    mem.writeU64(f.contextEntry, withAddress(mem.readU64(f.contextEntry), addr));
  } else {
    const word = f.format.kind === 'ss' ? f.pasidEntry! : f.pasidEntry! + 16n;
    mem.writeU64(word, withAddress(mem.readU64(word), addr));
  }
}

/** Runs `kase` on `target` from a fresh fixture; returns the observation. */
function run(target: Target, fmt: Format, kase: Case): Observed {
  const mem = target.mem;
  target.reset(CAPS, { rta: 0n, ttm: 0, enabled: true });
  const f = buildFixture(mem, new PageAllocator(mem, TABLES_START, RAM_BASE + BigInt(RAM_SIZE)), fmt);
  kase.edit(f, target);
  target.setRoot(f.root);
  return target.translate({ sid: SID, pasid: fixturePasid(f), iova: kase.iova, access: kase.access | f.baseAccess });
}

function check(o: Observed, e: Case['expect'], who: string): void {
  const msg = `${who}: got ${show(o)}`;
  expect(o.status, msg).toBe(e.status);
  if (e.addr !== undefined) expect(o.addr, msg).toBe(e.addr);
  if (e.pageLg2 !== undefined) expect(o.pageLg2, msg).toBe(e.pageLg2);
  if (e.perms !== undefined) expect(o.perms & (PERM.R | PERM.W), msg).toBe(e.perms); // X: see the report
}

describe.each(FORMATS.map((f) => [f.name, f] as const))('%s', (_name, fmt) => {
  it.each(casesFor(fmt).map((c) => [c.name, c] as const))('%s', (_n, kase) => {
    const results = targets.map((t) => [t.name, run(t, fmt, kase)] as const);
    for (const [who, o] of results) check(o, kase.expect, who);
    if (results.length > 1) expect(results[1]![1], 'core == reference').toEqual(results[0]![1]);
  });
});

describe.each(PT_FORMATS.map((f) => [f.name, f] as const))('%s', (_name, fmt) => {
  const cases: Case[] = [
    { name: 'identity', edit: () => {}, iova: 0x1234_5678n, access: ACC.WRITE, expect: { status: 0, addr: 0x1234_5678n } },
    { name: 'identity high address', edit: () => {}, iova: 0x7_0000_0abcn, access: ACC.READ, expect: { status: 0, addr: 0x7_0000_0abcn } },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, kase) => {
    const results = targets.map((t) => [t.name, run(t, fmt, kase)] as const);
    for (const [who, o] of results) check(o, kase.expect, who);
    if (results.length > 1) expect(results[1]![1], 'core == reference').toEqual(results[0]![1]);
  });
});

it('level tests ran on: reference' + (core ? ' and core' : ' only (core not built yet)'), () => {
  expect(targets.length).toBeGreaterThan(0);
});

