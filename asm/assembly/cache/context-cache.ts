// Context cache (§6.2.1): present context entries (legacy 128-bit or the
// first 128 bits of a scalable-mode entry), indexed directly by source id.
// Tagged with the domain id (legacy) for domain-selective invalidation.

import { heapAlloc } from '../mem/heap';
import { STAT_CTX_HITS, STAT_CTX_MISSES } from '../abi/layout';
import { bump } from '../stats';
import { bumpGlobal, genDid, genGlobal, SPACE_CTX } from './gen';
import { scDropAll } from './setup-cache';
import { dumpRecord } from './dump';

const E_LO = 0;     // u64 qw0
const E_HI = 8;     // u64 qw1
const E_DID = 16;   // u32 domain id tag (0 in scalable mode)
const E_GEN_G = 20; // u32
const E_GEN_D = 24; // u32
const ENTRY_BYTES: u32 = 32;

let table: usize = 0;
/** False while no entry was stored since the last ccDropAll: nothing is live, and a dump skips its scan. */
let storedSinceDropAll = false;

/** qw0 of the last hit. */
export let ccLo: u64 = 0;
/** qw1 of the last hit. */
export let ccHi: u64 = 0;

/** Allocate the cache (once, at instantiation): 65536 entries, one per
 *  source id. Returns false when the state region cannot hold it. */
export function ccInit(): bool {
  table = heapAlloc(<u64>ENTRY_BYTES * 65536, 64);
  return table != 0;
}

// @ts-ignore: decorator
@inline function entryOf(sid: u32): usize { return table + <usize>((sid & 0xffff) * ENTRY_BYTES); }

/** Look sid up; on a hit sets ccLo/ccHi. */
export function ccLookup(sid: u32): bool {
  const e = entryOf(sid);
  const did = load<u32>(e, E_DID);
  if (load<u32>(e, E_GEN_G) == genGlobal(SPACE_CTX) && load<u32>(e, E_GEN_D) == genDid(SPACE_CTX, did)) {
    ccLo = load<u64>(e, E_LO);
    ccHi = load<u64>(e, E_HI);
    bump(STAT_CTX_HITS);
    return true;
  }
  bump(STAT_CTX_MISSES);
  return false;
}

/** Cache a present, valid context entry for sid. */
export function ccInsert(sid: u32, lo: u64, hi: u64, did: u32): void {
  scDropAll();
  const e = entryOf(sid);
  store<u64>(e, lo, E_LO);
  store<u64>(e, hi, E_HI);
  store<u32>(e, did, E_DID);
  store<u32>(e, genGlobal(SPACE_CTX), E_GEN_G);
  store<u32>(e, genDid(SPACE_CTX, did), E_GEN_D);
  storedSinceDropAll = true;
}

/** Drop sid's entry. */
export function ccDropSid(sid: u32): void {
  scDropAll();
  store<u32>(entryOf(sid), 0, E_GEN_G);
}

/** Drop every entry in O(1). */
export function ccDropAll(): void {
  bumpGlobal(SPACE_CTX);
  storedSinceDropAll = false;
}

/** Dump (cache/dump.ts): record = u64 qw0, u64 qw1 of the cached entry,
 *  u32 source id, u32 domain-id tag (0 in scalable mode), u32 flags
 *  (0 here; the caller fills in the device's state outside the cache), u32 0. */
export function ccDump(buf: usize, first: u32, max: u32): u32 {
  if (!storedSinceDropAll) return 0; // nothing stored since every entry was dropped: no scan of 65536 ids
  const gG = genGlobal(SPACE_CTX);
  let count: u32 = 0;
  for (let sid: u32 = 0; sid < 65536; sid++) {
    const e = entryOf(sid);
    const did = load<u32>(e, E_DID);
    if (load<u32>(e, E_GEN_G) != gG || load<u32>(e, E_GEN_D) != genDid(SPACE_CTX, did)) continue;
    const r = dumpRecord(buf, count++, first, max);
    if (r == 0) continue;
    store<u64>(r, load<u64>(e, E_LO), 0);
    store<u64>(r, load<u64>(e, E_HI), 8);
    store<u32>(r, sid, 16);
    store<u32>(r, did, 20);
    store<u32>(r, 0, 24); // flags: filled in by the caller (ctx layer)
    store<u32>(r, 0, 28);
  }
  return count;
}
