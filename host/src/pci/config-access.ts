/**
 * The two ways a guest reaches configuration space: the memory-mapped ECAM
 * window (PCIe §7.2.2: bus 27:20, device 19:15, function 14:12, register
 * 11:0 of the offset) and the legacy port pair CONFIG_ADDRESS 0xCF8 /
 * CONFIG_DATA 0xCFC-0xCFF (PCI 3.0 §3.2.2.3.2: enable 31, bus 23:16,
 * device 15:11, function 10:8, register 7:2).
 */
import type { PciBus } from './bus.js';

/** ECAM window size for 256 buses. */
export const ECAM_SIZE = 0x1000_0000n;
/** CONFIG_ADDRESS port. */
export const PORT_CONFIG_ADDRESS = 0xcf8;
/** First CONFIG_DATA port. */
export const PORT_CONFIG_DATA = 0xcfc;

const ones = (size: number): number => (size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1);

/** Configuration access mechanisms over a bus. */
export class ConfigAccess {
  private address = 0;

  /** Configuration accesses to the functions of `bus`. */
  constructor(private readonly bus: PciBus) {}

  /** ECAM read at `offset` into the window (1, 2 or 4 bytes; 8 splits in two). */
  ecamRead(offset: number, size: number): bigint {
    if (size === 8) return this.ecamRead(offset, 4) | (this.ecamRead(offset + 4, 4) << 32n);
    const { sid, reg } = ecamDecode(offset);
    return BigInt(this.bus.configRead(sid, reg, size));
  }

  /** ECAM write at `offset` into the window. */
  ecamWrite(offset: number, size: number, value: bigint): void {
    if (size === 8) {
      this.ecamWrite(offset, 4, value & 0xffff_ffffn);
      this.ecamWrite(offset + 4, 4, value >> 32n);
      return;
    }
    const { sid, reg } = ecamDecode(offset);
    this.bus.configWrite(sid, reg, size, Number(value & 0xffff_ffffn));
  }

  /** Port read: 0xCF8 (4 bytes) or 0xCFC-0xCFF; undefined when the port is not ours. */
  ioRead(port: number, size: number): number | undefined {
    if (port === PORT_CONFIG_ADDRESS && size === 4) return this.address;
    const at = this.dataTarget(port, size);
    if (at === undefined) return undefined;
    return at === null ? ones(size) : this.bus.configRead(at.sid, at.reg, size);
  }

  /** Port write; returns false when the port is not ours. */
  ioWrite(port: number, size: number, value: number): boolean {
    if (port === PORT_CONFIG_ADDRESS && size === 4) {
      this.address = (value & 0x80ff_fffc) >>> 0;
      return true;
    }
    const at = this.dataTarget(port, size);
    if (at === undefined) return false;
    if (at) this.bus.configWrite(at.sid, at.reg, size, value);
    return true;
  }

  /** CONFIG_ADDRESS value (snapshots). */
  latch(): number {
    return this.address;
  }

  /** Restores CONFIG_ADDRESS. */
  setLatch(v: number): void {
    this.address = (v & 0x80ff_fffc) >>> 0;
  }

  /** Target of a data-port access; null when CONFIG_ADDRESS.Enable is clear; undefined when not a data port. */
  private dataTarget(port: number, size: number): { sid: number; reg: number } | null | undefined {
    const k = port - PORT_CONFIG_DATA;
    if (k < 0 || k > 3 || ![1, 2, 4].includes(size) || k % size !== 0) return undefined;
    if ((this.address & 0x8000_0000) === 0) return null;
    return { sid: (this.address >>> 8) & 0xffff, reg: (this.address & 0xfc) + k };
  }
}

function ecamDecode(offset: number): { sid: number; reg: number } {
  return { sid: (offset >>> 12) & 0xffff, reg: offset & 0xfff };
}
