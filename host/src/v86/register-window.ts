/**
 * The VT-d register block in v86's physical address space. v86 routes
 * physical accesses in 128 KiB blocks (`cpu.io.mmap_register`), so the unit at
 * 0xFED90000 (q35's DMAR base) claims the block 0xFED80000-0xFED9FFFF; nothing
 * else of v86 lives there. Linux on i386 accesses the 64-bit registers as two
 * 32-bit accesses, low dword first (`lo_hi_readq` / `lo_hi_writeq`), which is
 * what the unit expects (VT-d §10.2: software may access 64-bit registers as
 * two aligned 32-bit accesses).
 */
import type { V86Io } from './v86-types.js';

/** v86's routing granularity (src/const.js MMAP_BLOCK_SIZE). */
export const MMAP_BLOCK_SIZE = 0x2_0000;

/** The unit's 4 KiB register page; accesses past the profile's block are the unit's to answer. */
export const REGISTER_PAGE = 0x1000;

/** The 32-bit register accesses the window forwards. */
export interface RegisterBlock {
  /** A 32-bit read at byte `offset` (aligned). */
  read32(offset: number): number;
  /** A 32-bit write at byte `offset` (aligned). */
  write32(offset: number, value: number): void;
}

/** Counters of the accesses the window saw. */
export interface WindowCounters {
  /** 32-bit reads forwarded to the unit. */
  reads: number;
  /** 32-bit writes forwarded to the unit. */
  writes: number;
  /** Accesses dropped: outside the register page, unaligned, or 8/16-bit writes. */
  dropped: number;
}

/**
 * Maps `block` at physical `base` into v86; the rest of the 128 KiB routing
 * block reads all-ones, like an empty bus. Byte reads (and the two byte
 * reads v86 makes of a 16-bit read) return the byte of the aligned dword
 * (register reads have no side effects); byte writes are dropped and logged,
 * as the spec allows only 32- and 64-bit accesses. Returns the live counters.
 */
export function mapRegisterWindow(io: V86Io, base: number, block: RegisterBlock, log: (msg: string) => void): WindowCounters {
  if (!Number.isInteger(base) || base < 0 || base > 0xffff_f000 || base % 0x1000 !== 0) {
    throw new Error(`base: 0x${base.toString(16)} is not a 4 KiB-aligned 32-bit physical address`);
  }
  const counters: WindowCounters = { reads: 0, writes: 0, dropped: 0 };
  const blockBase = base - (base % MMAP_BLOCK_SIZE);
  const offsetOf = (addr: number): number => {
    const off = (addr >>> 0) - base;
    return off >= 0 && off < REGISTER_PAGE ? off : -1;
  };
  const read32 = (addr: number): number => {
    const off = offsetOf(addr);
    if (off < 0 || off % 4 !== 0) {
      counters.dropped++;
      return -1;
    }
    counters.reads++;
    return block.read32(off) | 0;
  };
  const write32 = (addr: number, value: number): void => {
    const off = offsetOf(addr);
    if (off < 0 || off % 4 !== 0) {
      counters.dropped++;
      log(`v86: ${off < 0 ? 'unclaimed' : 'unaligned'} 32-bit write at 0x${(addr >>> 0).toString(16)} dropped`);
      return;
    }
    counters.writes++;
    block.write32(off, value >>> 0);
  };
  const read8 = (addr: number): number => {
    const a = addr >>> 0;
    const off = offsetOf(a);
    if (off < 0) return 0xff;
    return (block.read32(off - (off % 4)) >>> (8 * (off % 4))) & 0xff;
  };
  const write8 = (addr: number): void => {
    counters.dropped++;
    log(`v86: byte write at 0x${(addr >>> 0).toString(16)} dropped (VT-d registers take 32- and 64-bit accesses)`);
  };
  io.mmap_register(blockBase, MMAP_BLOCK_SIZE, read8, write8, read32, write32);
  return counters;
}
