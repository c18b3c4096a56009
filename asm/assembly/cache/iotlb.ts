// IOTLB (§6.2.2 IOTLB): set-associative, CFG_IOTLB_SETS_LG2 sets of
// CFG_IOTLB_WAYS ways, tagged like the hardware's: domain id, PASID (or
// PASID_NONE in legacy mode), page number and page size. Entries also carry
// the source id (QUIRK_IOTLB_BEFORE_CONTEXT lookups; QUIRK_IOTLB_BY_SID tags
// entries by it instead of the domain id) and whether they came from a
// first-stage (or nested) walk. Only successful translations are inserted.
// Replacement: least recently used way of the set — except under
// QUIRK_IOTLB_FLUSH_WHEN_FULL (QEMU's IOTLB is one hash table: nothing is
// evicted before the whole table is emptied at 1024 entries), where an
// entry whose set has no dead way goes to the spill area instead (below).
//
// Each set also has a row of 16-bit fingerprints, one per way (a hash of
// page number, size and index key, bit 15 always set; 0 = never filled):
// a probe compares the four fingerprints of a 64-bit word at once and goes
// straight to the way that matches, so which way holds an entry costs no
// branch (a loop over the ways mispredicts its exit whenever entries sit in
// different ways, as they do when many domains or PASIDs share the sets).
//
// The set index hashes the page number and size with an index key: the
// (DID, PASID) bucket (cache/gen.ts bucketOf), or (source id, PASID) where
// entries are looked up by source id. So many domains or PASIDs touching
// the same IOVAs spread over the sets instead of fighting for one set's
// ways. An invalidation that does not name the key (a domain's pages for
// every PASID in scalable mode, or any under QUIRK_IOTLB_BY_SID) scans the
// table.

import { heapAlloc } from '../mem/heap';
import { CFG_IOTLB_MAX_ENTRIES, QUIRK_IOTLB_BY_SID, QUIRK_IOTLB_FLUSH_WHEN_FULL, STAT_IOTLB_HITS, STAT_IOTLB_MISSES } from '../abi/layout';
import { cfg, quirk } from '../cfg';
import { bump } from '../stats';
import { bucketOf, bumpGlobal, genBucket, genDid, genEpoch, genEpochGlobal, genEpochWraps, genGlobal, SPACE_IOTLB } from './gen';
import { dumpRecord } from './dump';

// Entry layout (48 bytes).
const E_DID = 0;      // u32 domain id
const E_PASID = 4;    // u32 PASID key (with PRIV_FLAG; E_DID and E_PASID load as one u64)
const E_EPOCH = 8;    // u32 generation epoch (cache/gen.ts genEpoch) when filled, 0 once dropped
const E_GEN_G = 12;   // u32 global generation (E_EPOCH and E_GEN_G load as one u64)
const E_SID = 34;     // u16 source id
const E_VPN = 16;     // u64 page number at the entry's page size
const E_DELTA = 24;   // u64 output page address - input page address (wrapping): output = input + delta, no shift
const E_LG2 = 32;     // u8 page size log2, 0 = empty
const E_PERMS = 33;   // u8 R/W/X, P_DIRTY, P_NEAR_INTR or P_FAR, PERM_FS (E_LG2 and E_PERMS load as one u16)
const E_USE = 36;     // u32 last use tick
const E_GEN_D = 40;   // u32 DID generation
const E_GEN_B = 44;   // u32 bucket generation
const ENTRY_BYTES: u32 = 48;
/** E_PERMS flag of entries from a first-stage or nested walk (not a
 *  permission: no walk result carries this bit). */
const PERM_FS: u32 = 16;
/** PASID-key flag of first-stage entries filled by a supervisor request:
 *  their permissions ignore U/S, so user requests must not hit them. */
export const PRIV_FLAG: u32 = 0x4000_0000;
const KEY_FLAGS: u32 = PRIV_FLAG;

const MAX_ENTRIES: u32 = 1 << 16;
/** QUIRK_IOTLB_FLUSH_WHEN_FULL: the most entries CFG_IOTLB_MAX_ENTRIES
 *  allows (QEMU intel-iommu's VTD_IOTLB_MAX_SIZE); the spill area's size. */
const QEMU_ENTRIES: u32 = 1024;
// Fills into a dead or empty way since the IOTLB was last emptied: an upper
// bound of the live entries (invalidations drop entries lazily), made exact
// by a recount when it reaches CFG_IOTLB_MAX_ENTRIES.
let fills: u32 = 0;
let table: usize = 0;
let setsLg2: u32 = 0;
let ways: u32 = 0;
let setShift: u64 = 32;
let setStride: u32 = 0;
// Fingerprint rows: 2^fpShift bytes per set (a power of two of u64 words
// holding 4 lanes each), way w in lane w (bits 16(w & 3).. of word w >> 2).
let fps: usize = 0;
let fpBytes: u64 = 0;
let fpShift: u32 = 3;
let tick: u32 = 0;
/** Entries held per page size (12, 21, 30): lookups skip absent sizes. */
let sizeCount: usize = 0;

// QUIRK_IOTLB_FLUSH_WHEN_FULL: the spill area, QEMU_ENTRIES more entries (same
// layout) for fills whose set holds only live entries, so that no live entry
// is evicted before QEMU's flush at CFG_IOTLB_MAX_ENTRIES. Slots
// handed out since the IOTLB was last emptied: spillUsed. spillSets: one
// byte per set, 1 when an entry of that set may be in the spill (lookups of
// other sets never look there). Only lookups that miss in their set pay for
// it, and only after a set overflowed; the fast path never runs with the
// quirk (no decoded setups are stored: translate.ts, ctx/scalable.ts).
// Reserved when the quirk is configured (iotlbSpillReserve, index.ts).
let spill: usize = 0;
let spillUsed: u32 = 0;
let spillSets: usize = 0;
/** Most sets any geometry has (iotlbResize: sLg2 <= 12). */
const MAX_SETS: u32 = 1 << 12;

/** Result of the last hit: output page address, permissions, size, DID. */
export let hitFrame: u64 = 0;
/** Permissions of the last hit. */
export let hitPerms: u32 = 0;
/** Page size log2 of the last hit. */
export let hitLg2: u32 = 0;
/** Domain id of the last hit. */
export let hitDid: u32 = 0;

/** (Re)size the IOTLB: 2^sLg2 sets of w ways (sLg2 <= 12, 1 <= w <= 16).
 *  Empties it. Memory of a smaller earlier table is reused. Returns false
 *  (and changes nothing) when the state region cannot hold a larger one. */
export function iotlbResize(sLg2: u32, w: u32): bool {
  const n = (<u32>1 << sLg2) * w;
  if (sizeCount == 0) {
    sizeCount = heapAlloc(3 * 4, 64);
    if (sizeCount == 0) return false;
  }
  let grownTable = table;
  if (table == 0 || n > (<u32>1 << setsLg2) * ways) {
    grownTable = heapAlloc(<u64>n * ENTRY_BYTES, 64);
    if (grownTable == 0) return false;
  }
  const rowShift: u32 = w <= 4 ? 3 : w <= 8 ? 4 : 5;
  const fpNeed = <u64>1 << (rowShift + sLg2);
  let grownFps = fps;
  if (fpNeed > fpBytes) {
    grownFps = heapAlloc(fpNeed, 64);
    if (grownFps == 0) return false;
    fpBytes = fpNeed;
  }
  table = grownTable;
  fps = grownFps;
  setsLg2 = sLg2;
  ways = w;
  setShift = <u64>(32 - sLg2);
  setStride = w * ENTRY_BYTES;
  fpShift = rowShift;
  memory.fill(table, 0, <usize>(n * ENTRY_BYTES));
  memory.fill(fps, 0, <usize>fpNeed);
  memory.fill(sizeCount, 0, 12);
  fills = 0;
  spillReset();
  return true;
}

/** Number of entry slots (sets * ways). */
export function iotlbSlots(): u32 { return (<u32>1 << setsLg2) * ways; }

// @ts-ignore: decorator
@inline function sizeSlot(lg2: u32): u32 { return ((lg2 - 12) * 57) >> 9; } // 12, 21, 30 -> 0, 1, 2 (x/9)

/** Index key of entries looked up by `id` (a DID, or a source id under
 *  QUIRK_IOTLB_BEFORE_CONTEXT in legacy mode) and bare PASID key. */
// @ts-ignore: decorator
@inline export function indexKey(id: u32, bare: u32): u32 {
  return bucketOf(id, bare);
}

/** An iotlbDropRange probe key meaning "unknown: scan". */
export const NO_KEY: u32 = 0xffff_ffff;

/** The index key's part of the set hash (iotlbProbeFast's `keyMix`: decoded
 *  setups hold it, a multiply less on the hit path). */
// @ts-ignore: decorator
@inline export function iotlbKeyMix(key: u32): u32 { return key * 0x27d4eb2f; }

// The hash of (vpn, lg2) under an index key whose iotlbKeyMix is `keyMix`:
// its top setsLg2 bits are the set (setIndex), bits 8..22 the fingerprint
// (fpOf).
// @ts-ignore: decorator
@inline function hashMixed(vpn: u64, lg2: u32, keyMix: u32): u32 {
  return (<u32>vpn ^ <u32>(vpn >> 29) ^ (lg2 * 0x2545f491) ^ keyMix) * 0x9e3779b1;
}

// The hash of (vpn, lg2) under index key `key`.
// @ts-ignore: decorator
@inline function hashOf(vpn: u64, lg2: u32, key: u32): u32 { return hashMixed(vpn, lg2, iotlbKeyMix(key)); }

// The set of hash `p`: its top setsLg2 bits (setShift = 32 - setsLg2, a
// 64-bit shift so that one set, a shift by 32, gives 0 without a mask).
// @ts-ignore: decorator
@inline function setIndex(p: u32): u32 { return <u32>(<u64>p >> setShift); }

// The fingerprint of hash `p` (bit 15 set: never 0, the lane of a way never
// filled, and padding lanes of a row never look like a match).
// @ts-ignore: decorator
@inline function fpOf(p: u32): u32 { return ((p >>> 8) & 0x7fff) | 0x8000; }

/** The first way of the set of (vpn, lg2) under index key `key`. */
// @ts-ignore: decorator
@inline function setBase(vpn: u64, lg2: u32, key: u32): usize {
  return table + <usize>(setIndex(hashOf(vpn, lg2, key)) * setStride);
}

// A row word's four 16-bit lanes: each lane's 1, each lane's top bit.
const LANES: u64 = 0x0001_0001_0001_0001;
const LANE_TOPS: u64 = 0x8000_8000_8000_8000;

// Lanes of fingerprint word `row` equal to `fp`: bit 15 of each matching
// lane set (exact for the lowest; a higher lane may be flagged falsely by a
// borrow, never missed), 0 when none matches.
// @ts-ignore: decorator
@inline function fpMatches(row: u64, fp: u32): u64 {
  const x = row ^ (<u64>fp * LANES);
  return (x - LANES) & ~x & LANE_TOPS;
}

/** Whether the entry at `e` holds a page and no invalidation covered it. */
// @ts-ignore: decorator
@inline function live(e: usize): bool {
  if (load<u8>(e, E_LG2) == 0) return false;
  const did = load<u32>(e, E_DID);
  const pasid = load<u32>(e, E_PASID) & ~KEY_FLAGS;
  return load<u32>(e, E_GEN_G) == genGlobal(SPACE_IOTLB) &&
    load<u32>(e, E_GEN_D) == genDid(SPACE_IOTLB, did) &&
    load<u32>(e, E_GEN_B) == genBucket(SPACE_IOTLB, bucketOf(did, pasid));
}

/** live(e) for an entry whose epoch is not the current one: entries of the
 *  same (did, bare pasid) compare with its generations `gD`, `gB`. */
// @ts-ignore: decorator
@inline function liveNear(e: usize, did: u32, bare: u32, gG: u32, gD: u32, gB: u32): bool {
  if (load<u8>(e, E_LG2) == 0 || load<u32>(e, E_GEN_G) != gG) return false;
  if (load<u32>(e, E_DID) != did || (load<u32>(e, E_PASID) & ~KEY_FLAGS) != bare) return live(e);
  return load<u32>(e, E_GEN_D) == gD && load<u32>(e, E_GEN_B) == gB;
}

// When the epoch wraps around (cache/gen.ts), every entry forgets its epoch
// before the next insert, so that no old value can equal a new one.
let wrapsSeen: u32 = 0;
function clearEpochs(): void {
  const n = slotCount();
  for (let i: u32 = 0; i < n; i++) store<u32>(slotAt(i), 0, E_EPOCH);
}

// Table slots, then the spill slots in use: what a full scan visits.
// @ts-ignore: decorator
@inline function slotCount(): u32 { return iotlbSlots() + spillUsed; }
// @ts-ignore: decorator
@inline function slotAt(i: u32): usize {
  const n = iotlbSlots();
  return i < n ? table + <usize>(i * ENTRY_BYTES) : spill + <usize>((i - n) * ENTRY_BYTES);
}

/** Look iova up for (did or, with bySid or QUIRK_IOTLB_BY_SID, sid; pasid,
 *  with PRIV_FLAG for supervisor first-stage requests). On a hit sets hit*. */
export function iotlbLookup(did: u32, sid: u32, bySid: bool, pasid: u32, iova: u64): bool {
  if (bySid || quirk(QUIRK_IOTLB_BY_SID)) return lookupBySid(sid, pasid, iova);
  const e = iotlbProbe(did, pasid, bucketOf(did, pasid & ~PRIV_FLAG), iova);
  if (e == 0) {
    bump(STAT_IOTLB_MISSES);
    return false;
  }
  touchAndKeep(e);
  return true;
}

/** The live entry of (did, pasid) holding iova, or 0, without side effects
 *  (no LRU tick, no counter): iotlbTouch commits a hit. `bucket` is
 *  bucketOf(did, pasid without PRIV_FLAG), also the set-index key. */
export function iotlbProbe(did: u32, pasid: u32, bucket: u32, iova: u64): usize {
  const key = <u64>did | (<u64>pasid << 32);
  const epochGen = iotlbEpochGen();
  for (let lg2: u32 = 12; lg2 <= 30; lg2 += 9) {
    if (load<u32>(sizeCount + (sizeSlot(lg2) << 2)) == 0) continue;
    const e = probeScan(lg2, iova, key, epochGen, bucket);
    if (e != 0) return e;
  }
  return 0;
}

/** The IOTLB's generation epoch | global generation << 32: what a live
 *  entry filled at the current epoch holds (constant while no invalidation
 *  runs: the batch loop reads it once). */
// @ts-ignore: decorator
@inline export function iotlbEpochGen(): u64 {
  return genEpochGlobal(SPACE_IOTLB);
}
/** The LRU use tick (the batch loop counts in a local and stores it back). */
// @ts-ignore: decorator
@inline export function iotlbTick(): u32 { return tick; }
/** Store the LRU use tick back. */
// @ts-ignore: decorator
@inline export function iotlbSetTick(t: u32): void { tick = t; }

/** iotlbProbeFast: the fingerprints could not decide (another tag shares
 *  the matching fingerprint): iotlbProbe decides. */
export const PROBE_UNSURE: usize = 1;

/** A probe key, 16 bytes in memory (decoded setups hold one, so the hit
 *  path loads each field where it needs it instead of keeping all live):
 *  u64 tag did | pasid << 32 (E_DID | E_PASID), u32 bucket (bucketOf of the
 *  DID and bare PASID, the set-index key), u32 iotlbKeyMix(bucket). */
export const PK_TAG: u32 = 0;
/** Probe key: the bucket. */
export const PK_BUCKET: u32 = 8;
/** Probe key: the bucket's key mix. */
export const PK_MIX: u32 = 12;

/** iotlbProbe for the hit paths, inlined and without a call: `epochGen` is
 *  iotlbEpochGen(), `pk` the address of a probe key (PK_*).
 *  Returns the entry, 0 when none is live (exact), or PROBE_UNSURE. The
 *  three page sizes are written out (constant shifts, no loop over sizes);
 *  2 MiB and 1 GiB are skipped while no entry has their size. */
// @ts-ignore: decorator
@inline export function iotlbProbeFast(epochGen: u64, pk: usize, iova: u64): usize {
  let e: usize = 0;
  // 4 KiB first and without looking at its count: a set with no 4 KiB
  // entry has no fingerprint of one (or a stale one: PROBE_UNSURE).
  e = probeFp(12, iova, pk, epochGen);
  if (e == 0) {
    if (load<u32>(sizeCount, 4) != 0) e = probeFp(21, iova, pk, epochGen);
    if (e == 0) {
      if (load<u32>(sizeCount, 8) != 0) e = probeFp(30, iova, pk, epochGen);
    }
  }
  return e;
}

// The live way of the set of iova's `lg2` page holding tag `key`, 0 (none:
// no fingerprint matches), or PROBE_UNSURE (the first way whose fingerprint
// matches holds another tag). No loop for rows of one word (up to 4 ways),
// so which way holds the entry costs no branch.
// @ts-ignore: decorator
@inline function probeFp(lg2: u32, iova: u64, pk: usize, epochGen: u64): usize {
  const vpn = iova >> lg2;
  const p = hashMixed(vpn, lg2, load<u32>(pk, PK_MIX));
  const set = setIndex(p);
  const row = fps + <usize>(set << fpShift);
  const fp = fpOf(p);
  const base = table + <usize>(set * setStride);
  const m = fpMatches(load<u64>(row), fp);
  let e: usize;
  if (m != 0) {
    // Lane k's flag is bit 16k + 15: (ctz & 0x30) * 3 = k * ENTRY_BYTES.
    e = base + <usize>((<u32>ctz(m) & 0x30) * 3);
  } else {
    if (ways <= 4) return 0;
    // More than 4 ways: the row's other words in turn.
    let way: u32 = 4;
    let more: u64 = 0;
    while (true) {
      if (way >= ways) return 0;
      more = fpMatches(load<u64>(row + (way << 1)), fp);
      if (more != 0) break;
      way += 4;
    }
    e = base + <usize>(way * ENTRY_BYTES + (<u32>ctz(more) & 0x30) * 3);
  }
  if (holds(e, vpn, lg2, load<u64>(pk, PK_TAG), epochGen, load<u32>(pk, PK_BUCKET))) return e;
  return PROBE_UNSURE;
}

// Whether way `e` is live and holds tag `key`'s page `vpn` of size `lg2`.
// Nested ifs rather than && chains: V8 then branches instead of
// materialising each partial result.
// @ts-ignore: decorator
@inline function holds(e: usize, vpn: u64, lg2: u32, key: u64, epochGen: u64, bucket: u32): bool {
  if (load<u64>(e, E_VPN) == vpn) {
    // PRIV_FLAG must match; live: filled at the current epoch (no
    // generation changed since; an epoch wrap-around bumps the global
    // generation): epoch and global generation in one compare; else by
    // generations.
    if (<u32>load<u8>(e, E_LG2) == lg2) {
      if (load<u64>(e, E_DID) == key) {
        const eg = load<u64>(e, E_EPOCH);
        if (eg == epochGen) return true;
        if ((eg >> 32) == (epochGen >> 32)) {
          if (load<u32>(e, E_GEN_D) == genDid(SPACE_IOTLB, <u32>key)) {
            return load<u32>(e, E_GEN_B) == genBucket(SPACE_IOTLB, bucket);
          }
        }
      }
    }
  }
  return false;
}

// iotlbProbe's way-by-way search of the set of iova's `lg2` page.
function probeScan(lg2: u32, iova: u64, key: u64, epochGen: u64, bucket: u32): usize {
  const vpn = iova >> lg2;
  const setNo = setIndex(hashOf(vpn, lg2, bucket));
  let e = table + <usize>(setNo * setStride);
  const end = e + <usize>setStride;
  for (; e < end; e += ENTRY_BYTES) {
    if (holds(e, vpn, lg2, key, epochGen, bucket)) return e;
  }
  if (spilled(setNo)) {
    for (let i: u32 = 0; i < spillUsed; i++) {
      e = spill + <usize>(i * ENTRY_BYTES);
      if (holds(e, vpn, lg2, key, epochGen, bucket)) return e;
    }
  }
  return 0;
}

/** Stamp entry `e` as used at LRU tick `t` (the batch loop's hit commit). */
// @ts-ignore: decorator
@inline export function iotlbStamp(e: usize, t: u32): void {
  store<u32>(e, t, E_USE);
}

/** Commit a hit on entry `e`: LRU tick, hit counter. */
// @ts-ignore: decorator
@inline export function iotlbTouch(e: usize): void {
  store<u32>(e, ++tick, E_USE);
  bump(STAT_IOTLB_HITS);
}

// iotlbTouch, and the entry's fields to hit*.
function touchAndKeep(e: usize): void {
  iotlbTouch(e);
  hitFrame = entryFrame(e);
  hitPerms = load<u8>(e, E_PERMS);
  hitLg2 = load<u8>(e, E_LG2);
  hitDid = load<u32>(e, E_DID);
}

/** Output page address of entry `e`. */
// @ts-ignore: decorator
@inline export function entryFrame(e: usize): u64 {
  return load<u64>(e, E_DELTA) + (load<u64>(e, E_VPN) << <u64>load<u8>(e, E_LG2));
}
/** Output address of `iova` (in its page) through entry `e`. */
// @ts-ignore: decorator
@inline export function entryOutput(e: usize, iova: u64): u64 { return iova + load<u64>(e, E_DELTA); }
/** Permissions (P_R/P_W/P_X, P_DIRTY) of entry `e`. */
// @ts-ignore: decorator
@inline export function entryPerms(e: usize): u32 { return load<u8>(e, E_PERMS); }
/** Page size log2 of entry `e`. */
// @ts-ignore: decorator
@inline export function entryLg2(e: usize): u32 { return load<u8>(e, E_LG2); }
/** Page size log2 | permissions (P_R/P_W/P_X) << 8 of entry `e`: a batch
 *  record's BRES_PAGE word, in one load. */
// @ts-ignore: decorator
@inline export function entryPageWord(e: usize): u32 { return <u32>load<u16>(e, E_LG2) & 0x7ff; }

// QUIRK_IOTLB_BEFORE_CONTEXT, QUIRK_IOTLB_BY_SID: match by source id; each
// entry's own DID decides its liveness.
function lookupBySid(sid: u32, pasid: u32, iova: u64): bool {
  const key = indexKey(sid, pasid & ~PRIV_FLAG);
  for (let slot: u32 = 0; slot < 3; slot++) {
    if (load<u32>(sizeCount + (slot << 2)) == 0) continue;
    const lg2 = 12 + 9 * slot;
    const vpn = iova >> lg2;
    const setNo = setIndex(hashOf(vpn, lg2, key));
    const set = table + <usize>(setNo * setStride);
    for (let w: u32 = 0; w < ways; w++) {
      const e = set + <usize>(w * ENTRY_BYTES);
      if (holdsBySid(e, sid, pasid, lg2, vpn)) { touchAndKeep(e); return true; }
    }
    if (spilled(setNo)) {
      for (let i: u32 = 0; i < spillUsed; i++) {
        const e = spill + <usize>(i * ENTRY_BYTES);
        if (holdsBySid(e, sid, pasid, lg2, vpn)) { touchAndKeep(e); return true; }
      }
    }
  }
  bump(STAT_IOTLB_MISSES);
  return false;
}

// Whether entry `e` is live and holds source id `sid`'s page `vpn` of size
// `lg2` for `pasid` (PRIV_FLAG must match).
// @ts-ignore: decorator
@inline function holdsBySid(e: usize, sid: u32, pasid: u32, lg2: u32, vpn: u64): bool {
  if (<u32>load<u8>(e, E_LG2) != lg2 || load<u64>(e, E_VPN) != vpn) return false;
  if (load<u32>(e, E_PASID) != pasid) return false;
  return <u32>load<u16>(e, E_SID) == sid && live(e);
}

/** Insert a successful translation. `fs` marks first-stage/nested entries;
 *  `pasid` may carry PRIV_FLAG; `bySid`: the entry is looked up by source
 *  id (its set-index key; QUIRK_IOTLB_BY_SID implies it). The victim: the
 *  first dead way, else a live way with the same tag (DID or, with
 *  QUIRK_IOTLB_BY_SID, source id, plus PASID, page), else the least
 *  recently used way. `fresh`: the caller's probe for this tag just missed,
 *  so no live way has it. */
export function iotlbInsert(did: u32, sid: u32, pasid: u32, fs: bool, iova: u64, lg2: u32, frame: u64, perms: u32, fresh: bool, bySid: bool): void {
  if (quirk(QUIRK_IOTLB_FLUSH_WHEN_FULL)) flushIfFull();
  const vpn = iova >> lg2;
  const tagBySid = quirk(QUIRK_IOTLB_BY_SID);
  const bare = pasid & ~PRIV_FLAG;
  const epoch = genEpoch(SPACE_IOTLB);
  if (genEpochWraps(SPACE_IOTLB) != wrapsSeen) {
    clearEpochs();
    wrapsSeen = genEpochWraps(SPACE_IOTLB);
  }
  const gG = genGlobal(SPACE_IOTLB);
  const gD = genDid(SPACE_IOTLB, did);
  const bucket = bucketOf(did, bare);
  const gB = genBucket(SPACE_IOTLB, bucket);
  // Looked up by source id but tagged by domain: the set index is the
  // source id's, so an entry of this tag filled by another device of the
  // domain sits in another set. One entry per tag: drop it (a full scan,
  // only in this configuration, which no QEMU profile has by default).
  if (bySid && !tagBySid) dropTag(did, pasid, lg2, vpn);
  const key = bySid || tagBySid ? indexKey(sid, bare) : bucket;
  let e = setBase(vpn, lg2, key);
  const end = e + <usize>setStride;
  let victim = e;
  let oldest: u32 = 0xffff_ffff;
  let takesDeadWay = false;
  let sameTag = false;
  for (; e < end; e += ENTRY_BYTES) {
    // A way filled at the current epoch is live (no generation changed
    // since, and dropping a way zeroes its epoch).
    // (Separate ifs rather than && chains: V8 then branches instead of
    // materialising each partial result.)
    if (load<u32>(e, E_EPOCH) != epoch) {
      if (!liveNear(e, did, bare, gG, gD, gB)) { victim = e; takesDeadWay = true; break; }
    }
    if (!fresh) {
      if (load<u64>(e, E_VPN) == vpn) {
        const owner = tagBySid ? <u32>load<u16>(e, E_SID) == sid : load<u32>(e, E_DID) == did;
        if (<u32>load<u8>(e, E_LG2) == lg2 && owner && load<u32>(e, E_PASID) == pasid) {
          victim = e;
          sameTag = true;
          break;
        }
      }
    }
    // Least recently used, with selects rather than a branch: which way is
    // oldest is unpredictable and a mispredicted branch costs more.
    const use = load<u32>(e, E_USE);
    const older = use < oldest;
    oldest = select<u32>(use, oldest, older);
    victim = select<usize>(e, victim, older);
  }
  let inSpill = false;
  if (!takesDeadWay && !sameTag && quirk(QUIRK_IOTLB_FLUSH_WHEN_FULL)) {
    // Every way is live: QEMU keeps them all, the new entry goes to the spill.
    const setNo = setIndex(hashOf(vpn, lg2, key));
    const s = spillSlot(setNo, did, sid, pasid, lg2, vpn, fresh, tagBySid);
    if (s != 0) { victim = s; inSpill = true; takesDeadWay = spillTookFree; }
  }
  if (takesDeadWay) fills++;
  const oldLg2 = <u32>load<u8>(victim, E_LG2);
  if (oldLg2 != 0) countSize(oldLg2, -1);
  countSize(lg2, 1);
  // Six 8-byte stores (field pairs per the layout above): fewer stores, and
  // later 8-byte loads of a pair never straddle two pending smaller stores.
  store<u64>(victim, <u64>did | (<u64>pasid << 32), E_DID);
  store<u64>(victim, <u64>epoch | (<u64>gG << 32), E_EPOCH);
  store<u64>(victim, vpn, E_VPN);
  store<u64>(victim, frame - (vpn << lg2), E_DELTA);
  const flags = (perms & 0xff) | (fs ? PERM_FS : 0);
  store<u64>(victim, <u64>(lg2 & 0xff) | <u64>flags << 8 | <u64>(sid & 0xffff) << 16 | <u64>(++tick) << 32, E_LG2);
  store<u64>(victim, <u64>gD | (<u64>gB << 32), E_GEN_D);
  if (!inSpill) setFingerprint(victim, vpn, lg2, key);
}

// spillSlot's answer: the slot was dead or unused (a fill that counts).
let spillTookFree = false;

// A spill slot for a fill of set `setNo`: the live entry with the same tag
// (unless `fresh`), else the first dead slot, else a new one; 0 without a
// reserved spill area (the caller then evicts its LRU way). Live
// entries never exceed CFG_IOTLB_MAX_ENTRIES <= QEMU_ENTRIES (flushIfFull),
// so a slot is always free.
function spillSlot(setNo: u32, did: u32, sid: u32, pasid: u32, lg2: u32, vpn: u64, fresh: bool, tagBySid: bool): usize {
  if (spill == 0) return 0;
  store<u8>(spillSets + setNo, 1);
  let free: usize = 0;
  for (let i: u32 = 0; i < spillUsed; i++) {
    const e = spill + <usize>(i * ENTRY_BYTES);
    if (!live(e)) { if (free == 0) free = e; continue; }
    if (fresh || <u32>load<u8>(e, E_LG2) != lg2 || load<u64>(e, E_VPN) != vpn || load<u32>(e, E_PASID) != pasid) continue;
    if (tagBySid ? <u32>load<u16>(e, E_SID) == sid : load<u32>(e, E_DID) == did) { spillTookFree = false; return e; }
  }
  spillTookFree = true;
  if (free != 0) return free;
  if (spillUsed >= QEMU_ENTRIES) return 0;
  return spill + <usize>(spillUsed++ * ENTRY_BYTES);
}

/** Reserve the spill area (setting QUIRK_IOTLB_FLUSH_WHEN_FULL does, so
 *  that nothing on the translation path allocates). Returns false when the
 *  state region cannot hold it. */
export function iotlbSpillReserve(): bool {
  if (spill != 0) return true;
  // One block (a failed allocation leaves nothing behind): set flags, then entries.
  const block = heapAlloc(<u64>MAX_SETS + <u64>QEMU_ENTRIES * ENTRY_BYTES, 64);
  if (block == 0) return false;
  spillSets = block;
  spill = block + <usize>MAX_SETS;
  return true;
}

// Whether entries of set `setNo` may be in the spill.
// @ts-ignore: decorator
@inline function spilled(setNo: u32): bool {
  return spillUsed != 0 && load<u8>(spillSets + setNo) != 0;
}

// Empty the spill (with the whole IOTLB).
function spillReset(): void {
  if (spillUsed == 0) return;
  spillUsed = 0;
  memory.fill(spillSets, 0, MAX_SETS);
}

// Record the fingerprint of way `e`, just filled with page `vpn` of size
// `lg2` under index key `key`. (A call of its own: iotlbInsert's way loop
// keeps its values in registers.)
function setFingerprint(e: usize, vpn: u64, lg2: u32, key: u32): void {
  const p = hashOf(vpn, lg2, key);
  const set = setIndex(p);
  const way = <u32>(e - table - <usize>(set * setStride)) / ENTRY_BYTES;
  store<u16>(fps + <usize>(set << fpShift) + (way << 1), <u16>fpOf(p));
}

// @ts-ignore: decorator
@inline function countSize(lg2: u32, delta: i32): void {
  const p = sizeCount + (sizeSlot(lg2) << 2);
  store<u32>(p, <u32>(<i32>load<u32>(p) + delta));
}

/** Empty the whole IOTLB in O(1) (global generation). */
export function iotlbDropAll(): void {
  bumpGlobal(SPACE_IOTLB);
  fills = 0;
  spillReset();
}

// QUIRK_IOTLB_FLUSH_WHEN_FULL: before a fill, empty the IOTLB when it holds
// CFG_IOTLB_MAX_ENTRIES live entries (counted only when the bound says it might).
function flushIfFull(): void {
  const max = cfg(CFG_IOTLB_MAX_ENTRIES);
  if (fills < max) return;
  const n = slotCount();
  let count: u32 = 0;
  for (let i: u32 = 0; i < n; i++) if (live(slotAt(i))) count++;
  fills = count;
  if (count >= max) iotlbDropAll();
}

/** Match filter of a page-range removal. */
export const MATCH_ANY_PASID: u32 = 0xffff_ffff;

/** Remove live entries of `did` (and `pasid` unless MATCH_ANY_PASID; only
 *  first-stage ones with fsOnly) whose page overlaps [start, last]; with
 *  allFs also every first-stage (or nested) entry of `did`, whatever its
 *  page (a full scan). Probes the sets the range maps to under index key
 *  `key` (every entry that can match has it), or scans the table when the
 *  key is NO_KEY or scanning is cheaper. With alias8 (QUIRK_PSI_ALIAS),
 *  4 KiB page numbers are compared through QEMU 7.2's 8-bit mask instead
 *  (a full scan). */
export function iotlbDropRange(did: u32, pasid: u32, fsOnly: bool, start: u64, last: u64, alias8: bool, am: u32, key: u32, allFs: bool = false): void {
  if (allFs) dropFsOfDomain(did, pasid);
  if (alias8 || key == NO_KEY || spillUsed != 0 || quirk(QUIRK_IOTLB_BY_SID)) { scanAll(did, pasid, fsOnly, start, last, alias8, am); return; }
  const sets = <u64>1 << setsLg2;
  for (let lg2: u32 = 12; lg2 <= 30; lg2 += 9) {
    if (load<u32>(sizeCount + (sizeSlot(lg2) << 2)) == 0) continue;
    const first = start >> lg2;
    const end = last >> lg2;
    if (end - first >= sets) { scanAll(did, pasid, fsOnly, start, last, false, am); return; }
    for (let vpn = first; vpn <= end; vpn++) {
      const set = setBase(vpn, lg2, key);
      for (let w: u32 = 0; w < ways; w++) {
        const e = set + <usize>(w * ENTRY_BYTES);
        if (<u32>load<u8>(e, E_LG2) == lg2 && load<u64>(e, E_VPN) == vpn) dropIf(e, did, pasid, fsOnly);
      }
    }
  }
}

function scanAll(did: u32, pasid: u32, fsOnly: bool, start: u64, last: u64, alias8: bool, am: u32): void {
  const n = slotCount();
  for (let i: u32 = 0; i < n; i++) {
    const e = slotAt(i);
    const lg2 = <u32>load<u8>(e, E_LG2);
    if (lg2 == 0) continue;
    const pageStart = load<u64>(e, E_VPN) << lg2;
    const pageLast = pageStart + ((<u64>1 << lg2) - 1);
    let hit = pageStart <= last && start <= pageLast;
    if (alias8) {
      // QEMU 7.2: (gfn & mask8) == (addr_gfn & mask8) || gfn == gfn of addr at the entry's size.
      const mask8: u64 = (<u64>0xff << am) & 0xff;
      const gfn = pageStart >> 12;
      hit = (gfn & mask8) == ((start >> 12) & mask8) || pageStart == ((start >> lg2) << lg2);
    }
    if (hit) dropIf(e, did, pasid, fsOnly);
  }
}

// Drops every first-stage (or nested) entry tagged `did` (and `pasid`
// unless MATCH_ANY_PASID), whatever its page. Full scan, without liveness
// checks (a hash and three loads per entry): an entry a generation already
// made dead may be dropped too, as nothing reads it and its size counts
// until then.
function dropFsOfDomain(did: u32, pasid: u32): void {
  const n = slotCount();
  for (let i: u32 = 0; i < n; i++) {
    const e = slotAt(i);
    if (load<u8>(e, E_LG2) == 0 || (<u32>load<u8>(e, E_PERMS) & PERM_FS) == 0 || load<u32>(e, E_DID) != did) continue;
    if (pasid == MATCH_ANY_PASID || (load<u32>(e, E_PASID) & ~KEY_FLAGS) == pasid) clearEntry(e);
  }
}

// Every live entry tagged (did, pasid with its flags, page of size lg2).
function dropTag(did: u32, pasid: u32, lg2: u32, vpn: u64): void {
  const n = slotCount();
  for (let i: u32 = 0; i < n; i++) {
    const e = slotAt(i);
    if (<u32>load<u8>(e, E_LG2) != lg2 || load<u64>(e, E_VPN) != vpn) continue;
    if (load<u32>(e, E_PASID) != pasid || load<u32>(e, E_DID) != did || !live(e)) continue;
    clearEntry(e);
  }
}

function dropIf(e: usize, did: u32, pasid: u32, fsOnly: bool): void {
  if (!live(e) || load<u32>(e, E_DID) != did) return;
  const key = load<u32>(e, E_PASID);
  if (pasid != MATCH_ANY_PASID && (key & ~KEY_FLAGS) != pasid) return;
  if (fsOnly && (<u32>load<u8>(e, E_PERMS) & PERM_FS) == 0) return;
  clearEntry(e);
}

// Empties entry `e` (holding a page).
// @ts-ignore: decorator
@inline function clearEntry(e: usize): void {
  countSize(<u32>load<u8>(e, E_LG2), -1);
  store<u8>(e, 0, E_LG2);
  store<u32>(e, 0, E_EPOCH);
}

/** Dump (cache/dump.ts): record = u32 did, u32 pasid (PASID_NONE when the
 *  request had none), u64 iova (page base), u64 output page address, u8 page
 *  size log2, u8 permissions (R 1, W 2, X 4, P_DIRTY 8;
 *  internal bits such as P_NEAR_INTR masked off), u16 source id,
 *  u32 flags (1 first-stage or nested walk, 2 supervisor request). */
export function iotlbDump(buf: usize, first: u32, max: u32): u32 {
  const n = slotCount();
  let count: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const e = slotAt(i);
    if (!live(e)) continue;
    const r = dumpRecord(buf, count++, first, max);
    if (r == 0) continue;
    const key = load<u32>(e, E_PASID);
    const lg2 = <u32>load<u8>(e, E_LG2);
    store<u32>(r, load<u32>(e, E_DID), 0);
    store<u32>(r, key & ~KEY_FLAGS, 4);
    store<u64>(r, load<u64>(e, E_VPN) << lg2, 8);
    store<u64>(r, entryFrame(e), 16);
    store<u8>(r, <u8>lg2, 24);
    store<u8>(r, load<u8>(e, E_PERMS) & 0xf, 25);
    store<u16>(r, load<u16>(e, E_SID), 26);
    store<u32>(r, ((<u32>load<u8>(e, E_PERMS) & PERM_FS) != 0 ? 1 : 0) | (key & PRIV_FLAG ? 2 : 0), 28);
  }
  return count;
}
