/**
 * subdevice: mediated / Scalable-IOV subdevices as device handles. One
 * PASID-capable physical device is bound; two subdevices are cut from it,
 * each a handle of (parent RID, default PASID). Device operations take a
 * subdevice where they take a device: each is attached to its own address
 * space, replaced, driven through a vDPA-style IOTLB, detached; neither can
 * touch the other's PASIDs, and the parent stays while they exist. Then a
 * guest given two subdevices of one parent as two functions
 * (VmDeviceConfig.subdevice): the VMM attaches the subdevices where the
 * guest's domains say. Last, page requests per subdevice: both functions
 * fault at once with the same PRG index (on the host: the parent's RID,
 * two default PASIDs); each request reaches the guest as its own
 * function's, and each page-group response completes its own group only,
 * a hostile one naming the sibling's none.
 */
import { ACC_PASID, ACC_READ } from '../core/constants.js';
import { VdpaDevice, VHOST_ACCESS, VHOST_IOTLB } from '../hostiommu/vdpa.js';
import { HOST_LAYOUT } from '../vmm/physical-host.js';
import { Checks, errnoOf, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootGuest, bootHost, startIommu } from './guest-side.js';
import { attachPasids } from '../guest/pasid-attach.js';
import { DMAT_STATE } from '../devices/dma-test/regs.js';
import { iotlbDesc, pageGroupResponseDesc } from '../vtd/spec/descriptors.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import { encodeSsPte } from '../vtd/spec/ss-pte.js';
import type { PhysicalHost } from '../vmm/physical-host.js';

const PARENT = 0x0320;
const HPA = [HOST_LAYOUT.guestRam + 0x60_0000n, HOST_LAYOUT.guestRam + 0x70_0000n] as const;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const host = await bootHost();
  const ctx = host.platform.createContext('tenant');
  const parent = ctx.bindDevice(host.platform.openDevice(PARENT));
  const subs = [ctx.subdeviceAlloc(parent), ctx.subdeviceAlloc(parent, 7)];
  const defaults = subs.map((s) => ctx.subdevicePasid(s));
  const pasidOf = (i: number): number => defaults[i]!;
  const spaces = HPA.map((hpa) => {
    const ioas = ctx.ioasAlloc();
    ctx.ioasMap(ioas, { iova: 0x1000n, hpa, len: 0x1000n });
    return { ioas, hwpt: ctx.hwptAllocPaging(ioas, { pasid: true }) };
  });
  subs.forEach((s, i) => ctx.attach(s, spaces[i]!.hwpt));
  const dma = (pasid: number | undefined, iova = 0x1000n) => {
    const t = host.core.translate(PARENT, pasid, iova, ACC_READ | (pasid === undefined ? 0 : ACC_PASID));
    return t.ok ? t.addr : undefined;
  };
  const show = (a: bigint | undefined): string => (a === undefined ? 'blocked' : hex(a));
  io.say(`parent ${hex(PARENT)} bound; subdevices ${subs.join(', ')} = (${hex(PARENT)}, PASID ${pasidOf(0)}) and (${hex(PARENT)}, PASID ${pasidOf(1)}), each attached to its own address space`);
  io.say(`DMA at 0x1000: PASID ${pasidOf(0)} -> ${show(dma(pasidOf(0)))}, PASID ${pasidOf(1)} -> ${show(dma(pasidOf(1)))}, the parent's RID without PASID -> ${show(dma(undefined))}`);
  c.that(dma(pasidOf(0)) === HPA[0] && dma(pasidOf(1)) === HPA[1] && dma(undefined) === undefined, 'each subdevice DMAs in its own address space; the parent itself is not attached');

  ctx.replace(subs[0]!, spaces[1]!.hwpt);
  const moved = dma(pasidOf(0));
  const sibling = errnoOf(() => ctx.detach(subs[1]!, pasidOf(0)));
  const parentGone = errnoOf(() => ctx.destroy(parent));
  io.say(`replace subdevice ${subs[0]} into the second space: PASID ${pasidOf(0)} -> ${show(moved)}; subdevice ${subs[1]} detaching PASID ${pasidOf(0)}: ${sibling}; destroying the parent: ${parentGone}`);
  c.that(moved === HPA[1] && sibling === 'ENOENT' && parentGone === 'EBUSY', 'replace works on a subdevice; siblings are isolated; the parent outlives its subdevices');

  const vdpa = new VdpaDevice(ctx, spaces[0]!.ioas);
  ctx.replace(subs[0]!, spaces[0]!.hwpt);
  vdpa.message({ type: VHOST_IOTLB.UPDATE, iova: 0x8000n, size: 0x1000n, uaddr: HPA[0] + 0x8000n, perm: VHOST_ACCESS.RW });
  io.say(`a vDPA-style IOTLB update on subdevice ${subs[0]}'s space: PASID ${pasidOf(0)} at 0x8000 -> ${show(dma(pasidOf(0), 0x8000n))}; reset of subdevice ${subs[0]} answered ${ctx.reset(subs[0]!)} page groups`);
  c.that(dma(pasidOf(0), 0x8000n) === HPA[0] + 0x8000n, 'a subdevice is a vDPA device like any other');

  ctx.detach(subs[0]!);
  for (const s of subs) ctx.destroy(s);
  const after = [dma(pasidOf(0)), dma(pasidOf(1))];
  ctx.close();
  io.say(`subdevices destroyed: DMA ${after.map(show).join(', ')}; host objects ${host.platform.usage().objects}, PASIDs ${host.platform.usage().pasids}`);
  c.that(after.every((a) => a === undefined) && host.platform.usage().objects === 0 && host.platform.usage().pasids === 0, 'destroying a subdevice detaches it and returns its PASID');
  await guestWithSubdevices(io, c, host);
  await pageRequestsPerSubdevice(io, c, host);
  return c.result();
}

/** A shadow-mode guest whose functions 00:03.0 and 00:04.0 are subdevices of PARENT, each in its own guest domain. */
async function guestWithSubdevices(io: FlowIo, c: Checks, host: PhysicalHost): Promise<void> {
  const bdfs = ['00:03.0', '00:04.0'] as const;
  const g = await bootGuest({ name: 'vm-siov', mode: 'shadow', devices: bdfs.map((bdf) => ({ bdf, hostSid: PARENT, kind: 'dma-test' as const, subdevice: true })) }, host);
  const gpa = [0x300_0000n, 0x310_0000n] as const;
  bdfs.forEach((bdf, i) => g.iommu.attachLegacy(g.vm.device(bdf).vrid, { did: 3 + i, levels: 4 }).map(0x4000_0000n, gpa[i]!, 12, encodeSsPte({ R: true, W: true })));
  startIommu(g);
  const landed = bdfs.map((bdf, i) => {
    const dev = g.vm.machine.dmaTest(bdf);
    dev.buffer().fill(0x70 + i, 0, 8);
    return dev.write(0x4000_0000n, 8).ok && host.guestRam.read(gpa[i]!, 1)[0] === 0x70 + i;
  });
  const tags = bdfs.map((bdf) => g.vm.device(bdf).defaultPasid);
  io.say(`guest with two subdevices of ${hex(PARENT)} as ${bdfs.join(' and ')} in guest domains 3 and 4: the same IOVA lands at GPA ${gpa.map((a) => hex(a)).join(' / ')}: ${landed.join(' / ')}; on the host both are ${hex(PARENT)}, tagged with PASIDs ${tags.join(' / ')}`);
  c.that(landed.every(Boolean) && tags[0] !== tags[1], 'the VMM attaches each subdevice where its guest domain says; one parent RID, two address spaces');
  g.vm.close();
  c.that(host.platform.usage().objects === 0 && host.platform.usage().pasids === 0, 'closing the VM destroys its subdevices and unbinds the parent');
}

/** Two subdevices of PARENT fault at once in a scalable-mode guest (PRE = 1, PRI on); the guest answers each; a hostile answer names the sibling. */
async function pageRequestsPerSubdevice(io: FlowIo, c: Checks, host: PhysicalHost): Promise<void> {
  const bdfs = ['00:03.0', '00:04.0'] as const;
  const g = await bootGuest({ name: 'vm-siov-prq', mode: 'shadow', devices: bdfs.map((bdf) => ({ bdf, hostSid: PARENT, kind: 'dma-test' as const, subdevice: true })) }, host, { scalable: true });
  const vrid = bdfs.map((bdf) => g.vm.device(bdf).vrid);
  const tables = vrid.map((v, i) => attachPasids(g.iommu, v, [{ pasid: 0, did: 3 + i }], { pre: true }).get(0)!);
  startIommu(g);
  const devs = bdfs.map((bdf) => g.vm.machine.dmaTest(bdf));
  const gpa = [0x320_0000n, 0x330_0000n] as const;
  devs.forEach((d, i) => d.buffer().fill(0x90 + i, 0, 8));
  const waiting = devs.map((d) => !d.write(0x4000_0000n, 8).ok && (d.lastStatus() & 7) === DMAT_STATE.PAGE_WAIT);
  const seen = g.prq.peek();
  io.say(`both subdevices write to unmapped 0x40000000 at once: the host gets ${hex(PARENT)} PASIDs ${bdfs.map((b) => g.vm.device(b).defaultPasid).join(' / ')}; the guest's PRQ: ${seen.map((r) => `RID ${hex(r.sid)} PASID ${r.pasid ?? '-'} PRGI ${r.prgi}`).join('; ')}`);
  c.that(waiting.every(Boolean) && seen.length === 2 && seen.every((r, i) => r.sid === vrid[i] && r.pasid === undefined && r.prgi === 0),
    'two slices faulting with the same PRG index reach the guest as two functions\' requests');

  const respond = (i: number, prgi: number, o: { pasid?: number } = {}) => g.qi.submitSync([pageGroupResponseDesc(vrid[i]!, prgi, PageResponseCode.Success, { ...o, lpig: true })]);
  const state = () => devs.map((d) => ((d.lastStatus() & 7) === DMAT_STATE.DONE ? 'done' : (d.lastStatus() & 7) === DMAT_STATE.PAGE_WAIT ? 'waiting' : 'fault'));
  tables.forEach((t, i) => t.map(0x4000_0000n, gpa[i]!, 12, encodeSsPte({ R: true, W: true })));
  g.qi.submitSync([iotlbDesc(3, 3, 0x4000_0000n), iotlbDesc(3, 4, 0x4000_0000n)]);
  respond(0, 1);
  respond(0, 0, { pasid: g.vm.device(bdfs[1]).defaultPasid });
  const afterHostile = state();
  respond(1, 0);
  const afterSecond = state();
  respond(0, 0);
  const landed = gpa.every((a, i) => host.guestRam.read(a, 1)[0] === 0x90 + i);
  io.say(`guest maps both pages; hostile answers (RID ${hex(vrid[0]!)} with PRGI 1, then with the sibling's PASID): ${afterHostile.join(' / ')}; answers ${hex(vrid[1]!)}: ${afterSecond.join(' / ')}; answers ${hex(vrid[0]!)}: ${state().join(' / ')}; data landed: ${landed}`);
  c.that(afterHostile.every((x) => x === 'waiting') && afterSecond.join() === 'waiting,done' && state().every((x) => x === 'done') && landed,
    'each page-group response completes its own subdevice\'s group only');
  g.vm.close();
}

/** The flow. */
export const subdeviceFlow: Flow = { name: 'subdevice', summary: 'mediated / SIOV subdevices: (parent RID, default PASID) handles every operation takes', run };
