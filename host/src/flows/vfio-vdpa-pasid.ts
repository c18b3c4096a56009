/**
 * vfio-vdpa-pasid: two subsystems, one PASID. First guest-driven: one VM
 * with a VFIO device (00:03.0, mapped with IOAS map/unmap) and a vhost-vdpa
 * device (00:04.0, VmDeviceConfig.hostPath 'vdpa': its own IOTLB-update
 * interface, hostiommu/vdpa.ts). The guest programs its caching-mode vIOMMU
 * in scalable mode through MMIO and guest RAM: PASID 5 of both devices is a
 * second-stage entry of one domain over one table, and both devices DMA
 * with PASID 5. The VMM follows the guest domain in both subsystems
 * (shadow-spaces.ts SubsystemSpaces); a page the guest changes (then a
 * page-selective IOTLB invalidation, VT-d §6.5.2.3) or removes (then a
 * PASID-selective PASID-based IOTLB invalidation, §6.5.2.4) changes in the
 * VFIO device's host tables and in the vDPA device's IOTLB alike, checked
 * by DMA into guest RAM, the host's tables and the guest's fault records.
 * Then the same on the host alone: a host process holds one global PASID
 * on both kinds of device attached to one domain over one IOAS, so a
 * mapping made through either interface is seen by both, and an unmap
 * through either is invalidated for both.
 */
import { ACC_PASID, ACC_READ, ACC_WRITE, FR_SM_SS_NP } from '../core/constants.js';
import { VdpaDevice, VHOST_ACCESS, VHOST_IOTLB } from '../hostiommu/vdpa.js';
import { HOST_LAYOUT } from '../vmm/physical-host.js';
import { Checks, errnoOf, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootGuest, bootHost, setDevicePasid, startIommu, type Guest } from './guest-side.js';
import { PageTableBuilder, PasidTableBuilder } from '../tables/table-builders.js';
import { awForLevels } from '../vtd/spec/context-entry.js';
import { iotlbDesc, pasidIotlbDesc, PIOTLB } from '../vtd/spec/descriptors.js';
import { encodePasidEntry, PGTT } from '../vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../vtd/spec/ss-pte.js';
import type { PhysicalHost } from '../vmm/physical-host.js';
import type { ShadowMode } from '../vmm/shadow.js';

const VFIO_DEV = 0x0318;
const VDPA_DEV = 0x0320;
const A = { iova: 0x10_0000n, hpa: HOST_LAYOUT.guestRam + 0x40_0000n } as const;
const B = { iova: 0x20_0000n, hpa: HOST_LAYOUT.guestRam + 0x50_0000n } as const;

/** The guest side: devices, its PASID and domain, the IOVAs and the guest-physical pages behind them. */
export const G = {
  devices: [
    { bdf: '00:03.0', hostSid: VFIO_DEV, kind: 'dma-test' as const },
    { bdf: '00:04.0', hostSid: VDPA_DEV, kind: 'dma-test' as const, hostPath: 'vdpa' as const },
  ],
  pasid: 5, did: 7, iova: 0x4000_0000n,
  gpa: { first: 0x300_0000n, second: 0x308_0000n, moved: 0x310_0000n },
} as const;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const host = await bootHost();
  await guestOnBoth(io, c, host);
  hostProcess(io, c, host);
  return c.result();
}

/** The host alone: a process's global PASID on a VFIO-style and a vDPA-style device over one IOAS. */
function hostProcess(io: FlowIo, c: Checks, host: PhysicalHost): void {
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
}

/** Device `i` of the guest writes `byte` x 8 at `iova` with its PASID: whether it completed. */
function dmaWrite(g: Guest, i: number, iova: bigint, byte: number): boolean {
  const dev = g.vm.machine.dmaTest(G.devices[i]!.bdf);
  dev.buffer().fill(byte, 0, 8);
  return dev.write(iova, 8).ok;
}

/** The guest's PASID 5 on both devices: one second-stage table of domain 7, IOVA -> first, IOVA + 4K -> second; both devices tagged. */
export async function bootMixed(host: PhysicalHost): Promise<{ g: Guest; ss: PageTableBuilder }> {
  const g = await bootGuest({ name: 'vm-mixed', mode: 'shadow', devices: G.devices }, host, { scalable: true, pri: false });
  const { mem, alloc } = g.env;
  const ss = new PageTableBuilder(mem, alloc, { stage: 'ss', levels: 4 });
  for (const d of G.devices) {
    const dir = new PasidTableBuilder(mem, alloc);
    dir.setPasid(G.pasid, encodePasidEntry({ P: true, PGTT: PGTT.SECOND_STAGE, DID: G.did, AW: awForLevels(4), SSPTPTR: ss.rootPointer }));
    g.iommu.ctx.setContext(g.vm.device(d.bdf).vrid, encodeSmContextEntry({ P: true, PASIDE: true, PASIDDIRPTR: dir.directory }));
  }
  const rw = encodeSsPte({ R: true, W: true });
  ss.map(G.iova, G.gpa.first, 12, rw);
  ss.map(G.iova + 0x1000n, G.gpa.second, 12, rw);
  startIommu(g);
  for (const d of G.devices) setDevicePasid(g, d.bdf, G.pasid);
  return { g, ss };
}

/** A VM with a VFIO device and a vDPA device on one guest PASID: the guest's changes and invalidations reach both subsystems. */
async function guestOnBoth(io: FlowIo, c: Checks, host: PhysicalHost): Promise<void> {
  const { g, ss } = await bootMixed(host);
  const { vm } = g;
  const hpasid = vm.ctx.guestPasids.hostOf(G.pasid);
  const hwpts = (vm.modeHandler as ShadowMode).domains.get(G.did)?.space.hwpts() ?? [];
  const sees = (i: number, iova: bigint) => {
    const t = host.core.translate(G.devices[i]!.hostSid, hpasid, iova, ACC_READ | ACC_PASID);
    return t.ok ? t.addr : undefined;
  };
  const both = (iova: bigint) => [0, 1].map((i) => sees(i, iova));
  const show = (v: (bigint | undefined)[]) => v.map((a) => (a === undefined ? 'fault' : hex(a))).join(' / ');
  io.say(`guest: PASID ${G.pasid} of ${G.devices[0].bdf} (VFIO, pRID ${hex(VFIO_DEV)}) and ${G.devices[1].bdf} (vDPA, pRID ${hex(VDPA_DEV)}) -> one second-stage table of domain ${G.did}; host PASID ${hpasid}, HWPTs ${hwpts.join(' (IOAS map) / ')} (vhost IOTLB)`);
  c.that(hpasid !== undefined && hwpts.length === 2 && hwpts.every((h, i) => vm.ctx.attachedTo(vm.device(G.devices[i]!.bdf).devId, hpasid) === h),
    'one guest PASID, one host PASID, one host space per subsystem');

  const landed = dmaWrite(g, 0, G.iova, 0x31) && dmaWrite(g, 1, G.iova + 8n, 0x32);
  const ram = [...host.guestRam.read(G.gpa.first, 16)].filter((b, k) => k % 8 === 0);
  io.say(`both devices DMA with PASID ${G.pasid} at ${hex(G.iova)}: ${landed ? 'completed' : 'faulted'}, guest RAM at ${hex(G.gpa.first)} holds ${ram.map((b) => hex(b)).join(', ')}; host tables: ${show(both(G.iova))}`);
  c.that(landed && ram[0] === 0x31 && ram[1] === 0x32, 'both subsystems serve the guest\'s mapping: the DMAs land in guest RAM');

  ss.unmap(G.iova, 12);
  ss.map(G.iova, G.gpa.moved, 12, encodeSsPte({ R: true, W: true }));
  g.qi.submitSync([iotlbDesc(3, G.did, G.iova)]);
  const moved = dmaWrite(g, 0, G.iova, 0x41) && dmaWrite(g, 1, G.iova + 8n, 0x42) && host.guestRam.read(G.gpa.moved + 8n, 1)[0] === 0x42;
  io.say(`guest moves ${hex(G.iova)} to GPA ${hex(G.gpa.moved)}, page-selective IOTLB invalidation: host tables ${show(both(G.iova))}; both DMAs land in the new page: ${moved}`);
  c.that(moved && both(G.iova).every((a) => a === host.hpaOf(G.gpa.moved)), 'a changed page and a page-selective invalidation reach both subsystems');

  const gone = G.iova + 0x1000n;
  ss.unmap(gone, 12);
  g.qi.submitSync([pasidIotlbDesc(PIOTLB.G_PASID, G.did, G.pasid)]);
  const after = both(gone);
  const faulted = [dmaWrite(g, 0, gone, 0x51), dmaWrite(g, 1, gone, 0x52)].every((ok) => !ok);
  const faults = g.iommu.drv.readFaults();
  const shown = faults.map((f) => `${hex(f.sid)} PASID ${f.pv} reason ${hex(f.reason)}`);
  io.say(`guest removes ${hex(gone)}, PASID-selective invalidation: host tables ${show(after)}; DMAs then ${faulted ? 'fault' : 'pass'}; guest fault records: ${shown.join('; ') || 'none'}`);
  const bothFaults = faults.length === 2 && faults.every((f) => f.pv === G.pasid && f.reason === FR_SM_SS_NP && f.addr === gone);
  c.that(after.every((a) => a === undefined) && faulted && bothFaults, 'a removal and a PASID-selective invalidation reach both subsystems: the VFIO tables and the vDPA IOTLB drop the page');
  vm.close();
  c.that(host.platform.usage().objects === 0 && host.platform.usage().pasids === 0, 'closing the VM leaves nothing on the host');
}

/** The flow. */
export const vfioVdpaPasid: Flow = { name: 'vfio-vdpa-pasid', summary: 'one guest PASID on a VFIO and a vDPA device: guest invalidations reach both subsystems', run };
