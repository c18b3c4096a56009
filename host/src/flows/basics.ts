/**
 * basics: the emulated mode (no host object model: the machine's own core
 * walks the guest's tables). A guest driver builds a legacy-mode address
 * space for the DMA test device; the device moves data through the IOMMU;
 * an unmapped page faults (fault record read back); a stale IOTLB entry
 * survives until a page-selective invalidation; cache statistics follow.
 */
import { GuestIommu } from '../guest/guest-iommu.js';
import { guestEnvFor } from '../guest/machine-env.js';
import { encodeSsPte } from '../vtd/spec/ss-pte.js';
import { createMachine } from '../machine.js';
import { parseBdf } from '../types.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const msis: string[] = [];
  const m = await createMachine({
    profile: 'default', iommu: { scalableMode: true, awBits: 48 }, ramMib: 128,
    devices: [{ bdf: '00:03.0', kind: 'dma-test' }],
    onInterrupt: (msi) => msis.push(`${msi.source} MSI to ${hex(msi.address)} data ${hex(msi.data)}`),
  });
  const sid = parseBdf('00:03.0');
  const guest = new GuestIommu(guestEnvFor(m), 'legacy');
  const ss = guest.attachLegacy(sid, { did: 7, levels: 4 });
  const rw = encodeSsPte({ R: true, W: true });
  for (let i = 0n; i < 4n; i++) ss.map(0x10_0000_0000n + i * 0x1000n, 0x80_0000n + i * 0x1000n, 12, rw);
  guest.drv.setupFaultEvent(0xfee0_0000n, 0x41);
  io.say(`VT-d unit: profile default, CAP ${hex(guest.drv.cap)} ECAP ${hex(guest.drv.ecap)}`);
  io.say(`translation on: GSTS ${hex(guest.start())}`);

  const dev = m.dmaTest(sid);
  m.ram.fill(0x80_0000n, 0x1000, 0xab);
  const r = dev.read(0x10_0000_0000n, 64);
  io.say(`DMA read  iova 0x1000000000 -> gpa 0x800000: status ${hex(dev.lastStatus())}, buffer[0] ${hex(dev.buffer()[0]!)}`);
  c.that(r.ok && dev.buffer()[0] === 0xab, 'the DMA read returns guest memory');
  dev.buffer().fill(0x5a, 0, 64);
  dev.write(0x10_0000_1000n, 64);
  io.say(`DMA write iova 0x1000001000 -> gpa 0x801000: memory now ${[...m.ram.read(0x80_1000n, 4)].map((b) => b.toString(16).padStart(2, '0')).join('')}`);
  c.that(m.ram.read(0x80_1000n, 64).every((b) => b === 0x5a), 'the DMA write lands in guest memory');

  const bad = dev.read(0x20_0000_0000n, 16);
  io.say(`DMA read of an unmapped iova: status ${hex(dev.lastStatus())}, FSTS ${hex(guest.drv.faultStatus())}`);
  const faults = guest.drv.readFaults();
  for (const f of faults) io.say(`  fault record ${f.index}: sid ${hex(f.sid)} reason ${hex(f.reason)} addr ${hex(f.addr)} ${f.read ? 'read' : 'write'}`);
  for (const line of msis) io.say(`  ${line}`);
  c.that(!bad.ok && faults.length === 1 && faults[0]!.addr === 0x20_0000_0000n && msis.length === 1, 'the unmapped read faults, is recorded and raises the fault event');

  ss.unmap(0x10_0000_0000n, 12);
  const stale = dev.read(0x10_0000_0000n, 16).ok;
  io.say(`after unmapping without invalidation (stale IOTLB entry): status ${hex(dev.lastStatus())}`);
  const iotlb = guest.drv.iotlbInvalidatePage(7, 0x10_0000_0000n);
  const fresh = dev.read(0x10_0000_0000n, 16).ok;
  io.say(`after page-selective invalidation (IOTLB reg ${hex(iotlb)}): status ${hex(dev.lastStatus())}`);
  guest.drv.readFaults();
  c.that(stale && !fresh, 'the stale IOTLB entry serves until the page-selective invalidation');

  io.say('cache statistics');
  for (const [k, v] of Object.entries(m.core.stats())) io.say(`  ${k.padEnd(24)} ${v}`);
  return c.result();
}

/** The flow. */
export const basics: Flow = { name: 'basics', summary: 'emulated mode: translate, fault, stale IOTLB entry, invalidate', run };
