/**
 * Where a device's MSI goes. An MSI is a posted DWORD memory write (PCI
 * 3.0 §6.8): written to the interrupt address range 0xFEEx_xxxx it is an
 * interrupt request, which the remapping unit remaps, passes through or
 * blocks (§3.15, §5.1.2; ir/remapper.ts) before the platform's interrupt
 * controller sees it; written anywhere else it is an ordinary DMA write of
 * the data through the device's port, subject to DMA remapping like any
 * other write of the device (a fault there is recorded as a DMA fault).
 */
import type { DmaPort } from '../../pci/dma-port.js';
import type { DeviceMsi, DeviceMsiSink } from '../../pci/msi.js';
import { isInterruptAddress } from '../spec/interrupt-remapping.js';
import type { DeliveredInterrupt, InterruptOutcome } from './remapper.js';
import type { Gpa, Iova, Sid } from '../../types.js';

/** Receives every interrupt the platform delivers (after remapping, if any). */
export type DeliveredInterruptSink = (irq: DeliveredInterrupt) => void;

/** The remapping unit's interrupt entry point. */
export interface InterruptRequestTarget {
  interruptRequest(sid: Sid, address: Gpa, data: number): InterruptOutcome;
}

/**
 * The MSI sink of the device at `sid`: interrupt requests go through
 * `unit`'s remapper to `sink`; other addresses are DMA-written through `port`.
 */
export function routeDeviceInterrupts(
  unit: InterruptRequestTarget, sid: Sid, port: DmaPort, sink: () => DeliveredInterruptSink | undefined,
): DeviceMsiSink {
  let buf: number | undefined;
  return (msi: DeviceMsi) => {
    if (isInterruptAddress(msi.address)) {
      const r = unit.interruptRequest(sid, msi.address, msi.data);
      if (r.ok) sink()?.(r.delivered);
      return;
    }
    buf ??= port.allocBuffer(4);
    const bytes = port.buffer(buf, 4);
    for (let i = 0; i < 4; i++) bytes[i] = (msi.data >>> (8 * i)) & 0xff;
    port.dmaBig(msi.address as Iova, 4, true, buf); // outside the interrupt range an MSI is a DMA write: the address is the device's IOVA
  };
}
