/**
 * Guest-side PCI for the page-request suite: configuration space through
 * ECAM (q35's MCFG window at 0xB0000000), the PASID and PRI extended
 * capabilities enabled as Linux's pci_enable_pasid / pci_enable_pri do, and
 * the DMA test device driven through its BAR0 registers. Offsets and bit
 * positions are written out from the PCIe spec and the device's register
 * table on purpose, not imported from the model.
 */
import type { GuestPlatform } from '../../../host/src/guest/vtd-driver.js';

/** ECAM base of the machine (q35 MCFG). */
export const ECAM = 0xb000_0000n;
/** PCIe extended capability ids: PRI 0x13, PASID 0x1B. */
const EXT_PRI = 0x13;
const EXT_PASID = 0x1b;

/** DMA test device BAR0 registers (device regs.ts table). */
export const DMAT = { IOVA: 0x08, LEN: 0x10, CMD: 0x14, STATUS: 0x18, BUF_OFF: 0x1c, PASID: 0x24, BUFFER: 0x1000 } as const;
/** DMA test commands and STATUS states. */
export const CMD = { READ: 1, WRITE: 2 } as const;
export const STATE = { DONE: 1, FAULT: 2, PAGE_WAIT: 4 } as const;
/** PRI status bits (PCIe §10.5.2.3). */
export const PRI_STS = { RF: 1, UPRGI: 2, STOPPED: 1 << 8 } as const;

/** One PCI function as the guest sees it. */
export class GuestPciFunction {
  readonly bar0: bigint;

  constructor(private readonly p: GuestPlatform, readonly rid: number) {
    const lo = this.cfgRead(0x10, 4);
    const is64 = ((lo >> 1n) & 3n) === 2n;
    this.bar0 = (lo & ~0xfn) | (is64 ? this.cfgRead(0x14, 4) << 32n : 0n);
  }

  private cfgAddr(off: number): bigint {
    return ECAM + (BigInt(this.rid) << 12n) + BigInt(off);
  }
  cfgRead(off: number, size: 1 | 2 | 4): bigint {
    return this.p.mmioRead(this.cfgAddr(off), size as 4);
  }
  cfgWrite(off: number, size: 1 | 2 | 4, v: number): void {
    this.p.mmioWrite(this.cfgAddr(off), size as 4, BigInt(v >>> 0));
  }

  /** Offset of extended capability `id`, walking the list from 0x100 (0 when absent). */
  extCap(id: number): number {
    let off = 0x100;
    for (let n = 0; n < 64 && off >= 0x100; n++) {
      const hdr = Number(this.cfgRead(off, 4));
      if ((hdr & 0xffff) === id) return off;
      off = hdr >>> 20;
    }
    return 0;
  }

  /** PASID Enable (+6 bit 0) with privileged / execute enables as asked. */
  enablePasid(o: { priv?: boolean; exec?: boolean } = {}): void {
    const at = this.extCap(EXT_PASID);
    this.cfgWrite(at + 6, 2, 1 | (o.exec ? 2 : 0) | (o.priv ? 4 : 0));
  }

  /** Linux pci_enable_pri: allocation (+0xC) = min(capacity, reqs), then Enable (+4 bit 0). */
  enablePri(reqs: number): void {
    const at = this.extCap(EXT_PRI);
    const capacity = Number(this.cfgRead(at + 8, 4));
    this.cfgWrite(at + 0xc, 4, Math.min(capacity, reqs));
    this.cfgWrite(at + 4, 2, 1);
  }

  /** Disables PRI and resets it (Reset acts only while Enable is clear). */
  resetPri(): void {
    const at = this.extCap(EXT_PRI);
    this.cfgWrite(at + 4, 2, 0);
    this.cfgWrite(at + 4, 2, 2);
  }

  /** PRI status register. */
  priStatus(): number {
    return Number(this.cfgRead(this.extCap(EXT_PRI) + 6, 2));
  }

  bar(off: number, size: 4 | 8 = 4): bigint {
    return this.p.mmioRead(this.bar0 + BigInt(off), size);
  }
  setBar(off: number, v: bigint, size: 4 | 8 = 4): void {
    this.p.mmioWrite(this.bar0 + BigInt(off), size, v);
  }
}

/** The DMA test device driven through BAR0. */
export class GuestDmaTest extends GuestPciFunction {
  /** Starts a command: PASID register (PV | pasid), IOVA, LEN, BUF_OFF, then the doorbell. Returns STATUS. */
  start(cmd: number, iova: bigint, len: number, pasid?: number, bufOff = 0): number {
    this.setBar(DMAT.PASID, pasid === undefined ? 0n : 0x8000_0000n | BigInt(pasid));
    this.setBar(DMAT.IOVA, iova, 8);
    this.setBar(DMAT.LEN, BigInt(len));
    this.setBar(DMAT.BUF_OFF, BigInt(bufOff));
    this.setBar(DMAT.CMD, BigInt(cmd));
    return this.status();
  }

  /** STATUS: state in 2:0, fault reason in 15:8. */
  status(): number {
    return Number(this.bar(DMAT.STATUS));
  }

  /** Fills the device buffer at `off` with `bytes` through the BAR window. */
  fillBuffer(off: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i += 4) {
      const v = (bytes[i] ?? 0) | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24);
      this.setBar(DMAT.BUFFER + off + i, BigInt(v >>> 0));
    }
  }

  /** Reads `len` bytes of the device buffer at `off` through the BAR window. */
  readBuffer(off: number, len: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < len; i += 4) {
      const v = Number(this.bar(DMAT.BUFFER + off + i));
      for (let b = 0; b < 4 && i + b < len; b++) out.push((v >>> (8 * b)) & 0xff);
    }
    return out;
  }
}
