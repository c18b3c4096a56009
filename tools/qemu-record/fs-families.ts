/**
 * First-stage scenario families for the `qemu-10.0` profile (QEMU 10.0 `x-flts=on`):
 * scalable mode, RID_PASID 0 with a PGTT=1 PASID entry over a 4-level first-stage
 * table (§9.7), a 256-bit invalidation queue (§6.5.2). Seeds vary leaf sizes,
 * U/S, R/W, preset A/D bits, structure corruptions and invalidation mixes.
 */
import { PageTree } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder } from './scenario-builder.js';

const DEV = '00:03.0';
const ROOT = 0x100000n;
const CTX = 0x101000n;
const CTX_ENTRY = CTX + 0x18n * 32n; // devfn 0x18, lower context table (§9.4)
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
const P = 1n, RW = 2n, US = 4n, A = 0x20n, D = 0x40n, PS = 0x80n;

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
  b.memWrite(ROOT, [CTX | 1n, 0n]);
  b.memWrite(CTX_ENTRY, [PASID_DIR | 1n, 0n, 0n, 0n]);
  b.memWrite(PASID_DIR, [PASID_TABLE | 1n]);
  const goodPasid = [0x49n, 1n, t.top, 0n, 0n, 0n, 0n, 0n];
  b.memWrite(PASID_TABLE, goodPasid);
  b.setRootTable(ROOT | 0x400n);
  b.mmioWrite(REG.IQA, 8, QUEUE | 0x800n).mmioWrite(REG.IQT, 8, 0).mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4);
  let tail = 0n;
  const submit = (descs: bigint[][]) => {
    for (const d of descs) { b.memWrite(QUEUE + tail, [...d, 0n, 0n, 0n, 0n].slice(0, 4)); tail = (tail + 32n) % 8192n; }
    b.mmioWrite(REG.IQT, 8, tail).mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4);
  };
  submit([[0x11n], [0xd2n], [0x100000025n, STATUS]]);
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
    if (rng.chance(0.4)) { submit([[0x62n | (1n << 16n), (m.iova & ~0xfffn)]]); b.dmaWrite(DEV, m.iova, 8).memRead(m.leaf, 8); }
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
    () => { const l = level(); b.memWrite(entry(l), [t.written.get(entry(l))! | (1n << BigInt(rng.pick([48, 51, 52, 62, 63, 7, 8, 9, 11, 3, 4])))]); },
    () => b.memWrite(entry(0), [0xfee00000n | P | RW | US]),
    () => b.memWrite(PASID_TABLE + 16n, [OUTSIDE_RAM]),
    () => b.memWrite(entry(3), [OUTSIDE_RAM | P | RW | US]),
    () => b.memWrite(PASID_DIR, [PASID_TABLE | (rng.chance(0.5) ? 2n : 0n)]),
    () => b.memWrite(PASID_TABLE, [goodPasid[0] & ~1n | (rng.chance(0.3) ? 2n : 0n)]),
    () => b.memWrite(PASID_TABLE, [(goodPasid[0] & ~(7n << 6n)) | (BigInt(rng.pick([0, 2, 3, 4, 5, 7])) << 6n)]),
    () => b.memWrite(PASID_TABLE + 16n, [t.top | (BigInt(rng.pick([1, 2, 3])) << 2n)]),
    () => b.memWrite(PASID_TABLE + 16n, [t.top | 1n]),
    () => b.memWrite(CTX_ENTRY + BigInt(rng.pick([16, 24])), [1n << BigInt(rng.int(64))]),
    () => b.memWrite(CTX_ENTRY, [PASID_DIR | 2n]),
  ];
  for (let r = 0; r < 4; r++) {
    rng.pick(corruptions)();
    submit([[0x11n], [0xd2n], [0x37n]]);
    if (rng.chance(0.5)) b.dmaRead(DEV, iova + BigInt(rng.int(16) * 8), 32);
    else b.dmaWrite(DEV, iova + BigInt(rng.int(16) * 8), 32);
    b.readFaultState().clearFaults().mmioRead(REG.FSTS, 4);
    for (const l of [0, 1, 2, 3]) b.memRead(entry(l), 8);
    t.restore();
    b.memWrite(CTX_ENTRY, [PASID_DIR | 1n, 0n, 0n, 0n]).memWrite(PASID_DIR, [PASID_TABLE | 1n]).memWrite(PASID_TABLE, goodPasid);
    submit([[0x11n], [0xd2n], [0x37n]]);
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
  const kinds: (() => bigint[])[] = [
    () => [0x62n | (BigInt(rng.pick([1, 2])) << 16n) | (BigInt(rng.pick([0, 1])) << 32n)],
    () => [0x72n | (1n << 16n), rng.pick([iova, iova + 0x1000n, iova + 0x100000n, iova & ~0xffffn]) | BigInt(rng.pick([0, 0, 1, 4])) | (rng.chance(0.3) ? 0x40n : 0n)],
    () => [BigInt(0x42 + (rng.int(4) << 4)) | (1n << 16n)],
    () => [0x32n | (1n << 16n), iova | BigInt(rng.pick([0, 2]))],
    () => [0x22n | (BigInt(rng.pick([1, 2])) << 16n)],
    () => [0x7n | (BigInt(rng.pick([0, 1, 3])) << 4n) | (1n << 16n)],
    () => [0x11n],
    () => [BigInt(rng.pick([0x8, 0x9, 0x52, 0x6, 0x406])) | (1n << 16n)],
    () => [0x62n | (1n << 16n) | (1n << BigInt(rng.pick([8, 12, 52, 63])))],
  ];
  for (let r = 0; r < 5; r++) {
    b.memWrite(t.entryAt.get(`${iova}:0`)!, [DATA + BigInt((r + 1) % 2) * 0x1000n | P | RW | US]);
    submit(Array.from({ length: 1 + rng.int(2) }, () => rng.pick(kinds)()));
    b.mmioRead(REG.IQERCD, 8);
    if (rng.chance(0.6)) b.mmioWrite(REG.FSTS, 4, 0x10).mmioWrite(REG.IQT, 8, 0).mmioRead(REG.IQH, 8);
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
    () => b.memWrite(PASID_TABLE, [(goodPasid[0] & ~(7n << 6n)) | (4n << 6n)]),
    () => b.memWrite(PASID_TABLE, goodPasid),
    () => b.memWrite(PASID_TABLE, [goodPasid[0] & ~1n]),
    () => b.memWrite(PASID_DIR, [PASID_TABLE | (rng.chance(0.5) ? 1n : 0n)]),
    () => b.memWrite(PASID_TABLE + 16n, [rng.pick([t.top, 0x1f0000n])]),
    () => b.memWrite(bigLeaf, [t.written.get(bigLeaf)! | (1n << BigInt(big === 1 ? 13 + rng.int(8) : 13 + rng.int(17)))]),
    () => b.memWrite(bigLeaf, [t.written.get(bigLeaf)!]),
    () => submit([[0x11n]]),
    () => submit([[0x12n | (BigInt(rng.pick([1, 2])) << 4n) | (1n << 16n)]]),
    () => submit([[0x7n | (BigInt(rng.pick([0, 1, 3])) << 4n) | (1n << 16n)]]),
    () => submit([[0x62n | (1n << 16n)]]),
    () => submit([[0x72n | (1n << 16n), iova]]),
    () => b.mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4).mmioWrite(REG.GCMD, 4, GCMD.TE | GCMD.QIE),
  ];
  b.page(0x1f0000n);
  probe();
  for (let r = 0; r < 8; r++) { rng.pick(actions)(); probe(); }
  return b.build(`gen-fs-modes-${seed}`, 'scalable lookup order, PGTT=4 persistence, PASID changes vs invalidations, big leaves', machine10());
}
