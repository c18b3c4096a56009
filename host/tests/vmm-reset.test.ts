/**
 * VirtualMachine.reset (a guest reboot): the mode drops every host object
 * it made — shadow domains (IOAS + HWPT), nested HWPTs, guest PASIDs, the
 * PASIDs the guest held through virtual commands — while the objects
 * `create` made stay, so the host reads as it did right after `create`;
 * the guest unit and devices are at power-on; and a guest booted again on
 * the same VM gets what it got the first time.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { wasmPath } from '../src/core/load-node.js';
import { bootGuest, setDevicePasid, startIommu, type Guest } from '../src/flows/guest-side.js';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import { GuestQueue } from '../src/guest/invalidation-queue.js';
import { guestEnvForVm } from '../src/guest/machine-env.js';
import { PciDriver } from '../src/guest/pci-driver.js';
import { GuestPrq } from '../src/guest/page-request-queue.js';
import { vcmdAllocPasid } from '../src/guest/virtual-command.js';
import { PageTableBuilder, PasidTableBuilder } from '../src/tables/table-builders.js';
import { pasidCacheDesc } from '../src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../src/vtd/spec/fs-pte.js';
import { encodePasidEntry, PGTT } from '../src/vtd/spec/pasid-entry.js';
import { REG } from '../src/vtd/spec/registers.js';
import { VTD_BASE } from '../src/machine.js';
import { encodeSmContextEntry } from '../src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';
import type { VirtualMachine } from '../src/vmm/virtual-machine.js';

const BDF = '00:03.0';
const DEVICES = [{ bdf: BDF, hostSid: 0x0318, kind: 'dma-test' as const }];
const IOVA = 0x7000_0000n;
const GPA = 0x220_0000n;

/** What the host holds for the VM. */
const hostState = (vm: VirtualMachine) => ({ usage: vm.host.platform.usage(), objects: vm.ctx.counts() });

/** The guest driver stack on `vm` (as bootGuest builds it), devices mastering with PASID and PRI. */
function guestOn(vm: VirtualMachine, host: Guest['host']): Guest {
  const env = guestEnvForVm(vm);
  const iommu = new GuestIommu(env, 'scalable');
  const qi = new GuestQueue(env, { wide: true });
  const pci = new PciDriver(env.platform);
  pci.command(vm.device(BDF).vrid, 0x6, true);
  pci.enablePasid(vm.device(BDF).vrid);
  pci.enablePri(vm.device(BDF).vrid, 16);
  return { host, vm, env, iommu, qi, pci, prq: new GuestPrq(env, (d) => qi.submitSync(d)) };
}

/**
 * The guest's workload: PASID 5 with a first-stage (nested) or second-stage
 * (shadow) table mapping IOVA -> GPA, a PASID-cache invalidation, a device
 * DMA write with PASID 5 (nested: also a PASID taken through virtual
 * commands); returns the byte the DMA left at GPA.
 */
function workload(g: Guest, mode: 'nested' | 'shadow'): number {
  const { env, iommu, vm } = g;
  const pasids = new PasidTableBuilder(env.mem, env.alloc);
  iommu.ctx.setContext(vm.device(BDF).vrid, encodeSmContextEntry({ P: true, PASIDE: true, PASIDDIRPTR: pasids.directory, RID_PASID: 0 }));
  startIommu(g);
  if (mode === 'nested') expect(vcmdAllocPasid(iommu.drv).status).toBe(0);
  const stage = mode === 'nested' ? 'fs' : 'ss';
  const table = new PageTableBuilder(env.mem, env.alloc, { stage, levels: 4 });
  table.map(IOVA, GPA, 12, mode === 'nested' ? encodeFsPte({ P: true, RW: true, US: true }) : encodeSsPte({ R: true, W: true }));
  pasids.setPasid(5, mode === 'nested'
    ? encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 9, FSPTPTR: table.rootPointer })
    : encodePasidEntry({ P: true, PGTT: PGTT.SECOND_STAGE, DID: 9, AW: 2, SSPTPTR: table.rootPointer }));
  g.qi.submitSync([pasidCacheDesc(1, 9, 5)]);
  setDevicePasid(g, BDF, 5);
  const dev = vm.machine.dmaTest(BDF);
  dev.buffer().set([0xab], 0);
  dev.write(IOVA, 1);
  return g.host.guestRam.read(GPA, 1)[0]!;
}

describe.skipIf(!existsSync(wasmPath()))('VirtualMachine.reset', () => {
  it.each(['nested', 'shadow'] as const)('%s: the host reads as after create, the unit is at power-on, and a rebooted guest works as the first', async (mode) => {
    const g = await bootGuest({ mode, devices: DEVICES }, undefined, { scalable: true });
    const { vm, host } = g;
    const created = hostState(vm);
    expect(workload(g, mode)).toBe(0xab);
    expect(hostState(vm)).not.toEqual(created); // the mode made host objects (and PASIDs)

    vm.reset();
    expect(hostState(vm)).toEqual(created);
    expect(vm.machine.mmioRead(VTD_BASE + BigInt(REG.GSTS), 4)).toBe(0n); // translation, queue, root pointer: off
    expect(vm.logLines).toEqual([]);

    host.guestRam.fill(0n, Number(host.guestRam.size), 0); // a reboot keeps RAM; the new guest starts from zeroed RAM as the first did
    expect(workload(guestOn(vm, host), mode)).toBe(0xab);
    vm.reset();
    expect(hostState(vm)).toEqual(created);
    vm.close();
    expect(host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0, pinnedPages: 0, pasids: 0 });
  });

  it('refuses a closed VM', async () => {
    const { vm } = await bootGuest({ mode: 'shadow', devices: DEVICES });
    vm.close();
    expect(() => vm.reset()).toThrow(/reset: the VM is closed/);
  });
});
