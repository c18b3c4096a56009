/**
 * A guest PCI driver: enumerates the hierarchy through ECAM, reads
 * capability lists, sizes BARs, and turns on the capabilities the model's
 * devices carry (MSI, ATS, PASID, PRI), the way an OS does (Linux
 * drivers/pci/probe.c, ats.c). Offsets and bits are written out here from
 * the PCI / PCIe specs on purpose, not imported from the model.
 */
import type { Gpa, Sid } from '../types.js';

/** What the driver needs: physical MMIO of 1, 2, 4 or 8 bytes. */
export interface PciPlatform {
  mmioRead(addr: Gpa, size: number): bigint;
  mmioWrite(addr: Gpa, size: number, value: bigint): void;
}

/** q35's ECAM base. */
export const ECAM = 0xb000_0000n;
/** Capability ids (PCI 3.0 / PCIe). */
export const CAP = { MSI: 0x05, PCIE: 0x10, MSIX: 0x11 } as const;
/** Extended capability ids (PCIe §7.6). */
export const EXT = { ATS: 0x0f, PRI: 0x13, PASID: 0x1b } as const;

/** One function found by a scan. */
export interface FoundFunction {
  readonly sid: Sid;
  readonly vendor: number;
  readonly device: number;
  readonly classCode: number;
  readonly headerType: number;
}

/** The driver over one ECAM window. */
export class PciDriver {
  constructor(readonly platform: PciPlatform, readonly ecam: bigint = ECAM) {}

  /** Config read of 1, 2 or 4 bytes. */
  read(sid: Sid, off: number, size: 1 | 2 | 4): number {
    return Number(this.platform.mmioRead(this.ecam + (BigInt(sid) << 12n) + BigInt(off), size));
  }

  /** Config write of 1, 2 or 4 bytes. */
  write(sid: Sid, off: number, size: 1 | 2 | 4, v: number): void {
    this.platform.mmioWrite(this.ecam + (BigInt(sid) << 12n) + BigInt(off), size, BigInt(v >>> 0));
  }

  /** Depth-first scan from bus 0 through bridges (secondary bus at 0x19). */
  scan(bus = 0, out: FoundFunction[] = []): FoundFunction[] {
    for (let devfn = 0; devfn < 256; devfn++) {
      const sid = (bus << 8) | devfn;
      const id = this.read(sid, 0, 4);
      if (id === 0xffff_ffff) continue;
      const headerType = this.read(sid, 0x0e, 1) & 0x7f;
      out.push({ sid, vendor: id & 0xffff, device: id >>> 16, classCode: this.read(sid, 0x08, 4) >>> 8, headerType });
      if (headerType === 1) this.scan(this.read(sid, 0x19, 1), out);
    }
    return out;
  }

  /** Offset of capability `id` (list at 0x34), or 0. */
  findCap(sid: Sid, id: number): number {
    if ((this.read(sid, 0x06, 2) & 0x10) === 0) return 0;
    for (let at = this.read(sid, 0x34, 1), n = 0; at && n < 48; at = this.read(sid, at + 1, 1), n++) {
      if (this.read(sid, at, 1) === id) return at;
    }
    return 0;
  }

  /** Offset of extended capability `id` (list at 0x100), or 0. */
  findExtCap(sid: Sid, id: number): number {
    for (let at = 0x100, n = 0; at >= 0x100 && n < 64; n++) {
      const h = this.read(sid, at, 4);
      if (h === 0 || h === 0xffff_ffff) return 0;
      if ((h & 0xffff) === id) return at;
      at = h >>> 20;
    }
    return 0;
  }

  /** Sizes BAR slot `slot` (writes all-ones, reads back, restores); 0 when unimplemented. */
  sizeBar(sid: Sid, slot: number): { size: bigint; is64: boolean } {
    const off = 0x10 + 4 * slot;
    const old = this.read(sid, off, 4);
    this.write(sid, off, 4, 0xffff_ffff);
    const lo = this.read(sid, off, 4);
    this.write(sid, off, 4, old);
    const is64 = (lo & 0x6) === 0x4;
    let mask = BigInt((lo & ~0xf) >>> 0);
    if (is64) {
      const oldHi = this.read(sid, off + 4, 4);
      this.write(sid, off + 4, 4, 0xffff_ffff);
      mask |= BigInt(this.read(sid, off + 4, 4)) << 32n;
      this.write(sid, off + 4, 4, oldHi);
    } else mask |= 0xffff_ffff_0000_0000n;
    return { size: mask === 0n ? 0n : ((~mask) & 0xffff_ffff_ffff_ffffn) + 1n, is64 };
  }

  /** Base of BAR slot `slot`. */
  barBase(sid: Sid, slot: number): bigint {
    const lo = this.read(sid, 0x10 + 4 * slot, 4);
    const base = BigInt((lo & ~0xf) >>> 0);
    return (lo & 0x6) === 0x4 ? base | (BigInt(this.read(sid, 0x14 + 4 * slot, 4)) << 32n) : base;
  }

  /** Sets or clears Command bits (bit 1 memory, bit 2 bus master). */
  command(sid: Sid, bits: number, on: boolean): void {
    const c = this.read(sid, 0x04, 2);
    this.write(sid, 0x04, 2, on ? c | bits : c & ~bits);
  }

  /** Programs MSI (address, data) and enables it with `vectorsLg2` vectors. */
  enableMsi(sid: Sid, address: Gpa, data: number, vectorsLg2 = 0): void {
    const at = this.findCap(sid, CAP.MSI);
    if (!at) throw new Error(`sid ${sid.toString(16)}: no MSI capability`);
    this.write(sid, at + 4, 4, Number(address & 0xffff_ffffn));
    this.write(sid, at + 8, 4, Number(address >> 32n));
    this.write(sid, at + 0xc, 2, data);
    this.write(sid, at + 2, 2, 1 | (vectorsLg2 << 4));
  }

  /** Enables ATS with Smallest Translation Unit `stu`. */
  enableAts(sid: Sid, stu = 0, on = true): void {
    const at = this.findExtCap(sid, EXT.ATS);
    if (!at) throw new Error(`sid ${sid.toString(16)}: no ATS capability`);
    this.write(sid, at + 6, 2, (on ? 0x8000 : 0) | stu);
  }

  /** Enables PASID (with execute / privileged modes when asked). */
  enablePasid(sid: Sid, o: { exec?: boolean; priv?: boolean } = {}): void {
    const at = this.findExtCap(sid, EXT.PASID);
    if (!at) throw new Error(`sid ${sid.toString(16)}: no PASID capability`);
    this.write(sid, at + 6, 2, 1 | (o.exec ? 2 : 0) | (o.priv ? 4 : 0));
  }

  /** Resets PRI, grants `allocation` outstanding requests and enables it (Linux pci_enable_pri). */
  enablePri(sid: Sid, allocation: number): void {
    const at = this.findExtCap(sid, EXT.PRI);
    if (!at) throw new Error(`sid ${sid.toString(16)}: no PRI capability`);
    this.write(sid, at + 4, 2, 2); // Reset
    this.write(sid, at + 0xc, 4, allocation);
    this.write(sid, at + 4, 2, 1); // Enable
  }

  /** PRI status register (bit 0 RF, 1 UPRGI, 8 stopped). */
  priStatus(sid: Sid): number {
    return this.read(sid, this.findExtCap(sid, EXT.PRI) + 6, 2);
  }
}
