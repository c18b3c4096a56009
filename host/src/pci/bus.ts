/**
 * A minimal PCI bus: functions by requester id (bus 0 for now), their
 * configuration spaces, and memory-BAR decoding. Enough for devices to have
 * requester ids and registers; bridges, ECAM and hot-plug come with the full
 * PCI model.
 */
import { formatBdf, type Sid } from '../types.js';
import type { ConfigSpace } from './config-space.js';

/** A function on the bus. */
export interface PciFunction {
  /** Requester id (bus << 8 | dev << 3 | fn). */
  readonly sid: Sid;
  readonly config: ConfigSpace;
  /** BAR0 MMIO read at `offset` (size 4 or 8). */
  barRead(offset: number, size: number): bigint;
  /** BAR0 MMIO write at `offset` (size 4 or 8). */
  barWrite(offset: number, size: number, value: bigint): void;
}

/** Slots the chipset owns on bus 0 (host bridge 00, LPC/ISA bridge 1F). */
export const RESERVED_SLOTS: readonly number[] = [0x00, 0x1f];

/** Bus 0 and its functions. */
export class PciBus {
  private readonly functions = new Map<number, PciFunction>();

  /** Adds a function; throws naming `sid` if the slot is taken or reserved. */
  attach(fn: PciFunction): void {
    const slot = (fn.sid >> 3) & 0x1f;
    if (fn.sid >> 8 !== 0) throw new Error(`sid: ${formatBdf(fn.sid)} is not on bus 0`);
    if (RESERVED_SLOTS.includes(slot)) throw new Error(`sid: slot ${formatBdf(fn.sid)} belongs to the chipset`);
    if (this.functions.has(fn.sid)) throw new Error(`sid: ${formatBdf(fn.sid)} is already in use`);
    this.functions.set(fn.sid, fn);
  }

  /** The function with that requester id, if any. */
  get(sid: number): PciFunction | undefined {
    return this.functions.get(sid);
  }

  /** Every function, in requester-id order. */
  list(): PciFunction[] {
    return [...this.functions.values()].sort((a, b) => a.sid - b.sid);
  }

  /** Config read; an absent function reads all-ones (master abort). */
  configRead(sid: number, offset: number, size: number): number {
    const fn = this.functions.get(sid);
    return fn ? fn.config.read(offset, size) : size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
  }

  /** Config write; ignored for an absent function. */
  configWrite(sid: number, offset: number, size: number, value: number): void {
    this.functions.get(sid)?.config.write(offset, size, value);
  }

  /** The function whose enabled BAR0 covers `addr`, with the offset into it. */
  decode(addr: bigint): { fn: PciFunction; offset: number } | undefined {
    for (const fn of this.functions.values()) {
      const size = fn.config.identity.bar0Size;
      const base = BigInt(fn.config.bar0());
      if (!size || !fn.config.memoryEnabled() || base === 0n) continue;
      if (addr >= base && addr < base + BigInt(size)) return { fn, offset: Number(addr - base) };
    }
    return undefined;
  }
}
