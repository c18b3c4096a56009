/**
 * shared-pasid: one guest PASID (one process address space) used by two
 * devices of different kinds, a DMA test device and a shared work-queue
 * device, each bound to the same host PASID with its own nested HWPT over
 * the same guest first stage. Both DMA into the same pages; one PASID-IOTLB
 * invalidation from the guest reaches both; unbinding one device keeps the
 * host PASID for the other, unbinding both frees it.
 */
import { ccDesc, pasidCacheDesc, pasidIotlbDesc } from '../vtd/spec/descriptors.js';
import { encodeFsPte } from '../vtd/spec/fs-pte.js';
import { encodePasidEntry } from '../vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../vtd/spec/sm-context-entry.js';
import { encodeDescriptor, SWQ_OP } from '../devices/swq/descriptor.js';
import { Checks, type Flow, type FlowIo, type FlowResult } from './flow.js';

import { enableSwq, enqcmd } from './enqcmd.js';
import { bootVsva, VSVA } from './nested-vsva.js';

const SWQ_BDF = '00:04.0';

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const g = await bootVsva(io, [{ bdf: VSVA.bdf, hostSid: 0x0318, kind: 'dma-test' }, { bdf: SWQ_BDF, hostSid: 0x0320, kind: 'swq' }]);
  const { vm, host, dev } = g;
  enableSwq(g, SWQ_BDF, VSVA.pasid);
  const h = vm.ctx.guestPasids.hostOf(VSVA.pasid);
  io.say(`vmm: guest PASID ${VSVA.pasid} -> host PASID ${h} on both devices; nested HWPTs: ${vm.ctx.counts()['hwpt-nested']}`);
  c.that(vm.ctx.counts()['hwpt-nested'] === 2 && vm.ctx.guestPasids.size === 1, 'two devices, two nested HWPTs, one host PASID');

  enqcmd(g, SWQ_BDF, encodeDescriptor({ pasid: VSVA.pasid, priv: false, op: SWQ_OP.FILL, flags: 0, completion: 0n, src: 0xa5a5_a5a5_a5a5_a5a5n, dst: VSVA.va, size: 64 }));
  dev.read(VSVA.va, 64);
  const viaDmaTest = dev.buffer().subarray(0, 64).every((b) => b === 0xa5);
  io.say(`swq FILLs 64 bytes at VA with 0xa5; the DMA test device reads them back through the same PASID: ${viaDmaTest}`);
  c.that(viaDmaTest && host.guestRam.read(VSVA.gpa, 1)[0] === 0xa5, 'both devices see the same address space');

  g.fs.map(VSVA.va, VSVA.gpa2, 12, encodeFsPte({ P: true, RW: true, US: true }));
  host.guestRam.fill(VSVA.gpa2, 64, 0x11);
  g.qi.submitSync([pasidIotlbDesc(3, VSVA.did, VSVA.pasid, VSVA.va, 0, true)]);
  dev.read(VSVA.va, 8);
  enqcmd(g, SWQ_BDF, encodeDescriptor({ pasid: VSVA.pasid, priv: false, op: SWQ_OP.FILL, flags: 0, completion: 0n, src: 0x22n, dst: VSVA.va + 8n, size: 8 }));
  const both = dev.buffer()[0] === 0x11 && host.guestRam.read(VSVA.gpa2 + 8n, 1)[0] === 0x22;
  io.say(`guest remaps the VA and invalidates once: both devices follow the new page: ${both}`);
  c.that(both, 'one guest invalidation reached both devices\' nested domains');

  const vridSwq = vm.device(SWQ_BDF).vrid;
  g.iommu.ctx.setContext(vridSwq, encodeSmContextEntry({}));
  g.qi.submitSync([ccDesc(3, 0, vridSwq), pasidCacheDesc(1, VSVA.did, VSVA.pasid)]);
  const kept = vm.ctx.guestPasids.hostOf(VSVA.pasid) === h && dev.read(VSVA.va, 8).ok;
  io.say(`guest detaches ${SWQ_BDF} (context entry cleared): host PASID kept for ${VSVA.bdf}: ${kept}`);
  c.that(kept && vm.ctx.counts()['hwpt-nested'] === 1, 'unbinding one device keeps the PASID of the other');
  g.pasids.setPasid(VSVA.pasid, encodePasidEntry({}));
  g.qi.submitSync([pasidCacheDesc(1, VSVA.did, VSVA.pasid)]);
  c.that(vm.ctx.guestPasids.size === 0 && host.platform.usage().pasids === 0, 'unbinding the last device frees the host PASID');
  io.say(`guest clears the PASID entry: host PASIDs in use ${host.platform.usage().pasids}`);
  vm.close();
  return c.result();
}

/** The flow. */
export const sharedPasid: Flow = { name: 'shared-pasid', summary: 'one PASID used by two devices of different kinds', run };
