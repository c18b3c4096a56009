/**
 * bind-ebusy: a physical device goes parked -> bound -> attached in VM A's
 * host context (DMA blocked until attached); VM B's bind of the same device
 * is refused with EBUSY, and so is the legacy path to it (its IOMMU group is
 * not viable while a member is bound). B falls back to the group path for
 * another group: a VFIO container (container-group.ts) takes the whole
 * two-function group 03:05 rather than a spare device. Once A unbinds, the
 * contested device is parked again and its group joins B's container too.
 */
import { ACC_READ } from '../core/constants.js';
import { isHostIommuError } from '../hostiommu/errors.js';
import { VfioContainer } from '../hostiommu/vfio-container.js';
import { HOST_LAYOUT } from '../vmm/physical-host.js';
import { Checks, errnoOf, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootGroups, SECOND_FUNCTION } from './container-group.js';

const CONTESTED = 0x0320;
const PAIR = 0x0328;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const { host, groups } = await bootGroups();
  const { platform, core } = host;
  const dma = (sid: number) => core.translate(sid, undefined, 0x1000n, ACC_READ).ok;
  const fileA = platform.openDevice(CONTESTED);
  io.say(`open ${hex(CONTESTED)}: ${fileA.state}, DMA ${dma(CONTESTED) ? 'passes' : 'blocked'}`);
  c.that(fileA.state === 'parked' && !dma(CONTESTED), 'an opened device is parked with DMA blocked');

  const a = platform.createContext('vm-a');
  const devA = a.bindDevice(fileA);
  io.say(`vm-a binds it: ${fileA.state}, DMA ${dma(CONTESTED) ? 'passes' : 'still blocked (not attached)'}`);
  c.that(fileA.state === 'bound' && !dma(CONTESTED), 'bound but not attached: still blocked');
  const ioasA = a.ioasAlloc();
  a.ioasMap(ioasA, { iova: 0n, hpa: HOST_LAYOUT.guestRam, len: 0x10_0000n });
  a.attach(devA, a.hwptAllocPaging(ioasA));
  io.say(`vm-a attaches it to a paging HWPT: DMA ${dma(CONTESTED) ? 'translated' : 'blocked'}`);
  c.that(dma(CONTESTED), 'attached: DMA is translated by the host domain');

  const b = platform.createContext('vm-b');
  let errno = '';
  try {
    b.bindDevice(platform.openDevice(CONTESTED));
  } catch (e) {
    if (!isHostIommuError(e)) throw e;
    errno = e.errno;
    io.say(`vm-b binds ${hex(CONTESTED)}: ${e.errno} (${e.message})`);
  }
  c.that(errno === 'EBUSY', 'the second binder gets EBUSY');
  const container = new VfioContainer(b, groups);
  const legacy = errnoOf(() => container.addGroup(groups.groupOf(CONTESTED).id));
  io.say(`vm-b tries the legacy path to it (group ${groups.groupOf(CONTESTED).id}): ${legacy}`);
  c.that(legacy === 'EBUSY', 'the group of a bound device is not viable either');

  const pair = groups.groupOf(PAIR);
  container.addGroup(pair.id);
  container.setIommu('type1');
  container.map({ iova: 0n, hpa: HOST_LAYOUT.guestRam + 0x100_0000n, len: 0x10_0000n });
  io.say(`vm-b falls back to group ${pair.id} {${pair.members.map((s) => hex(s)).join(', ')}} in a container: DMA ${dma(PAIR) && dma(SECOND_FUNCTION) ? 'translated for both functions' : 'blocked'}; ${hex(CONTESTED)} still ${dma(CONTESTED) ? 'works' : 'blocked'} for vm-a`);
  c.that(dma(PAIR) && dma(SECOND_FUNCTION) && dma(CONTESTED), 'the group fallback works and the first owner is undisturbed');

  a.close();
  io.say(`vm-a closes: ${hex(CONTESTED)} is ${fileA.state}, DMA ${dma(CONTESTED) ? 'passes' : 'blocked'}`);
  c.that(fileA.state === 'parked' && !dma(CONTESTED), 'unbinding parks the device again');
  container.addGroup(groups.groupOf(CONTESTED).id);
  io.say(`vm-b's container takes ${hex(CONTESTED)}'s group now: DMA ${dma(CONTESTED) ? 'translated' : 'blocked'}`);
  c.that(dma(CONTESTED), 'a parked device\'s group can join another VM\'s container');
  container.close();
  c.that(platform.usage().boundDevices === 0 && platform.usage().objects === 0, 'no device stays bound, no object leaks');
  return c.result();
}

/** The flow. */
export const bindEbusy: Flow = { name: 'bind-ebusy', summary: 'parked -> bound -> attached, second binder refused, fallback to a group', run };
