/**
 * The Arm VMM (vmm/arm-vm.ts) with a guest driving its SMMU through MMIO and
 * its RAM: what a guest may get wrong (a stage-2 STE, commands naming a
 * vSID with no device, a queue that is off), a host stage-2 unmap (its
 * faults stay the host's), two devices, and a fail-nth sweep of the VMM's
 * host calls (every failure leaves nothing behind).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasmPath } from '../src/core/load-node.js';
import { ARM_ECAM_BASE, ARM_RAM_BASE, SMMU_BASE } from '../src/arm-machine.js';
import { FailInjector } from '../src/hostiommu/fail-nth.js';
import { isHostIommuError } from '../src/hostiommu/errors.js';
import { ArmPhysicalHost } from '../src/vmm/arm-host.js';
import { ArmNestedVm } from '../src/vmm/arm-vm.js';
import { SmmuDriver } from '../src/guest/smmu/driver.js';
import { LpaeTables } from '../src/guest/smmu/lpae.js';
import { C, CONFIG, encodeSte, EV, s1Cd } from '../src/guest/smmu/structures.js';
import { PciDriver } from '../src/guest/pci-driver.js';
import { PageAllocator } from '../src/tables/page-allocator.js';

const DEVICES = [{ bdf: '00:03.0', hostSid: 0x318, kind: 'dma-test' as const }, { bdf: '00:04.0', hostSid: 0x320, kind: 'dma-test' as const }];

async function boot(injector?: FailInjector) {
  const host = await ArmPhysicalHost.create({ guestRamMib: 32, injector });
  for (const d of DEVICES) host.addDevice(d.hostSid);
  const vm = await ArmNestedVm.create(host, { devices: DEVICES });
  const alloc = new PageAllocator(host.guestRam, ARM_RAM_BASE + 0x80_0000n, ARM_RAM_BASE + 0x180_0000n);
  const drv = new SmmuDriver(vm.machine, host.guestRam, alloc, SMMU_BASE);
  const pci = new PciDriver(vm.machine, ARM_ECAM_BASE);
  for (const sid of [0x18, 0x20]) pci.enablePasid(sid);
  return { host, vm, alloc, drv };
}

/** A guest stage 1 for `sid` (one CD, SSID 0 by S1DSS) mapping VA 0x1000 -> `gpa`. */
function stage1(b: Awaited<ReturnType<typeof boot>>, sid: number, gpa: bigint): void {
  const t = new LpaeTables(b.host.guestRam, b.alloc, 1, 48);
  t.map(0x1000n, gpa, 12);
  const cd = b.alloc.alloc();
  s1Cd(t.root, sid).forEach((w, i) => b.host.guestRam.writeU64(cd + BigInt(8 * i), w));
  b.drv.setSte(sid, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd }));
}

describe.skipIf(!existsSync(wasmPath()))('Arm VMM: nested SMMUv3', () => {
  it('two devices each with their own guest stage 1; a stage-2 guest STE is refused and its stream aborts', async () => {
    const b = await boot();
    b.drv.init();
    stage1(b, 0x18, ARM_RAM_BASE + 0x40_0000n);
    stage1(b, 0x20, ARM_RAM_BASE + 0x50_0000n);
    const d0 = b.vm.machine.dmaTest('00:03.0');
    const d1 = b.vm.machine.dmaTest('00:04.0');
    d0.buffer().fill(0x11, 0, 8);
    d1.buffer().fill(0x22, 0, 8);
    expect(d0.write(0x1000n, 8).ok && d1.write(0x1000n, 8).ok).toBe(true);
    expect(b.host.guestRam.read(ARM_RAM_BASE + 0x40_0000n, 1)[0]).toBe(0x11);
    expect(b.host.guestRam.read(ARM_RAM_BASE + 0x50_0000n, 1)[0]).toBe(0x22);
    b.drv.setSte(0x20, encodeSte({ V: true, Config: CONFIG.S2, S2VMID: 9 }));
    expect(d1.write(0x1000n, 8).ok).toBe(false);
    expect(b.vm.logLines.some((l) => /vSID 0x20 refused by the host \(EIO/.test(l))).toBe(true);
    expect(d0.write(0x1000n, 8).ok).toBe(true);
  });

  it('guest commands the host does not take are logged, not applied; events wait while the guest queue is off', async () => {
    const b = await boot();
    b.drv.init();
    stage1(b, 0x18, ARM_RAM_BASE + 0x40_0000n);
    b.drv.submit([C.cfgiCd(0x30, 0)]); // no device at vSID 0x30
    expect(b.vm.logLines.some((l) => /CFGI_CD not passed to the host: EIO/.test(l))).toBe(true);
    const d0 = b.vm.machine.dmaTest('00:03.0');
    b.drv.setCr0(0x9); // EVENTQEN off
    expect(d0.read(0x9000n, 4).ok).toBe(false);
    expect(b.vm.logLines.some((l) => /lost: the guest queue is off/.test(l))).toBe(true);
    b.drv.setCr0(0xd);
    expect(d0.read(0x9000n, 4).ok).toBe(false);
    const ev = b.drv.events();
    expect(ev.map((e) => [e.type, e.sid])).toEqual([[EV.F_TRANSLATION, 0x18]]);
  });

  it('a host stage-2 unmap: the S2 fault is the host\'s, the guest sees nothing', async () => {
    const b = await boot();
    b.drv.init();
    stage1(b, 0x18, ARM_RAM_BASE + 0x40_0000n);
    const d0 = b.vm.machine.dmaTest('00:03.0');
    expect(d0.read(0x1000n, 4).ok).toBe(true);
    b.vm.ctx.ioasUnmap(b.vm.ids.ioas, ARM_RAM_BASE, b.host.guestRam.size);
    const r = d0.read(0x1000n, 4);
    expect(r.ok).toBe(false);
    expect(b.drv.events()).toEqual([]);
    expect(b.host.smmu.logLines.some((l) => /event 0x10 sid 0x318/.test(l))).toBe(true); // stage 2 (CLASS CD): the host's
  });

  it('fail-nth: every host allocation of the VM build and the first STE bind fails cleanly', async () => {
    const injector = new FailInjector();
    const probe = await boot(injector);
    probe.drv.init();
    stage1(probe, 0x18, ARM_RAM_BASE + 0x40_0000n);
    const points = injector.reached;
    probe.vm.close();
    expect(points).toBeGreaterThan(5);
    for (let n = 1; n <= points; n++) {
      const inj = new FailInjector();
      const host = await ArmPhysicalHost.create({ guestRamMib: 32, injector: inj });
      for (const d of DEVICES) host.addDevice(d.hostSid);
      const base = host.platform.usage();
      inj.failAt(n);
      let vm: ArmNestedVm | undefined;
      try {
        vm = await ArmNestedVm.create(host, { devices: DEVICES });
      } catch (e) {
        if (!isHostIommuError(e)) throw e;
      }
      if (vm) {
        // The guest's programming never throws, whatever the host refuses.
        const alloc = new PageAllocator(host.guestRam, ARM_RAM_BASE + 0x80_0000n, ARM_RAM_BASE + 0x180_0000n);
        const drv = new SmmuDriver(vm.machine, host.guestRam, alloc, SMMU_BASE);
        drv.init();
        stage1({ host, vm, alloc, drv }, 0x18, ARM_RAM_BASE + 0x40_0000n);
        vm.close();
      }
      const u = host.platform.usage();
      expect([u.objects, u.pinnedPages, u.dids, u.boundDevices], `fail at ${n}`).toEqual([base.objects, base.pinnedPages, base.dids, base.boundDevices]);
    }
  });
});
