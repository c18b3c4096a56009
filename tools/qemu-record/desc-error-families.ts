/**
 * Invalidation-queue errors (§6.5.2, §6.5.2.10): every descriptor type with
 * a reserved bit set or a reserved granularity, 128-bit types with a
 * non-zero upper half in a 256-bit queue, waits without SW or IF, device-TLB
 * descriptors with PFSID, unknown types; then the guest's ways out of
 * FSTS.IQE (clear it alone, repair the slot and rewrite IQT, or keep
 * submitting). Each submission reads IQH, FSTS, IQERCD, ICS and the status
 * page, and a DMA probe after a remap shows whether an IOTLB invalidation
 * ran. The queue switches of docs/PROFILES.md without a recording
 * (`resumeOnErrorClear`, `upperHalfReserved`, `waitNeedsSwOrIf`,
 * `devTlbPfsidReserved`, `iecUnchecked`, `pasidCacheUnchecked`,
 * `ccDomainAsGlobal`) are what it aims at. Descriptors come from the spec
 * layer's encoders; the malformed ones are those encodings with one bit of
 * the type's reserved mask (descriptors.ts *.RSVD) or granularity changed.
 */
import {
  CC, DEVTLB, IEC_DESC, IOTLB_DESC, PC_DESC, PIOTLB, WAIT_DESC, ccDesc, devTlbDesc, iecDesc, iotlbDesc, pasidCacheDesc,
  pasidDevTlbDesc, pasidIotlbDesc, waitDesc,
} from '../../host/src/vtd/spec/descriptors.js';
import { FSTS } from '../../host/src/vtd/spec/registers.js';
import { DEVICES, GPA, Queue, devfn, machine, mapSinks, oneDevice, pattern, probe, ssTree } from './guest.js';
import { SS } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';

/** A random set bit of `mask` (0n when it has none). */
function someBit(rng: Rng, mask: bigint): bigint {
  const bits: bigint[] = [];
  for (let i = 0n; i < 64n; i++) if ((mask >> i) & 1n) bits.push(1n << i);
  return bits.length ? rng.pick(bits) : 0n;
}

/** `d` with one reserved bit (of `rsvd`, per qword) set in a random qword that has one. */
function withReservedBit(rng: Rng, d: bigint[], rsvd: readonly bigint[]): bigint[] {
  const qs = rsvd.map((m, q) => (m !== 0n && q < d.length ? q : -1)).filter((q) => q >= 0);
  if (!qs.length) return d;
  const q = rng.pick(qs);
  return d.map((v, i) => (i === q ? v | someBit(rng, rsvd[q]!) : v));
}

/**
 * One seed: legacy or scalable mode, a 128- or 256-bit queue, one device
 * whose IOVA is remapped between two data pages before each submission.
 */
export function descErrors(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.5);
  const wide = scalable ? rng.chance(0.7) : rng.chance(0.3);
  const aw = rng.pick([39, 48] as const);
  const dev = DEVICES[0];
  const t = ssTree(b, GPA.TABLES, aw);
  const iova = BigInt(0x1000 * (0x10 + rng.int(0x100)));
  t.map(iova, GPA.DATA, SS.RW);
  mapSinks(t, 1);
  pattern(b, GPA.DATA, 0x31);
  pattern(b, GPA.DATA + 0x1000n, 0x32);
  oneDevice(b, scalable, aw, t);
  b.setRootTable(GPA.ROOT | (scalable ? TTM_SCALABLE : 0n));
  const q = new Queue(b, wide).enable();
  q.submit([ccDesc(CC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck();
  b.enableTranslation(GCMD.QIE);
  if (rng.chance(0.5)) b.mmioWrite(REG.IECTL, 4, 0); // unmask the completion interrupt (IWC/IP visible either way)
  const sid = devfn(dev);
  const status = GPA.STATUS + 0x100n;
  let n = 0;
  const kinds: (() => bigint[])[] = [
    () => ccDesc(rng.int(4), 1, sid, rng.int(4)),
    () => withReservedBit(rng, ccDesc(CC.G_GLOBAL), CC.RSVD),
    () => iotlbDesc(rng.int(4), 1, iova, rng.pick([0, 0, 1, 9, 40]), rng.chance(0.3)),
    () => withReservedBit(rng, iotlbDesc(rng.pick([IOTLB_DESC.G_GLOBAL, IOTLB_DESC.G_DOMAIN]), 1), IOTLB_DESC.RSVD),
    () => devTlbDesc(sid, iova, rng.int(2), rng.chance(0.5) ? 1 + rng.int(0xffff) : 0, rng.int(4)),
    () => withReservedBit(rng, devTlbDesc(sid, iova), DEVTLB.RSVD),
    () => iecDesc(rng.int(2), rng.int(0x100), rng.int(4)),
    () => withReservedBit(rng, iecDesc(IEC_DESC.G_GLOBAL), IEC_DESC.RSVD),
    // Never SW and IF together: QEMU 7.2 asserts on it (vtd_process_wait_desc) and exits.
    () => { const sw = rng.chance(0.5); return waitDesc({ sw, if: !sw && rng.chance(0.5), fn: rng.chance(0.3), data: 0x7700 + ++n, addr: status }); },
    () => withReservedBit(rng, waitDesc({ sw: true, data: 0x7700 + ++n, addr: status }), WAIT_DESC.RSVD),
    () => pasidIotlbDesc(rng.int(4), 1, rng.pick([0, 1, 5]), iova, rng.pick([0, 2]), rng.chance(0.3)),
    () => withReservedBit(rng, pasidIotlbDesc(PIOTLB.G_PASID, 1, 0), PIOTLB.RSVD),
    () => pasidCacheDesc(rng.int(4), 1, rng.pick([0, 3])),
    () => withReservedBit(rng, pasidCacheDesc(PC_DESC.G_GLOBAL), PC_DESC.RSVD),
    () => pasidDevTlbDesc(sid, 0, iova, { global: rng.chance(0.5), pfsid: rng.chance(0.5) ? 1 + rng.int(0xfff) : 0 }),
    () => [BigInt(rng.pick([9, 10, 12, 15])) | (BigInt(rng.int(8)) << 9n), 0n, 0n, 0n],
  ];
  // A 128-bit type in a 256-bit queue with something in its upper half.
  const upper = (d: bigint[]): bigint[] => (wide && d.length === 2 && rng.chance(0.3) ? [...d, 1n << BigInt(rng.int(64)), 0n] : d);
  for (let r = 0; r < 6; r++) {
    b.memWrite(t.entryAt.get(`${iova}:0`)!, [(GPA.DATA + BigInt((r + 1) % 2) * 0x1000n) | SS.RW]);
    const at = q.tailBytes;
    const descs = Array.from({ length: 1 + rng.int(2) }, () => upper(rng.pick(kinds)()));
    q.submit(descs);
    b.mmioRead(REG.IQERCD, 8).mmioRead(REG.ICS, 4).mmioRead(REG.IECTL, 4).memRead(status, 8);
    const way = rng.int(3);
    if (way === 0) {
      b.mmioWrite(REG.FSTS, 4, FSTS.IQE).mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4);
    } else if (way === 1) {
      // Repair every slot of the submission with a wait, clear IQE, rewrite IQT.
      const size = wide ? 32n : 16n;
      descs.forEach((_, i) => b.memWrite(GPA.QUEUE + ((at + BigInt(i) * size) % 4096n), [...waitDesc({ sw: true, data: 0x6600 + ++n, addr: status }), 0n, 0n].slice(0, wide ? 4 : 2)));
      b.mmioWrite(REG.FSTS, 4, FSTS.IQE).mmioWrite(REG.IQT, 8, q.tailBytes).mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4).memRead(status, 8);
    }
    if (rng.chance(0.5)) b.mmioWrite(REG.ICS, 4, 1).mmioRead(REG.IECTL, 4);
    probe(b, dev, iova, rng.chance(0.5));
  }
  q.waitAndCheck();
  b.mmioRead(REG.FECTL, 4).mmioWrite(REG.FECTL, 4, 0).mmioRead(REG.FECTL, 4);
  return b.build(`gen-desc-errors-${seed}`, 'invalidation descriptors with reserved bits, granularities, upper halves and unknown types; clearing and repairing IQE',
    machine('qemu-7.2', { scalable, aw }));
}

/** The family by name (recorded on both QEMUs). */
export const DESC_ERROR_FAMILIES: Record<string, (seed: number) => object> = { 'desc-errors': descErrors };
