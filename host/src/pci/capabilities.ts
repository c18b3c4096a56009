/**
 * PCI capabilities the model's functions carry, each as a small view over
 * its bytes in the configuration space: the layout (offsets, bits, which
 * bits the guest may write) and accessors the device uses. No behaviour
 * beyond the registers; MSI delivery lives in msi.ts, the PRI engine in
 * devices/pri-engine.ts.
 *
 * Layouts: MSI PCI 3.0 §6.8.1; MSI-X §6.8.2; PCI Express capability PCIe
 * §7.5.3; ATS PCIe §10.5.1 (ext. cap 0x000F); PRI §10.5.2 (0x0013);
 * PASID §7.8.8 (0x001B).
 */
import type { ConfigSpace } from './config-space.js';
import type { Pasid } from '../types.js';

/** Capability ids (standard list). */
export const CAP_ID = { MSI: 0x05, PCIE: 0x10, MSIX: 0x11 } as const;
/** Extended capability ids. */
export const EXT_CAP_ID = { ATS: 0x000f, PRI: 0x0013, PASID: 0x001b } as const;

/** MSI capability, 64-bit address, optional per-vector masking (PCI 3.0 §6.8.1). */
export class MsiCap {
  /** Offset of Message Control in the capability. */
  static readonly CONTROL = 2;
  /** Offset of Message Address (low dword). */
  static readonly ADDR_LO = 4;
  /** Offset of Message Upper Address. */
  static readonly ADDR_HI = 8;
  /** Offset of Message Data. */
  static readonly DATA = 0xc;
  /** Offset of the Mask Bits. */
  static readonly MASK = 0x10;
  /** Offset of the Pending Bits. */
  static readonly PENDING = 0x14;
  /** Configuration-space offset of the capability. */
  readonly at: number;

  /** `vectorsLg2`: log2 of the vectors requested (Multiple Message Capable, 0..5). */
  constructor(private readonly cfg: ConfigSpace, vectorsLg2: number, perVectorMask = true) {
    if (!Number.isInteger(vectorsLg2) || vectorsLg2 < 0 || vectorsLg2 > 5) throw new Error(`vectorsLg2: ${vectorsLg2} is not in 0..5`);
    this.at = cfg.addCapability(CAP_ID.MSI, perVectorMask ? 0x18 : 0x10);
    cfg.poke(this.at + MsiCap.CONTROL, 2, (vectorsLg2 << 1) | (1 << 7) | (perVectorMask ? 1 << 8 : 0));
    cfg.setWritable(this.at + MsiCap.CONTROL, 2, 0x1 | (0x7 << 4));
    cfg.setWritable(this.at + MsiCap.ADDR_LO, 4, 0xffff_fffc);
    cfg.setWritable(this.at + MsiCap.ADDR_HI, 4, 0xffff_ffff);
    cfg.setWritable(this.at + MsiCap.DATA, 2, 0xffff);
    if (perVectorMask) cfg.setWritable(this.at + MsiCap.MASK, 4, (1 << (1 << vectorsLg2)) - 1);
  }

  /** MSI Enable. */
  enabled(): boolean {
    return (this.cfg.u16(this.at + MsiCap.CONTROL) & 1) !== 0;
  }

  /** Vectors the guest allocated (2^Multiple Message Enable, capped by what was requested). */
  vectors(): number {
    const c = this.cfg.u16(this.at + MsiCap.CONTROL);
    return 1 << Math.min((c >> 4) & 7, (c >> 1) & 7);
  }

  /** Message address as programmed. */
  address(): bigint {
    return (BigInt(this.cfg.u32(this.at + MsiCap.ADDR_HI)) << 32n) | BigInt(this.cfg.u32(this.at + MsiCap.ADDR_LO));
  }

  /** Message data as programmed (16 bits). */
  data(): number {
    return this.cfg.u16(this.at + MsiCap.DATA);
  }

  /** True when per-vector masking is on for `vector`. */
  masked(vector: number): boolean {
    const pvm = (this.cfg.u16(this.at + MsiCap.CONTROL) & (1 << 8)) !== 0;
    return pvm && ((this.cfg.u32(this.at + MsiCap.MASK) >>> vector) & 1) === 1;
  }

  /** Sets or clears the pending bit of `vector` (device side). */
  setPending(vector: number, on: boolean): void {
    const p = this.cfg.u32(this.at + MsiCap.PENDING);
    this.cfg.poke(this.at + MsiCap.PENDING, 4, on ? p | (1 << vector) : p & ~(1 << vector));
  }

  /** Pending bits (device side). */
  pending(): number {
    return this.cfg.u32(this.at + MsiCap.PENDING);
  }
}

/** MSI-X capability; the table and PBA live in a BAR (msi.ts `MsixTable`). */
export class MsixCap {
  /** Offset of Message Control in the capability. */
  static readonly CONTROL = 2;
  /** Configuration-space offset of the capability. */
  readonly at: number;

  /**
   * `vectors` table entries (1..2048) in BAR `bir` at `tableOffset`, PBA at `pbaOffset`.
   * @param vectors Number of MSI-X table entries.
   * @param bir BAR indicator of the table and the PBA.
   * @param tableOffset Byte offset of the table in that BAR.
   * @param pbaOffset Byte offset of the pending-bit array in that BAR.
   */
  constructor(private readonly cfg: ConfigSpace, readonly vectors: number, readonly bir: number, readonly tableOffset: number, readonly pbaOffset: number) {
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > 2048) throw new Error(`vectors: ${vectors} is not in 1..2048`);
    this.at = cfg.addCapability(CAP_ID.MSIX, 12);
    cfg.poke(this.at + 2, 2, vectors - 1);
    cfg.poke(this.at + 4, 4, tableOffset | bir);
    cfg.poke(this.at + 8, 4, pbaOffset | bir);
    cfg.setWritable(this.at + 2, 2, 0xc000);
  }

  /** MSI-X Enable. */
  enabled(): boolean {
    return (this.cfg.u16(this.at + 2) & 0x8000) !== 0;
  }

  /** Function Mask. */
  functionMasked(): boolean {
    return (this.cfg.u16(this.at + 2) & 0x4000) !== 0;
  }
}

/** PCI Express capability, version 2 (PCIe §7.5.3). */
export const PCIE_PORT_TYPE = { ENDPOINT: 0x0, ROOT_PORT: 0x4, INTEGRATED_ENDPOINT: 0x9 } as const;

/** Adds a PCI Express capability of `portType`; returns its offset. */
export function addPcieCap(cfg: ConfigSpace, portType: number): number {
  const at = cfg.addCapability(CAP_ID.PCIE, 0x3c);
  cfg.poke(at + 2, 2, 0x2 | (portType << 4));
  cfg.poke(at + 4, 4, 0x0000_0001); // Device Capabilities: max payload 256 bytes
  cfg.setWritable(at + 8, 2, 0x7fff); // Device Control
  cfg.setW1c(at + 0xa, 2, 0xf); // Device Status error bits
  return at;
}

/** ATS extended capability (PCIe §10.5.1). */
export class AtsCap {
  /** Configuration-space offset of the capability. */
  readonly at: number;

  /** `queueDepth`: Invalidate Queue Depth (0 means 32). */
  constructor(private readonly cfg: ConfigSpace, queueDepth = 0, globalInvalidate = true) {
    this.at = cfg.addExtCapability(EXT_CAP_ID.ATS, 1, 8);
    cfg.poke(this.at + 4, 2, (queueDepth & 0x1f) | (1 << 5) | (globalInvalidate ? 1 << 6 : 0));
    cfg.setWritable(this.at + 6, 2, 0x801f);
  }

  /** ATS Enable. */
  enabled(): boolean {
    return (this.cfg.u16(this.at + 6) & 0x8000) !== 0;
  }

  /** Smallest Translation Unit: translations cover at least 2^(12+STU) bytes. */
  stu(): number {
    return this.cfg.u16(this.at + 6) & 0x1f;
  }
}

/** PASID extended capability (PCIe §7.8.8). */
export class PasidCap {
  /** Configuration-space offset of the capability. */
  readonly at: number;

  /**
   * Adds the capability to `cfg`.
   * @param maxWidth Max PASID Width, 1..20 bits.
   * @param exec Execute Permission Supported.
   * @param priv Privileged Mode Supported.
   */
  constructor(private readonly cfg: ConfigSpace, readonly maxWidth: number, readonly exec: boolean, readonly priv: boolean) {
    if (!Number.isInteger(maxWidth) || maxWidth < 1 || maxWidth > 20) throw new Error(`maxWidth: ${maxWidth} is not in 1..20`);
    this.at = cfg.addExtCapability(EXT_CAP_ID.PASID, 1, 8);
    cfg.poke(this.at + 4, 2, (exec ? 1 << 1 : 0) | (priv ? 1 << 2 : 0) | (maxWidth << 8));
    cfg.setWritable(this.at + 6, 2, 0x1 | (exec ? 0x2 : 0) | (priv ? 0x4 : 0));
  }

  /** PASID Enable. */
  enabled(): boolean {
    return (this.cfg.u16(this.at + 6) & 1) !== 0;
  }

  /** Execute Permission Enable. */
  execEnabled(): boolean {
    return (this.cfg.u16(this.at + 6) & 2) !== 0;
  }

  /** Privileged Mode Enable. */
  privEnabled(): boolean {
    return (this.cfg.u16(this.at + 6) & 4) !== 0;
  }

  /** True when `pasid` fits the Max PASID Width. */
  fits(pasid: Pasid): boolean {
    return Number.isInteger(pasid) && pasid >= 0 && pasid < 2 ** this.maxWidth;
  }
}

/** PRI control / status bits (PCIe §10.5.2.2-3). */
export const PRI = {
  CTL_ENABLE: 1 << 0, CTL_RESET: 1 << 1,
  STS_RF: 1 << 0, STS_UPRGI: 1 << 1, STS_STOPPED: 1 << 8, STS_PASID_REQUIRED: 1 << 15,
} as const;

/** Page Request extended capability (PCIe §10.5.2). */
export class PriCap {
  readonly at: number;

  /** `capacity`: Outstanding Page Request Capacity (pages the device may have outstanding). */
  constructor(private readonly cfg: ConfigSpace, readonly capacity: number, onControl: (reset: boolean) => void) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity: ${capacity} is not a positive integer`);
    this.at = cfg.addExtCapability(EXT_CAP_ID.PRI, 1, 16);
    cfg.poke(this.at + 6, 2, PRI.STS_STOPPED | PRI.STS_PASID_REQUIRED);
    cfg.poke(this.at + 8, 4, capacity);
    cfg.setWritable(this.at + 4, 2, PRI.CTL_ENABLE | PRI.CTL_RESET);
    cfg.setW1c(this.at + 6, 2, PRI.STS_RF | PRI.STS_UPRGI);
    cfg.setWritable(this.at + 0xc, 4, 0xffff_ffff);
    cfg.onWrite(this.at + 4, 2, () => {
      const ctl = cfg.u16(this.at + 4);
      // §10.5.2.2: Reset is write-only (reads 0) and only acts while Enable is clear.
      const reset = (ctl & PRI.CTL_RESET) !== 0 && (ctl & PRI.CTL_ENABLE) === 0;
      cfg.poke(this.at + 4, 2, ctl & ~PRI.CTL_RESET);
      onControl(reset);
    });
  }

  /** PRI Enable. */
  enabled(): boolean {
    return (this.cfg.u16(this.at + 4) & PRI.CTL_ENABLE) !== 0;
  }

  /** Outstanding Page Request Allocation the guest granted. */
  allocation(): number {
    return this.cfg.u32(this.at + 0xc);
  }

  /** Status register (RF, UPRGI, Stopped, PRG Response PASID Required). */
  status(): number {
    return this.cfg.u16(this.at + 6);
  }

  /** Sets status bits (device side). */
  setStatus(bits: number, on: boolean): void {
    const s = this.status();
    this.cfg.poke(this.at + 6, 2, on ? s | bits : s & ~bits);
  }
}
