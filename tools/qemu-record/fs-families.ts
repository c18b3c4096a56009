/**
 * First-stage scenario families for the `qemu-10.0` profile (QEMU 10.0 `x-flts=on`):
 * scalable mode, RID_PASID 0 with a PGTT=1 PASID entry over a 4-level first-stage
 * table (§9.7), a 256-bit invalidation queue (§6.5.2). Seeds vary leaf sizes,
 * U/S, R/W, preset A/D bits, structure corruptions and invalidation mixes.
 */
import { IQA } from '../../host/src/vtd/qi/queue-regs.js';
import { CC, IOTLB_DESC, PC_DESC, ccDesc, iotlbDesc, pasidCacheDesc, waitDesc } from '../../host/src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { PGTT, encodePasidDirEntry, encodePasidEntry } from '../../host/src/vtd/spec/pasid-entry.js';
import { FSTS } from '../../host/src/vtd/spec/registers.js';
import { encodeSmRootEntry } from '../../host/src/vtd/spec/sm-root-entry.js';
import { encodeSmContextEntry, smContextEntryAddress } from '../../host/src/vtd/spec/sm-context-entry.js';
import { devfn, pasidQword } from './guest.js';
import { PageTree } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';

const DEV = '00:03.0';
const ROOT = 0x100000n;
const CTX = 0x101000n;
const CTX_ENTRY = smContextEntryAddress(CTX, devfn(DEV)); // lower context table (§9.4)
const PASID_DIR = 0x1a0000n;
const PASID_TABLE = 0x1a1000n;
const TABLES = 0x110000n;
const DATA = 0x400000n;
const SINK = 0x600000n;
const SINK_IOVA = 0x8000000n;
const QUEUE = 0x180000n;
const STATUS = 0x190000n;
const OUTSIDE_RAM = 0x40000000n;

/** FS entry bits (§9.7). */
const P = encodeFsPte({ P: true }), RW = encodeFsPte({ RW: true }), US = encodeFsPte({ US: true });
const A = encodeFsPte({ A: true }), D = encodeFsPte({ D: true });

/** The context entry, PASID directory entry and PASID entry (PGTT=1, DID 1, AW 2) every family starts from. */
const GOOD = {
  ctx: encodeSmContextEntry({ P: true, PASIDDIRPTR: PASID_DIR }),
  dir: encodePasidDirEntry({ P: true, SMPTBLPTR: PASID_TABLE }),
  pasid: (fsptptr: bigint) => encodePasidEntry({ P: true, AW: 2, PGTT: PGTT.FIRST_STAGE, DID: 1, FSPTPTR: fsptptr }),
};

/** An IOTLB descriptor (§6.5.2.3) with DW set, as these families write them. */
const dwIotlb = (g: number, did = 0, addr = 0n, am = 0, ih = false): bigint[] => iotlbDesc(g, did, addr, am, ih, { dr: 0, dw: 1 });

/** The descriptors every family's rounds end with: global context cache, global IOTLB with DR and DW, global PASID cache. */
const FLUSH = [ccDesc(CC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL, 0, 0n, 0, 0, { dr: 1, dw: 1 }), pasidCacheDesc(PC_DESC.G_GLOBAL)];

function machine10(): object {
  return {
    profile: 'qemu-10.0', ram_mib: 256,
    iommu: { scalable_mode: true, caching_mode: false, aw_bits: 48, first_stage: true },
    devices: [{ bdf: DEV, kind: 'dma-test' }],
  };
}

/** A 4-level first-stage tree whose tables are present, writable and user (§9.7). */
class FsTables extends PageTree {
  constructor(b: ScenarioBuilder) { super(b, TABLES, 4); }
  override map(iova: bigint, gpa: bigint, flags: bigint, leafLevel = 0, upper = P | RW | US): void {
    super.map(iova, gpa, flags, leafLevel, upper);
  }
}

/** Scalable root/context/PASID structures and a 256-bit queue; returns the queue submitter. */
function setup(b: ScenarioBuilder, t: FsTables): { goodPasid: bigint[]; submit: (d: bigint[][]) => void } {
  b.page(ROOT).page(CTX).page(PASID_DIR).page(PASID_TABLE).page(QUEUE).page(STATUS);
  b.memWrite(ROOT, encodeSmRootEntry({ LP: true, LCTP: CTX }));
  b.memWrite(CTX_ENTRY, GOOD.ctx);
  b.memWrite(PASID_DIR, GOOD.dir);
  const goodPasid = GOOD.pasid(t.top);
  b.memWrite(PASID_TABLE, goodPasid);
  b.setRootTable(ROOT | TTM_SCALABLE);
  b.mmioWrite(REG.IQA, 8, QUEUE | IQA.DW).mmioWrite(REG.IQT, 8, 0).mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4);
  let tail = 0n;
  const submit = (descs: bigint[][]) => {
    for (const d of descs) { b.memWrite(QUEUE + tail, [...d, 0n, 0n, 0n, 0n].slice(0, 4)); tail = (tail + 32n) % 8192n; }
    b.mmioWrite(REG.IQT, 8, tail).mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4);
  };
  submit([FLUSH[0]!, FLUSH[1]!, waitDesc({ sw: true, data: 1, addr: STATUS })]);
  b.mmioWrite(REG.GCMD, 4, GCMD.TE | GCMD.QIE).mmioRead(REG.GSTS, 4);
  return { goodPasid, submit };
}

function pattern(b: ScenarioBuilder, gpa: bigint, tag: number): void {
  b.memWrite(gpa, Array.from({ length: 8 }, (_, i) => (BigInt(tag) << 24n) | 0xf5de00n | BigInt(i)));
}

/** Walks with 4K/2M/1G leaves, U/S and R/W mixes, preset A/D; A/D observed in memory. */
export function fsWalks(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const t = new FsTables(b);
  t.map(SINK_IOVA, SINK, P | RW | US);
  b.page(SINK);
  const maps: { iova: bigint; leaf: bigint; ok: boolean }[] = [];
  for (let i = 0; i < 4; i++) {
    const leafLevel = rng.pick([0, 0, 0, 1]);
    const iova = leafLevel === 1 ? BigInt(0x200000 * (1 + rng.int(60))) : BigInt(0x1000 * (1 + rng.int(0x7000)));
    if (maps.some((m) => (m.iova >> 21n) === (iova >> 21n))) continue;
    const gpa = leafLevel === 1 ? 0x800000n + BigInt(i) * 0x200000n : DATA + BigInt(i) * 0x1000n;
    const flags = P | rng.pick([RW, RW, 0n]) | rng.pick([US, US, US, 0n]) | rng.pick([0n, 0n, A, A | D]);
    t.map(iova, gpa, flags, leafLevel);
    pattern(b, gpa + (leafLevel === 1 ? 0x3000n : 0n), 0x30 + i);
    maps.push({ iova: iova + (leafLevel === 1 ? 0x3000n : 0n), leaf: t.entryAt.get(`${iova}:${leafLevel}`)!, ok: (flags & US) !== 0n });
  }
  const { submit } = setup(b, t);
  for (const m of maps) {
    if (rng.chance(0.5)) b.dmaRead(DEV, m.iova + BigInt(rng.int(16) * 8), 64);
    else b.dmaWrite(DEV, m.iova + BigInt(rng.int(16) * 8), 32);
    b.memRead(m.leaf, 8).readFaultState().clearFaults();
    if (m.ok) b.dmaWrite(DEV, SINK_IOVA, 64).memRead(SINK, 64);
    // A domain-selective IOTLB descriptor (with DW) that also carries the page (ignored at G=2).
    if (rng.chance(0.4)) { submit([dwIotlb(IOTLB_DESC.G_DOMAIN, 1, m.iova)]); b.dmaWrite(DEV, m.iova, 8).memRead(m.leaf, 8); }
  }
  for (const at of [...t.written.keys()].slice(0, 6)) b.memRead(at, 8);
  return b.build(`gen-fs-walks-${seed}`, 'first-stage walks, leaf sizes, U/S and R/W, A/D updates', machine10());
}

/** Structure corruptions on the first-stage path and the PASID path, with the fault each records. */
export function fsFaults(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const t = new FsTables(b);
  const iova = BigInt(0x1000 * (1 + rng.int(0x1000)));
  t.map(iova, DATA, P | RW | US);
  pattern(b, DATA, 0x77);
  const { goodPasid, submit } = setup(b, t);
  const level = () => rng.int(4);
  const entry = (l: number) => t.entryAt.get(`${iova}:${l}`)!;
  const corruptions: (() => void)[] = [
    () => { const l = level(); b.memWrite(entry(l), [t.written.get(entry(l))! & ~P]); },
    () => { const l = level(); b.memWrite(entry(l), [t.written.get(entry(l))! & ~US]); },
    () => { const l = level(); b.memWrite(entry(l), [t.written.get(entry(l))! & ~RW]); },
    // A reserved (or, at some levels, ignored or PWT/PCD/PS) bit on purpose.
    () => { const l = level(); b.memWrite(entry(l), [t.written.get(entry(l))! | (1n << BigInt(rng.pick([48, 51, 52, 62, 63, 7, 8, 9, 11, 3, 4])))]); },
    () => b.memWrite(entry(0), [0xfee00000n | P | RW | US]),
    () => b.memWrite(PASID_TABLE + 16n, [pasidQword(goodPasid, 2, { FSPTPTR: OUTSIDE_RAM })]),
    () => b.memWrite(entry(3), [OUTSIDE_RAM | P | RW | US]),
    () => b.memWrite(PASID_DIR, encodePasidDirEntry({ FPD: rng.chance(0.5), SMPTBLPTR: PASID_TABLE })),
    () => b.memWrite(PASID_TABLE, [pasidQword(goodPasid, 0, { P: false, FPD: rng.chance(0.3) })]),
    () => b.memWrite(PASID_TABLE, [pasidQword(goodPasid, 0, { PGTT: rng.pick([0, 2, 3, 4, 5, 7]) })]),
    () => b.memWrite(PASID_TABLE + 16n, [pasidQword(goodPasid, 2, { FSPM: rng.pick([1, 2, 3]) })]),
    () => b.memWrite(PASID_TABLE + 16n, [pasidQword(goodPasid, 2, { SRE: true })]),
    () => b.memWrite(CTX_ENTRY + BigInt(rng.pick([16, 24])), [1n << BigInt(rng.int(64))]), // reserved qw2/qw3 bit (§9.4)
    () => b.memWrite(CTX_ENTRY, [encodeSmContextEntry({ FPD: true, PASIDDIRPTR: PASID_DIR })[0]!]),
  ];
  for (let r = 0; r < 4; r++) {
    rng.pick(corruptions)();
    submit(FLUSH);
    if (rng.chance(0.5)) b.dmaRead(DEV, iova + BigInt(rng.int(16) * 8), 32);
    else b.dmaWrite(DEV, iova + BigInt(rng.int(16) * 8), 32);
    b.readFaultState().clearFaults().mmioRead(REG.FSTS, 4);
    for (const l of [0, 1, 2, 3]) b.memRead(entry(l), 8);
    t.restore();
    b.memWrite(CTX_ENTRY, GOOD.ctx).memWrite(PASID_DIR, GOOD.dir).memWrite(PASID_TABLE, goodPasid);
    submit(FLUSH);
  }
  return b.build(`gen-fs-faults-${seed}`, 'first-stage and PASID-level faults, FRCD PP/PV, A bits kept', machine10());
}

/** Stale first-stage translations and the PASID-based/IOTLB descriptors that end them. */
export function fsInvalidation(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const t = new FsTables(b);
  const iova = BigInt(0x1000 * (1 + rng.int(0x100)));
  t.map(iova, DATA, P | RW | US);
  t.map(SINK_IOVA, SINK, P | RW | US);
  pattern(b, DATA, 0x11);
  pattern(b, DATA + 0x1000n, 0x22);
  const { submit } = setup(b, t);
  const check = () => { b.dmaRead(DEV, iova, 64).dmaWrite(DEV, SINK_IOVA, 64).memRead(SINK, 64); };
  check();
  // Guest mistakes on purpose: bit 32 or another reserved bit (§6.5.2.3) or-ed
  // onto a domain-selective IOTLB descriptor, G=0 (reserved), and raw qw0s of
  // types this queue refuses or does not expect (PASID device-TLB without
  // ECAP.DT, page-group response, PASID-IOTLB G=0, a type-high bit).
  const kinds: (() => bigint[])[] = [
    () => [dwIotlb(IOTLB_DESC.G_DOMAIN, rng.pick([1, 2]))[0]! | (BigInt(rng.pick([0, 1])) << 32n)],
    () => dwIotlb(IOTLB_DESC.G_PAGE, 1, rng.pick([iova, iova + 0x1000n, iova + 0x100000n, iova & ~0xffffn]), rng.pick([0, 0, 1, 4]), rng.chance(0.3)),
    () => [dwIotlb(rng.int(4), 1)[0]!],
    () => iotlbDesc(IOTLB_DESC.G_PAGE, 1, iova, rng.pick([0, 2])),
    () => iotlbDesc(IOTLB_DESC.G_DOMAIN, rng.pick([1, 2])),
    () => pasidCacheDesc(rng.pick([PC_DESC.G_DOMAIN, PC_DESC.G_PASID, PC_DESC.G_GLOBAL]), 1),
    () => ccDesc(CC.G_GLOBAL),
    () => [BigInt(rng.pick([0x8, 0x9, 0x52, 0x6, 0x406])) | (1n << 16n)],
    () => [dwIotlb(IOTLB_DESC.G_DOMAIN, 1)[0]! | (1n << BigInt(rng.pick([8, 12, 52, 63])))],
  ];
  for (let r = 0; r < 5; r++) {
    b.memWrite(t.entryAt.get(`${iova}:0`)!, [DATA + BigInt((r + 1) % 2) * 0x1000n | P | RW | US]);
    submit(Array.from({ length: 1 + rng.int(2) }, () => rng.pick(kinds)()));
    b.mmioRead(REG.IQERCD, 8);
    if (rng.chance(0.6)) b.mmioWrite(REG.FSTS, 4, FSTS.IQE).mmioWrite(REG.IQT, 8, 0).mmioRead(REG.IQH, 8);
    check();
  }
  b.mmioRead(REG.IQA, 8).mmioWrite(REG.GCMD, 4, GCMD.TE).mmioRead(REG.GSTS, 4).mmioRead(REG.IQH, 8).mmioRead(REG.IQA, 8);
  return b.build(`gen-fs-invalidation-${seed}`, 'stale first-stage entries, PASID-IOTLB/IOTLB/PASID-cache descriptors and IQE', machine10());
}

/** The first-stage families by name. */
export const FS_FAMILIES: Record<string, (seed: number) => object> = {
  'fs-walks': fsWalks, 'fs-faults': fsFaults, 'fs-invalidation': fsInvalidation, 'fs-modes': (seed) => fsModes(seed),
};

/**
 * Lookup order and caching in scalable mode: PGTT=4 pass-through persistence, PASID
 * entry/directory changes with and without context-cache, PASID-cache and IOTLB
 * invalidations, 2M/1G first-stage leaves and their reserved bits.
 */
export function fsModes(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const t = new FsTables(b);
  const iova = BigInt(0x1000 * (0x300 + rng.int(0x100))); // gpa == iova is RAM (pass-through)
  t.map(iova, DATA, P | RW | US);
  t.map(SINK_IOVA, SINK, P | RW | US);
  // 2 MiB leaves only: a 1 GiB leaf would need DMA at or above 2^28, past edu's DMA mask (FORMAT.md).
  rng.next();
  const big: number = 1;
  const bigIova = 0x1000000n;
  t.map(bigIova, big === 1 ? 0xa00000n : 0n, P | RW | US, big);
  pattern(b, DATA, 0x88);
  pattern(b, iova, 0x99);
  b.page(SINK);
  const { goodPasid, submit } = setup(b, t);
  const probe = () => {
    b.dmaRead(DEV, rng.chance(0.8) ? iova : bigIova + (big === 1 ? 0x3000n : 0x400000n), 64)
      .dmaWrite(DEV, SINK_IOVA, 64).memRead(SINK, 64).mmioRead(REG.FSTS, 4);
    if (rng.chance(0.4)) b.readFaultState().clearFaults();
  };
  const bigLeaf = t.entryAt.get(`${bigIova}:${big}`)!;
  const actions: (() => void)[] = [
    () => b.memWrite(PASID_TABLE, [pasidQword(goodPasid, 0, { PGTT: PGTT.PASS_THROUGH })]),
    () => b.memWrite(PASID_TABLE, goodPasid),
    () => b.memWrite(PASID_TABLE, [pasidQword(goodPasid, 0, { P: false })]),
    () => b.memWrite(PASID_DIR, encodePasidDirEntry({ P: rng.chance(0.5), SMPTBLPTR: PASID_TABLE })),
    () => b.memWrite(PASID_TABLE + 16n, [pasidQword(goodPasid, 2, { FSPTPTR: rng.pick([t.top, 0x1f0000n]) })]),
    // A reserved bit of the superpage leaf's address field on purpose (§9.7).
    () => b.memWrite(bigLeaf, [t.written.get(bigLeaf)! | (1n << BigInt(big === 1 ? 13 + rng.int(8) : 13 + rng.int(17)))]),
    () => b.memWrite(bigLeaf, [t.written.get(bigLeaf)!]),
    () => submit([ccDesc(CC.G_GLOBAL)]),
    // G is the pick or-ed with 1 (global or page-selective, never domain): what this family has always recorded.
    () => submit([iotlbDesc(rng.pick([IOTLB_DESC.G_GLOBAL, IOTLB_DESC.G_DOMAIN]) | IOTLB_DESC.G_GLOBAL, 1)]),
    () => submit([pasidCacheDesc(rng.pick([PC_DESC.G_DOMAIN, PC_DESC.G_PASID, PC_DESC.G_GLOBAL]), 1)]),
    () => submit([dwIotlb(IOTLB_DESC.G_DOMAIN, 1)]),
    () => submit([dwIotlb(IOTLB_DESC.G_PAGE, 1, iova)]),
    () => b.mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4).mmioWrite(REG.GCMD, 4, GCMD.TE | GCMD.QIE),
  ];
  b.page(0x1f0000n);
  probe();
  for (let r = 0; r < 8; r++) { rng.pick(actions)(); probe(); }
  return b.build(`gen-fs-modes-${seed}`, 'scalable lookup order, PGTT=4 persistence, PASID changes vs invalidations, big leaves', machine10());
}
