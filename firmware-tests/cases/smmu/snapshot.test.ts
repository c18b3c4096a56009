// Arm machine snapshots, driven as a guest drives the machine: the SMMU
// programmed through MMIO and guest memory, the dma-test device through its
// BAR. A snapshot restored into a machine of the same config continues the
// same DMA stream (the two machines' states stay byte-equal); a restore
// drops the SMMU's caches (a translation cached after the snapshot is not
// used); a damaged, forged or foreign snapshot is refused with an Error
// naming what does not fit, and the machine is as it was.
import { describe, expect, it } from 'vitest';
import { ARM_ECAM_BASE, ARM_RAM_BASE, createArmMachine, SMMU_BASE, type ArmMachine } from '../../../host/src/arm-machine.js';
import { createMachine } from '../../../host/src/machine.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';
import { PageAllocator } from '../../../host/src/tables/page-allocator.js';
import { SmmuDriver } from '../../../host/src/guest/smmu/driver.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeSte, EV, s1Cd } from '../../../host/src/guest/smmu/structures.js';
import { ByteReader, ByteWriter, decodeSnapshot, encodeSnapshot } from '../../../host/src/snapshot/format.js';

const BDF = 0x18; // 00:03.0
const DMAT = { IOVA: 0x08, LEN: 0x10, CMD: 0x14, STATUS: 0x18 } as const;
const VA = 0x7000_0000n;
const [PA1, PA2] = [ARM_RAM_BASE + 0x20_0000n, ARM_RAM_BASE + 0x30_0000n];
const config = { ramMib: 64, devices: [{ bdf: '00:03.0', kind: 'dma-test' as const }] };

/** A booted machine whose guest maps VA -> PA1 for the device (stage 1), with an event queue. */
async function booted(): Promise<{ m: ArmMachine; drv: SmmuDriver; s1: LpaeTables; bar: bigint }> {
  const m = await createArmMachine(config);
  const alloc = new PageAllocator(m.ram, ARM_RAM_BASE + 0x100_0000n, ARM_RAM_BASE + 0x400_0000n);
  const drv = new SmmuDriver(m, m.ram, alloc, SMMU_BASE);
  drv.init();
  const s1 = new LpaeTables(m.ram, alloc, 1, 48);
  s1.map(VA, PA1, 12);
  const cd = alloc.alloc();
  s1Cd(s1.root, 1).forEach((w, i) => m.ram.writeU64(cd + BigInt(8 * i), w));
  drv.setSte(BDF, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd }));
  m.ram.write(PA1, new Uint8Array([1, 1, 1, 1]));
  m.ram.write(PA2, new Uint8Array([2, 2, 2, 2]));
  const bar = BigInt(new PciDriver(m, ARM_ECAM_BASE).read(BDF, 0x10, 4) & ~0xf);
  return { m, drv, s1, bar };
}

/** A 4-byte device read at `iova` through its BAR: STATUS, and the first byte read (the device buffer at BAR + 0x1000). */
function read(m: ArmMachine, bar: bigint, iova: bigint): { status: number; byte: number } {
  m.mmioWrite32(Number(bar) + DMAT.IOVA, Number(iova));
  m.mmioWrite32(Number(bar) + DMAT.IOVA + 4, 0);
  m.mmioWrite32(Number(bar) + DMAT.LEN, 4);
  m.mmioWrite32(Number(bar) + DMAT.CMD, 1);
  return { status: m.mmioRead32(Number(bar) + DMAT.STATUS), byte: m.mmioRead32(Number(bar) + 0x1000) & 0xff };
}

describe('Arm machine snapshots (snapshot/arm-snapshot.ts)', () => {
  it('a restored machine continues the same DMA stream: the same results and events, byte-equal states after', async () => {
    const a = await booted();
    expect(read(a.m, a.bar, VA)).toEqual({ status: 1, byte: 1 });
    const snap = a.m.snapshot();
    const b = await createArmMachine(config);
    b.restore(snap);
    expect(b.snapshot()).toEqual(snap);
    for (const m of [a.m, b]) {
      expect(read(m, a.bar, VA)).toEqual({ status: 1, byte: 1 });
      expect(read(m, a.bar, VA + 0x1000n).status).toBe(2 | (EV.F_TRANSLATION << 8)); // a fault: an event record in guest RAM
    }
    expect(b.mmioRead32(Number(SMMU_BASE) + 0x100a8)).toBe(a.m.mmioRead32(Number(SMMU_BASE) + 0x100a8)); // EVENTQ_PROD
    expect(b.snapshot()).toEqual(a.m.snapshot());
  });

  it('restore drops the SMMU\'s caches: a translation cached after the snapshot is not used', async () => {
    const { m, drv, s1, bar } = await booted();
    const snap = m.snapshot();
    s1.map(VA, PA2, 12);
    drv.submit([C.tlbiNhVa(0, 1, VA)]);
    expect(read(m, bar, VA).byte).toBe(2); // the IOTLB now holds VA -> PA2
    m.restore(snap); // the tables say PA1 again
    expect(read(m, bar, VA).byte).toBe(1);
  });

  it('damaged bytes, another config, a VT-d snapshot, forged register values: an Error naming it, the machine unchanged', async () => {
    const { m } = await booted();
    const snap = m.snapshot();
    const before = m.snapshot();
    const damaged = snap.slice();
    damaged[damaged.length - 9]! ^= 1;
    expect(() => m.restore(damaged)).toThrow(/checksum|CRC/i);
    const other = await createArmMachine({ ...config, ramMib: 32 });
    expect(() => other.restore(snap)).toThrow(/config differs/);
    const vtd = await createMachine({ ramMib: 4 });
    expect(() => m.restore(vtd.snapshot())).toThrow(/unknown section/);
    expect(() => vtd.restore(snap)).toThrow(/unknown section/);
    const forge = (name: string, value: bigint): Uint8Array => {
      const s = decodeSnapshot(snap);
      const r = new ByteReader(s.get('SMMU')!, 'SMMU');
      const w = new ByteWriter();
      const n = r.u32();
      w.u32(n);
      for (let i = 0; i < n; i++) {
        const reg = r.text();
        const v = r.u64();
        w.text(reg).u64(reg === name ? value : v);
      }
      w.u64(r.u64());
      s.set('SMMU', w.finish());
      return encodeSnapshot([...s]);
    };
    expect(() => m.restore(forge('IDR0', 0n))).toThrow(/SMMU state\.registers\.IDR0: 0x0 is not the profile's/);
    expect(() => m.restore(forge('CR0', 1n << 32n))).toThrow(/state\.registers\.CR0: .* is not a 32-bit value/);
    expect(m.snapshot()).toEqual(before);
    // The forged CR0 = SMMUEN | CMDQEN was never applied: a correct snapshot still restores and DMA works.
    m.restore(forge('CR0', BigInt(m.mmioRead32(Number(SMMU_BASE) + 0x20))));
    expect(m.snapshot()).toEqual(before);
  });

  it('a VMM-backed Arm machine is refused both ways', async () => {
    const { m } = await booted();
    const backed = await createArmMachine({ ...config, backing: { ram: m.ram, portFor: (sid) => m.smmu.portFor(sid) } });
    expect(() => backed.snapshot()).toThrow(/VMM-backed/);
    expect(() => backed.restore(m.snapshot())).toThrow(/VMM-backed/);
  });
});
