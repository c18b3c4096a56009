/**
 * vcmd-pasid: the 2020 vSVA way for a guest to get PASIDs. The VM's vIOMMU
 * offers the virtual command interface (ECAP.VCS, VCCAP.PAS; VT-d rev 3.3
 * §10.4.43-46); the guest driver asks for a PASID through VCMD/VCRSP and the
 * VMM answers from the host's global PASID space with the VM's set and
 * quota, so the guest's PASID *is* the host PASID: its bind needs no
 * gPASID -> hPASID translation and no other VM can get the same number. A
 * guest over its quota reads status 16 "no PASID available"; freeing a
 * PASID it does not hold reads "invalid PASID"; freeing one still bound
 * unbinds it first.
 */
import { PageTableBuilder, PasidTableBuilder } from '../tables/table-builders.js';
import { vcmdAllocPasid, vcmdFreePasid, vcmdPasidSupported } from '../guest/virtual-command.js';
import { pasidCacheDesc } from '../vtd/spec/descriptors.js';
import { encodeFsPte } from '../vtd/spec/fs-pte.js';
import { encodePasidEntry, PGTT } from '../vtd/spec/pasid-entry.js';
import { REG } from '../vtd/spec/registers.js';
import { encodeSmContextEntry } from '../vtd/spec/sm-context-entry.js';
import { ACC_PASID, ACC_READ } from '../core/constants.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootGuest, bootHost, setDevicePasid, startIommu } from './guest-side.js';

const BDF = '00:03.0';
const VA = 0x7f00_0000_0000n;
const GPA = 0x220_0000n;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const host = await bootHost();
  const g = await bootGuest({ name: 'vm-a', mode: 'nested', pasidQuota: 2, devices: [{ bdf: BDF, hostSid: 0x0318, kind: 'dma-test' }] }, host);
  const { vm, iommu, env } = g;
  const drv = iommu.drv;
  const pasids = new PasidTableBuilder(env.mem, env.alloc);
  iommu.ctx.setContext(vm.device(BDF).vrid, encodeSmContextEntry({ P: true, PASIDE: true, PASIDDIRPTR: pasids.directory }));
  startIommu(g);
  io.say(`guest: ECAP ${hex(drv.ecap)} (VCS ${(drv.ecap >> 44n) & 1n}), VCCAP ${hex(drv.read64(REG.VCCAP))}: PASID allocation through virtual commands ${vcmdPasidSupported(drv) ? 'offered' : 'absent'}`);
  c.that(vcmdPasidSupported(drv), 'the vIOMMU offers PASID allocation (ECAP.VCS, VCCAP.PAS)');

  const a1 = vcmdAllocPasid(drv);
  const a2 = vcmdAllocPasid(drv);
  const a3 = vcmdAllocPasid(drv);
  io.say(`guest: VCMD allocate x3 -> ${[a1, a2, a3].map((a) => a.status === 0 ? `PASID ${a.pasid}` : `status ${a.status}`).join(', ')} (VM quota 2)`);
  c.that(a1.status === 0 && a2.status === 0 && a1.pasid !== a2.pasid, 'two PASIDs come from the host');
  c.that(a3.status === 16, 'the third is over the VM\'s quota: status 16, no PASID available');
  const owner = host.platform.pasids.ownerOf(a1.pasid)?.owner;
  io.say(`host: PASID ${a1.pasid} is held by ${owner} in the global space; guest PASID ${a1.pasid} -> host PASID ${vm.ctx.guestPasids.hostOf(a1.pasid)}`);
  c.that(owner === 'vm-a' && vm.ctx.guestPasids.hostOf(a1.pasid) === a1.pasid, 'the guest PASID is the host PASID (no translation)');

  const fs = new PageTableBuilder(env.mem, env.alloc, { stage: 'fs', levels: 4 });
  fs.map(VA, GPA, 12, encodeFsPte({ P: true, RW: true, US: true }));
  pasids.setPasid(a1.pasid, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 4, FSPTPTR: fs.rootPointer }));
  g.qi.submitSync([pasidCacheDesc(1, 4, a1.pasid)]);
  setDevicePasid(g, BDF, a1.pasid);
  const dev = vm.machine.dmaTest(BDF);
  dev.buffer().set([0xab, 0xcd], 0);
  const w = dev.write(VA, 2);
  const t = host.core.translate(vm.device(BDF).prid, a1.pasid, VA, ACC_READ | ACC_PASID);
  io.say(`guest binds its address space to PASID ${a1.pasid}; device DMA ${w.ok ? 'ok' : 'fault'}, guest RAM ${[...host.guestRam.read(GPA, 2)].map((b) => hex(b)).join(' ')}; host IOMMU (pRID ${hex(vm.device(BDF).prid)}, PASID ${a1.pasid}) -> ${t.ok ? hex(t.addr) : 'fault'}`);
  c.that(w.ok && host.guestRam.read(GPA, 1)[0] === 0xab && t.ok && t.addr === host.hpaOf(GPA) && host.platform.usage().pasids === 2,
    'the bind uses the allocated PASID itself on the host; no further PASID was taken');

  const b = await bootGuest({ name: 'vm-b', mode: 'nested', devices: [{ bdf: BDF, hostSid: 0x0320, kind: 'dma-test' }] }, host);
  startIommu(b);
  const other = vcmdAllocPasid(b.iommu.drv);
  io.say(`vm-b: VCMD allocate -> PASID ${other.pasid}`);
  c.that(other.status === 0 && other.pasid !== a1.pasid && other.pasid !== a2.pasid, 'another VM never gets a PASID vm-a holds (one global space)');

  const f2 = vcmdFreePasid(drv, a2.pasid);
  const again = vcmdFreePasid(drv, a2.pasid);
  io.say(`guest: free PASID ${a2.pasid} -> status ${f2.status}; free it again -> status ${again.status} (invalid PASID)`);
  c.that(f2.status === 0 && again.status === 16, 'free answers success once, then invalid PASID');
  const f1 = vcmdFreePasid(drv, a1.pasid);
  const blocked = !dev.write(VA, 2).ok;
  io.say(`guest frees PASID ${a1.pasid} while still bound: status ${f1.status}, the VMM unbound it first; device DMA ${blocked ? 'blocked' : 'still passes'}; host PASIDs of vm-a: ${host.platform.pasids.ownerOf(a1.pasid) ? 'held' : 'none'}`);
  c.that(f1.status === 0 && blocked && vm.ctx.counts()['hwpt-nested'] === undefined && vm.ctx.guestPasids.size === 0,
    'freeing a bound PASID unbinds it and returns it to the host');
  vm.close();
  b.vm.close();
  c.that(host.platform.usage().pasids === 0 && host.platform.usage().objects === 0, 'teardown leaves no PASIDs or objects');
  return c.result();
}

/** The flow. */
export const vcmdPasid: Flow = { name: 'vcmd-pasid', summary: 'guest asks the host for PASIDs through virtual commands (quota, global space)', run };
