// The core's state region and its allocator (docs/ABI.md "Memory").
//
// The core runs over a memory it imports (`env.memory`): its own, made by
// the host (standalone), or an emulator's (embedded). All of its private
// state — configuration, counters, out-buffer, batch ring, caches, RAM
// region table, device buffers — is carved by one bump pointer from the
// state region [stateBase, stateLimit): granted by the embedder (bounded),
// or, standalone, everything from stateBase up to the wasm32 limit, growing
// the memory on demand. The core has no static data: nothing outside the
// state region and the guest RAM regions is ever written. Nothing on the
// translation path allocates.

const PAGE_LG2: u32 = 16;
/** Largest linear memory wasm32 allows (65536 pages). */
export const MAX_BYTES: u64 = <u64>1 << 32;

let base: u64 = 0;
let limit: u64 = 0;
let top: u64 = 0;
let growable: bool = false;

/** Take [stateBase, stateBase + stateBytes) as the state region, or with
 *  stateBytes = 0 everything from stateBase up (growing memory on demand;
 *  the memory from stateBase up must then be zero, as fresh memory is).
 *  The caller (index.ts) validated alignment and range. Offset 0 is never
 *  handed out (0 means "no memory"). */
export function heapInit(stateBase: u64, stateBytes: u64): void {
  base = stateBase;
  growable = stateBytes == 0;
  limit = growable ? MAX_BYTES : stateBase + stateBytes;
  top = stateBase == 0 ? 64 : stateBase;
}

/** Reserve `size` zeroed bytes aligned to `align` (a power of two) from the
 *  state region. Returns the byte offset, or 0 when the region cannot hold
 *  them (or memory cannot grow). */
export function heapAlloc(size: u64, align: u64): usize {
  const start = (top + align - 1) & ~(align - 1);
  const end = start + size;
  if (end > limit || end < start) return 0;
  const havePages = <u64>memory.size();
  const needPages = (end + (<u64>1 << PAGE_LG2) - 1) >> PAGE_LG2;
  if (needPages > havePages) {
    // A bounded region lies inside memory (checked at init): only the
    // growable one reaches here.
    if (!growable || memory.grow(<i32>(needPages - havePages)) < 0) return 0;
  }
  // Fresh memory is zero; a granted region may hold anything.
  if (!growable) memory.fill(<usize>start, 0, <usize>size);
  top = end;
  return <usize>start;
}

/** Bytes still allocatable in the state region (not counting host limits). */
export function heapRemaining(): u64 {
  return limit - top;
}

/** First byte of the state region. */
export function stateBase(): u64 { return base; }
/** End of the state region (exclusive): 4 GiB when it grows. */
export function stateLimit(): u64 { return limit; }
/** Bytes of the state region in use. */
export function stateUsed(): u64 { return top - base; }
