/**
 * iopf: an I/O page fault on a nested domain travels device -> physical
 * IOMMU -> the VM's fault queue -> the guest's page-request queue (pRID
 * translated to vRID, host PASID to guest PASID); the guest maps the page
 * and answers the group; the answer goes back through the fault queue's
 * cookie and the device retries its DMA successfully.
 */
import { encodeFsPte } from '../vtd/spec/fs-pte.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import { DMAT_STATE } from '../devices/dma-test/regs.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootVsva, VSVA } from './nested-vsva.js';

/** A VA the guest has not mapped yet, and the GPA it will map it to. */
export const LAZY = { va: VSVA.va + 0x10_0000n, gpa: 0x300_0000n } as const;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const g = await bootVsva();
  const { vm, host, dev } = g;
  io.say(`setup: nested VM, ${VSVA.bdf} (pRID ${hex(vm.device(VSVA.bdf).prid)}) bound to guest PASID ${VSVA.pasid}`);
  dev.buffer().fill(0x77, 0, 16);
  const first = dev.write(LAZY.va, 16);
  const state = dev.lastStatus() & 7;
  const seen = g.prq.peek();
  io.say(`device: DMA write to unmapped VA ${hex(LAZY.va)}: ${first.ok ? 'ok' : 'recoverable fault'}, device state ${state === DMAT_STATE.PAGE_WAIT ? 'page wait' : state}`);
  io.say(`guest PRQ: ${seen.map((r) => `rid ${hex(r.sid)} PASID ${r.pasid} addr ${hex(r.addr)} prgi ${r.prgi}${r.lpig ? ' last' : ''}`).join('; ') || 'empty'}`);
  c.that(state === DMAT_STATE.PAGE_WAIT, 'the device waits for a page response');
  c.that(seen.length === 1 && seen[0]!.sid === vm.device(VSVA.bdf).vrid && seen[0]!.pasid === VSVA.pasid && seen[0]!.addr === LAZY.va,
    'the guest sees the request with its own RID and PASID and the faulting page');

  const served = g.prq.service((req) => {
    g.fs.map(req.addr, LAZY.gpa, 12, encodeFsPte({ P: true, RW: true, US: true }));
    return PageResponseCode.Success;
  });
  const landed = host.guestRam.read(LAZY.gpa, 16).every((b) => b === 0x77);
  io.say(`guest: mapped ${hex(LAZY.va)} -> GPA ${hex(LAZY.gpa)} and answered Success (${served.responses.length} group); device retried: state ${dev.lastStatus() & 7}, data in guest RAM: ${landed}`);
  c.that((dev.lastStatus() & 7) === DMAT_STATE.DONE && landed, 'the retried DMA completed and the data landed where the guest mapped the page');
  c.that(vm.ctx.faultRead(vm.ids.fault).length === 0, 'no fault group is left pending on the host');
  vm.close();
  return c.result();
}

/** The flow. */
export const iopf: Flow = { name: 'iopf', summary: 'device faults, guest handles the page request, device retries', run };
