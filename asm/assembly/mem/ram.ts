// The one guest-memory port (STYLE 5): guest RAM regions carved from linear
// memory, and every guest-physical access of the core, bounds-checked. An
// access outside every region is a value (`RAM_MISS`), never a trap and never
// a read or write of core state.

import { ERR_BAD_ARG, ERR_NO_MEMORY, ERR_OVERLAP, ERR_TOO_LARGE, ERR_TOO_MANY, ERR_UNALIGNED, MAX_RAM_REGIONS } from '../abi/layout';
import { heapAlloc, heapRemaining } from './heap';

/** The result of `ramOffset` for an address outside guest RAM. */
export const RAM_MISS: i64 = -1;

const regionBase = memory.data(<i32>MAX_RAM_REGIONS * 8);
const regionSize = memory.data(<i32>MAX_RAM_REGIONS * 8);
const regionOff = memory.data(<i32>MAX_RAM_REGIONS * 8);
let regionCount: u32 = 0;
let lastHit: u32 = 0;

/** Add a RAM region [baseGpa, baseGpa+size) (4 KiB aligned, non-empty, no
 *  overlap). Returns its index or a negative ERR_*. */
export function ramAdd(baseGpa: f64, size: f64): i32 {
  if (!(baseGpa >= 0) || !(size > 0) || baseGpa != Math.floor(baseGpa) || size != Math.floor(size) ||
      baseGpa + size > 9007199254740992.0) return ERR_BAD_ARG;
  const base = <u64>baseGpa;
  const bytes = <u64>size;
  if ((base & 0xfff) != 0 || (bytes & 0xfff) != 0) return ERR_UNALIGNED;
  if (regionCount >= MAX_RAM_REGIONS) return ERR_TOO_MANY;
  for (let i: u32 = 0; i < regionCount; i++) {
    const b = load<u64>(regionBase + (i << 3));
    const s = load<u64>(regionSize + (i << 3));
    if (base < b + s && b < base + bytes) return ERR_OVERLAP;
  }
  if (bytes > heapRemaining()) return ERR_TOO_LARGE;
  const off = heapAlloc(bytes, 4096);
  if (off == 0) return ERR_NO_MEMORY;
  const i = regionCount++;
  store<u64>(regionBase + (i << 3), base);
  store<u64>(regionSize + (i << 3), bytes);
  store<u64>(regionOff + (i << 3), <u64>off);
  return <i32>i;
}

/** Number of RAM regions. */
export function ramCount(): u32 { return regionCount; }
/** Guest-physical base of region i (0 if none). */
export function ramBase(i: u32): u64 { return i < regionCount ? load<u64>(regionBase + (i << 3)) : 0; }
/** Size of region i in bytes (0 if none). */
export function ramSize(i: u32): u64 { return i < regionCount ? load<u64>(regionSize + (i << 3)) : 0; }
/** Linear-memory offset of region i (0 if none). */
export function ramOff(i: u32): u64 { return i < regionCount ? load<u64>(regionOff + (i << 3)) : 0; }

/** The linear-memory offset of [gpa, gpa+len) if it lies inside one region,
 *  else RAM_MISS. len >= 1. */
// @ts-ignore: decorator
@inline export function ramOffset(gpa: u64, len: u64): i64 {
  const i = lastHit;
  if (i < regionCount && inRegion(i, gpa, len)) return regionByte(i, gpa);
  return ramOffsetSearch(gpa, len);
}

// ramOffset past the last region hit: search every region.
function ramOffsetSearch(gpa: u64, len: u64): i64 {
  for (let i: u32 = 0; i < regionCount; i++) {
    if (inRegion(i, gpa, len)) {
      lastHit = i;
      return regionByte(i, gpa);
    }
  }
  return RAM_MISS;
}

// @ts-ignore: decorator
@inline function inRegion(i: u32, gpa: u64, len: u64): bool {
  const base = load<u64>(regionBase + (i << 3));
  const rel = gpa - base;
  const size = load<u64>(regionSize + (i << 3));
  // (One branch: the three tests as bits, not an && chain.)
  return (<u32>(gpa >= base) & <u32>(rel < size) & <u32>(len <= size - rel)) != 0;
}

// @ts-ignore: decorator
@inline function regionByte(i: u32, gpa: u64): i64 {
  return <i64>(load<u64>(regionOff + (i << 3)) + gpa - load<u64>(regionBase + (i << 3)));
}
