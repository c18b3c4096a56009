/**
 * The VT-d register interface as a guest sees it: masks of every register,
 * GCMD/GSTS, register-based invalidation, fault recording and the fault
 * event MSI, in the spec (default) profile and the QEMU profiles.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';
import { createMachine, VTD_BASE, type Machine } from '../src/machine.js';
import type { MsiMessage } from '../src/vtd/interrupts.js';
import { buildRegisterTable } from '../src/vtd/register-table.js';

const ALL64 = (1n << 64n) - 1n;
const rd = (m: Machine, off: number, size: 4 | 8 = 4) => m.mmioRead(VTD_BASE + BigInt(off), size);
const wr = (m: Machine, off: number, v: bigint, size: 4 | 8 = 4) => m.mmioWrite(VTD_BASE + BigInt(off), size, v);

/** Registers whose writes have side effects on themselves (tested separately). */
const SELF_EFFECT = new Set(['GCMD', 'CCMD', 'IOTLB', 'IQT', 'IQA', 'IQH', 'ICS', 'FECTL', 'IECTL', 'PECTL']);

for (const profile of ['default', 'qemu-7.2'] as const) {
  describe(`register masks (${profile})`, () => {
    let m: Machine;
    beforeAll(async () => {
      m = await createMachine({ profile, iommu: { scalableMode: true, awBits: 48 }, ramMib: 32 });
    });

    it('read-only bits never change, W1C bits clear, reserved bits read 0, at 4 and 8 bytes', () => {
      for (const row of buildRegisterTable(m.vtd.profile)) {
        if (SELF_EFFECT.has(row.name)) continue;
        const mask = row.width === 8 ? ALL64 : 0xffff_ffffn;
        for (const pattern of [mask, 0n, 0x5555_5555_5555_5555n & mask, 0xaaaa_aaaa_aaaa_aaaan & mask]) {
          m.reset();
          const before = m.vtd.regs.get(row.name);
          if (row.width === 8) wr(m, row.offset, pattern, 8);
          else wr(m, row.offset, pattern, 4);
          const after = m.vtd.regs.get(row.name);
          const ro = mask & ~row.writable & ~row.w1c;
          expect(after & ro, `${row.name} RO bits`).toBe(before & ro);
          expect(after & row.writable, `${row.name} RW bits`).toBe(pattern & row.writable);
          expect(after & row.w1c & pattern, `${row.name} W1C`).toBe(0n);
          expect(rd(m, row.offset, row.width) & row.writeOnly, `${row.name} WO reads 0`).toBe(0n);
        }
      }
    });

    it('dword writes to a 64-bit register change only their half', () => {
      m.reset();
      wr(m, 0x20, 0x1234_5000n, 4);
      wr(m, 0x24, 0xabn, 4);
      expect(rd(m, 0x20, 8)).toBe(0xab_1234_5000n);
      wr(m, 0x20, 0n, 4);
      expect(rd(m, 0x20, 8)).toBe(0xab_0000_0000n);
    });
  });
}

describe('GCMD / GSTS (§11.4.4)', () => {
  let m: Machine;
  beforeAll(async () => {
    m = await createMachine({ profile: 'default', ramMib: 32 });
  });

  it('SRTP latches and sets RTPS; TE follows the written value; one-shot bits do not stick', () => {
    m.reset();
    wr(m, 0x20, 0x10_0000n, 8);
    wr(m, 0x18, 0x4000_0000n);
    expect(rd(m, 0x1c)).toBe(0x4000_0000n);
    wr(m, 0x18, 0x8000_0000n);
    expect(rd(m, 0x1c)).toBe(0xc000_0000n);
    wr(m, 0x18, 0x0800_0000n); // WBF without TE: TE goes off (one command per write)
    expect(rd(m, 0x1c)).toBe(0x4000_0000n);
    expect(rd(m, 0x18)).toBe(0n);
  });

  it('QIE sets QIES and disables register-based invalidation (refused, granularity 0)', () => {
    m.reset();
    wr(m, 0x90, 0x18_0000n, 8);
    wr(m, 0x18, 0x0400_0000n);
    expect(rd(m, 0x1c) & 0x0400_0000n).toBe(0x0400_0000n);
    wr(m, 0x28, 0xa000_0000_0000_0000n, 8);
    expect(rd(m, 0x28, 8)).toBe(0x2000_0000_0000_0000n);
    wr(m, 0xf8, 0x9000_0000_0000_0000n, 8);
    expect(rd(m, 0xf8, 8)).toBe(0x1000_0000_0000_0000n);
    expect(m.vtd.logLines.some((l) => l.includes('refused'))).toBe(true);
  });
});

describe('register-based invalidation (§6.5.1)', () => {
  it('default: CCMD reports the granularity done; IOTLB PSI beyond MAMV is not performed', async () => {
    const m = await createMachine({ profile: 'default', ramMib: 32 });
    wr(m, 0x28, (1n << 63n) | (2n << 61n) | 5n, 8);
    expect(rd(m, 0x28, 8)).toBe((2n << 61n) | (2n << 59n) | 5n);
    wr(m, 0x28, (1n << 63n) | (3n << 61n) | (1n << 32n) | (0x18n << 16n) | 5n, 8);
    expect(rd(m, 0x28, 8)).toBe((3n << 61n) | (3n << 59n) | 5n);
    wr(m, 0x28, 1n << 63n, 8);
    expect(rd(m, 0x28, 8)).toBe(0n); // CIRG 00 reserved: CAIG 0
    wr(m, 0xf0, 0x1000n | 40n, 8);
    wr(m, 0xf8, (1n << 63n) | (3n << 60n) | (1n << 32n), 8);
    expect(rd(m, 0xf8, 8)).toBe((3n << 60n) | (1n << 32n)); // IAIG 0
    wr(m, 0xf0, 0x1000n, 8);
    wr(m, 0xf8, (1n << 63n) | (3n << 60n) | (1n << 32n), 8);
    expect(rd(m, 0xf8, 8)).toBe((3n << 60n) | (3n << 57n) | (1n << 32n));
  });

  it('qemu-7.2: domain-selective CCMD is done as global; the high dword starts it', async () => {
    const m = await createMachine({ profile: 'qemu-7.2', iommu: { scalableMode: false, awBits: 39 }, ramMib: 32 });
    wr(m, 0x28, 5n, 4);
    expect(rd(m, 0x28, 8)).toBe(5n);
    wr(m, 0x2c, 0xc000_0000n, 4);
    expect(rd(m, 0x28, 8)).toBe((2n << 61n) | (1n << 59n) | 5n);
  });

  it('a stale translation survives until a page-selective invalidation', async () => {
    const m = await createMachine({ profile: 'default', ramMib: 64, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
    const g = new GuestIommu(guestEnvFor(m), 'legacy');
    const ss = g.attachLegacy(0x18, { did: 3, levels: 4 });
    ss.map(0x7000n, 0x30_0000n, 12, encodeSsPte({ R: true, W: true }));
    g.start();
    const dev = m.dmaTest('00:03.0');
    expect(dev.read(0x7000n, 8).ok).toBe(true);
    ss.unmap(0x7000n, 12);
    expect(dev.read(0x7000n, 8).ok).toBe(true);
    g.drv.iotlbInvalidatePage(3, 0x7000n);
    expect(dev.read(0x7000n, 8).ok).toBe(false);
  });
});

describe('fault recording (§7.2.1) and the fault event', () => {
  const SLOTS = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const bdf = (slot: number) => `00:${slot.toString(16).padStart(2, '0')}.0`;

  async function faultingMachine(profile: 'default' | 'qemu-7.2') {
    const msis: MsiMessage[] = [];
    const m = await createMachine({
      profile, iommu: { scalableMode: false, awBits: 48 }, ramMib: 64, onInterrupt: (x) => msis.push(x),
      devices: SLOTS.map((d) => ({ bdf: bdf(d), kind: 'dma-test' as const })),
    });
    const g = new GuestIommu(guestEnvFor(m), 'legacy');
    for (const d of SLOTS) g.attachLegacy(d << 3, { did: d, levels: 4 }); // empty tables: every DMA faults
    g.start();
    return { m, g, msis };
  }

  it('default: records used in turn, FRI, same-source collapsing', async () => {
    const { m, g } = await faultingMachine('default');
    m.dmaTest(bdf(3)).read(0x1000n, 4);
    m.dmaTest(bdf(3)).read(0x2000n, 4); // same source while pending: collapsed
    m.dmaTest(bdf(4)).write(0x3000n, 4);
    expect(rd(m, 0x34) & 0xffffn).toBe(0x2n); // PPF, FRI 0
    const faults = g.drv.readFaults();
    expect(faults.map((f) => [f.index, f.sid, f.addr, f.read])).toEqual([[0, 0x18, 0x1000n, true], [1, 0x20, 0x3000n, false]]);
    expect(rd(m, 0x34)).toBe(0n);
    m.dmaTest(bdf(5)).read(0x5000n, 4);
    expect(rd(m, 0x34)).toBe(0x202n); // FRI names the record written when PPF went 0 -> 1
    expect(g.drv.readFaults().map((f) => f.index)).toEqual([2]);
  });

  it('default: overflow sets PFO and drops; one MSI to FEADDR/FEDATA; a masked event waits for unmask', async () => {
    const { m, g, msis } = await faultingMachine('default');
    g.drv.setupFaultEvent(0xfee0_1000n, 0x55);
    for (const slot of SLOTS.slice(0, 9)) m.dmaTest(bdf(slot)).read(0x1000n, 4);
    expect(rd(m, 0x34)).toBe(0x3n); // PPF | PFO, FRI 0
    expect(msis).toEqual([{ source: 'fault', address: 0xfee0_1000n, data: 0x55 }]);
    expect(g.drv.readFaults()).toHaveLength(8);
    expect(rd(m, 0x34)).toBe(0n);
    wr(m, 0x38, 0x8000_0000n); // mask
    m.dmaTest(bdf(12)).read(0x1000n, 4);
    expect(rd(m, 0x38)).toBe(0xc000_0000n);
    expect(msis).toHaveLength(1);
    wr(m, 0x38, 0n);
    expect(rd(m, 0x38)).toBe(0n);
    expect(msis).toHaveLength(2);
  });

  it('qemu-7.2: one record; another source sets PFO; clearing F alone keeps IP', async () => {
    const { m } = await faultingMachine('qemu-7.2');
    m.dmaTest(bdf(3)).read(0x1000n, 4);
    m.dmaTest(bdf(4)).read(0x1000n, 4);
    expect(rd(m, 0x34)).toBe(0x3n);
    expect(rd(m, 0x228, 8) & 0xffffn).toBe(0x18n);
    wr(m, 0x22c, 0x8000_0000n);
    expect(rd(m, 0x34)).toBe(0x1n);
    expect(rd(m, 0x38)).toBe(0xc000_0000n);
    m.dmaTest(bdf(5)).read(0x1000n, 4); // dropped while PFO
    expect(rd(m, 0x34)).toBe(0x1n);
    wr(m, 0x34, 0x1n);
    expect(rd(m, 0x38)).toBe(0x8000_0000n);
  });
});
