/**
 * enqcmd: a shared work-queue device; the guest writes 64-byte work
 * descriptors carrying its PASID into the device's portal (ENQCMD). On the
 * way to the host IOMMU the guest PASID becomes the host PASID the VMM
 * allocated for it (the gPASID -> hPASID table, as the CPU's PASID
 * translation does for ENQCMD); the MEMMOVE runs in the guest's process
 * address space and writes its completion record there. A descriptor with
 * a guest PASID the VMM never bound cannot reach memory.
 */
import { pasidIotlbDesc } from '../vtd/spec/descriptors.js';
import { encodeFsPte } from '../vtd/spec/fs-pte.js';
import { encodeDescriptor, SWQ_CS, SWQ_FLAG, SWQ_OP } from '../devices/swq/descriptor.js';
import { SWQ, SWQ_PT } from '../devices/swq/regs.js';
import { parseBdf } from '../types.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import type { Guest } from './guest-side.js';
import { bootVsva, VSVA } from './nested-vsva.js';

const SWQ_BDF = '00:04.0';
const SRC = { va: VSVA.va + 0x2000n, gpa: 0x220_0000n } as const;
const DST = { va: VSVA.va + 0x3000n, gpa: 0x230_0000n } as const;
const COMP = { va: VSVA.va + 0x4000n, gpa: 0x240_0000n } as const;

/** The guest writes a descriptor into the portal with 8-byte MMIO writes (the last one submits). */
export function enqcmd(g: Guest, bdf: string, desc: Uint8Array): void {
  const bar = g.pci.barBase(parseBdf(bdf), 0);
  const v = new DataView(desc.buffer, desc.byteOffset, desc.length);
  for (let i = 0; i < 8; i++) g.env.platform.mmioWrite(bar + BigInt(SWQ.PORTAL + 8 * i), 8, v.getBigUint64(8 * i, true));
}

/** Enables the work queue and allows `pasid` in slot 0 of the device's PASID table. */
export function enableSwq(g: Guest, bdf: string, pasid: number): void {
  const bar = g.pci.barBase(parseBdf(bdf), 0);
  g.env.platform.mmioWrite(bar + BigInt(SWQ.PASID_TABLE), 4, BigInt(SWQ_PT.ENABLED | pasid));
  g.env.platform.mmioWrite(bar + BigInt(SWQ.WQ_CFG), 4, 1n);
}

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const g = await bootVsva(io, [{ bdf: SWQ_BDF, hostSid: 0x0320, kind: 'swq' }]);
  const { vm, host } = g;
  const rw = encodeFsPte({ P: true, RW: true, US: true });
  for (const p of [SRC, DST, COMP]) g.fs.map(p.va, p.gpa, 12, rw);
  g.qi.submitSync([pasidIotlbDesc(2, VSVA.did, VSVA.pasid)]);
  enableSwq(g, SWQ_BDF, VSVA.pasid);
  const hpasid = vm.ctx.guestPasids.hostOf(VSVA.pasid);
  io.say(`vmm: guest PASID ${VSVA.pasid} -> host PASID ${hpasid} (VM PASID set ${vm.ids.pasidSet}); ${SWQ_BDF} = pRID ${hex(vm.device(SWQ_BDF).prid)}`);
  host.guestRam.write(SRC.gpa, Uint8Array.from({ length: 256 }, (_, i) => i));

  enqcmd(g, SWQ_BDF, encodeDescriptor({ pasid: VSVA.pasid, priv: false, op: SWQ_OP.MEMMOVE, flags: SWQ_FLAG.RCR, completion: COMP.va, src: SRC.va, dst: DST.va, size: 256 }));
  const moved = host.guestRam.read(DST.gpa, 256).every((b, i) => b === i);
  const status = host.guestRam.read(COMP.gpa, 1)[0];
  io.say(`guest: ENQCMD MEMMOVE 256 bytes ${hex(SRC.va)} -> ${hex(DST.va)} with PASID ${VSVA.pasid}: completion status ${hex(status!)}, data moved: ${moved}`);
  c.that(hpasid !== undefined && hpasid !== VSVA.pasid, 'the guest PASID has a distinct host PASID');
  c.that(moved && status === SWQ_CS.SUCCESS, 'the work ran in the guest process address space through the host PASID');
  const hostView = host.core.translate(vm.device(SWQ_BDF).prid, hpasid, SRC.va, 1);
  c.that(hostView.ok && hostView.addr === host.hpaOf(SRC.gpa), 'the physical IOMMU translates (pRID, host PASID, VA) to the guest page in host memory');

  const other = 9;
  g.env.platform.mmioWrite(g.pci.barBase(parseBdf(SWQ_BDF), 0) + BigInt(SWQ.PASID_TABLE + 4), 4, BigInt(SWQ_PT.ENABLED | other));
  host.guestRam.write(COMP.gpa, new Uint8Array(32));
  enqcmd(g, SWQ_BDF, encodeDescriptor({ pasid: other, priv: false, op: SWQ_OP.FILL, flags: SWQ_FLAG.RCR, completion: COMP.va, src: 0x5an, dst: DST.va, size: 64 }));
  const untouched = host.guestRam.read(DST.gpa, 1)[0] === 0;
  io.say(`guest: ENQCMD with PASID ${other}, which the VMM never bound: no host PASID, destination untouched: ${untouched}`);
  c.that(untouched && vm.ctx.guestPasids.hostOf(other) === undefined, 'a guest PASID without a host PASID reaches no memory');
  vm.close();
  return c.result();
}

/** The flow. */
export const enqcmdFlow: Flow = { name: 'enqcmd', summary: 'work descriptors carrying a guest PASID, translated to the host PASID', run };
