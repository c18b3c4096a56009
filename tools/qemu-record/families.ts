/**
 * Scenario families: seeded generators of guest-driver scenarios of the kind in
 * `shared/scenarios`, recorded on QEMU 7.2.22 to extend the golden corpus. Each
 * family exercises one area (walks and superpages, fault reasons, fault-record
 * rules, register invalidation and staleness, queued invalidation, scalable
 * mode); the seed varies layouts, widths, permissions and the order of events.
 *
 * Structure encodings follow the VT-d spec: root/context entries §9.1/§9.3,
 * scalable-mode entries §9.2/§9.4-9.6, second-stage entries §9.8, descriptors §6.5.2.
 */
import { TT, awForLevels, contextEntryAddress, encodeContextEntry } from '../../host/src/vtd/spec/context-entry.js';
import { CC, IOTLB_DESC, ccDesc, iotlbDesc, waitDesc } from '../../host/src/vtd/spec/descriptors.js';
import { PGTT, decodePasidEntry, encodePasidDirEntry, encodePasidEntry, type PasidEntry } from '../../host/src/vtd/spec/pasid-entry.js';
import { FRCD, GRAN, RTADDR, TTM, ccmdCommand, iotlbCommand, ivaValue } from '../../host/src/vtd/spec/registers.js';
import { encodeRootEntry } from '../../host/src/vtd/spec/root-entry.js';
import { encodeSmContextEntry, smContextEntryAddress } from '../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSmRootEntry } from '../../host/src/vtd/spec/sm-root-entry.js';
import { GPA, devfn, pattern } from './guest.js';
import { PageTree, SS } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder, TTM_SCALABLE, machine72 } from './scenario-builder.js';

const DEV_A = '00:03.0';
const DEV_B = '00:04.0';

const ROOT = GPA.ROOT;
const CTX = GPA.CTX;
const TABLES = 0x110000n; // page tables are allocated from here
const DATA = 0x400000n;   // data pages (source patterns)
const SINK = 0x600000n;   // pages the device writes to
const OUTSIDE_RAM = 0x40000000n; // 1 GiB: above the 256 MiB of RAM, not MMIO

/** The root entry every legacy family uses: bus 0's context table at CTX (§9.1). */
const ROOT_ENTRY = encodeRootEntry({ P: true, CTP: CTX });

/** Root + context entry for `bdf` in legacy mode (§9.1, §9.3). */
function legacyContext(b: ScenarioBuilder, bdf: string, slpt: bigint, aw: number, did: number): void {
  b.memWrite(ROOT, ROOT_ENTRY);
  b.memWrite(contextEntryAddress(CTX, devfn(bdf)), encodeContextEntry({ P: true, SSPTPTR: slpt, AW: aw, DID: did }));
}

/** Legacy setup common to most families; returns the tables. */
function legacySetup(b: ScenarioBuilder, rng: Rng, aw: 39 | 48, devices: string[]): PageTree {
  b.page(ROOT).page(CTX);
  const t = new PageTree(b, TABLES, aw === 39 ? 3 : 4);
  for (const d of devices) legacyContext(b, d, t.top, awForLevels(t.levels), 1 + rng.int(3));
  return t;
}

/** SRTP, global invalidation, TE. */
function enable(b: ScenarioBuilder): void {
  b.setRootTable(ROOT).globalInvalidateRegs().enableTranslation();
}

/** Page walks with 4K/2M/1G leaves and mixed permissions; data checked through a sink page. */
export function walks(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  const t = legacySetup(b, rng, aw, [DEV_A]);
  const sinkIova = 0x8000000n;
  t.map(sinkIova, SINK, SS.RW);
  b.page(SINK);
  const maps: { iova: bigint; readable: boolean }[] = [];
  for (let i = 0; i < 4; i++) {
    const leaf = rng.pick([0, 0, 0, 1]);
    const iova = leaf === 1 ? BigInt(0x200000 * (1 + rng.int(60))) : BigInt(0x1000 * (1 + rng.int(0x7000)));
    if (maps.some((m) => (m.iova >> 21n) === (iova >> 21n))) continue;
    const gpa = leaf === 1 ? 0x800000n + BigInt(i) * 0x200000n : DATA + BigInt(i) * 0x1000n;
    const perms = rng.pick([SS.R, SS.RW, SS.RW, SS.W]);
    t.map(iova, gpa, perms, leaf);
    pattern(b, gpa + (leaf === 1 ? 0x1000n : 0n), 0xa0 + i);
    maps.push({ iova: iova + (leaf === 1 ? 0x1000n : 0n), readable: (perms & SS.R) !== 0n });
  }
  enable(b);
  for (const m of maps) {
    const off = BigInt(rng.int(32) * 8);
    b.dmaRead(DEV_A, m.iova + off, 64);
    b.readFaultState();
    if (m.readable) {
      b.dmaWrite(DEV_A, sinkIova, 64).memRead(SINK, 64);
    } else b.clearFaults();
  }
  b.mmioRead(REG.FSTS, 4);
  return b.build(`gen-walks-${seed}`, 'legacy walks with 4K/2M leaves, mixed permissions', machine72({ aw }));
}

/** One structure corruption per round; each followed by a DMA and the fault registers. */
export function faultReasons(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  const t = legacySetup(b, rng, aw, [DEV_A]);
  const iova = BigInt(0x1000 * (1 + rng.int(0x1000)));
  t.map(iova, DATA, SS.RW);
  pattern(b, DATA, 0xf0);
  enable(b);
  const awField = awForLevels(t.levels);
  const ctxAt = contextEntryAddress(CTX, devfn(DEV_A));
  const ctx = (e: Parameters<typeof encodeContextEntry>[0]) => encodeContextEntry({ P: true, SSPTPTR: t.top, AW: awField, DID: 1, ...e });
  const goodCtx = ctx({});
  // Corruptions write one qword where they break one; reserved bits and the
  // reserved TT value 3 (§9.1, §9.3) are or-ed onto spec-encoded entries on purpose.
  const corruptions: [string, () => void][] = [
    ['root-not-present', () => b.memWrite(ROOT, [encodeRootEntry({ CTP: CTX })[0]!])],
    ['root-reserved-lo', () => b.memWrite(ROOT, [ROOT_ENTRY[0]! | (1n << BigInt(1 + rng.int(11)))])],
    ['root-reserved-hi', () => b.memWrite(ROOT + 8n, [1n << BigInt(rng.int(64))])],
    ['root-outside-ram', () => b.mmioWrite(REG.RTADDR, 8, OUTSIDE_RAM).mmioWrite(REG.GCMD, 4, GCMD.SRTP | GCMD.TE)],
    ['ctx-table-outside-ram', () => b.memWrite(ROOT, encodeRootEntry({ P: true, CTP: OUTSIDE_RAM }))],
    ['ctx-not-present', () => b.memWrite(ctxAt, [encodeContextEntry({ SSPTPTR: t.top, FPD: rng.chance(0.5) })[0]!])],
    ['ctx-fpd', () => b.memWrite(ctxAt, [encodeContextEntry({ P: true, FPD: true, SSPTPTR: t.top })[0]!])],
    ['ctx-reserved-lo', () => b.memWrite(ctxAt, [goodCtx[0]! | (1n << BigInt(4 + rng.int(8)))])],
    ['ctx-reserved-hi', () => b.memWrite(ctxAt + 8n, [goodCtx[1]! | (1n << BigInt(rng.pick([7, 24, 30, 40, 63])))])],
    ['ctx-aw-invalid', () => b.memWrite(ctxAt + 8n, [ctx({ AW: rng.pick([0, 3, 4, 5, 7, aw === 39 ? 2 : 1]) })[1]!])],
    ['ctx-tt', () => b.memWrite(ctxAt, [encodeContextEntry({ P: true, TT: rng.pick([1, 2, 3]), SSPTPTR: t.top })[0]!])],
    ['slpt-outside-ram', () => b.memWrite(ctxAt, [encodeContextEntry({ P: true, SSPTPTR: OUTSIDE_RAM })[0]!])],
    ['pte-not-present', () => b.memWrite(t.entryAt.get(`${iova}:${rng.int(t.levels)}`)!, [0n])],
    ['pte-read-only', () => b.memWrite(t.entryAt.get(`${iova}:${rng.int(t.levels)}`)!, [0n])],
    ['pte-reserved', () => {
      const level = rng.int(t.levels);
      const at = t.entryAt.get(`${iova}:${level}`)!;
      const bit = rng.pick([7, 11, 52, 62, aw === 39 ? 40 : 50]);
      b.memRead(at, 8).memWrite(at, [(level === 0 ? DATA : TABLES) | SS.RW | (1n << BigInt(bit))]); // a reserved bit on purpose
    }],
    ['leaf-in-interrupt-range', () => b.memWrite(t.entryAt.get(`${iova}:0`)!, [0xfee00000n | SS.RW])],
  ];
  const rounds = 3 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    const [, corrupt] = rng.pick(corruptions);
    corrupt();
    b.globalInvalidateRegs(false);
    if (rng.chance(0.5)) b.dmaRead(DEV_A, iova + BigInt(rng.int(16) * 8), 32);
    else b.dmaWrite(DEV_A, iova + BigInt(rng.int(16) * 8), 32);
    b.readFaultState().clearFaults().mmioRead(REG.FSTS, 4).mmioRead(REG.FECTL, 4);
    // repair everything for the next round
    b.memWrite(ROOT, ROOT_ENTRY).memWrite(ctxAt, goodCtx);
    t.restore();
    b.mmioWrite(REG.RTADDR, 8, ROOT).mmioWrite(REG.GCMD, 4, GCMD.SRTP | GCMD.TE).globalInvalidateRegs(false);
  }
  return b.build(`gen-fault-reasons-${seed}`, 'structure corruptions and the fault each records', machine72({ aw }));
}

/** Fault-record rules: same-source collapsing, PFO from another source, IM/IP, clearing orders. */
export function faultRecords(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const t = legacySetup(b, rng, 39, [DEV_A, DEV_B]);
  t.map(0x1000n, DATA, SS.R); // read-only: writes fault with reason 5
  enable(b);
  const actions: (() => void)[] = [
    () => b.dmaWrite(DEV_A, 0x1000n + BigInt(rng.int(64) * 8), 16),
    () => b.dmaWrite(DEV_B, 0x1000n + BigInt(rng.int(64) * 8), 16),
    () => b.dmaRead(rng.pick([DEV_A, DEV_B]), 0x5000n, 16),
    () => b.mmioWrite(REG.FRCD_HI + 4, 4, FRCD.F >> 32n),
    () => b.mmioWrite(REG.FSTS, 4, rng.pick([1, 2, 3, 0x7f])),
    () => b.mmioWrite(REG.FECTL, 4, rng.pick([0, 0x80000000, 0x40000000])),
    () => b.mmioWrite(REG.FRCD_HI, 8, rng.pick([0n, FRCD.F, 0xffffffffffffffffn])),
  ];
  for (let i = 0; i < 12; i++) {
    rng.pick(actions)();
    b.mmioRead(REG.FSTS, 4).mmioRead(REG.FECTL, 4);
    if (rng.chance(0.4)) b.mmioRead(REG.FRCD_HI, 8).mmioRead(REG.FRCD_LO, 8);
  }
  return b.build(`gen-fault-records-${seed}`, 'fault recording, PFO, collapsing and FECTL IM/IP', machine72({ devices: [DEV_A, DEV_B] }));
}

/** Stale translations and the register-based invalidations (CCMD, IOTLB+IVA) that end them. */
export function registerInvalidation(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const t = legacySetup(b, rng, 39, [DEV_A]);
  b.memWrite(contextEntryAddress(CTX, devfn(DEV_A)) + 8n, [encodeContextEntry({ AW: awForLevels(3), DID: 1 })[1]!]);
  const iova = BigInt(0x1000 * (1 + rng.int(0x100)));
  const sinkIova = 0x8000000n;
  t.map(sinkIova, SINK, SS.RW);
  t.map(iova, DATA, SS.RW);
  pattern(b, DATA, 0x11);
  pattern(b, DATA + 0x1000n, 0x22);
  enable(b);
  const check = () => { b.dmaRead(DEV_A, iova, 64).dmaWrite(DEV_A, sinkIova, 64).memRead(SINK, 64); };
  check();
  const leaf = t.entryAt.get(`${iova}:0`)!;
  for (let r = 0; r < 4; r++) {
    b.memWrite(leaf, [DATA + BigInt((r + 1) % 2) * 0x1000n | SS.RW]);
    const kind = rng.int(6);
    if (kind === 1) {
      const g = rng.pick([GRAN.GLOBAL, GRAN.DOMAIN, GRAN.DEVICE_OR_PAGE]);
      const fm = rng.int(4);
      const sid = rng.pick([0x18, 0x19, 0x1f, 0x20]);
      b.mmioWrite(REG.CCMD, 8, ccmdCommand(g, rng.int(3), sid, fm));
    }
    if (kind === 2) b.mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.GLOBAL));
    if (kind === 3) b.mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.DOMAIN, rng.int(3)));
    if (kind >= 4) {
      const am = rng.pick([0, 0, 1, 2, 9]);
      const base = rng.pick([iova, iova + 0x100000n, iova ^ 0x1000n, iova & ~0xfffffn]);
      b.mmioWrite(REG.IVA, 8, ivaValue(base, am, rng.chance(0.3)));
      b.mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.DEVICE_OR_PAGE, rng.int(3)));
    }
    if (kind > 0) b.mmioRead(REG.CCMD, 8).mmioRead(REG.IOTLB, 8).mmioRead(REG.IVA, 8);
    check();
  }
  return b.build(`gen-register-invalidation-${seed}`, 'stale IOTLB entries and CCMD/IOTLB register invalidation', machine72());
}

/** Queued invalidation: descriptor mixes, waits, invalid descriptors, wrap-around. */
export function queuedInvalidation(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const t = legacySetup(b, rng, 39, [DEV_A]);
  const iova = 0x3000n;
  t.map(iova, DATA, SS.RW);
  t.map(0x8000000n, SINK, SS.RW);
  pattern(b, DATA, 0x33);
  pattern(b, DATA + 0x1000n, 0x44);
  const q = 0x180000n;
  const status = 0x190000n;
  b.page(q).page(status);
  b.setRootTable(ROOT);
  b.mmioWrite(REG.IQA, 8, q).mmioWrite(REG.IQT, 8, 0).mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4);
  let tail = 0n;
  const submit = (descs: bigint[][]) => {
    for (const d of descs) { b.memWrite(q + tail, d); tail = (tail + 16n) % 4096n; }
    b.mmioWrite(REG.IQT, 8, tail);
    b.mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4);
  };
  const wait = (data: number) => waitDesc({ sw: true, data, addr: status });
  submit([ccDesc(CC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL), wait(0x1001)]);
  b.mmioWrite(REG.GCMD, 4, GCMD.TE | GCMD.QIE).mmioRead(REG.GSTS, 4);
  b.dmaRead(DEV_A, iova, 64).dmaWrite(DEV_A, 0x8000000n, 64).memRead(SINK, 64);
  // The last four kinds are guest mistakes written raw on purpose: a wait
  // with G=1 (0x15), a type a 128-bit queue does not take, a global IOTLB
  // descriptor with a reserved bit (8, 12 or 40, §6.5.2.3), and an IEC
  // descriptor with G=1 (0x14; QEMU 7.2 has no interrupt remapping here).
  const kinds: (() => bigint[][])[] = [
    // G is the pick or-ed with 1 (global or device, never domain): what this family has always recorded.
    () => [ccDesc(rng.pick([CC.G_GLOBAL, CC.G_DOMAIN, CC.G_DEVICE]) | CC.G_GLOBAL, 1, 0x18)],
    () => [iotlbDesc(IOTLB_DESC.G_GLOBAL)],
    () => [iotlbDesc(IOTLB_DESC.G_DOMAIN, 1)],
    () => [iotlbDesc(IOTLB_DESC.G_PAGE, rng.pick([1, 2]), iova, rng.pick([0, 1, 4]), rng.chance(0.3))],
    () => [wait(rng.int(0xffff))],
    () => [[0x15n, 0n]],
    () => [[BigInt(rng.pick([0, 6, 7, 8, 9, 0xf])), 0n]],
    () => [[iotlbDesc(IOTLB_DESC.G_GLOBAL)[0]! | (1n << BigInt(rng.pick([8, 12, 40]))), 0n]],
    () => [[0x14n, 0n]],
  ];
  for (let r = 0; r < 5; r++) {
    b.memWrite(t.entryAt.get(`${iova}:0`)!, [DATA + BigInt((r + 1) % 2) * 0x1000n | SS.RW]);
    const n = 1 + rng.int(3);
    submit(Array.from({ length: n }, () => rng.pick(kinds)()).flat());
    b.mmioRead(REG.ICS, 4).mmioRead(REG.IECTL, 4).memRead(status, 8);
    if (rng.chance(0.5)) b.mmioWrite(REG.FSTS, 4, 0x10).mmioWrite(REG.ICS, 4, 1);
    if (rng.chance(0.3)) { b.mmioWrite(REG.IQT, 8, tail); b.mmioRead(REG.IQH, 8); }
    b.dmaRead(DEV_A, iova, 64).dmaWrite(DEV_A, 0x8000000n, 64).memRead(SINK, 64);
  }
  if (rng.chance(0.5)) b.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.GLOBAL)).mmioRead(REG.CCMD, 8);
  b.mmioWrite(REG.GCMD, 4, GCMD.TE).mmioRead(REG.GSTS, 4).mmioRead(REG.IQH, 8).mmioRead(REG.IQT, 8);
  return b.build(`gen-queued-invalidation-${seed}`, 'queued invalidation descriptor mixes, waits and errors', machine72());
}

/** Scalable mode (7.2: second-stage through PASID entries, RID_PASID 0). */
export function scalable(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  b.page(ROOT).page(CTX);
  const t = new PageTree(b, TABLES, 3);
  const iova = BigInt(0x1000 * (1 + rng.int(0x100)));
  t.map(iova, DATA, SS.RW);
  t.map(0x8000000n, SINK, SS.RW);
  pattern(b, DATA, 0x55);
  const dir = 0x1a0000n;
  const ptab = 0x1a1000n;
  b.page(dir).page(ptab);
  const rootEntry = encodeSmRootEntry({ LP: true, LCTP: CTX });
  b.memWrite(ROOT, rootEntry);
  const ctxAt = smContextEntryAddress(CTX, devfn(DEV_A));
  const ctxEntry = encodeSmContextEntry({ P: true, PASIDDIRPTR: dir });
  b.memWrite(ctxAt, ctxEntry);
  const dirEntry = encodePasidDirEntry({ P: true, SMPTBLPTR: ptab });
  b.memWrite(dir, dirEntry);
  // The first three qwords of the PASID entry (the rest of the table page is zero).
  const goodPasid = encodePasidEntry({ P: true, AW: awForLevels(3), PGTT: PGTT.SECOND_STAGE, SSPTPTR: t.top, DID: 1 }).slice(0, 3);
  b.memWrite(ptab, goodPasid);
  b.setRootTable(ROOT | TTM_SCALABLE).globalInvalidateRegs().enableTranslation();
  b.dmaRead(DEV_A, iova, 64).dmaWrite(DEV_A, 0x8000000n, 64).memRead(SINK, 64).readFaultState();
  const pasidQw0 = (e: Partial<PasidEntry>) => encodePasidEntry({ ...decodePasidEntry(goodPasid), ...e })[0]!;
  // One qword each; qw2 bit 0 of the context entry (bit 128) is reserved (§9.4).
  const corruptions: (() => void)[] = [
    () => b.memWrite(dir, encodePasidDirEntry({ FPD: rng.chance(0.5), SMPTBLPTR: ptab })),
    () => b.memWrite(ptab, [pasidQw0({ P: false })]),
    () => b.memWrite(ptab, [pasidQw0({ PGTT: rng.pick([0, 1, 3, 4, 5, 7]) })]),
    () => b.memWrite(ptab, [pasidQw0({ AW: rng.pick([0, 2, 3]) })]),
    () => b.memWrite(ctxAt, [encodeSmContextEntry({ PASIDDIRPTR: dir })[0]!]),
    () => b.memWrite(ctxAt + 16n, [1n]),
    () => b.memWrite(ROOT, [encodeSmRootEntry({ LCTP: CTX })[0]!]),
    () => b.memWrite(t.entryAt.get(`${iova}:0`)!, [DATA | SS.R]),
  ];
  for (let r = 0; r < 3; r++) {
    rng.pick(corruptions)();
    b.globalInvalidateRegs(false);
    b.dmaWrite(DEV_A, iova, 32).readFaultState().clearFaults();
    b.memWrite(ROOT, rootEntry).memWrite(ctxAt, ctxEntry).memWrite(dir, dirEntry).memWrite(ptab, goodPasid);
    b.memWrite(t.entryAt.get(`${iova}:0`)!, [DATA | SS.RW]).globalInvalidateRegs(false);
  }
  return b.build(`gen-scalable-${seed}`, 'scalable mode second stage via PASID entries and PASID-level faults', machine72({ scalable: true }));
}

/** Every family by name, for the recorder's batch mode. */
export const FAMILIES: Record<string, (seed: number) => object> = {
  walks, 'fault-reasons': faultReasons, 'fault-records': faultRecords,
  'register-invalidation': registerInvalidation, 'queued-invalidation': queuedInvalidation, scalable,
  modes: (seed) => modes(seed), ttm: (seed) => ttm(seed), 'ss-check-order': (seed) => ssCheckOrder(seed),
};

/** Translation modes over time: pass-through (TT=2), TE off/on, SRTP to a second root table, two domains. */
export function modes(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  const t = legacySetup(b, rng, aw, [DEV_A, DEV_B]);
  const iova = BigInt(0x1000 * (0x300 + rng.int(0x100))); // gpa == iova must be RAM (pass-through, TE=0)
  t.map(iova, DATA, SS.RW);
  t.map(0x8000000n, SINK, SS.RW);
  if (aw === 48 && rng.chance(0.5)) t.map(0x40000000n, 0n, SS.RW, 2); // a 1 GiB identity leaf
  pattern(b, DATA, 0x66);
  pattern(b, iova, 0x77); // what pass-through or TE=0 reads at gpa == iova
  b.page(SINK);
  const ctxA = contextEntryAddress(CTX, devfn(DEV_A));
  const ctx = (e: Parameters<typeof encodeContextEntry>[0]) => encodeContextEntry({ P: true, SSPTPTR: t.top, AW: awForLevels(t.levels), ...e });
  const root2 = 0x1f0000n;
  const ctx2 = 0x1f1000n;
  b.page(root2).page(ctx2).memWrite(root2, encodeRootEntry({ P: true, CTP: ctx2 }));
  b.memWrite(contextEntryAddress(ctx2, devfn(DEV_A)), ctx({ DID: 7 }));
  enable(b);
  const probe = (dev: string) => {
    b.dmaRead(dev, iova, 64).dmaWrite(dev, 0x8000000n, 64).memRead(SINK, 64).mmioRead(REG.FSTS, 4);
    if (rng.chance(0.3)) b.readFaultState().clearFaults();
  };
  const actions: (() => void)[] = [
    // The context entry is rewritten one qword at a time, as a driver might.
    () => { const e = ctx({ TT: TT.PASS_THROUGH, DID: 1 }); b.memWrite(ctxA, [e[0]!]).memWrite(ctxA + 8n, [e[1]!]); },
    () => { const e = ctx({}); b.memWrite(ctxA, [e[0]!]).memWrite(ctxA + 8n, [ctx({ DID: 1 + rng.int(3) })[1]!]); },
    () => b.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.GLOBAL)),
    () => { const fm = rng.int(4); const sid = rng.pick([0x18, 0x20, 0x1b]); b.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.DEVICE_OR_PAGE, rng.int(4), sid, fm)); },
    () => b.mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.GLOBAL)),
    () => b.mmioWrite(REG.GCMD, 4, 0n).mmioRead(REG.GSTS, 4),
    () => b.mmioWrite(REG.GCMD, 4, GCMD.TE).mmioRead(REG.GSTS, 4),
    () => b.mmioWrite(REG.RTADDR, 8, rng.pick([ROOT, root2])).mmioWrite(REG.GCMD, 4, GCMD.SRTP | GCMD.TE).mmioRead(REG.GSTS, 4),
  ];
  probe(DEV_A);
  for (let r = 0; r < 7; r++) {
    rng.pick(actions)();
    probe(rng.pick([DEV_A, DEV_A, DEV_B]));
  }
  return b.build(`gen-modes-${seed}`, 'pass-through, TE off/on, SRTP to another root table, two domains', machine72({ aw, cm: rng.chance(0.3), devices: [DEV_A, DEV_B] }));
}

/** RTADDR.TTM values (§11.4.5: 00 legacy, 01 scalable, 10 reserved, 11 abort-DMA) on legacy and scalable units. */
export function ttm(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalableUnit = rng.chance(0.5);
  const t = legacySetup(b, rng, 39, [DEV_A]);
  const iova = BigInt(0x1000 * (0x300 + rng.int(0x100)));
  t.map(iova, DATA, SS.RW);
  t.map(0x8000000n, SINK, SS.RW);
  pattern(b, DATA, 0x5a);
  b.page(SINK);
  // a scalable-mode tree over the same second-stage table
  const smRoot = 0x1c0000n, smCtx = 0x1c1000n, dir = 0x1c2000n, ptab = 0x1c3000n;
  b.page(smRoot).page(smCtx).page(dir).page(ptab);
  b.memWrite(smRoot, encodeSmRootEntry({ LP: true, LCTP: smCtx }))
    .memWrite(smContextEntryAddress(smCtx, devfn(DEV_A)), encodeSmContextEntry({ P: true, PASIDDIRPTR: dir }));
  const pasid = encodePasidEntry({ P: true, AW: awForLevels(3), PGTT: PGTT.SECOND_STAGE, SSPTPTR: t.top, DID: 1 });
  b.memWrite(dir, encodePasidDirEntry({ P: true, SMPTBLPTR: ptab })).memWrite(ptab, pasid.slice(0, 3));
  for (let r = 0; r < 3; r++) {
    const root = rng.pick([ROOT, smRoot]);
    const mode = BigInt(rng.pick([TTM.LEGACY, TTM.SCALABLE, TTM.SCALABLE, TTM.RESERVED, TTM.ABORT_DMA]));
    b.mmioWrite(REG.RTADDR, 8, root | (mode << RTADDR.TTM_SHIFT)).mmioWrite(REG.GCMD, 4, GCMD.SRTP | (r > 0 ? GCMD.TE : 0n)).mmioRead(REG.GSTS, 4).mmioRead(REG.RTADDR, 8);
    b.globalInvalidateRegs(false);
    if (r === 0) b.enableTranslation();
    b.dmaRead(DEV_A, iova, 64).dmaWrite(DEV_A, 0x8000000n, 64).memRead(SINK, 64).readFaultState().clearFaults();
  }
  return b.build(`gen-ttm-${seed}`, 'RTADDR translation-table modes on legacy and scalable units', machine72({ scalable: scalableUnit }));
}

/** Which check wins on a second-stage entry that both lacks the permission and has reserved bits set. */
export function ssCheckOrder(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  const t = legacySetup(b, rng, aw, [DEV_A]);
  const iova = BigInt(0x1000 * (1 + rng.int(0x1000)));
  t.map(iova, DATA, rng.pick([SS.R, SS.W]));
  enable(b);
  for (let r = 0; r < 3; r++) {
    const level = rng.int(t.levels);
    const at = t.entryAt.get(`${iova}:${level}`)!;
    const perms = rng.pick([SS.R, SS.W, SS.RW]);
    const bit = rng.pick([7, 11, 52, 62, aw === 39 ? 40 : 50]);
    b.memWrite(at, [(t.written.get(at)! & ~SS.RW) | perms | (1n << BigInt(bit))]); // a reserved bit on purpose
    b.globalInvalidateRegs(false);
    if (rng.chance(0.5)) b.dmaWrite(DEV_A, iova, 16); else b.dmaRead(DEV_A, iova, 16);
    b.readFaultState().clearFaults();
    t.restore();
  }
  return b.build(`gen-ss-check-order-${seed}`, 'second-stage entry lacking the permission and carrying reserved bits: which fault', machine72({ aw }));
}
