import { describe, expect, it } from 'vitest';
import { patch } from './patch.js';
import type { InvalidationEvent } from '../../host/src/vtd/cache-invalidation.js';
import { iotlbDesc, pasidCacheDesc, pasidIotlbDesc, PIOTLB, PC_DESC } from '../../host/src/vtd/spec/descriptors.js';
import { encodePasidDirEntry, encodePasidEntry, PGTT } from '../../host/src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSmRootEntry } from '../../host/src/vtd/spec/sm-root-entry.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { GuestMirror } from '../../host/src/vmm/guest-mirror.js';
import { Executor, loadFuzzModule } from '../execute.js';
import type { FuzzInput, Step } from '../input.js';
import { vmMachine } from '../vmm-run.js';

// Issue 19: the physical IOMMU's caches against the guest's invalidations on
// nested VMs (fuzz/nested-iotlb-oracle.ts). The oracle fires when the VMM
// drops a guest page-selective PASID-based invalidation, or forwards it to
// the wrong domain, and is silent on the real VMM.
const { module } = loadFuzzModule();

const w = (gpa: number, u64: bigint[]): Step => ({ op: 'mem.write', gpa: BigInt(gpa), u64 });
const mmio = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value });
const dma = (iova: bigint): Step => ({ op: 'dma.read', bdf: '00:03.0', iova, len: 8 });
const fs = (to: number): bigint => encodeFsPte({ P: true, RW: true, US: true, ADDR: BigInt(to) });
const QUEUE = 0x180000;
/** 256-bit descriptors (IQA.DW = 1, VT-d §6.5.2): descriptor `i` of the queue, then the IQT write that runs up to it. */
const qi = (i: number, desc: bigint[]): Step[] => [w(QUEUE + 32 * i, desc), mmio(0x88, 8, BigInt(32 * (i + 1)))];

/**
 * A scalable-mode caching-mode guest (VT-d §6.1) whose 00:03.0 requests
 * without PASID use PASID entry 0 (RID_PASID) with PGTT 1: first stage at
 * 0x200000, IOVA 0 and 0x1000 -> 0x300000, 0x301000, domain 5. Root table,
 * translation, the 256-bit queue; global PASID-cache and IOTLB
 * invalidations; two DMAs fill the physical IOTLB. Then the guest clears
 * the leaf of IOVA 0 and invalidates that page (PASID-based, page-selective,
 * §6.5.2.4), and DMAs again.
 */
function input(): FuzzInput {
  const machine = vmMachine({ profile: 'default', ram_mib: 16, iommu: { scalable_mode: true, caching_mode: true, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
  return {
    vmm: 'nested',
    machine,
    steps: [
      w(0x100000, encodeSmRootEntry({ LP: true, LCTP: 0x101000n })),
      w(0x101000 + 0x18 * 32, encodeSmContextEntry({ P: true, PASIDDIRPTR: 0x102000n, RID_PASID: 0 })),
      w(0x102000, encodePasidDirEntry({ P: true, SMPTBLPTR: 0x103000n })),
      w(0x103000, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 5, FSPTPTR: 0x200000n })),
      w(0x200000, [fs(0x201000)]), w(0x201000, [fs(0x202000)]), w(0x202000, [fs(0x203000)]), w(0x203000, [fs(0x300000), fs(0x301000)]),
      mmio(0x20, 8, 0x100000n | 0x400n), mmio(0x18, 4, 0x4000_0000n), // RTADDR (TTM 01, scalable), SRTP
      mmio(0x90, 8, BigInt(QUEUE) | 0x800n), mmio(0x18, 4, 0x8400_0000n), // IQA (DW 256-bit), TE + QIE
      ...qi(0, pasidCacheDesc(PC_DESC.G_GLOBAL)), ...qi(1, iotlbDesc(1)),
      dma(0n), dma(0x1000n),
      w(0x203000, [0n]),
      ...qi(2, pasidIotlbDesc(PIOTLB.G_PAGE, 5, 0, 0n, 0, 0)),
      dma(0n), dma(0x1000n),
    ],
  };
}
/** The step of the IQT write that runs the page-selective invalidation. */
const INVALIDATION_STEP = 20;

type Forwarder = { passThrough(ev: InvalidationEvent): void };
const forwarder = GuestMirror.prototype as unknown as Forwarder;

describe('physical-cache oracle (nested VMs)', () => {
  it('is silent on the real VMM, whose physical IOTLB really held the page', async () => {
    const r = await new Executor(module).run(input());
    expect(r.finding).toBeUndefined();
  });

  it('fires when the VMM drops the guest\'s page-selective invalidation', async () => {
    const real = forwarder.passThrough;
    patch(forwarder, 'passThrough', function (this: Forwarder, ev) { if (ev.kind !== 'pasidIotlbPage') real.call(this, ev); });
    const r = await new Executor(module).run(input());
    expect(r.finding?.kind).toBe('host-tables');
    expect(r.finding?.step).toBe(INVALIDATION_STEP);
    expect(r.finding?.message).toMatch(/physical caches vs guest: after the guest's pasidIotlbPage invalidation \(DID 5\), nested requester 18 RID \(guest domain 5;.*the physical IOTLB keeps IOVA 0x0: the guest's tables map nothing/);
  });

  it('fires when the VMM forwards it to the wrong domain', async () => {
    const real = forwarder.passThrough;
    patch(forwarder, 'passThrough', function (this: Forwarder, ev) { real.call(this, 'did' in ev ? { ...ev, did: ev.did + 1 } : ev); });
    const r = await new Executor(module).run(input());
    expect(r.finding?.kind).toBe('host-tables');
    expect(r.finding?.step).toBe(INVALIDATION_STEP);
  });

  it('fires on a stale first-stage paging-structure entry (the VMM forwards only leaf invalidations)', async () => {
    const real = forwarder.passThrough;
    patch(forwarder, 'passThrough', function (this: Forwarder, ev) { real.call(this, ev.kind === 'pasidIotlbPage' ? { ...ev, ih: 1 } : ev); });
    const doc = input();
    // The guest unlinks the whole leaf table instead of one leaf (IH = 0: the paging-structure caches must go too).
    const steps = doc.steps.map((s, i) => (i === 18 ? w(0x202000, [0n]) : s));
    const r = await new Executor(module).run({ ...doc, steps });
    expect(r.finding?.kind).toBe('host-tables');
    expect(r.finding?.message).toMatch(/the physical paging-structure cache keeps level 1 at IOVA 0x0: the guest's tables have no table there/);
  });
});
