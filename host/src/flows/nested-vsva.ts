/**
 * nested-vsva: the guest binds a process address space (a first-stage
 * table in guest RAM) to PASID 5 of a device; the PASID-cache invalidation
 * makes the VMM bind a nested HWPT for (device, host PASID) over the VM's
 * GPA -> HPA second stage; the device DMAs with the PASID and the data lands
 * in guest memory. A remap followed by a PASID-IOTLB invalidation passes
 * through; clearing the entry unbinds and frees the host PASID.
 */
import { PageTableBuilder, PasidTableBuilder } from '../tables/table-builders.js';
import { pasidCacheDesc, pasidIotlbDesc } from '../vtd/spec/descriptors.js';
import { encodeFsPte } from '../vtd/spec/fs-pte.js';
import { encodePasidEntry, PGTT } from '../vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../vtd/spec/sm-context-entry.js';
import type { DmaTestDevice } from '../devices/dma-test/device.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import type { PhysicalHost } from '../vmm/physical-host.js';
import type { VmDeviceConfig } from '../vmm/virtual-machine.js';
import { bootGuest, setDevicePasid, startIommu, type Guest } from './guest-side.js';

/** Guest PASID and DID of the process address space. */
export const VSVA = { pasid: 5, did: 9, va: 0x7f12_3450_0000n, gpa: 0x200_0000n, gpa2: 0x201_0000n, bdf: '00:03.0' } as const;

/** A scalable-mode guest that has bound a process address space to VSVA.pasid of its dma-test device. */
export interface VsvaGuest extends Guest {
  readonly fs: PageTableBuilder;
  readonly pasids: PasidTableBuilder;
  /** The dma-test device at VSVA.bdf (throws when the VM has none). */
  readonly dev: DmaTestDevice;
}

/** The dma-test device of the nested VM (other flows add more). */
const VSVA_DEVICES: readonly VmDeviceConfig[] = [{ bdf: VSVA.bdf, hostSid: 0x0318, kind: 'dma-test' }];

/**
 * Boots a nested VM and binds the address space on every device (one PASID
 * directory shared by them): the setup sequence the fail-nth sweep runs.
 */
export async function bootVsva(io?: FlowIo, devices: readonly VmDeviceConfig[] = VSVA_DEVICES, host?: PhysicalHost): Promise<VsvaGuest> {
  const g = await bootGuest({ name: 'vm-vsva', mode: 'nested', devices }, host);
  const { env, iommu } = g;
  const pasids = new PasidTableBuilder(env.mem, env.alloc);
  for (const d of devices) {
    iommu.ctx.setContext(g.vm.device(d.bdf).vrid, encodeSmContextEntry({ P: true, PASIDE: true, PRE: true, PASIDDIRPTR: pasids.directory, RID_PASID: 0 }));
  }
  startIommu(g);
  io?.say(`guest: scalable mode on, context entries of ${devices.map((d) => d.bdf).join(', ')} with an empty PASID directory`);
  const fs = new PageTableBuilder(env.mem, env.alloc, { stage: 'fs', levels: 4 });
  fs.map(VSVA.va, VSVA.gpa, 12, encodeFsPte({ P: true, RW: true, US: true }));
  pasids.setPasid(VSVA.pasid, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: VSVA.did, FSPTPTR: fs.rootPointer }));
  g.qi.submitSync([pasidCacheDesc(1, VSVA.did, VSVA.pasid)]);
  io?.say(`guest: PASID ${VSVA.pasid} -> first-stage root ${hex(fs.rootPointer)} (VA ${hex(VSVA.va)} -> GPA ${hex(VSVA.gpa)}), PASID-cache invalidation`);
  if (devices.some((d) => d.bdf === VSVA.bdf)) setDevicePasid(g, VSVA.bdf, VSVA.pasid);
  return { ...g, fs, pasids, get dev() { return g.vm.machine.dmaTest(VSVA.bdf); } };
}

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const g = await bootVsva(io);
  const { vm, host, dev } = g;
  const hpasid = vm.ctx.guestPasids.hostOf(VSVA.pasid);
  io.say(`vmm: nested HWPT bound for (${VSVA.bdf} = pRID ${hex(vm.device(VSVA.bdf).prid)}, guest PASID ${VSVA.pasid} -> host PASID ${hpasid})`);
  c.that(hpasid !== undefined && vm.ctx.counts()['hwpt-nested'] === 1, 'the PASID-cache invalidation bound one nested HWPT and a host PASID');

  dev.buffer().set([0xc0, 0xff, 0xee, 0x11], 0);
  const w = dev.write(VSVA.va + 0x40n, 4);
  const landed = [...host.guestRam.read(VSVA.gpa + 0x40n, 4)];
  io.say(`device: DMA write with PASID ${VSVA.pasid} to VA ${hex(VSVA.va + 0x40n)}: ${w.ok ? 'ok' : 'fault'}; guest GPA ${hex(VSVA.gpa + 0x40n)} holds ${landed.map((b) => b.toString(16)).join(' ')}`);
  c.that(w.ok && landed.join() === [0xc0, 0xff, 0xee, 0x11].join(), 'the data landed in guest memory at the GPA the guest first stage names');

  g.fs.map(VSVA.va, VSVA.gpa2, 12, encodeFsPte({ P: true, RW: true, US: true }));
  dev.write(VSVA.va + 0x80n, 4);
  const stale = host.guestRam.read(VSVA.gpa + 0x80n, 1)[0] === 0xc0;
  g.qi.submitSync([pasidIotlbDesc(3, VSVA.did, VSVA.pasid, VSVA.va, 0, true)]);
  dev.write(VSVA.va + 0x80n, 4);
  const fresh = host.guestRam.read(VSVA.gpa2 + 0x80n, 1)[0] === 0xc0;
  io.say(`guest: remapped VA to GPA ${hex(VSVA.gpa2)}; before its PASID-IOTLB invalidation the DMA used the old page (${stale}), after it the new one (${fresh})`);
  c.that(stale && fresh, 'the guest first-stage invalidation passed through to the host IOTLB');

  const before = host.platform.usage().pasids;
  g.pasids.setPasid(VSVA.pasid, encodePasidEntry({}));
  g.qi.submitSync([pasidCacheDesc(1, VSVA.did, VSVA.pasid), pasidIotlbDesc(2, VSVA.did, VSVA.pasid)]);
  const after = dev.write(VSVA.va, 4);
  io.say(`guest: PASID entry cleared + invalidated: host PASIDs ${before} -> ${host.platform.usage().pasids}, next DMA ${after.ok ? 'ok' : 'blocked'}`);
  c.that(!after.ok && host.platform.usage().pasids === before - 1 && vm.ctx.counts()['hwpt-nested'] === undefined, 'unbinding freed the host PASID and the nested HWPT and blocks the DMA');
  vm.close();
  c.that(host.platform.usage().objects === 0 && host.platform.usage().pasids === 0, 'VM teardown left no host objects or PASIDs');
  return c.result();
}

/** The flow. */
export const nestedVsva: Flow = { name: 'nested-vsva', summary: 'guest binds a process address space on a PASID; device DMAs with the PASID', run };
