/**
 * reset: a device is reset while one of its DMAs waits on a page request
 * the guest has not answered yet. The host reset answers the outstanding
 * page group (Response Failure), so the waiting DMA ends and nothing stays
 * in flight; the device returns to power-on state; the guest's late answer
 * to the forwarded request matches nothing and is dropped; after the guest
 * re-enables the device, its DMA works again.
 */
import { PageResponseCode } from '../vtd/spec/page-request.js';
import { DMAT_STATE } from '../devices/dma-test/regs.js';
import { Checks, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { setDevicePasid } from './guest-side.js';
import { LAZY } from './iopf.js';
import { bootVsva, VSVA } from './nested-vsva.js';

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const g = await bootVsva();
  const { vm, dev, host } = g;
  const vrid = vm.device(VSVA.bdf).vrid;
  dev.buffer().fill(0x99, 0, 16);
  dev.write(LAZY.va, 16);
  const waiting = (dev.lastStatus() & 7) === DMAT_STATE.PAGE_WAIT;
  io.say(`device: DMA to unmapped ${LAZY.va.toString(16)} waits for a page response (${waiting}); guest PRQ holds ${g.prq.peek().length} request`);
  c.that(waiting && g.prq.peek().length === 1, 'a DMA and its page request are outstanding');

  const saved = [g.pci.read(vrid, 0x10, 4), g.pci.read(vrid, 0x14, 4)]; // the guest saves BAR0 (64-bit) across the reset
  const answered = vm.resetDevice(VSVA.bdf);
  const ended = (dev.lastStatus() & 7) !== DMAT_STATE.PAGE_WAIT && dev.pending === undefined;
  io.say(`vmm: device reset: ${answered} outstanding page group answered by the host; device idle: ${ended}`);
  c.that(answered === 1 && ended, 'the reset answered the outstanding group and ended the waiting DMA');
  c.that(host.platform.usage().boundDevices === 1 && vm.ctx.faultRead(vm.ids.fault).length === 0, 'the device stays bound, no fault record is left');

  const late = g.prq.service(() => PageResponseCode.Success);
  const dropped = vm.logLines.some((l) => l.includes('answers no forwarded page group'));
  io.say(`guest: answers the old request late (${late.responses.length} response): dropped by the VMM: ${dropped}; device PRI status ${g.pci.priStatus(vrid).toString(16)}`);
  c.that(dropped && (g.pci.priStatus(vrid) & 2) === 0, 'the late answer reaches no device (no unexpected PRG index)');

  g.pci.write(vrid, 0x10, 4, saved[0]!);
  g.pci.write(vrid, 0x14, 4, saved[1]!);
  g.pci.command(vrid, 0x6, true);
  g.pci.enablePasid(vrid);
  g.pci.enablePri(vrid, 16);
  setDevicePasid(g, VSVA.bdf, VSVA.pasid);
  dev.buffer().fill(0x42, 0, 8);
  const again = dev.write(VSVA.va, 8);
  io.say(`guest: restores BAR0, re-enables bus master, PASID, PRI; DMA with PASID ${VSVA.pasid}: ${again.ok ? 'ok' : 'fault'}`);
  c.that(again.ok && host.guestRam.read(VSVA.gpa, 1)[0] === 0x42, 'after the reset the device works again');
  vm.close();
  return c.result();
}

/** The flow. */
export const resetFlow: Flow = { name: 'reset', summary: 'device reset while DMA and page requests are outstanding', run };
