// Cache dumps (docs/ABI.md "Cache contents"): read-only listings of the live
// entries of a cache for embedders and the playground, off the hot path.
// Each cache's xxxDump(buf, first, max) walks every slot, counts the live
// entries and writes those with live index first .. first+max-1 as 32-byte
// records at `buf`; it returns the number of live entries. Nothing is
// changed: no counter, no LRU tick, no remembered hit.

/** Size of one dump record (every cache uses 32 bytes; layouts in ABI.md). */
export const DUMP_RECORD_BYTES: u32 = 32;

/** Where live entry number `index` goes, or 0 when it is outside the window. */
// @ts-ignore: decorator
@inline export function dumpRecord(buf: usize, index: u32, first: u32, max: u32): usize {
  if (index < first || index - first >= max) return 0;
  return buf + <usize>((index - first) * DUMP_RECORD_BYTES);
}
