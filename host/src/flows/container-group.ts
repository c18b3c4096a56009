/**
 * container-group: VFIO's legacy model on the iommufd-like objects. The
 * platform's devices fall into IOMMU groups (the two functions of device
 * 03:05 share one); a container is one host context whose IOAS is the
 * container's address space; groups join it whole, VFIO_SET_IOMMU attaches
 * every member to one paging HWPT over the IOAS, and MAP_DMA / UNMAP_DMA
 * change what every device of every group in the container sees. Then a
 * guest on the same path: the VMM keeps a container per guest domain and
 * turns the guest's caching-mode invalidations into MAP_DMA.
 */
import { ACC_READ } from '../core/constants.js';
import { IommuGroups } from '../hostiommu/groups.js';
import { VfioContainer } from '../hostiommu/vfio-container.js';
import { HOST_LAYOUT, type PhysicalHost } from '../vmm/physical-host.js';
import { Checks, errnoOf, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootGuest, bootHost, HOST_DEVICES, startIommu } from './guest-side.js';
import { awForLevels, encodeContextEntry } from '../vtd/spec/context-entry.js';
import { encodeSsPte } from '../vtd/spec/ss-pte.js';

/** The second function of the multi-function device 03:05 (no ACS: one group with 03:05.0). */
export const SECOND_FUNCTION = 0x0329;

/** A fresh host whose devices include 03:05.1, and its group topology. */
export async function bootGroups() {
  const host = await bootHost();
  host.platform.addDevice(SECOND_FUNCTION, { pasidBits: 8, pri: true });
  const groups = new IommuGroups(host.platform, [...HOST_DEVICES.map((d) => d.prid), SECOND_FUNCTION]);
  return { host, groups };
}

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const { host, groups } = await bootGroups();
  const dma = (sid: number, iova = 0x1000n) => host.core.translate(sid, undefined, iova, ACC_READ);
  io.say(`IOMMU groups: ${groups.list().map((g) => `${g.id} = {${g.members.map((s) => hex(s)).join(', ')}}`).join('; ')}`);
  const pair = groups.groupOf(0x0328);
  c.that(pair.members.length === 2 && pair.members.includes(SECOND_FUNCTION), 'the two functions of 03:05 share a group');

  const container = new VfioContainer(host.platform.createContext('vm-legacy'), groups);
  const early = [errnoOf(() => container.map({ iova: 0n, hpa: HOST_LAYOUT.guestRam, len: 0x10_0000n })), errnoOf(() => container.setIommu('type1'))];
  io.say(`container: MAP_DMA before SET_IOMMU -> ${early[0]}; SET_IOMMU without a group -> ${early[1]}`);
  c.that(early[0] === 'EINVAL' && early[1] === 'EINVAL', 'a container needs a group and an IOMMU model first');

  container.addGroup(pair.id);
  container.setIommu('type1');
  container.map({ iova: 0n, hpa: HOST_LAYOUT.guestRam, len: 0x10_0000n });
  const both = [0x0328, SECOND_FUNCTION].map((s) => dma(s));
  io.say(`group ${pair.id} joins, SET_IOMMU type1, MAP_DMA [0, 1 MiB) -> ${hex(HOST_LAYOUT.guestRam)}: DMA of ${hex(0x328)} -> ${both[0]!.ok ? hex(both[0]!.addr) : 'fault'}, ${hex(SECOND_FUNCTION)} -> ${both[1]!.ok ? hex(both[1]!.addr) : 'fault'}`);
  c.that(both.every((t) => t.ok && t.addr === HOST_LAYOUT.guestRam + 0x1000n), 'every member of the group is attached to the container\'s address space');

  const single = groups.groupOf(0x0318);
  container.addGroup(single.id);
  io.say(`group ${single.id} joins the same container later: DMA of ${hex(0x318)} -> ${dma(0x318).ok ? hex(dma(0x318).addr) : 'fault'}; the container's device fd for ${hex(0x318)} is object ${container.device(single.id, 0x318)}`);
  c.that(dma(0x0318).ok && dma(0x0318).addr === both[0]!.addr, 'a group joining later shares the mappings');

  const other = host.platform.createContext('vm-other');
  const steal = errnoOf(() => other.bindDevice(host.platform.openDevice(SECOND_FUNCTION)));
  const third = new VfioContainer(host.platform.createContext('vm-third'), groups);
  const viable = errnoOf(() => third.addGroup(pair.id));
  third.close();
  io.say(`another context binds ${hex(SECOND_FUNCTION)}: ${steal}; another container takes group ${pair.id}: ${viable}`);
  c.that(steal === 'EBUSY' && viable === 'EBUSY', 'a group in a container is not available to anyone else');

  container.unmap(0n, 0x10_0000n);
  const after = [0x0318, 0x0328, SECOND_FUNCTION].map((s) => dma(s).ok);
  io.say(`UNMAP_DMA: DMA of the three devices ${after.map((ok) => (ok ? 'still translated' : 'faults')).join(', ')}`);
  c.that(after.every((ok) => !ok), 'one unmap reaches every device of every group in the container');

  container.removeGroup(pair.id);
  container.removeGroup(single.id);
  const dropped = errnoOf(() => container.map({ iova: 0n, hpa: HOST_LAYOUT.guestRam, len: 0x1000n }));
  io.say(`both groups leave: IOMMU model ${container.iommuType ?? 'dropped'}, MAP_DMA -> ${dropped}; devices bound: ${host.platform.usage().boundDevices}`);
  c.that(container.iommuType === undefined && dropped === 'EINVAL' && host.platform.usage().boundDevices === 0, 'the last group leaving drops the IOMMU model and parks the devices');
  container.close();
  other.close();
  c.that(host.platform.usage().objects === 0 && host.platform.usage().pinnedPages === 0, 'no object or pinned page is left');
  await guestOnGroups(io, c, host, groups);
  return c.result();
}

/** A shadow-mode guest whose devices come by group: its vIOMMU mapping becomes MAP_DMA on its domain's container. */
async function guestOnGroups(io: FlowIo, c: Checks, host: PhysicalHost, groups: IommuGroups): Promise<void> {
  const devices = [{ bdf: '00:03.0', hostSid: 0x0328, kind: 'dma-test' as const }, { bdf: '00:04.0', hostSid: SECOND_FUNCTION, kind: 'dma-test' as const }];
  const g = await bootGuest({ name: 'vm-legacy', mode: 'shadow', hostPath: 'group', groups, devices }, host);
  const ss = g.iommu.attachLegacy(g.vm.device('00:03.0').vrid, { did: 3, levels: 4 });
  g.iommu.ctx.setContext(g.vm.device('00:04.0').vrid, encodeContextEntry({ P: true, SSPTPTR: ss.rootPointer, AW: awForLevels(4), DID: 3 }));
  ss.map(0x4000_0000n, 0x300_0000n, 12, encodeSsPte({ R: true, W: true }));
  startIommu(g);
  const dev = g.vm.machine.dmaTest('00:04.0');
  dev.buffer().fill(0x5e, 0, 8);
  const ok = dev.write(0x4000_0000n, 8).ok && host.guestRam.read(0x300_0000n, 1)[0] === 0x5e;
  io.say(`guest on the group path: both functions in domain 3 -> one container (${host.platform.usage().boundDevices} devices bound by group); its mapping became MAP_DMA and a DMA of 00:04.0 landed: ${ok}`);
  c.that(ok && host.platform.usage().boundDevices === 2, 'a guest\'s caching-mode invalidations drive the container');
  g.vm.close();
}

/** The flow. */
export const containerGroup: Flow = { name: 'container-group', summary: 'VFIO container and groups over the iommufd-like objects', run };
