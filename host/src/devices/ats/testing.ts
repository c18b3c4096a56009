/**
 * Test-only knobs of the ATS device: misbehaviour a working device never
 * shows and a guest cannot ask for through BAR0.
 *
 * An invalidation completion error (VT-d §6.5.2.10 ICE) needs an Invalidate
 * Completion message (PCIe §10.3.2) with an ITag or requester id that matches
 * no outstanding invalidation request. The device model answers every
 * device-TLB invalidation with exactly one completion (or none, CTL bit 1:
 * ITE), so this knob makes it send a stray one.
 */
import type { Machine } from '../../machine.js';
import { formatBdf, parseBdf, type Sid } from '../../types.js';
import { AtsDevice } from './device.js';

/**
 * Makes the ATS device at `bdf` send an Invalidate Completion message with
 * ITag `itag` (0..31) when no invalidation is outstanding: the machine's
 * remapping unit reports ICE with ICESID = the device's requester id.
 * Throws an Error naming `bdf` or `itag` when they do not fit.
 */
export function sendStrayInvalidationCompletion(machine: Machine, bdf: string | Sid, itag = 0): void {
  const sid = typeof bdf === 'number' ? bdf : parseBdf(bdf, 'bdf');
  const dev = machine.device(sid);
  if (!(dev instanceof AtsDevice)) throw new Error(`bdf: ${formatBdf(sid)} is not an ATS device`);
  if (!Number.isInteger(itag) || itag < 0 || itag > 31) throw new Error(`itag: ${itag} is not an ITag (0..31)`);
  machine.vtd.invalidationCompletion(dev.sid, itag);
}
