// The core's linear-memory allocator: one bump pointer over `memory`, growing
// it on demand. Core state (caches, generation tables), guest RAM regions and
// device buffers are carved from it and live as long as the instance. Nothing
// on the translation path allocates.

const PAGE_LG2: u32 = 16;
/** Largest linear memory wasm32 allows (65536 pages). */
const MAX_BYTES: u64 = <u64>1 << 32;

let heapTop: u64 = (<u64>__heap_base + 63) & ~(<u64>63);

/** Reserve `size` bytes aligned to `align` (a power of two); grows memory.
 *  Returns the byte offset, or 0 when wasm32 memory cannot hold it. The bytes
 *  are zero (fresh memory). */
export function heapAlloc(size: u64, align: u64): usize {
  const start = (heapTop + align - 1) & ~(align - 1);
  const end = start + size;
  if (end > MAX_BYTES || end < start) return 0;
  const havePages = <u64>memory.size();
  const needPages = (end + (<u64>1 << PAGE_LG2) - 1) >> PAGE_LG2;
  if (needPages > havePages) {
    if (memory.grow(<i32>(needPages - havePages)) < 0) return 0;
  }
  heapTop = end;
  return <usize>start;
}

/** Bytes still allocatable before the wasm32 limit (not counting host limits). */
export function heapRemaining(): u64 {
  return MAX_BYTES - heapTop;
}
