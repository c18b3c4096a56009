/**
 * PASID-based IOTLB invalidation in scalable mode (§6.5.2.4), beside the
 * domain and page IOTLB invalidations (§6.5.2.3) and PASID-cache ones
 * (§6.5.2.2): two or three devices, each with its own RID_PASID (0, 1 or 7)
 * and its own table mapping one IOVA to its own data page, in one or two
 * domains; leaves are flipped without invalidation, then PASID-selective and
 * page-selective (AM, IH) PASID-IOTLB descriptors name the right or a wrong
 * domain or PASID, and the probes show which cached translations each
 * removed. `pasid-inval` uses second-stage tables (QEMU 7.2: PASID-IOTLB
 * descriptors do nothing; 10.0: page-selective ones keep second-stage
 * entries); `pasid-inval-fs` first-stage ones (QEMU 10.0 `x-flts=on`).
 */
import { IOTLB_DESC, PC_DESC, PIOTLB, iotlbDesc, pasidCacheDesc, pasidIotlbDesc } from '../../host/src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { PGTT } from '../../host/src/vtd/spec/pasid-entry.js';
import { FSTS } from '../../host/src/vtd/spec/registers.js';
import { DEVICES, GPA, Queue, awField, pasidEntry, pasidEntryAt, pattern, probe, sinkOf, smDevice, smRoot } from './guest.js';
import { PageTree, SS } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';

/** First-stage bits (§9.7) for tables and leaves: present, writable, user. */
const FS_BITS = encodeFsPte({ P: true, RW: true, US: true });

function pasidInval(seed: number, fs: boolean): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = fs ? 48 : rng.pick([39, 48] as const);
  const n = 2 + rng.int(2);
  const bits = fs ? FS_BITS : SS.RW;
  const iova = BigInt(0x1000 * (1 + rng.int(0x400)));
  const rids = Array.from({ length: n }, () => rng.pick([0, 0, 1, 7]));
  const dids = Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 1 + rng.int(2)));
  smRoot(b);
  const devs = rids.map((rid, i) => smDevice(b, i, { ridPasid: rid }));
  const data = (i: number) => GPA.DATA + BigInt(i) * 0x2000n;
  const trees = devs.map((_, i) => {
    const t = new PageTree(b, GPA.TABLES + BigInt(i) * 0x10000n, fs ? 4 : awField(aw).levels);
    t.map(iova, data(i), bits, 0, bits);
    t.map(iova + 0x1000n, data(i), bits, 0, bits);
    for (let k = 0; k < n; k++) t.map(sinkOf(DEVICES[k]!), sinkOf(DEVICES[k]!), bits, 0, bits);
    pattern(b, data(i), 0x10 + i);
    pattern(b, data(i) + 0x1000n, 0x20 + i);
    return t;
  });
  devs.forEach((d, i) => b.memWrite(pasidEntryAt(d, rids[i]!), fs
    ? pasidEntry({ slpt: 0n, aw: awField(48).field, did: dids[i]!, pgtt: PGTT.FIRST_STAGE, fsptptr: trees[i]!.top })
    : pasidEntry({ slpt: trees[i]!.top, aw: awField(aw).field, did: dids[i]! })));
  b.setRootTable(GPA.ROOT | TTM_SCALABLE);
  const q = new Queue(b, true).enable();
  q.submit([iotlbDesc(IOTLB_DESC.G_GLOBAL), pasidCacheDesc(PC_DESC.G_GLOBAL)]).waitAndCheck();
  b.enableTranslation(GCMD.QIE);

  const flipped = new Array<boolean>(n).fill(false);
  const flip = (i: number) => {
    flipped[i] = !flipped[i];
    const at = rng.pick([iova, iova + 0x1000n]);
    b.memWrite(trees[i]!.entryAt.get(`${at}:0`)!, [(data(i) + (flipped[i] ? 0x1000n : 0n)) | bits]);
  };
  const someDid = () => (rng.chance(0.8) ? rng.pick(dids) : 3);
  const somePasid = () => (rng.chance(0.8) ? rng.pick(rids) : rng.pick([2, 0x100]));
  const actions: (() => void)[] = [
    () => q.submit([pasidIotlbDesc(PIOTLB.G_PASID, someDid(), somePasid())]).waitAndCheck(),
    () => q.submit([pasidIotlbDesc(PIOTLB.G_PAGE, someDid(), somePasid(), rng.pick([iova, iova + 0x1000n, iova + 0x2000n]), rng.pick([0, 0, 1, 2]), rng.chance(0.3))]).waitAndCheck(),
    () => q.submit([iotlbDesc(IOTLB_DESC.G_DOMAIN, someDid())]).waitAndCheck(),
    () => q.submit([iotlbDesc(IOTLB_DESC.G_PAGE, someDid(), rng.pick([iova, iova + 0x1000n]), rng.pick([0, 1]))]).waitAndCheck(),
    () => q.submit([pasidCacheDesc(rng.pick([PC_DESC.G_DOMAIN, PC_DESC.G_PASID, PC_DESC.G_GLOBAL]), someDid(), somePasid())]).waitAndCheck(),
    // A reserved granularity (G=0 or 1, §6.5.2.4): IQE, cleared before the next submission.
    () => { q.submit([pasidIotlbDesc(rng.int(2), someDid(), somePasid())]); b.mmioRead(REG.IQERCD, 8).mmioWrite(REG.FSTS, 4, FSTS.IQE); },
  ];
  const probeSome = () => {
    for (let i = 0; i < n; i++) {
      if (rng.chance(0.7)) probe(b, devs[i]!.bdf, rng.pick([iova, iova + 0x1000n]), rng.chance(0.3));
    }
  };
  for (let i = 0; i < n; i++) { probe(b, devs[i]!.bdf, iova, false); probe(b, devs[i]!.bdf, iova + 0x1000n, false); }
  for (let r = 0; r < 12; r++) {
    flip(rng.int(n));
    if (rng.chance(0.4)) flip(rng.int(n));
    rng.pick(actions)();
    if (rng.chance(0.3)) rng.pick(actions)();
    probeSome();
  }
  b.readFaultState();
  const name = fs ? `gen-pasid-inval-fs-${seed}` : `gen-pasid-inval-${seed}`;
  return b.build(name, 'PASID-selective and page-selective PASID-IOTLB invalidations beside domain/page IOTLB and PASID-cache ones, devices with their own RID_PASID',
    {
      profile: fs ? 'qemu-10.0' : 'qemu-7.2', ram_mib: 256,
      iommu: { scalable_mode: true, caching_mode: false, aw_bits: aw, ...(fs ? { first_stage: true } : {}) },
      devices: devs.map((d) => ({ bdf: d.bdf, kind: 'dma-test' })),
    });
}

/** Second-stage family (recorded on both QEMUs). */
export const PASID_INVAL_FAMILIES: Record<string, (seed: number) => object> = { 'pasid-inval': (seed) => pasidInval(seed, false) };
/** First-stage family (QEMU 10.0 only). */
export const PASID_INVAL_FS_FAMILIES: Record<string, (seed: number) => object> = { 'pasid-inval-fs': (seed) => pasidInval(seed, true) };
