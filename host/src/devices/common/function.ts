/**
 * The PCI plumbing every model device shares: configuration space with the
 * PCI Express capability, MSI or MSI-X, and optionally ATS, PASID and PRI
 * (with the PRI engine); request attributes from a device's PASID register
 * checked against the PASID capability; the BAR window onto a device buffer.
 */
import { AtsCap, MsiCap, MsixCap, PasidCap, PriCap, addPcieCap, PCIE_PORT_TYPE } from '../../pci/capabilities.js';
import { ConfigSpace, type PciIdentity } from '../../pci/config-space.js';
import type { DmaAttrs, DmaPort } from '../../pci/dma-port.js';
import { FunctionInterrupts, MsixTable, type DeviceMsiSink } from '../../pci/msi.js';
import { PriEngine } from './pri-engine.js';
import type { Sid } from '../../types.js';

/** Capabilities of a device function. */
export interface FunctionCaps {
  /** log2 of the MSI vectors (MSI capability), when the device has MSI. */
  readonly msiVectorsLg2?: number;
  /** MSI-X: vectors, table and PBA offsets in BAR0. */
  readonly msix?: { readonly vectors: number; readonly table: number; readonly pba: number };
  /** ATS capability (device-TLB). */
  readonly ats?: boolean;
  /** PASID capability: max PASID width, execute and privileged modes. */
  readonly pasid?: { readonly width: number; readonly exec: boolean; readonly priv: boolean };
  /** PRI with this Outstanding Page Request Capacity. */
  readonly priCapacity?: number;
}

/** Shared device state: config space, capabilities, interrupts, PRI engine. */
export class DeviceFunction {
  /** Configuration space. */
  readonly config: ConfigSpace;
  /** MSI / MSI-X. */
  readonly irq: FunctionInterrupts;
  /** ATS capability, when present. */
  readonly ats?: AtsCap;
  /** PASID capability, when present. */
  readonly pasid?: PasidCap;
  /** Page-request engine (PRI capability), when present. */
  readonly pri?: PriEngine;
  /** Where MSIs go (the machine sets it). */
  msiSink?: DeviceMsiSink;

  /**
   * Builds the function's configuration space and capabilities.
   * @param sid Requester id (bus << 8 | devfn).
   */
  constructor(readonly sid: Sid, identity: PciIdentity, caps: FunctionCaps, port: DmaPort, log: (m: string) => void = () => {}) {
    const c = new ConfigSpace(identity);
    this.config = c;
    addPcieCap(c, PCIE_PORT_TYPE.ENDPOINT);
    const msi = caps.msiVectorsLg2 !== undefined ? new MsiCap(c, caps.msiVectorsLg2) : undefined;
    const msix = caps.msix ? new MsixTable(new MsixCap(c, caps.msix.vectors, 0, caps.msix.table, caps.msix.pba)) : undefined;
    this.irq = new FunctionInterrupts(sid, c, () => this.msiSink, msi, msix);
    if (caps.ats) this.ats = new AtsCap(c);
    if (caps.pasid) this.pasid = new PasidCap(c, caps.pasid.width, caps.pasid.exec, caps.pasid.priv);
    if (caps.priCapacity !== undefined) {
      let engine: PriEngine | undefined;
      const cap = new PriCap(c, caps.priCapacity, (reset) => engine?.onControl(reset));
      engine = new PriEngine(sid, cap, port, log);
      this.pri = engine;
    }
    c.markPowerOn();
  }

  /**
   * Attributes for a request with `pasidReg` (bit 31 PASID valid, 30
   * privileged, 29 execute, 19:0 PASID), or a reason string when the PASID
   * capability does not allow them. Without PV the request has no PASID.
   */
  attrs(pasidReg: number, exec = false): DmaAttrs | string {
    const pageRequest = this.pri?.usable() ?? false;
    if ((pasidReg & PASID_REG.PV) === 0) return { pageRequest };
    const cap = this.pasid;
    const pasid = pasidReg & PASID_REG.PASID_MASK;
    if (!cap?.enabled()) return 'PASID-tagged request while the PASID capability is not enabled';
    if (!cap.fits(pasid)) return `PASID ${pasid} exceeds the Max PASID Width ${cap.maxWidth}`;
    const priv = (pasidReg & PASID_REG.PRIV) !== 0;
    const x = exec || (pasidReg & PASID_REG.EXEC) !== 0;
    if (priv && !cap.privEnabled()) return 'privileged request while Privileged Mode Enable is clear';
    if (x && !cap.execEnabled()) return 'execute request while Execute Permission Enable is clear';
    return { pasid, priv, exec: x, pageRequest };
  }

  /** Back to power-on state: configuration space, MSI-X table, PRI groups. */
  reset(): void {
    this.config.resetToPowerOn();
    this.irq.msix?.reset();
    this.pri?.reset();
  }
}

/** Bits of the devices' PASID register. */
export const PASID_REG = { PV: 0x8000_0000, PRIV: 0x4000_0000, EXEC: 0x2000_0000, PASID_MASK: 0xf_ffff } as const;

/** Little-endian read of `size` bytes at `off` of `b` (bytes past the end read 0). */
export function readLe(b: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i] ?? 0);
  return v;
}

/** Little-endian write of `size` bytes at `off` of `b` (bytes past the end are dropped). */
export function writeLe(b: Uint8Array, off: number, size: number, value: bigint): void {
  for (let i = 0; i < size && off + i < b.length; i++) b[off + i] = Number((value >> BigInt(8 * i)) & 0xffn);
}
