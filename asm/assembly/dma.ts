// Device buffers and DMA through the unit: translate page by page, then copy
// between guest RAM and a device buffer through the guest-memory port.
// Buffers are 4 KiB-granular allocations from the state region marked in a
// page bitmap, so a host-supplied buffer offset can never name other core
// state (nor guest RAM, which lies outside the state region).

import { ACC_WRITE, ERR_BAD_ARG, OUT_ADDR_HI, OUT_ADDR_LO, OUT_PAGE_LG2, QUIRK_DMA_PER_TRANSLATION, QUIRK_UNASSIGNED_READS_ZERO } from './abi/layout';
import { quirk } from './cfg';
import { heapAlloc, stateBase, stateLimit } from './mem/heap';
import { ramOffset } from './mem/ram';
import { outGet, outSet } from './out';
import { translate } from './translate';
import { armTranslate } from './pt/arm-translate';

// One bit per 4 KiB page of the state region (at most 2^20 pages in 4 GiB).
let bufPages: usize = 0;

/** Allocate the buffer-page bitmap (once, at instantiation). Returns false
 *  when the state region cannot hold it. */
export function bufInit(): bool {
  bufPages = heapAlloc(((stateLimit() - stateBase()) >> 15) + 1, 64);
  return bufPages != 0;
}

// @ts-ignore: decorator
@inline function pageBit(p: u32): u32 { return <u32>load<u8>(bufPages + (p >> 3)) & (<u32>1 << (p & 7)); }

/** Reserve a device buffer of `size` bytes (4 KiB granular, zeroed).
 *  Returns its offset, or 0 when memory cannot hold it. */
export function bufAlloc(size: u32): u32 {
  if (size == 0) return 0;
  const bytes = (<u64>size + 0xfff) & ~(<u64>0xfff);
  const off = heapAlloc(bytes, 4096);
  if (off == 0) return 0;
  const first = <u32>((<u64>off - stateBase()) >> 12);
  for (let p = first; p < first + <u32>(bytes >> 12); p++) {
    store<u8>(bufPages + (p >> 3), load<u8>(bufPages + (p >> 3)) | <u8>(<u32>1 << (p & 7)));
  }
  return <u32>off;
}

/** Whether [off, off+len) lies inside device buffers. */
export function bufValid(off: u32, len: u32): bool {
  if (len == 0) return true;
  const last = <u64>off + len - 1;
  if (<u64>off < stateBase() || last >= stateLimit()) return false;
  for (let p = <u32>((<u64>off - stateBase()) >> 12); p <= <u32>((last - stateBase()) >> 12); p++) {
    if (pageBit(p) == 0) return false;
  }
  return true;
}

/** Translate [iova, iova+len) page by page (QUIRK_DMA_PER_TRANSLATION: one
 *  translation per translated page, large pages included) and copy guest RAM
 *  -> buffer (read) or buffer -> guest RAM (ACC_WRITE). Returns 0 or the
 *  first fault (out-buffer describes it), or ERR_BAD_ARG (as u32) for a bad
 *  buffer.
 *  A translated address outside RAM reads as 0xFF (QUIRK_UNASSIGNED_READS_ZERO:
 *  0) and drops writes (a master abort, not an IOMMU fault). */
export function dmaCopy(sid: u32, pasid: u32, iova: u64, len: u32, access: u32, bufOff: u32): u32 {
  if (!bufValid(bufOff, len)) return <u32>ERR_BAD_ARG;
  return copyVia(VIA_VTD, sid, pasid, iova, len, access, bufOff);
}

/** As dmaCopy, translated by the SMMUv3 front end through the setup record
 *  at `su` (pt/arm-translate.ts); the caller validated setup and buffer.
 *  Returns 0 or the first fault's SMMU event number. */
export function armDmaCopy(su: u32, iova: u64, len: u32, access: u32, bufOff: u32): u32 {
  return copyVia(VIA_ARM, su, 0, iova, len, access, bufOff);
}

// Which front end translates a DMA's pages (a constant at each call site,
// so the branch folds away).
const VIA_VTD: u32 = 0;
const VIA_ARM: u32 = 1;

// The one DMA loop of both front ends: (a, b) are (sid, pasid) for VT-d,
// (setup record, 0) for the SMMU.
// @ts-ignore: decorator
@inline function copyVia(via: u32, a: u32, b: u32, iova: u64, len: u32, access: u32, bufOff: u32): u32 {
  let done: u32 = 0;
  let firstLo: u32 = 0;
  let firstHi: u32 = 0;
  const perTranslation = quirk(QUIRK_DMA_PER_TRANSLATION);
  while (done < len) {
    const cur = iova + done;
    const fr = via == VIA_ARM ? armTranslate(<usize>a, cur, access) : translate(a, b, cur, access);
    if (fr != 0) return fr;
    if (done == 0) { firstLo = outGet(OUT_ADDR_LO); firstHi = outGet(OUT_ADDR_HI); }
    const addr = (<u64>outGet(OUT_ADDR_HI) << 32) | outGet(OUT_ADDR_LO);
    const size = <u64>1 << (perTranslation ? outGet(OUT_PAGE_LG2) : 12);
    const pageLeft = size - (cur & (size - 1));
    const chunk = <u64>(len - done) < pageLeft ? len - done : <u32>pageLeft;
    const off = ramOffset(addr, chunk);
    const buf = <usize>(bufOff + done);
    if ((access & ACC_WRITE) != 0) {
      if (off >= 0) memory.copy(<usize>off, buf, chunk);
    } else if (off >= 0) {
      memory.copy(buf, <usize>off, chunk);
    } else {
      memory.fill(buf, quirk(QUIRK_UNASSIGNED_READS_ZERO) ? 0 : 0xff, chunk);
    }
    done += chunk;
  }
  outSet(OUT_ADDR_LO, firstLo);
  outSet(OUT_ADDR_HI, firstHi);
  return 0;
}
