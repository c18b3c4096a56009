/**
 * Interrupt remapping driven by a guest (VT-d chapter 5): the guest builds
 * an interrupt remapping table, turns remapping on through IRTA / SIRTP /
 * IRE, programs a device's MSI in the remappable format and the platform
 * receives the interrupt the IRTE describes. Bad requests and bad entries
 * give the interrupt-remapping fault reasons, read back from the fault
 * recording registers with the interrupt index in FI 63:48 (§5.1.4.1).
 */
import { describe, expect, it } from 'vitest';
import { GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { compatMsi, remappableMsi } from '../../../host/src/guest/interrupt-remapping.js';
import { GCMD, REG } from '../../../host/src/vtd/spec/registers.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';
import { bootIr, bootSwqIr, DEV_A, DEV_B, SWQ_SID, type IrBed } from './ir-bed.js';
import { decodeSnapshot, encodeSnapshot } from '../../../host/src/snapshot/format.js';

/** Fault records the guest reads: [sid, reason, interrupt index] (FI 63:48), T must be 0 (a write). */
function faults(t: IrBed): [number, number, number][] {
  return t.drv.readFaults().map((f) => {
    expect(f.read).toBe(false);
    expect(f.addr & 0x0000_ffff_ffff_f000n).toBe(0n); // FI 47:12 clear for interrupt faults
    return [f.sid, f.reason, Number(f.addr >> 48n)];
  });
}

/** IRE on, one IRTE at a fresh index written by `spec`, the device's MSI pointing at it. */
async function remapped(spec: Parameters<IrBed['ir']['set']>[1], profile = 'default', x2apic = false) {
  const t = await bootIr(profile, { x2apic });
  t.ir.enable();
  const index = t.ir.alloc();
  t.ir.set(index, spec);
  t.program(DEV_A, remappableMsi(index));
  return { t, index };
}

describe('remapped delivery', () => {
  it('IRTA + SIRTP + IRE: GSTS reports IRTPS and IRES; the MSI arrives as its IRTE says', async () => {
    const { t, index } = await remapped({ vector: 0x41, destination: 3, svt: 1, sid: DEV_A });
    expect(t.ir.status() & (GCMD.IRE | GCMD.SIRTP)).toBe(GCMD.IRE | GCMD.SIRTP);
    expect(t.drv.read64(REG.IRTA)).toBe(t.ir.table | 7n);
    expect(t.fire(DEV_A)).toEqual({
      sid: DEV_A, address: 0xfee0_3000n, data: 0x4041,
      remapped: { index, vector: 0x41, destination: 3, logical: false, deliveryMode: 0, levelTriggered: false, redirectionHint: false },
    });
    expect(faults(t)).toEqual([]);
  });

  it('destination mode, redirection hint, delivery mode and trigger mode reach the message (§5.1.6 layout)', async () => {
    const { t } = await remapped({ vector: 0x99, destination: 0x0f, logical: true, redirectionHint: true, deliveryMode: 1, levelTriggered: true });
    const d = t.fire(DEV_A)!;
    expect(d.address).toBe(0xfee0_f00cn);
    expect(d.data).toBe(0x99 | (1 << 8) | (1 << 14) | (1 << 15));
    expect(d.remapped).toMatchObject({ logical: true, redirectionHint: true, deliveryMode: 1, levelTriggered: true });
  });

  it('x2APIC mode (IRTA.EIME): the 32-bit destination; bits 31:8 go to address 63:40', async () => {
    const { t } = await remapped({ vector: 0x50, destination: 0x12345 }, 'default', true);
    const d = t.fire(DEV_A)!;
    expect(d.remapped?.destination).toBe(0x12345);
    expect(d.address).toBe(0xfee4_5000n | (0x123n << 40n));
  });

  it('IRE off: a message passes through exactly as programmed, whatever its format', async () => {
    const t = await bootIr();
    t.program(DEV_A, remappableMsi(5));
    expect(t.fire(DEV_A)).toEqual({ sid: DEV_A, ...remappableMsi(5) });
    t.program(DEV_A, compatMsi(1, 0x30));
    expect(t.fire(DEV_A)).toEqual({ sid: DEV_A, address: 0xfee0_1000n, data: 0x30 });
  });

  it('SHV: interrupt_index = handle + subhandle (data 15:0); without SHV the data is ignored', async () => {
    const t = await bootIr();
    t.ir.enable();
    const base = t.ir.alloc(16);
    for (let i = 0; i < 16; i++) t.ir.set(base + i, { vector: 0x60 + i, destination: 0 });
    t.program(DEV_A, remappableMsi(base + 8, { shv: true, subhandle: 2 }));
    expect(t.fire(DEV_A)?.remapped).toMatchObject({ index: base + 10, vector: 0x6a });
    t.program(DEV_A, { address: remappableMsi(base + 8).address, data: 3 });
    expect(t.fire(DEV_A)?.remapped).toMatchObject({ index: base + 8, vector: 0x68 });
  });

  it('handle bit 15 is address bit 2 (a 65536-entry table)', async () => {
    const t = await bootIr('default', { entriesLg2: 16 });
    t.ir.enable();
    t.ir.write(0x8005, { vector: 0x77, destination: 1 });
    t.ir.invalidate(0x8005);
    t.program(DEV_A, remappableMsi(0x8005));
    expect(t.fire(DEV_A)?.remapped).toMatchObject({ index: 0x8005, vector: 0x77 });
  });

  it('compatibility format: blocked (0x25) while CFIS=0, passes through with CFI, blocked again in x2APIC mode', async () => {
    const t = await bootIr();
    t.ir.enable();
    t.program(DEV_A, compatMsi(2, 0x31));
    expect(t.fire(DEV_A)).toBeUndefined();
    expect(faults(t)).toEqual([[DEV_A, 0x25, 0]]);
    expect(t.ir.compatibilityFormat(true) & GCMD.CFI).toBe(GCMD.CFI);
    expect(t.fire(DEV_A)).toEqual({ sid: DEV_A, address: 0xfee0_2000n, data: 0x31 });
    const x2 = await bootIr('default', { x2apic: true });
    x2.ir.enable();
    x2.ir.compatibilityFormat(true);
    x2.program(DEV_A, compatMsi(2, 0x31));
    expect(x2.fire(DEV_A)).toBeUndefined();
    expect(faults(x2)).toEqual([[DEV_A, 0x25, 0]]);
  });
});

describe('interrupt-remapping faults (§5.1.4.1), recorded with the interrupt index', () => {
  it('0x21: interrupt_index beyond the table size (IRTA.S)', async () => {
    const t = await bootIr('default', { entriesLg2: 8 });
    t.ir.enable();
    t.program(DEV_A, remappableMsi(300));
    expect(t.fire(DEV_A)).toBeUndefined();
    t.program(DEV_A, remappableMsi(250, { shv: true, subhandle: 10 }));
    expect(t.fire(DEV_B)).toBeUndefined(); // DEV_B has no MSI programmed: nothing sent
    expect(t.fire(DEV_A)).toBeUndefined();
    expect(faults(t)).toEqual([[DEV_A, 0x21, 300]]); // the second is collapsed into the pending record of the same source
    t.fire(DEV_A);
    expect(faults(t)).toEqual([[DEV_A, 0x21, 260]]);
  });

  it('0x21: an IRTE above the host address width; 0x23: a table outside RAM', async () => {
    const t = await bootIr();
    t.drv.write64(REG.IRTA, (1n << 48n) - 0x1000n | 8n); // 512 entries, the last 256 above 2^48
    t.drv.command(1 << 24); // SIRTP
    t.drv.command(1 << 25); // IRE
    t.program(DEV_A, remappableMsi(300));
    t.fire(DEV_A);
    expect(faults(t)).toEqual([[DEV_A, 0x21, 300]]);
    t.program(DEV_A, remappableMsi(3));
    t.fire(DEV_A);
    expect(faults(t)).toEqual([[DEV_A, 0x23, 3]]);
  });

  it('0x22: the IRTE is not present; its FPD suppresses the record', async () => {
    const { t, index } = await remapped({ vector: 1, destination: 0, present: false });
    expect(t.fire(DEV_A)).toBeUndefined();
    expect(faults(t)).toEqual([[DEV_A, 0x22, index]]);
    t.ir.set(index, { vector: 1, destination: 0, present: false, fpd: true });
    expect(t.fire(DEV_A)).toBeUndefined();
    expect(faults(t)).toEqual([]);
  });

  it('0x24: reserved IRTE fields, the conditional ones included (xAPIC destination bits, IM without posting, SVT=11)', async () => {
    const cases: [string, Parameters<IrBed['ir']['set']>[1]][] = [
      ['qw0 bit 12', { vector: 1, destination: 0, extra: [1n << 12n, 0n] }],
      ['qw0 bit 24', { vector: 1, destination: 0, extra: [1n << 24n, 0n] }],
      ['xAPIC destination bit 32', { vector: 1, destination: 0, extra: [1n << 32n, 0n] }],
      ['xAPIC destination bit 48', { vector: 1, destination: 0, extra: [1n << 48n, 0n] }],
      ['IM=1 (posted format, CAP.PI=0)', { vector: 1, destination: 0, extra: [1n << 15n, 0n] }],
      ['qw1 bit 84', { vector: 1, destination: 0, extra: [0n, 1n << 20n] }],
      ['SVT=11', { vector: 1, destination: 0, svt: 3 }],
    ];
    for (const [what, spec] of cases) {
      const { t, index } = await remapped(spec);
      expect(t.fire(DEV_A), what).toBeUndefined();
      expect(faults(t), what).toEqual([[DEV_A, 0x24, index]]);
      t.ir.set(index, { ...spec, fpd: true });
      t.fire(DEV_A);
      expect(faults(t), `${what} with FPD`).toEqual([]);
    }
    const x2 = await remapped({ vector: 1, destination: 0, extra: [1n << 48n, 0n] }, 'default', true);
    expect(x2.t.fire(DEV_A)?.remapped?.destination).toBe(0x10000); // a destination bit in x2APIC mode
  });

  it('0x26: source-id verification per SVT/SQ (§9.10)', async () => {
    const { t, index } = await remapped({ vector: 9, destination: 0, svt: 1, sq: 0, sid: DEV_A | 2 });
    expect(t.fire(DEV_A)).toBeUndefined();
    expect(faults(t)).toEqual([[DEV_A, 0x26, index]]);
    for (const [sq, ok] of [[1, false], [2, true], [3, true]] as const) {
      t.ir.set(index, { vector: 9, destination: 0, svt: 1, sq, sid: DEV_A | 2 }); // SQ 01/10/11 ignore bits 2 / 2:1 / 2:0
      expect(t.fire(DEV_A) !== undefined, `SQ=${sq}`).toBe(ok);
      t.drv.readFaults();
    }
    t.ir.set(index, { vector: 9, destination: 0, svt: 2, sid: (2 << 8) | 2 }); // bus range 2..2
    t.program(DEV_B, remappableMsi(index));
    expect(t.fire(DEV_B)?.remapped?.vector).toBe(9);
    expect(t.fire(DEV_A)).toBeUndefined();
    expect(faults(t)).toEqual([[DEV_A, 0x26, index]]);
    t.ir.set(index, { vector: 9, destination: 0, svt: 2, sid: (0 << 8) | 1, fpd: true }); // buses 0..1, FPD
    expect(t.fire(DEV_B)).toBeUndefined();
    expect(faults(t)).toEqual([]);
  });

  it('0x20: reserved request bits (MSI-X data 31:16) fault before the IRTE is read, with any SHV', async () => {
    const t = await bootSwqIr();
    const index = t.ir.alloc();
    t.ir.set(index, { vector: 0x33, destination: 0 });
    t.raise(remappableMsi(index));
    expect(t.delivered).toHaveLength(1);
    for (const shv of [false, true]) {
      t.raise({ address: remappableMsi(index, { shv }).address, data: 0x1_0000 });
      expect(t.drv.readFaults().map((f) => [f.sid, f.reason, Number(f.addr >> 48n)])).toEqual([[SWQ_SID, 0x20, index]]);
    }
    expect(t.delivered).toHaveLength(1);
  });

  it('unqualified faults ignore FPD: 0x21 and 0x25 are recorded whatever the entries say', async () => {
    const { t } = await remapped({ vector: 1, destination: 0, fpd: true });
    t.program(DEV_A, remappableMsi(1000));
    t.fire(DEV_A);
    expect(faults(t)).toEqual([[DEV_A, 0x21, 1000]]);
  });
});

describe('the interrupt-entry cache and its invalidation (§6.5.2.7)', () => {
  it('a changed IRTE is used only after its index-selective invalidation', async () => {
    const { t, index } = await remapped({ vector: 0x41, destination: 0 });
    expect(t.fire(DEV_A)?.remapped?.vector).toBe(0x41);
    t.ir.write(index, { vector: 0x42, destination: 0 });
    expect(t.fire(DEV_A)?.remapped?.vector).toBe(0x41); // cached
    expect(t.ir.invalidate(index + 1)).toBe(true);
    expect(t.fire(DEV_A)?.remapped?.vector).toBe(0x41); // another index: still cached
    expect(t.ir.invalidate(index)).toBe(true);
    expect(t.fire(DEV_A)?.remapped?.vector).toBe(0x42);
  });

  it('IM masks the low index bits: 2^IM entries go, the rest stay; a global invalidation drops all', async () => {
    const t = await bootIr();
    t.ir.enable();
    const base = t.ir.alloc(4);
    const vectorAt = (i: number): number | undefined => {
      t.program(DEV_A, remappableMsi(base + i));
      return t.fire(DEV_A)?.remapped?.vector;
    };
    for (let i = 0; i < 4; i++) t.ir.set(base + i, { vector: 0x10 + i, destination: 0 });
    for (let i = 0; i < 4; i++) expect(vectorAt(i)).toBe(0x10 + i);
    for (let i = 0; i < 4; i++) t.ir.write(base + i, { vector: 0x20 + i, destination: 0 });
    t.ir.invalidate(base + 1, 1); // IIDX base+1 with IM=1: base and base+1
    expect([0, 1, 2, 3].map(vectorAt)).toEqual([0x20, 0x21, 0x12, 0x13]);
    t.ir.invalidateAll();
    expect([0, 1, 2, 3].map(vectorAt)).toEqual([0x20, 0x21, 0x22, 0x23]);
  });

  it('SIRTP on a unit with CAP.ESIRTPS drops cached entries', async () => {
    const { t, index } = await remapped({ vector: 0x41, destination: 0 });
    expect(t.drv.cap >> 62n & 1n).toBe(1n);
    t.fire(DEV_A);
    t.ir.write(index, { vector: 0x43, destination: 0 });
    t.drv.command(1 << 24); // SIRTP, no IEC descriptor
    expect(t.fire(DEV_A)?.remapped?.vector).toBe(0x43);
  });

  it('an index-selective descriptor with IM above ECAP.MHMV is an invalidation queue error', async () => {
    const t = await bootIr();
    expect(Number((t.drv.ecap >> 20n) & 0xfn)).toBe(15);
    expect(t.ir.invalidate(0, 16)).toBe(false);
    expect(t.drv.faultStatus() & (1 << 4)).toBe(1 << 4); // IQE
  });
});

describe('what is not remapped', () => {
  it('the unit\'s own fault event goes out as programmed in FEADDR/FEDATA (§5.1.6), with IRE on and CFIS=0', async () => {
    const t = await bootIr();
    t.ir.enable();
    t.drv.setupFaultEvent(0xfee0_5000n, 0x66);
    t.program(DEV_A, remappableMsi(200)); // not present: 0x22 raises the fault event
    t.fire(DEV_A);
    expect(t.events).toEqual([{ source: 'fault', address: 0xfee0_5000n, data: 0x66 }]);
    expect(t.delivered).toEqual([]);
  });

  it('an MSI outside 0xFEEx_xxxx is a DMA write of its data: through the IOMMU, never an interrupt', async () => {
    const t = await bootIr();
    t.ir.enable();
    t.program(DEV_A, { address: 0x5000n, data: 0xbeef });
    expect(t.fire(DEV_A)).toBeUndefined();
    expect(t.m.ram.readU32(0x5000n)).toBe(0xbeef);
    const g = new GuestIommu(t.env, 'legacy');
    const ss = g.attachLegacy(DEV_A, { did: 1 });
    ss.map(0n, 0x8000n, 12, encodeSsPte({ R: true, W: true })); // the device's DMA read; 0x5000 unmapped
    g.start();
    t.m.ram.writeU32(0x5000n, 0);
    t.fire(DEV_A);
    expect(t.m.ram.readU32(0x5000n)).toBe(0);
    expect(t.drv.readFaults().map((f) => [f.sid, f.reason, f.addr, f.read])).toEqual([[DEV_A, 0x5, 0x5000n, false]]); // a DMA write fault
    ss.map(0x5000n, 0x9000n, 12, encodeSsPte({ R: true, W: true }));
    t.fire(DEV_A);
    expect(t.m.ram.readU32(0x9000n)).toBe(0xbeef);
    expect(t.delivered).toEqual([]);
  });
});

describe('interrupt remapping across a snapshot', () => {
  it('the latched table pointer survives snapshot/restore into a fresh machine', async () => {
    const { t } = await remapped({ vector: 0x5a, destination: 2 });
    const bytes = t.m.snapshot();
    const u = await bootIr();
    u.m.restore(bytes);
    expect(u.fire(DEV_A)?.remapped).toMatchObject({ vector: 0x5a, destination: 2 });
    expect(u.ir.status() & GCMD.IRE).toBe(GCMD.IRE);
  });

  it('the IR section is optional (no table latched without it) and a bad one refuses the whole restore', async () => {
    const { t } = await remapped({ vector: 0x5a, destination: 2 });
    const sections = [...decodeSnapshot(t.m.snapshot())];
    const without = encodeSnapshot(sections.filter(([tag]) => tag !== 'IR  '));
    const u = await bootIr();
    u.m.restore(without);
    expect(u.m.vtd.interrupts.saveState().latched).toBe(false);
    expect(u.fire(DEV_A)).toBeUndefined(); // IRE on, no table latched: fault 0x21, nothing delivered
    const bad = encodeSnapshot(sections.map(([tag, b]) => [tag, tag === 'IR  ' ? b.subarray(0, 3) : b]));
    const v = await bootIr();
    expect(() => v.m.restore(bad)).toThrow(/IR/);
    expect(v.ir.status() & GCMD.IRE).toBe(0); // nothing was applied
    expect(v.m.vtd.interrupts.saveState()).toEqual({ latched: false, irta: 0n });
  });
});
