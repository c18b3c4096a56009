// Paging-structure caches (§6.2.4): non-leaf entries of second-stage and
// first-stage tables, so that a miss next to a recent miss reads only the
// leaf level. An entry at `level` caches the walk down to and including that
// level's entry: tag (format, DID, PASID for first stage, level, iova bits
// above the level's index), value (the next table's address — for nested
// first stage the already second-stage-translated address — and the
// permissions accumulated so far). Direct-mapped; tags compared in full.
// Only entries that passed every check are inserted.

import { heapAlloc } from '../mem/heap';
import { STAT_PSC_HITS, STAT_PSC_MISSES } from '../abi/layout';
import { bump } from '../stats';
import { bucketOf, bumpGlobal, genBucket, genDid, genEpoch, genGlobal, SPACE_PSC } from './gen';
import { dumpRecord } from './dump';

const PSC_LG2: u32 = 12;
const E_DID = 0;    // u32
const E_KEY = 4;    // u32 pasid | level << 24 | fmt << 28, 0xffffffff = empty
const E_PREFIX = 8; // u64 iova >> (12 + 9 * level)
const E_TABLE = 16; // u64 next table address
const E_PERMS = 24; // u32 accumulated permission bits
const E_GEN_G = 28;
const E_GEN_D = 32;
const E_GEN_B = 36;
const ENTRY_BYTES: u32 = 40;

let table: usize = 0;

/** Table address of the last hit. */
export let pscTable: u64 = 0;
/** Accumulated permissions of the last hit. */
export let pscPerms: u32 = 0;

/** Allocate the cache (once, at instantiation). Returns false when the
 *  state region cannot hold it. */
export function pscInit(): bool {
  table = heapAlloc(<u64>ENTRY_BYTES << PSC_LG2, 64);
  pscDropAll();
  return table != 0;
}

// @ts-ignore: decorator
@inline function keyOf(fmt: u32, pasid: u32, level: i32): u32 {
  return pasid | (<u32>level << 24) | (fmt << 28);
}

// @ts-ignore: decorator
@inline function slotOf(did: u32, key: u32, prefix: u64): usize {
  const h = (<u32>prefix ^ <u32>(prefix >> 27) ^ key * 0x85ebca6b ^ did * 0xc2b2ae35) * 0x9e3779b1;
  return table + <usize>((h >>> (32 - PSC_LG2)) * ENTRY_BYTES);
}

// The last hit, remembered while no entry was filled and no generation of
// the space changed (the epoch; a wrap-around bumps the global generation):
// it is then still in the cache unchanged, and a lookup of the same tag
// (a walk next to the previous one) needs no hashing or generation checks.
let memoKey: u32 = 0;
let memoDid: u32 = 0;
let memoPrefix: u64 = 0;
let memoTable: u64 = 0;
let memoPerms: u32 = 0;
let memoEpoch: u32 = 0; // 0: nothing remembered
let memoGen: u32 = 0;

// Whether slot `e` holds a live entry with this tag.
// @ts-ignore: decorator
@inline function hitAt(e: usize, key: u32, did: u32, prefix: u64, pasid: u32): bool {
  if (load<u64>(e, E_PREFIX) != prefix) return false;
  if (load<u32>(e, E_KEY) != key) return false;
  if (load<u32>(e, E_DID) != did) return false;
  if (load<u32>(e, E_GEN_G) != genGlobal(SPACE_PSC)) return false;
  if (load<u32>(e, E_GEN_D) != genDid(SPACE_PSC, did)) return false;
  return load<u32>(e, E_GEN_B) == genBucket(SPACE_PSC, bucketOf(did, pasid));
}

/** Whether the remembered last hit is the entry at `level` for iova (sets
 *  pscTable/pscPerms then), without counting: pscLookup's first step, for a
 *  caller that counts the hit once it uses it. */
// @ts-ignore: decorator
@inline export function pscRemembered(fmt: u32, did: u32, pasid: u32, level: i32, iova: u64): bool {
  if ((iova >> (12 + 9 * <u64>level)) != memoPrefix) return false;
  if ((<u32>(keyOf(fmt, pasid, level) == memoKey) & <u32>(did == memoDid) & <u32>(memoEpoch == genEpoch(SPACE_PSC)) &
      <u32>(memoGen == genGlobal(SPACE_PSC))) == 0) return false;
  pscTable = memoTable;
  pscPerms = memoPerms;
  return true;
}

/** Look up the cached entry at `level` for iova. On a hit sets pscTable/pscPerms.
 *  (The remembered last hit inline, the slot out of line.) */
// @ts-ignore: decorator
@inline export function pscLookup(fmt: u32, did: u32, pasid: u32, level: i32, iova: u64): bool {
  const key = keyOf(fmt, pasid, level);
  const prefix = iova >> (12 + 9 * <u64>level);
  // (Nested ifs: V8 branches rather than materialising partial results.)
  if (prefix == memoPrefix) {
    if (<u32>(key == memoKey) & <u32>(did == memoDid) & <u32>(memoEpoch == genEpoch(SPACE_PSC)) &
        <u32>(memoGen == genGlobal(SPACE_PSC))) {
      pscTable = memoTable;
      pscPerms = memoPerms;
      bump(STAT_PSC_HITS);
      return true;
    }
  }
  return lookupSlot(did, pasid, key, prefix);
}

// pscLookup past the remembered hit.
function lookupSlot(did: u32, pasid: u32, key: u32, prefix: u64): bool {
  const e = slotOf(did, key, prefix);
  if (hitAt(e, key, did, prefix, pasid)) {
    pscTable = load<u64>(e, E_TABLE);
    pscPerms = load<u32>(e, E_PERMS);
    memoKey = key; memoDid = did; memoPrefix = prefix; memoTable = pscTable; memoPerms = pscPerms;
    memoEpoch = genEpoch(SPACE_PSC);
    memoGen = genGlobal(SPACE_PSC);
    bump(STAT_PSC_HITS);
    return true;
  }
  bump(STAT_PSC_MISSES);
  return false;
}

/** Cache the non-leaf entry at `level` for iova. */
export function pscInsert(fmt: u32, did: u32, pasid: u32, level: i32, iova: u64, next: u64, perms: u32): void {
  memoEpoch = 0; // the slot filled may hold the remembered entry
  const key = keyOf(fmt, pasid, level);
  const prefix = iova >> (12 + 9 * <u64>level);
  const e = slotOf(did, key, prefix);
  store<u32>(e, did, E_DID);
  store<u32>(e, key, E_KEY);
  store<u64>(e, prefix, E_PREFIX);
  store<u64>(e, next, E_TABLE);
  store<u32>(e, perms, E_PERMS);
  store<u32>(e, genGlobal(SPACE_PSC), E_GEN_G);
  store<u32>(e, genDid(SPACE_PSC, did), E_GEN_D);
  store<u32>(e, genBucket(SPACE_PSC, bucketOf(did, pasid)), E_GEN_B);
}

/** Empty every paging-structure cache in O(1). */
export function pscDropAll(): void {
  bumpGlobal(SPACE_PSC);
}

/** Dump (cache/dump.ts): record = u32 did, u32 PASID (0 for second stage),
 *  u64 iova (base of the range the entry covers), u64 next table address,
 *  u32 accumulated permissions, u8 level, u8 format (0 second stage,
 *  1 first stage), u16 0. */
export function pscDump(buf: usize, first: u32, max: u32): u32 {
  let count: u32 = 0;
  for (let i: u32 = 0; i < (<u32>1 << PSC_LG2); i++) {
    const e = table + <usize>(i * ENTRY_BYTES);
    const did = load<u32>(e, E_DID);
    const key = load<u32>(e, E_KEY);
    const pasid = key & 0xff_ffff;
    if (load<u32>(e, E_GEN_G) != genGlobal(SPACE_PSC) || load<u32>(e, E_GEN_D) != genDid(SPACE_PSC, did) ||
        load<u32>(e, E_GEN_B) != genBucket(SPACE_PSC, bucketOf(did, pasid))) continue;
    const r = dumpRecord(buf, count++, first, max);
    if (r == 0) continue;
    const level = (key >> 24) & 0xf;
    store<u32>(r, did, 0);
    store<u32>(r, pasid, 4);
    store<u64>(r, load<u64>(e, E_PREFIX) << (12 + 9 * <u64>level), 8);
    store<u64>(r, load<u64>(e, E_TABLE), 16);
    store<u32>(r, load<u32>(e, E_PERMS), 24);
    store<u8>(r, <u8>level, 28);
    store<u8>(r, <u8>(key >> 28), 29);
    store<u16>(r, 0, 30);
  }
  return count;
}
