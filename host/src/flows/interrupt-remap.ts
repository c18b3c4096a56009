/**
 * interrupt-remap: the guest's interrupt remapping (VT-d chapter 5). The
 * guest builds an interrupt remapping table, latches it (IRTA, SIRTP) and
 * turns remapping on (IRE); a device's MSI is programmed in the remappable
 * format, so the interrupt the platform receives is whatever the IRTE says.
 * The guest retargets the interrupt by rewriting the IRTE (the cached copy
 * serves until the interrupt-entry-cache invalidation), a second device
 * that reuses the handle is stopped by source-id verification, a
 * compatibility-format MSI is blocked, and every refusal is read back from
 * the fault recording registers with its interrupt index.
 */
import { compatMsi, GuestInterruptRemapping, remappableMsi } from '../guest/interrupt-remapping.js';
import { GuestQueue } from '../guest/invalidation-queue.js';
import { guestEnvFor } from '../guest/machine-env.js';
import { PciDriver } from '../guest/pci-driver.js';
import { createMachine, type Machine } from '../machine.js';
import type { DeliveredInterrupt } from '../vtd/ir/remapper.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';

const NIC = 0x18; // 00:03.0
const ROGUE = 0x20; // 00:04.0

/** Makes the DMA test device at `sid` complete a DMA read and send its MSI. */
function fire(m: Machine, pci: PciDriver, sid: number): void {
  const bar = pci.barBase(sid, 0);
  m.mmioWrite(bar + 0x28n, 4, 1n); // IRQ on completion
  m.mmioWrite(bar + 0x10n, 4, 8n);
  m.mmioWrite(bar + 0x14n, 4, 1n); // READ
}

const show = (d: DeliveredInterrupt | undefined): string =>
  d?.remapped ? `vector ${hex(d.remapped.vector)} to APIC ${d.remapped.destination} (IRTE ${d.remapped.index}; message ${hex(d.address)}/${hex(d.data)})`
    : d ? `passed through as ${hex(d.address)}/${hex(d.data)}` : 'nothing delivered';

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const got: DeliveredInterrupt[] = [];
  const m = await createMachine({
    profile: 'default', ramMib: 64, onDeviceInterrupt: (irq) => got.push(irq),
    devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:04.0', kind: 'dma-test' }],
  });
  const env = guestEnvFor(m);
  const pci = new PciDriver(m);
  const qi = new GuestQueue(env);
  qi.enable();
  const ir = new GuestInterruptRemapping(env, qi, { entriesLg2: 8 });
  const gsts = ir.enable();
  io.say(`guest: IRT of ${ir.entries} entries at ${hex(ir.table)}, IRTA ${hex(qi.drv.read64(0xb8))}, SIRTP + IRE: GSTS ${hex(gsts)}`);
  c.that((gsts & (3 << 24)) === 3 << 24, 'the table pointer is latched and remapping is on (IRTPS, IRES)');
  const last = (): DeliveredInterrupt | undefined => got[got.length - 1];

  ir.alloc(32); // entries other drivers hold
  const handle = ir.alloc();
  ir.set(handle, { vector: 0x41, destination: 3, svt: 1, sid: NIC });
  for (const sid of [NIC, ROGUE]) pci.command(sid, 0x6, true);
  pci.enableMsi(NIC, remappableMsi(handle).address, 0);
  fire(m, pci, NIC);
  io.say(`device ${hex(NIC)}: MSI ${hex(remappableMsi(handle).address)} (remappable, handle ${handle}) -> ${show(last())}`);
  c.that(last()?.remapped?.vector === 0x41 && last()?.remapped?.destination === 3, 'the IRTE decides vector and destination');

  ir.write(handle, { vector: 0x41, destination: 5, svt: 1, sid: NIC });
  fire(m, pci, NIC);
  const stale = last()?.remapped?.destination;
  ir.invalidate(handle);
  fire(m, pci, NIC);
  io.say(`guest moves the interrupt to APIC 5 by rewriting the IRTE: before the IEC invalidation APIC ${stale} (cached entry), after it APIC ${last()?.remapped?.destination}`);
  c.that(stale === 3 && last()?.remapped?.destination === 5, 'the cached IRTE serves until the index-selective invalidation; the device was never reprogrammed');

  const before = got.length;
  pci.enableMsi(ROGUE, remappableMsi(handle).address, 0);
  fire(m, pci, ROGUE);
  const spoof = qi.drv.readFaults();
  io.say(`device ${hex(ROGUE)} reuses handle ${handle}: ${got.length > before ? 'delivered' : 'blocked'}; ${spoof.map((f) => `fault ${hex(f.reason)} from ${hex(f.sid)} index ${f.addr >> 48n}`).join(', ')}`);
  c.that(got.length === before && spoof.length === 1 && spoof[0]!.reason === 0x26 && spoof[0]!.addr >> 48n === BigInt(handle),
    'source-id verification blocks the other requester (0x26, with the interrupt index)');

  pci.enableMsi(ROGUE, compatMsi(0, 0x30).address, 0x30);
  fire(m, pci, ROGUE);
  const compat = qi.drv.readFaults();
  ir.compatibilityFormat(true);
  fire(m, pci, ROGUE);
  io.say(`compatibility-format MSI: blocked (fault ${compat.map((f) => hex(f.reason)).join()}) while CFIS=0; with GCMD.CFI: ${show(last())}`);
  c.that(compat.length === 1 && compat[0]!.reason === 0x25 && last()?.remapped === undefined && last()?.data === 0x30,
    'compatibility format is blocked (0x25) unless the guest allows it');

  const s = m.vtd.interrupts.stats();
  io.say(`remapper: ${s.requests} requests, ${s.remapped} remapped, ${s.passedThrough} passed through, ${s.blocked} blocked; entry cache ${s.entryCache.hits} hits / ${s.entryCache.misses} misses`);
  c.that(s.blocked === 2 && s.entryCache.hits >= 1, 'the counters agree with the story');
  return c.result();
}

/** The flow. */
export const interruptRemap: Flow = { name: 'interrupt-remap', summary: 'guest remaps device MSIs: IRTE, IEC invalidation, source-id check, faults', run };
