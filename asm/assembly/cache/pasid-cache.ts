// PASID cache (§6.2.3): present, valid PASID-table entries (qw0-qw2) with
// the FPD of their directory entry, keyed by (source id, PASID), tagged with
// the entry's domain id so PASID-cache invalidation by domain or by
// (domain, PASID) is O(1) (cache/gen.ts). Direct-mapped with full tags.

import { heapAlloc } from '../mem/heap';
import { STAT_PASID_HITS, STAT_PASID_MISSES } from '../abi/layout';
import { bump } from '../stats';
import { bucketOf, bumpGlobal, genBucket, genDid, genGlobal, SPACE_PASID } from './gen';
import { dumpRecord } from './dump';

const PC_LG2: u32 = 12;
const E_Q0 = 0;
const E_Q1 = 8;
const E_Q2 = 16;
const E_SID = 24;   // u32 sid | 0x10000 valid marker
const E_PASID = 28; // u32
const E_GEN_G = 32;
const E_GEN_D = 36;
const E_GEN_B = 40;
const E_DIR_FPD = 44; // u32
const ENTRY_BYTES: u32 = 48;

let table: usize = 0;

/** PASID entry qw0 of the last hit. */
export let pcQ0: u64 = 0;
/** PASID entry qw1 of the last hit. */
export let pcQ1: u64 = 0;
/** PASID entry qw2 of the last hit. */
export let pcQ2: u64 = 0;
/** FPD of the directory entry above the last hit. */
export let pcDirFpd: bool = false;

/** Allocate the cache (once, at instantiation). Returns false when the
 *  state region cannot hold it. */
export function pcInit(): bool {
  table = heapAlloc(<u64>ENTRY_BYTES << PC_LG2, 64);
  return table != 0;
}

// @ts-ignore: decorator
@inline function slotOf(sid: u32, pasid: u32): usize {
  const h = (sid * 0x85ebca6b ^ pasid * 0x9e3779b1) * 0xc2b2ae35;
  return table + <usize>((h >>> (32 - PC_LG2)) * ENTRY_BYTES);
}

/** Look (sid, pasid) up; on a hit sets pcQ0..pcQ2 and pcDirFpd. */
export function pcLookup(sid: u32, pasid: u32): bool {
  const e = slotOf(sid, pasid);
  if (load<u32>(e, E_SID) == (sid | 0x10000) && load<u32>(e, E_PASID) == pasid) {
    const q1 = load<u64>(e, E_Q1);
    const did = <u32>q1 & 0xffff;
    if (load<u32>(e, E_GEN_G) == genGlobal(SPACE_PASID) && load<u32>(e, E_GEN_D) == genDid(SPACE_PASID, did) &&
        load<u32>(e, E_GEN_B) == genBucket(SPACE_PASID, bucketOf(did, pasid))) {
      pcQ0 = load<u64>(e, E_Q0);
      pcQ1 = q1;
      pcQ2 = load<u64>(e, E_Q2);
      pcDirFpd = load<u32>(e, E_DIR_FPD) != 0;
      bump(STAT_PASID_HITS);
      return true;
    }
  }
  bump(STAT_PASID_MISSES);
  return false;
}

/** Cache a present, valid PASID entry. */
export function pcInsert(sid: u32, pasid: u32, q0: u64, q1: u64, q2: u64, dirFpd: bool): void {
  // (No scDropAll: a decoded setup may outlive an entry evicted here; see
  // cache/setup-cache.ts.)
  const e = slotOf(sid, pasid);
  const did = <u32>q1 & 0xffff;
  store<u64>(e, q0, E_Q0);
  store<u64>(e, q1, E_Q1);
  store<u64>(e, q2, E_Q2);
  store<u32>(e, sid | 0x10000, E_SID);
  store<u32>(e, pasid, E_PASID);
  store<u32>(e, genGlobal(SPACE_PASID), E_GEN_G);
  store<u32>(e, genDid(SPACE_PASID, did), E_GEN_D);
  store<u32>(e, genBucket(SPACE_PASID, bucketOf(did, pasid)), E_GEN_B);
  store<u32>(e, dirFpd ? 1 : 0, E_DIR_FPD);
}

/** Drop every entry in O(1). */
export function pcDropAll(): void {
  bumpGlobal(SPACE_PASID);
}

/** Dump (cache/dump.ts): record = u64 qw0, qw1, qw2 of the cached PASID
 *  entry, u16 source id, u16 flags (1: FPD of the directory entry), u32 PASID. */
export function pcDump(buf: usize, first: u32, max: u32): u32 {
  let count: u32 = 0;
  for (let i: u32 = 0; i < (<u32>1 << PC_LG2); i++) {
    const e = table + <usize>(i * ENTRY_BYTES);
    const sid = load<u32>(e, E_SID);
    if ((sid & 0x10000) == 0) continue;
    const pasid = load<u32>(e, E_PASID);
    const did = <u32>load<u64>(e, E_Q1) & 0xffff;
    if (load<u32>(e, E_GEN_G) != genGlobal(SPACE_PASID) || load<u32>(e, E_GEN_D) != genDid(SPACE_PASID, did) ||
        load<u32>(e, E_GEN_B) != genBucket(SPACE_PASID, bucketOf(did, pasid))) continue;
    const r = dumpRecord(buf, count++, first, max);
    if (r == 0) continue;
    store<u64>(r, load<u64>(e, E_Q0), 0);
    store<u64>(r, load<u64>(e, E_Q1), 8);
    store<u64>(r, load<u64>(e, E_Q2), 16);
    store<u16>(r, <u16>sid, 24);
    store<u16>(r, <u16>(load<u32>(e, E_DIR_FPD) != 0 ? 1 : 0), 26);
    store<u32>(r, pasid, 28);
  }
  return count;
}
