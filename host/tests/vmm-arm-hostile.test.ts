/**
 * A hostile guest under the Arm VMM (vmm/arm-vm.ts): the guest writes any
 * value into its STEs, CDs and stage-1 tables, issues any command (the VMM
 * traps CFGI_STE and binds whatever the guest STE says; invalidations go
 * to the host as raw commands the host validates), and its devices DMA
 * with any SubstreamID to any address. Whatever it does: no guest action
 * throws, DMA never reaches host memory outside the VM's RAM (a pattern
 * each DMA write carries is never found in the host's table region), and
 * closing the VM leaves no host object or bound device behind.
 */
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { wasmPath } from '../src/core/load-node.js';
import { ARM_ECAM_BASE, ARM_RAM_BASE, SMMU_BASE } from '../src/arm-machine.js';
import { DMAT } from '../src/devices/dma-test/regs.js';
import { PASID_REG } from '../src/devices/common/function.js';
import { ARM_HOST_LAYOUT, ArmPhysicalHost } from '../src/vmm/arm-host.js';
import { ArmNestedVm } from '../src/vmm/arm-vm.js';
import { SmmuDriver } from '../src/guest/smmu/driver.js';
import { hostileCommand, hostileValue, putHostile } from '../../firmware-tests/lib/smmu/hostile.js';
import { LpaeTables } from '../src/guest/smmu/lpae.js';
import { CONFIG, encodeSte, s1Cd } from '../src/guest/smmu/structures.js';
import { PciDriver } from '../src/guest/pci-driver.js';
import { PageAllocator } from '../src/tables/page-allocator.js';

const DEVICES = [{ bdf: '00:03.0', hostSid: 0x318, kind: 'dma-test' as const }, { bdf: '00:04.0', hostSid: 0x320, kind: 'dma-test' as const }];
const VSIDS = [0x18, 0x20];
const VA = 0x7000_0000n;

/** A VM whose guest gives each device a stage 1 over a 4-entry CD table (SSIDs 0..3); the words a hostile guest aims at. */
async function boot() {
  const host = await ArmPhysicalHost.create({ guestRamMib: 32 });
  for (const d of DEVICES) host.addDevice(d.hostSid);
  const vm = await ArmNestedVm.create(host, { devices: DEVICES });
  const mem = host.guestRam;
  const alloc = new PageAllocator(mem, ARM_RAM_BASE + 0x80_0000n, ARM_RAM_BASE + 0x180_0000n);
  const drv = new SmmuDriver(vm.machine, mem, alloc, SMMU_BASE);
  const pci = new PciDriver(vm.machine, ARM_ECAM_BASE);
  drv.init();
  const targets: bigint[] = [];
  const bars: bigint[] = [];
  for (const [i, vsid] of VSIDS.entries()) {
    pci.enablePasid(vsid);
    bars.push(BigInt(pci.read(vsid, 0x10, 4) & ~0xf));
    const t = new LpaeTables(mem, alloc, 1, 48);
    for (let p = 0n; p < 4n; p++) t.map(VA + p * 0x1000n, ARM_RAM_BASE + 0x40_0000n + BigInt(i) * 0x10_0000n + p * 0x1000n, 12);
    const cds = alloc.alloc();
    for (let ssid = 0; ssid < 4; ssid++) s1Cd(t.root, 8 * i + ssid + 1).forEach((w, k) => mem.writeU64(cds + BigInt(64 * ssid + 8 * k), w));
    drv.setSte(vsid, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cds, S1CDMax: 2, S1DSS: 2 }));
    for (let k = 0n; k < 8n; k++) targets.push(drv.steAddr(vsid) + 8n * k);
    for (let k = 0n; k < 32n; k++) targets.push(cds + 8n * k);
    for (let level = 0; level <= 3; level++) targets.push(t.descriptorAddr(VA, level));
  }
  return { host, vm, drv, mem, targets, bars };
}

const step = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('mem' as const), at: fc.nat(), value: hostileValue, sid: fc.constantFrom(...VSIDS, 0x28) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cmd' as const), cmd: hostileCommand, recover: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('dma' as const), dev: fc.nat({ max: 1 }), ssid: fc.option(fc.integer({ min: 0, max: 5 }), { freq: 3 }),
      iova: fc.oneof(fc.integer({ min: 0, max: 4 }).map((p) => VA + BigInt(p) * 0x1000n), fc.bigInt(0n, (1n << 48n) - 1n)), write: fc.boolean(),
    }),
  },
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

describe.skipIf(!existsSync(wasmPath()))('Arm VMM under a hostile guest', () => {
  it('any STE / CD / table value, any command, any DMA: no throw, no DMA outside the VM\'s RAM, nothing left after close', async () => {
    let ok = 0;
    let seq = 0;
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30, size: 'medium' }), async (steps) => {
      const b = await boot();
      const tables = ARM_HOST_LAYOUT.tables;
      const hostTables = () => b.host.mem.read(tables, ARM_HOST_LAYOUT.tablesSize);
      const run = (s: Step): void => {
        if (s.kind === 'mem') {
          putHostile(b.mem, b.targets[s.at % b.targets.length]!, s.value);
          b.drv.submit([[0x3n | (BigInt(s.sid) << 32n), 1n]]); // CFGI_STE: the VMM traps it and binds what the guest wrote
        } else if (s.kind === 'cmd') {
          if (b.drv.submit([s.cmd]) !== 0 && s.recover) b.drv.recoverCommandError();
        } else {
          // A 16-byte pattern unique to this DMA; a write must never land in the host's tables.
          const dev = b.vm.machine.dmaTest(DEVICES[s.dev]!.bdf);
          const pattern = new Uint8Array(16).map((_, i) => (0xa5 ^ (seq * 7 + i * 13)) & 0xff);
          pattern.set([0x48, 0x4f, 0x53, 0x54, seq & 0xff, (seq >> 8) & 0xff], 0);
          seq++;
          dev.buffer().set(pattern, 0);
          const bar = b.bars[s.dev]!;
          b.vm.machine.mmioWrite(bar + BigInt(DMAT.IOVA), 8, s.iova);
          b.vm.machine.mmioWrite(bar + BigInt(DMAT.LEN), 4, 16n);
          b.vm.machine.mmioWrite(bar + BigInt(DMAT.PASID), 4, s.ssid === null ? 0n : BigInt((PASID_REG.PV | s.ssid) >>> 0));
          b.vm.machine.mmioWrite(bar + BigInt(DMAT.CMD), 4, s.write ? 2n : 1n);
          if ((Number(b.vm.machine.mmioRead(bar + BigInt(DMAT.STATUS), 4)) & 7) === 1) ok++;
          if (s.write) expect(Buffer.from(hostTables()).indexOf(Buffer.from(pattern))).toBe(-1);
          b.drv.events();
        }
      };
      for (const s of steps) run(s);
      b.vm.close();
      const left = b.host.platform.usage();
      expect([left.objects, left.boundDevices]).toEqual([0, 0]);
    }), { numRuns: 25, seed: 23 });
    expect(ok).toBeGreaterThan(10); // the property saw DMAs that went through, not only refusals
  }, 180_000);
});
