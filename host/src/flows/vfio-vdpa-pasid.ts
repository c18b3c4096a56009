/**
 * vfio-vdpa-pasid: two subsystems, one PASID. A host process holds one
 * global PASID and uses it on two devices: a VFIO-style device whose
 * mappings the process makes with map/unmap on the IOAS, and a vDPA-style
 * device that has its own mapping interface (vhost IOTLB UPDATE /
 * INVALIDATE messages, hostiommu/vdpa.ts). Both (device, PASID) pairs are
 * attached to the one paging domain over the one IOAS: a mapping made
 * through either interface is seen by both devices, and an unmap through
 * either is invalidated for both (their IOTLB entries included). Then a
 * guest whose devices are vhost-vdpa devices: its vIOMMU mappings reach the
 * host as IOTLB UPDATE messages (VmConfig.hostPath 'vdpa').
 */
import { ACC_PASID, ACC_READ, ACC_WRITE } from '../core/constants.js';
import { VdpaDevice, VHOST_ACCESS, VHOST_IOTLB } from '../hostiommu/vdpa.js';
import { HOST_LAYOUT } from '../vmm/physical-host.js';
import { Checks, errnoOf, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootGuest, bootHost, startIommu } from './guest-side.js';
import { awForLevels, encodeContextEntry } from '../vtd/spec/context-entry.js';
import { iotlbDesc } from '../vtd/spec/descriptors.js';
import { encodeSsPte } from '../vtd/spec/ss-pte.js';
import type { PhysicalHost } from '../vmm/physical-host.js';
import type { ShadowMode } from '../vmm/shadow.js';

const VFIO_DEV = 0x0318;
const VDPA_DEV = 0x0320;
const A = { iova: 0x10_0000n, hpa: HOST_LAYOUT.guestRam + 0x40_0000n } as const;
const B = { iova: 0x20_0000n, hpa: HOST_LAYOUT.guestRam + 0x50_0000n } as const;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const host = await bootHost();
  const ctx = host.platform.createContext('proc');
  const pasid = ctx.pasidAlloc(ctx.pasidSetAlloc(1));
  const ioas = ctx.ioasAlloc();
  const hwpt = ctx.hwptAllocPaging(ioas, { pasid: true });
  const vfio = ctx.bindDevice(host.platform.openDevice(VFIO_DEV));
  const vdpaId = ctx.bindDevice(host.platform.openDevice(VDPA_DEV));
  ctx.attach(vfio, hwpt, pasid);
  ctx.attach(vdpaId, hwpt, pasid);
  const vdpa = new VdpaDevice(ctx, ioas);
  io.say(`process: global PASID ${pasid}; ${hex(VFIO_DEV)} (VFIO) and ${hex(VDPA_DEV)} (vDPA) attached at PASID ${pasid} to HWPT ${hwpt} over IOAS ${ioas}`);
  const see = (iova: bigint, write = false) => [VFIO_DEV, VDPA_DEV].map((sid) => {
    const t = host.core.translate(sid, pasid, iova, (write ? ACC_WRITE : ACC_READ) | ACC_PASID);
    return t.ok ? t.addr : undefined;
  });
  const show = (v: (bigint | undefined)[]) => v.map((a) => (a === undefined ? 'fault' : hex(a))).join(' / ');

  ctx.ioasMap(ioas, { iova: A.iova, hpa: A.hpa, len: 0x1000n });
  const viaVfio = see(A.iova);
  io.say(`VFIO maps ${hex(A.iova)} -> ${hex(A.hpa)}: VFIO / vDPA device see ${show(viaVfio)}`);
  c.that(viaVfio.every((a) => a === A.hpa), 'a VFIO mapping is seen by the vDPA device on the same PASID');

  vdpa.message({ type: VHOST_IOTLB.BATCH_BEGIN });
  vdpa.message({ type: VHOST_IOTLB.UPDATE, iova: B.iova, size: 0x2000n, uaddr: B.hpa, perm: VHOST_ACCESS.RW });
  vdpa.message({ type: VHOST_IOTLB.BATCH_END });
  const viaVdpa = see(B.iova + 0x1000n, true);
  const overlap = errnoOf(() => vdpa.message({ type: VHOST_IOTLB.UPDATE, iova: A.iova, size: 0x1000n, uaddr: B.hpa, perm: VHOST_ACCESS.RO }));
  io.say(`vDPA IOTLB UPDATE ${hex(B.iova)} +8 KiB -> ${hex(B.hpa)} (RW): both see ${show(viaVdpa)}; an UPDATE over the VFIO mapping -> ${overlap}`);
  c.that(viaVdpa.every((a) => a === B.hpa + 0x1000n) && overlap === 'EEXIST', 'a vDPA update is seen by the VFIO device; one address space refuses overlaps from either side');

  vdpa.message({ type: VHOST_IOTLB.INVALIDATE, iova: A.iova, size: 0x1000n });
  const goneA = see(A.iova);
  ctx.ioasUnmap(ioas, B.iova, 0x2000n);
  const goneB = see(B.iova);
  io.say(`vDPA INVALIDATE of the VFIO mapping: ${show(goneA)}; VFIO unmap of the vDPA mapping: ${show(goneB)} (both were in both IOTLBs)`);
  c.that([...goneA, ...goneB].every((a) => a === undefined), 'an unmap through either interface reaches both devices');

  const bad = [
    errnoOf(() => vdpa.message({ type: VHOST_IOTLB.UPDATE, iova: 0x30_0000n, size: 0n, uaddr: B.hpa, perm: VHOST_ACCESS.RW })),
    errnoOf(() => vdpa.message({ type: VHOST_IOTLB.UPDATE, iova: 0x30_0000n, size: 0x1000n, uaddr: B.hpa, perm: 7 })),
    errnoOf(() => vdpa.message({ type: VHOST_IOTLB.MISS })),
  ];
  io.say(`bad messages (size 0, perm 7, a MISS from user space): ${bad.join(', ')}`);
  c.that(bad.every((e) => e === 'EINVAL'), 'malformed IOTLB messages are EINVAL');
  ctx.close();
  c.that(host.platform.usage().objects === 0 && host.platform.usage().pasids === 0, 'closing the process leaves nothing');
  await guestOnVdpa(io, c, host);
  return c.result();
}

/** A shadow-mode guest with a vhost-vdpa device: its mappings and unmaps become IOTLB UPDATE / INVALIDATE messages. */
async function guestOnVdpa(io: FlowIo, c: Checks, host: PhysicalHost): Promise<void> {
  const g = await bootGuest({ name: 'vm-vdpa', mode: 'shadow', hostPath: 'vdpa', devices: [{ bdf: '00:03.0', hostSid: VDPA_DEV, kind: 'dma-test' }] }, host);
  const ss = g.iommu.attachLegacy(g.vm.device('00:03.0').vrid, { did: 3, levels: 4 });
  ss.map(0x4000_0000n, 0x300_0000n, 12, encodeSsPte({ R: true, W: true }));
  startIommu(g);
  const mode = g.vm.modeHandler as ShadowMode;
  const dev = g.vm.machine.dmaTest('00:03.0');
  dev.buffer().fill(0x5d, 0, 8);
  const landed = dev.write(0x4000_0000n, 8).ok && host.guestRam.read(0x300_0000n, 1)[0] === 0x5d;
  const updates = mode.stats.maps;
  ss.unmap(0x4000_0000n, 12);
  g.qi.submitSync([iotlbDesc(3, 3, 0x4000_0000n)]);
  const gone = !dev.write(0x4000_0000n, 8).ok;
  io.say(`guest on the vdpa path: domain 3's mapping reached the device as ${updates} IOTLB UPDATE, a DMA landed in guest RAM: ${landed}; unmap + invalidation -> ${mode.stats.unmaps} INVALIDATE, DMA then ${gone ? 'faults' : 'passes'}`);
  c.that(landed && gone && updates === 1 && mode.stats.unmaps === 1, 'a guest\'s caching-mode invalidations drive the vDPA device\'s IOTLB');
  g.vm.close();
}

/** The flow. */
export const vfioVdpaPasid: Flow = { name: 'vfio-vdpa-pasid', summary: 'one PASID, a VFIO-style and a vDPA-style device, one address space', run };
