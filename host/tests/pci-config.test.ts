import { describe, expect, it } from 'vitest';
import { AtsCap, CAP_ID, EXT_CAP_ID, MsiCap, MsixCap, PasidCap, PriCap, PRI, addPcieCap, PCIE_PORT_TYPE } from '../src/pci/capabilities.js';
import { CFG, CMD, ConfigSpace } from '../src/pci/config-space.js';
import { FunctionInterrupts, MsixTable, type DeviceMsi } from '../src/pci/msi.js';

const ID = { vendorId: 0x5654, deviceId: 0x1234, classCode: 0xff0000, revision: 2 };

function space(bars = [{ size: 0x2000 }, { size: 0x10_0000, is64: true }]) {
  return new ConfigSpace({ ...ID, bars });
}

describe('PCI configuration space', () => {
  it('has the identity in the header and read-only fields ignore writes', () => {
    const c = space();
    expect(c.read(0, 4)).toBe(0x1234_5654);
    expect(c.read(CFG.CLASS, 1)).toBe(0);
    expect(c.read(0x08, 4) >>> 8).toBe(0xff0000);
    c.write(0, 4, 0);
    expect(c.read(0, 2)).toBe(0x5654);
    expect(c.read(1, 2)).toBe(0xffff); // unaligned: all-ones
    expect(c.read(4094, 4)).toBe(0xffff_ffff);
  });

  it('sizes BARs by writing all-ones (32- and 64-bit) and decodes only with memory enabled', () => {
    const c = space();
    c.write(CFG.BAR0, 4, 0xffff_ffff);
    expect(c.read(CFG.BAR0, 4)).toBe(0xffff_e000);
    c.write(CFG.BAR0 + 4, 4, 0xffff_ffff);
    c.write(CFG.BAR0 + 8, 4, 0xffff_ffff);
    expect(c.read(CFG.BAR0 + 4, 4)).toBe(0xfff0_0004); // 1 MiB, 64-bit type bits stay
    expect(c.read(CFG.BAR0 + 8, 4)).toBe(0xffff_ffff);
    expect(c.read(CFG.BAR0 + 12, 4)).toBe(0); // no BAR in slot 3
    c.write(CFG.BAR0, 4, 0xfe00_0000);
    c.write(CFG.BAR0 + 4, 4, 0x0010_0000);
    c.write(CFG.BAR0 + 8, 4, 0x1);
    expect(c.barBase(1)).toBe(0x1_0010_0000n);
    expect(c.decode(0xfe00_0010n)).toBeUndefined();
    c.write(CFG.COMMAND, 2, CMD.MEMORY);
    expect(c.decode(0xfe00_0010n)).toEqual({ bar: 0, offset: 0x10 });
    expect(c.decode(0x1_0010_0008n)).toEqual({ bar: 1, offset: 8 });
    expect(c.decode(0xfe00_2000n)).toBeUndefined();
    expect(() => c.assignBar(0, 0x1000n)).toThrow(/base/);
    expect(() => new ConfigSpace({ ...ID, bars: [{ size: 100 }] })).toThrow(/bars\[0\]\.size/);
  });

  it('chains capabilities at 0x34 and extended capabilities at 0x100', () => {
    const c = space();
    const pcie = addPcieCap(c, PCIE_PORT_TYPE.ENDPOINT);
    const msi = new MsiCap(c, 2);
    const ats = new AtsCap(c);
    const pasid = new PasidCap(c, 16, true, false);
    const pri = new PriCap(c, 32, () => {});
    expect(c.read(CFG.STATUS, 2) & 0x10).toBe(0x10);
    expect(c.read(CFG.CAP_PTR, 1)).toBe(pcie);
    expect(c.read(pcie + 1, 1)).toBe(msi.at);
    expect(c.read(msi.at, 1)).toBe(CAP_ID.MSI);
    expect(c.read(msi.at + 1, 1)).toBe(0);
    expect(c.findCapability(CAP_ID.PCIE)).toBe(pcie);
    expect(c.read(0x100, 4) & 0xffff).toBe(EXT_CAP_ID.ATS);
    expect(c.read(0x100, 4) >>> 20).toBe(pasid.at);
    expect(c.findExtCapability(EXT_CAP_ID.PRI)).toBe(pri.at);
    expect(c.findExtCapability(EXT_CAP_ID.PASID)).toBe(pasid.at);
    expect(c.findExtCapability(0x99)).toBe(0);
    expect(ats.at).toBe(0x100);
  });

  it('PASID capability: width, execute supported, privileged not; only supported enables stick', () => {
    const c = space();
    const p = new PasidCap(c, 16, true, false);
    expect(c.read(p.at + 4, 2)).toBe((16 << 8) | 0x2);
    c.write(p.at + 6, 2, 0x7);
    expect(c.read(p.at + 6, 2)).toBe(0x3);
    expect([p.enabled(), p.execEnabled(), p.privEnabled()]).toEqual([true, true, false]);
    expect(p.fits(0xffff)).toBe(true);
    expect(p.fits(0x10000)).toBe(false);
  });

  it('ATS capability: enable and STU writable, capability read-only', () => {
    const c = space();
    const a = new AtsCap(c, 4);
    c.write(a.at + 4, 2, 0);
    expect(c.read(a.at + 4, 2) & 0x1f).toBe(4);
    c.write(a.at + 6, 2, 0x8003);
    expect([a.enabled(), a.stu()]).toEqual([true, 3]);
  });

  it('PRI capability: capacity read-only, allocation writable, status RW1C, reset only while disabled', () => {
    const c = space();
    const calls: boolean[] = [];
    const p = new PriCap(c, 32, (r) => calls.push(r));
    expect(c.read(p.at + 8, 4)).toBe(32);
    c.write(p.at + 8, 4, 5);
    expect(c.read(p.at + 8, 4)).toBe(32);
    c.write(p.at + 0xc, 4, 7);
    expect(p.allocation()).toBe(7);
    expect(p.status() & PRI.STS_STOPPED).toBe(PRI.STS_STOPPED);
    p.setStatus(PRI.STS_RF | PRI.STS_UPRGI, true);
    c.write(p.at + 6, 2, PRI.STS_RF | PRI.STS_STOPPED);
    expect(p.status() & (PRI.STS_RF | PRI.STS_UPRGI | PRI.STS_STOPPED)).toBe(PRI.STS_UPRGI | PRI.STS_STOPPED);
    c.write(p.at + 4, 2, PRI.CTL_RESET);
    c.write(p.at + 4, 2, PRI.CTL_ENABLE | PRI.CTL_RESET);
    expect(calls).toEqual([true, false]);
    expect(c.read(p.at + 4, 2)).toBe(PRI.CTL_ENABLE); // Reset reads 0
  });
});

describe('MSI and MSI-X delivery', () => {
  function msiFunction() {
    const c = space();
    const msi = new MsiCap(c, 2);
    const sent: DeviceMsi[] = [];
    const irq = new FunctionInterrupts(0x18, c, () => (m) => sent.push(m), msi);
    return { c, msi, irq, sent };
  }

  it('sends the programmed address and data | vector, needs MSI enable and bus master', () => {
    const { c, msi, irq, sent } = msiFunction();
    expect(irq.raise(0)).toBe(false);
    c.write(msi.at + 4, 4, 0xfee0_1000);
    c.write(msi.at + 8, 4, 0);
    c.write(msi.at + 0xc, 2, 0x4420);
    c.write(msi.at + 2, 2, 0x1 | (2 << 4)); // enable, 4 vectors
    expect(irq.raise(1)).toBe(false); // bus master off
    c.write(CFG.COMMAND, 2, CMD.BUS_MASTER);
    expect(irq.raise(3)).toBe(true);
    expect(irq.raise(5)).toBe(true); // vector 5 wraps to 1 of 4
    expect(sent).toEqual([{ sid: 0x18, address: 0xfee0_1000n, data: 0x4423 }, { sid: 0x18, address: 0xfee0_1000n, data: 0x4421 }]);
    expect(irq.dropped).toBe(2);
  });

  it('per-vector mask holds the message as pending until unmasked', () => {
    const { c, msi, irq, sent } = msiFunction();
    c.write(CFG.COMMAND, 2, CMD.BUS_MASTER);
    c.write(msi.at + 4, 4, 0xfee0_0000);
    c.write(msi.at + 0xc, 2, 0x30);
    c.write(msi.at + 2, 2, 0x1);
    c.write(msi.at + 0x10, 4, 1);
    irq.raise(0);
    expect(sent).toEqual([]);
    expect(c.read(msi.at + 0x14, 4)).toBe(1);
    c.write(msi.at + 0x10, 4, 0);
    expect(sent).toEqual([{ sid: 0x18, address: 0xfee0_0000n, data: 0x30 }]);
    expect(c.read(msi.at + 0x14, 4)).toBe(0);
  });

  it('MSI-X: table entries in the BAR, masked entries set the PBA and fire on unmask', () => {
    const c = space();
    const table = new MsixTable(new MsixCap(c, 4, 0, 0x800, 0xc00));
    const sent: DeviceMsi[] = [];
    const irq = new FunctionInterrupts(0x20, c, () => (m) => sent.push(m), undefined, table);
    c.write(CFG.COMMAND, 2, CMD.BUS_MASTER);
    c.write(table.cap.at + 2, 2, 0x8000);
    irq.msixWrite(0x810, 8, 0xfee0_2000n);
    irq.msixWrite(0x818, 4, 0x55n);
    expect(irq.raise(1)).toBe(false); // entries reset masked
    expect(table.read(0xc00, 4)).toBe(2n);
    irq.msixWrite(0x81c, 4, 0n);
    expect(sent).toEqual([{ sid: 0x20, address: 0xfee0_2000n, data: 0x55 }]);
    expect(table.read(0xc00, 4)).toBe(0n);
    expect(irq.raise(1)).toBe(true);
    expect(irq.raise(9)).toBe(false); // no such vector
    c.write(table.cap.at + 2, 2, 0xc000); // function mask
    expect(irq.raise(1)).toBe(false);
    c.write(table.cap.at + 2, 2, 0x8000);
    expect(sent).toHaveLength(3);
  });
});
