/**
 * subdevice: mediated / Scalable-IOV subdevices as device handles. One
 * PASID-capable physical device is bound; two subdevices are cut from it,
 * each a handle of (parent RID, default PASID). Device operations take a
 * subdevice where they take a device: each is attached to its own address
 * space, replaced, driven through a vDPA-style IOTLB, detached; neither can
 * touch the other's PASIDs, and the parent stays while they exist.
 */
import { ACC_PASID, ACC_READ } from '../core/constants.js';
import { VdpaDevice, VHOST_ACCESS, VHOST_IOTLB } from '../hostiommu/vdpa.js';
import { HOST_LAYOUT } from '../vmm/physical-host.js';
import { Checks, errnoOf, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootHost } from './guest-side.js';

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
  return c.result();
}

/** The flow. */
export const subdeviceFlow: Flow = { name: 'subdevice', summary: 'mediated / SIOV subdevices: (parent RID, default PASID) handles every operation takes', run };
