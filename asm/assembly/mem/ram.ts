// The one guest-memory port (STYLE 5): the guest RAM regions and every
// guest-physical access of the core, bounds-checked. A region is a range of
// guest-physical addresses backed by bytes of linear memory: carved from the
// state region by the core (ramAdd, standalone) or placed by the embedder
// over its own RAM (ramMap). No region overlaps the core's state region, so
// an access through a region never reads or writes core state; an access
// outside every region is a value (`RAM_MISS`), never a trap.

import {
  ERR_BAD_ARG, ERR_NO_MEMORY, ERR_OUTSIDE, ERR_OVERLAP, ERR_STATE, ERR_TOO_LARGE, ERR_TOO_MANY, ERR_UNALIGNED, MAX_RAM_REGIONS,
} from '../abi/layout';
import { heapAlloc, heapRemaining, MAX_BYTES, stateBase, stateLimit } from './heap';

/** The result of `ramOffset` for an address outside guest RAM. */
export const RAM_MISS: i64 = -1;

// Region table: per region u64 base GPA, u64 size, u64 linear offset.
const R_BASE = 0;
const R_SIZE = 8;
const R_OFF = 16;
const R_BYTES: u32 = 24;
let regions: usize = 0;
let regionCount: u32 = 0;
// The region of the last hit, as plain globals: the common access costs no
// table load. hitSize = 0 matches nothing.
let hitBase: u64 = 0;
let hitSize: u64 = 0;
let hitOff: u64 = 0;

/** Allocate the region table (once, at instantiation). Returns false when
 *  the state region cannot hold it. */
export function ramInit(): bool {
  regions = heapAlloc(<u64>MAX_RAM_REGIONS * R_BYTES, 64);
  return regions != 0;
}

// @ts-ignore: decorator
@inline function entry(i: u32): usize { return regions + <usize>(i * R_BYTES); }

// Checks shared by ramAdd and ramMap: a whole, aligned, free GPA range.
function checkGpaRange(baseGpa: f64, size: f64): i32 {
  if (!(baseGpa >= 0) || !(size > 0) || baseGpa != Math.floor(baseGpa) || size != Math.floor(size) ||
      baseGpa + size > 9007199254740992.0) return ERR_BAD_ARG;
  const b = <u64>baseGpa;
  const bytes = <u64>size;
  if ((b & 0xfff) != 0 || (bytes & 0xfff) != 0) return ERR_UNALIGNED;
  if (regionCount >= MAX_RAM_REGIONS) return ERR_TOO_MANY;
  for (let i: u32 = 0; i < regionCount; i++) {
    const rb = load<u64>(entry(i), R_BASE);
    if (b < rb + load<u64>(entry(i), R_SIZE) && rb < b + bytes) return ERR_OVERLAP;
  }
  return 0;
}

function append(b: u64, bytes: u64, off: u64): i32 {
  const i = regionCount++;
  store<u64>(entry(i), b, R_BASE);
  store<u64>(entry(i), bytes, R_SIZE);
  store<u64>(entry(i), off, R_OFF);
  return <i32>i;
}

/** Add a RAM region [baseGpa, baseGpa+size) carved from the state region
 *  (4 KiB aligned, non-empty, no overlap). Returns its index or a negative
 *  ERR_*. */
export function ramAdd(baseGpa: f64, size: f64): i32 {
  const fr = checkGpaRange(baseGpa, size);
  if (fr != 0) return fr;
  const bytes = <u64>size;
  if (bytes > heapRemaining()) return ERR_TOO_LARGE;
  const off = heapAlloc(bytes, 4096);
  if (off == 0) return ERR_NO_MEMORY;
  return append(<u64>baseGpa, bytes, <u64>off);
}

/** Add a RAM region [baseGpa, baseGpa+size) backed by the embedder's bytes
 *  [memOffset, memOffset+size) of linear memory: inside memory now (it only
 *  grows), and outside the state region (a growing state region reaches to
 *  4 GiB, so then only below stateBase). Returns its index or a negative
 *  ERR_*. */
export function ramMap(baseGpa: f64, size: f64, memOffset: f64): i32 {
  const fr = checkGpaRange(baseGpa, size);
  if (fr != 0) return fr;
  if (!(memOffset >= 0) || memOffset != Math.floor(memOffset) || memOffset >= <f64>MAX_BYTES) return ERR_BAD_ARG;
  const off = <u64>memOffset;
  const bytes = <u64>size;
  if (off + bytes > (<u64>memory.size() << 16)) return ERR_OUTSIDE;
  if (off < stateLimit() && stateBase() < off + bytes) return ERR_STATE;
  return append(<u64>baseGpa, bytes, off);
}

/** Number of RAM regions. */
export function ramCount(): u32 { return regionCount; }
/** Guest-physical base of region i (0 if none). */
export function ramBase(i: u32): u64 { return i < regionCount ? load<u64>(entry(i), R_BASE) : 0; }
/** Size of region i in bytes (0 if none). */
export function ramSize(i: u32): u64 { return i < regionCount ? load<u64>(entry(i), R_SIZE) : 0; }
/** Linear-memory offset of region i (0 if none). */
export function ramOff(i: u32): u64 { return i < regionCount ? load<u64>(entry(i), R_OFF) : 0; }

/** The linear-memory offset of [gpa, gpa+len) if it lies inside one region,
 *  else RAM_MISS. len >= 1. */
// @ts-ignore: decorator
@inline export function ramOffset(gpa: u64, len: u64): i64 {
  const rel = gpa - hitBase;
  // (One branch: the three tests as bits, not an && chain.)
  if ((<u32>(gpa >= hitBase) & <u32>(rel < hitSize) & <u32>(len <= hitSize - rel)) != 0) return <i64>(hitOff + rel);
  return ramOffsetSearch(gpa, len);
}

// ramOffset past the last region hit: search every region.
function ramOffsetSearch(gpa: u64, len: u64): i64 {
  for (let i: u32 = 0; i < regionCount; i++) {
    const e = entry(i);
    const b = load<u64>(e, R_BASE);
    const size = load<u64>(e, R_SIZE);
    const rel = gpa - b;
    if ((<u32>(gpa >= b) & <u32>(rel < size) & <u32>(len <= size - rel)) != 0) {
      hitBase = b;
      hitSize = size;
      hitOff = load<u64>(e, R_OFF);
      return <i64>(hitOff + rel);
    }
  }
  return RAM_MISS;
}
