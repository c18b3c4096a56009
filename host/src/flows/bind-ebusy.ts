/**
 * bind-ebusy: a physical device goes parked -> bound -> attached in VM A's
 * host context (DMA blocked until attached); VM B's bind of the same device
 * is refused with EBUSY and B falls back to a spare device; once A unbinds,
 * the device is parked again and B may take it.
 */
import { ACC_READ } from '../core/constants.js';
import { isHostIommuError } from '../hostiommu/errors.js';
import { HOST_LAYOUT } from '../vmm/physical-host.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootHost } from './guest-side.js';

const CONTESTED = 0x0320;
const SPARE = 0x0328;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const host = await bootHost();
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
  const devB = b.bindDevice(platform.openDevice(SPARE));
  const ioasB = b.ioasAlloc();
  b.ioasMap(ioasB, { iova: 0n, hpa: HOST_LAYOUT.guestRam + 0x100_0000n, len: 0x10_0000n });
  b.attach(devB, b.hwptAllocPaging(ioasB));
  io.say(`vm-b falls back to the spare ${hex(SPARE)}: DMA ${dma(SPARE) ? 'translated' : 'blocked'}; ${hex(CONTESTED)} still ${dma(CONTESTED) ? 'works' : 'blocked'} for vm-a`);
  c.that(dma(SPARE) && dma(CONTESTED), 'fallback works and the first owner is undisturbed');

  a.close();
  io.say(`vm-a closes: ${hex(CONTESTED)} is ${fileA.state}, DMA ${dma(CONTESTED) ? 'passes' : 'blocked'}`);
  c.that(fileA.state === 'parked' && !dma(CONTESTED), 'unbinding parks the device again');
  const taken = b.bindDevice(platform.openDevice(CONTESTED));
  c.that(taken > 0, 'a parked device can be bound by another VM');
  b.close();
  c.that(platform.usage().boundDevices === 0 && platform.usage().objects === 0, 'no device stays bound, no object leaks');
  return c.result();
}

/** The flow. */
export const bindEbusy: Flow = { name: 'bind-ebusy', summary: 'parked -> bound -> attached, second binder refused, fallback', run };
