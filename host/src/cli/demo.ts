/**
 * `viommu demo` (`npm start`): a guest driver builds a small legacy-mode
 * address space for the DMA test device, the device moves data through the
 * IOMMU, an unmapped page faults (fault record read back), a stale IOTLB
 * entry survives until a page-selective invalidation, and the core's cache
 * statistics are printed.
 */
import { GuestIommu } from '../../../firmware-tests/lib/guest.js';
import { guestEnvFor } from '../../../firmware-tests/lib/machine-env.js';
import { encodeSsPte } from '../../../firmware-tests/lib/tables.js';
import { createMachine } from '../machine.js';
import { parseBdf } from '../types.js';
import type { CliIo } from './main.js';

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** Runs the demo; prints each step. */
export async function runDemo(_args: string[], io: CliIo): Promise<number> {
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
  io.out(`VT-d unit: profile default, CAP ${hex(guest.drv.cap)} ECAP ${hex(guest.drv.ecap)}\n`);
  io.out(`translation on: GSTS ${hex(guest.start())}\n`);

  const dev = m.dmaTest(sid);
  m.ram.fill(0x80_0000n, 0x1000, 0xab);
  dev.read(0x10_0000_0000n, 64);
  io.out(`DMA read  iova 0x1000000000 -> gpa 0x800000: status ${hex(dev.lastStatus())}, buffer[0] ${hex(dev.buffer()[0]!)}\n`);
  dev.buffer().fill(0x5a, 0, 64);
  dev.write(0x10_0000_1000n, 64);
  io.out(`DMA write iova 0x1000001000 -> gpa 0x801000: memory now ${Buffer.from(m.ram.read(0x80_1000n, 4)).toString('hex')}\n`);

  dev.read(0x20_0000_0000n, 16);
  io.out(`DMA read of an unmapped iova: status ${hex(dev.lastStatus())}, FSTS ${hex(guest.drv.faultStatus())}\n`);
  for (const f of guest.drv.readFaults()) {
    io.out(`  fault record ${f.index}: sid ${hex(f.sid)} reason ${hex(f.reason)} addr ${hex(f.addr)} ${f.read ? 'read' : 'write'}\n`);
  }
  for (const line of msis) io.out(`  ${line}\n`);

  ss.unmap(0x10_0000_0000n, 12);
  dev.read(0x10_0000_0000n, 16);
  io.out(`after unmapping without invalidation (stale IOTLB entry): status ${hex(dev.lastStatus())}\n`);
  const iotlb = guest.drv.iotlbInvalidatePage(7, 0x10_0000_0000n);
  dev.read(0x10_0000_0000n, 16);
  io.out(`after page-selective invalidation (IOTLB reg ${hex(iotlb)}): status ${hex(dev.lastStatus())}\n`);
  guest.drv.readFaults();

  io.out('\ncache statistics\n');
  for (const [k, v] of Object.entries(m.core.stats())) io.out(`  ${k.padEnd(24)} ${v}\n`);
  return 0;
}
