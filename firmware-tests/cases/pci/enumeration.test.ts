/**
 * Guest-driver tests of the PCI platform: enumeration through ECAM and ports
 * 0xCF8/0xCFC, bridges and secondary buses, BAR sizing and placement,
 * the command register, MSI delivery and requester ids across buses.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from '../../../host/src/machine.js';
import type { DeviceMsi } from '../../../host/src/pci/msi.js';
import { GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { CAP, EXT, PciDriver } from '../../../host/src/guest/pci-driver.js';

const DMAT_ID = 0x544d4144;
const ATSD_ID = 0x44535441;

async function boot(msis: DeviceMsi[] = []): Promise<{ m: Machine; pci: PciDriver }> {
  const m = await createMachine({
    ramMib: 64,
    devices: [
      { bdf: '00:03.0', kind: 'dma-test' },
      { bdf: '01:00.0', kind: 'ats' },
      { bdf: '02:05.0', kind: 'dma-test' },
    ],
    onDeviceInterrupt: (msi) => msis.push(msi),
  });
  return { m, pci: new PciDriver(m) };
}

describe('PCI enumeration (ECAM)', () => {
  it('finds the host bridge, two root ports and the devices behind them', async () => {
    const { pci } = await boot();
    const found = pci.scan();
    expect(found.map((f) => f.sid)).toEqual([0x0000, 0x0018, 0x00e0, 0x0100, 0x00e1, 0x0228]);
    expect(found.find((f) => f.sid === 0)).toMatchObject({ vendor: 0x8086, classCode: 0x060000, headerType: 0 });
    expect(found.filter((f) => f.headerType === 1).map((f) => f.classCode)).toEqual([0x060400, 0x060400]);
    expect(found.find((f) => f.sid === 0x100)).toMatchObject({ vendor: 0x5654, device: 0x0a75 });
    expect(pci.read(0x0300, 0, 4)).toBe(0xffff_ffff); // no bus 3
  });

  it('sizes and places BARs; each BAR reaches its device registers', async () => {
    const { m, pci } = await boot();
    const bases: bigint[] = [];
    for (const [sid, id] of [[0x18, DMAT_ID], [0x100, ATSD_ID], [0x228, DMAT_ID]] as const) {
      expect(pci.sizeBar(sid, 0)).toEqual({ size: 0x2000n, is64: false });
      const base = pci.barBase(sid, 0);
      expect(base % 0x2000n).toBe(0n);
      expect(m.mmioRead(base, 4)).toBe(BigInt(id));
      bases.push(base);
    }
    expect(new Set(bases).size).toBe(3);
    // Sizing left the BAR as it was.
    expect(m.mmioRead(bases[0]!, 4)).toBe(BigInt(DMAT_ID));
    // Memory decoding off: the BAR no longer answers.
    pci.command(0x18, 0x2, false);
    expect(m.mmioRead(bases[0]!, 4)).toBe(0n);
    // A root port with memory decoding off hides its secondary bus.
    pci.command(0xe0, 0x2, false);
    expect(m.mmioRead(bases[1]!, 4)).toBe(0n);
    expect(m.mmioRead(bases[2]!, 4)).toBe(BigInt(DMAT_ID));
    // The guest moves a BAR.
    pci.write(0x228, 0x10, 4, 0xfd00_0000);
    expect(m.mmioRead(0xfd00_0000n, 4)).toBe(0n); // outside the root port's window
    pci.write(0xe1, 0x20, 4, 0xfd00_fd00); // window 0xFD000000..0xFD0FFFFF
    expect(m.mmioRead(0xfd00_0000n, 4)).toBe(BigInt(DMAT_ID));
  });

  it('ports 0xCF8/0xCFC reach the same configuration space', async () => {
    const { m, pci } = await boot();
    m.ioWrite(0xcf8, 4, 0x8000_0000 | (0x01 << 16) | 0x00);
    expect(m.ioRead(0xcfc, 4)).toBe(0x0a75_5654);
    expect(m.ioRead(0xcfe, 2)).toBe(0x0a75);
    m.ioWrite(0xcf8, 4, 0x8000_0000 | (0x01 << 16) | 0x04);
    m.ioWrite(0xcfc, 2, 0x0002);
    expect(pci.read(0x100, 0x04, 2)).toBe(0x0002);
    m.ioWrite(0xcf8, 4, 0x0000_0000); // enable clear
    expect(m.ioRead(0xcfc, 4)).toBe(0xffff_ffff);
    expect(m.ioRead(0x80, 1)).toBe(0xff);
  });

  it('lists the capabilities each device carries', async () => {
    const { pci } = await boot();
    for (const sid of [0x18, 0x100]) {
      expect(pci.findCap(sid, CAP.PCIE)).not.toBe(0);
      expect(pci.findCap(sid, CAP.MSI)).not.toBe(0);
      expect(pci.findExtCap(sid, EXT.PASID)).not.toBe(0);
      expect(pci.findExtCap(sid, EXT.PRI)).not.toBe(0);
    }
    expect(pci.findExtCap(0x18, EXT.ATS)).toBe(0);
    const ats = pci.findExtCap(0x100, EXT.ATS);
    const pasid = pci.findExtCap(0x100, EXT.PASID);
    expect(pci.read(0x100, pasid + 4, 2)).toBe((20 << 8) | 0x6); // width 20, exec, priv
    pci.enableAts(0x100, 2);
    expect(pci.read(0x100, ats + 6, 2)).toBe(0x8002);
  });
});

describe('bus master, MSI and requester ids', () => {
  it('a device with bus master off cannot DMA; the fault of a device on bus 2 carries its requester id', async () => {
    const { m, pci } = await boot();
    const g = new GuestIommu(guestEnvFor(m), 'legacy');
    g.start(); // translation on, no context entries: every DMA faults
    const dev = m.dmaTest('02:05.0');
    pci.command(0x228, 0x4, false);
    dev.read(0x1000n, 8);
    expect(dev.lastStatus() & 7).toBe(5); // aborted, nothing sent
    expect(g.drv.readFaults()).toEqual([]);
    pci.command(0x228, 0x4, true);
    dev.read(0x1000n, 8);
    expect(dev.lastStatus() & 7).toBe(2);
    expect(g.drv.readFaults().map((f) => [f.sid, f.reason])).toEqual([[0x228, 1]]); // root entry of bus 2 not present
  });

  it('MSI on completion carries the address and data the guest programmed', async () => {
    const msis: DeviceMsi[] = [];
    const { m, pci } = await boot(msis);
    const base = pci.barBase(0x18, 0);
    m.mmioWrite(base + 0x28n, 4, 1n); // IRQ on completion
    m.mmioWrite(base + 0x10n, 4, 8n);
    m.mmioWrite(base + 0x14n, 4, 1n); // READ at IOVA 0 (translation off)
    expect(msis).toEqual([]); // MSI not enabled yet
    pci.enableMsi(0x18, 0xfee0_0000n, 0x4041);
    m.mmioWrite(base + 0x14n, 4, 1n);
    expect(msis).toEqual([{ sid: 0x18, address: 0xfee0_0000n, data: 0x4041 }]);
  });
});
