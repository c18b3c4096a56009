// Decoded-setup cache (a model-internal memo, not a VT-d cache): what a
// scalable-mode lookup (ctx/scalable.ts) or a legacy one (ctx/legacy.ts,
// translated contexts only) concluded for a request class —
// translation kind, domain, effective PASID, FPD/PRE, table roots, widths,
// privilege — so that a request whose context entry and PASID entry both
// hit their caches skips re-decoding them (reserved/PGTT/SRE/ERE checks).
//
// An entry is only stored after a successful lookup through the context
// (and, scalable, PASID) caches, and every context-cache change (insert,
// flag change), every invalidation of either cache and every configuration
// change bumps one epoch that invalidates every entry here. So an entry
// decides what the full lookup through the cached entries would decide.
// It may outlive the PASID-cache entry it was decoded from when another
// (source id, PASID) evicts that one from its direct-mapped slot: it then
// acts as a larger PASID cache, which the spec allows (a cached entry may be
// used until an invalidation covers it), and many PASIDs whose slots
// collide do not empty every setup at each refill (the context cache has a
// slot per source id: it never evicts). Its users bump the context- and
// PASID-cache hit counters as a hit in both.

import { heapAlloc } from '../mem/heap';
import { ACC_EXEC, ACC_PASID, ACC_PRIV, ACC_TRANSLATION_REQ } from '../abi/layout';

const SC_LG2: u32 = 12;
// Entry layout (64 bytes, one cache line).
const E_KEY = 0;      // u32 sid | class << 16 | VALID
const E_PASID = 4;    // u32 request PASID (0 without ACC_PASID)
const E_EPOCH = 8;    // u32 setupEpoch when stored
const E_FLAGS = 12;   // u32 kind | F_* flags
// 16..31: the IOTLB probe key (cache/iotlb.ts PK_TAG 0, PK_BUCKET 8, PK_MIX 12).
const E_DID = 16;     // u32 domain id
const E_TAG = 20;     // u32 IOTLB PASID key (effective PASID | PRIV_FLAG for supervisor first stage; E_DID and E_TAG load as one u64, the IOTLB tag)
const E_BUCKET = 24;  // u32 IOTLB generation bucket of (DID, PASID)
const E_MIX = 28;     // u32 the bucket's IOTLB key mix (cache/iotlb.ts iotlbKeyMix)
const E_SS_ROOT = 32; // u64 second-stage root
const E_FS_ROOT = 40; // u64 first-stage root
const E_IN_BIAS = 48; // u64 input-width check: added to the input address (scInputOk)
const E_EFF = 56;     // u32 effective PASID
const E_SS_AW = 60;   // u8 second-stage AW encoding
const E_FS_TOP = 61;  // i8 first-stage top level
const E_IN_CLZ = 62;  // u8 input-width check: least leading zeros of input + bias (scInputOk)
const ENTRY_BYTES: u32 = 64;
const VALID: u32 = 0x8000_0000;

/** Setup flag: an FPD was set on the lookup path. */
export const SF_FPD: u32 = 1 << 8;
/** Setup flag: scalable context PRE. */
export const SF_PRE: u32 = 1 << 9;
/** Setup flag: second-stage SSEE. */
export const SF_SSEE: u32 = 1 << 10;
/** Setup flag: privileged (supervisor) request. */
export const SF_PRIV: u32 = 1 << 11;
/** Setup flag: PASID-entry WPE. */
export const SF_WPE: u32 = 1 << 12;
/** Setup flag: a legacy-mode setup (root/context entries, no PASID cache). */
export const SF_LEGACY: u32 = 1 << 13;
/** Mask of the kind (XK_*) in the flags word. */
export const SF_KIND_MASK: u32 = 0xff;

let table: usize = 0;
let setupEpoch: u32 = 1;

/** The current epoch (changes whenever every entry is dropped). */
// @ts-ignore: decorator
@inline export function scEpoch(): u32 { return setupEpoch; }

/** Allocate the cache (once, at instantiation). Returns false when the
 *  state region cannot hold it. */
export function scInit(): bool {
  table = heapAlloc(<u64>ENTRY_BYTES << SC_LG2, 64);
  return table != 0;
}

/** Forget every entry in O(1). Called on any change of the context or
 *  PASID caches and of the configuration. */
export function scDropAll(): void {
  setupEpoch++;
  if (setupEpoch == 0) { // wrapped: old epochs could match again
    memory.fill(table, 0, <usize>(ENTRY_BYTES << SC_LG2));
    setupEpoch = 1;
  }
}

// The access bits a lookup's result depends on: PASID, PRIV, EXEC, TR.
// @ts-ignore: decorator
@inline function keyOf(sid: u32, access: u32): u32 {
  return sid | ((access & (ACC_EXEC | ACC_PRIV | ACC_PASID | ACC_TRANSLATION_REQ)) << 14) | VALID;
}

// @ts-ignore: decorator
@inline function slotOf(sid: u32, pasid: u32): usize {
  const h = (sid * 0x9e3779b1 ^ pasid * 0x85ebca6b) * 0xc2b2ae35;
  return table + <usize>((h >>> (32 - SC_LG2)) * ENTRY_BYTES);
}

/** The live entry for (sid, request pasid, access class), or 0. */
// @ts-ignore: decorator
@inline export function scFind(sid: u32, pasid: u32, access: u32): usize {
  const p = (access & ACC_PASID) != 0 ? pasid : 0;
  const e = slotOf(sid, p);
  // Key and PASID in one compare. (Nested ifs: V8 branches rather than
  // materialising partial results.)
  if (load<u64>(e, E_KEY) == (<u64>keyOf(sid, access) | (<u64>p << 32))) {
    if (load<u32>(e, E_EPOCH) == setupEpoch) return e;
  }
  return 0;
}

/** Store a successful lookup's result. */
export function scStore(sid: u32, pasid: u32, access: u32, flags: u32, did: u32, eff: u32, ssRoot: u64, ssAw: u32, fsRoot: u64, fsTop: i32,
  tag: u32, bucket: u32, keyMix: u32, width: u32, canonical: bool): void {
  const p = (access & ACC_PASID) != 0 ? pasid : 0;
  const e = slotOf(sid, p);
  store<u32>(e, keyOf(sid, access), E_KEY);
  store<u32>(e, p, E_PASID);
  store<u32>(e, setupEpoch, E_EPOCH);
  store<u32>(e, flags, E_FLAGS);
  store<u32>(e, did, E_DID);
  store<u32>(e, eff, E_EFF);
  store<u64>(e, ssRoot, E_SS_ROOT);
  store<u64>(e, fsRoot, E_FS_ROOT);
  store<u8>(e, <u8>ssAw, E_SS_AW);
  store<i8>(e, <i8>fsTop, E_FS_TOP);
  store<u32>(e, tag, E_TAG);
  store<u32>(e, bucket, E_BUCKET);
  store<u32>(e, keyMix, E_MIX);
  // Input width as one check without a variable shift (scInputOk): an
  // address below 2^width has at least 64 - width leading zeros; a
  // canonical one (first stage: bits 63..width-1 all equal) is one that
  // 2^(width-1) added (wrapping) brings below 2^width.
  store<u64>(e, canonical ? <u64>1 << (width - 1) : 0, E_IN_BIAS);
  store<u8>(e, <u8>(64 - min(width, 64)), E_IN_CLZ);
}

/** Flags word (kind | SF_*) of entry `e`. */
// @ts-ignore: decorator
@inline export function scFlags(e: usize): u32 { return load<u32>(e, E_FLAGS); }
/** Domain id of entry `e`. */
// @ts-ignore: decorator
@inline export function scDid(e: usize): u32 { return load<u32>(e, E_DID); }
/** Effective PASID of entry `e`. */
// @ts-ignore: decorator
@inline export function scEff(e: usize): u32 { return load<u32>(e, E_EFF); }
/** Second-stage root of entry `e`. */
// @ts-ignore: decorator
@inline export function scSsRoot(e: usize): u64 { return load<u64>(e, E_SS_ROOT); }
/** Second-stage AW encoding of entry `e`. */
// @ts-ignore: decorator
@inline export function scSsAw(e: usize): u32 { return load<u8>(e, E_SS_AW); }
/** First-stage root of entry `e`. */
// @ts-ignore: decorator
@inline export function scFsRoot(e: usize): u64 { return load<u64>(e, E_FS_ROOT); }
/** First-stage top level of entry `e`. */
// @ts-ignore: decorator
@inline export function scFsTop(e: usize): i32 { return load<i8>(e, E_FS_TOP); }
/** Address of entry `e`'s IOTLB probe key (cache/iotlb.ts PK_*). */
// @ts-ignore: decorator
@inline export function scProbeKey(e: usize): usize { return e + E_DID; }
/** IOTLB PASID key of entry `e`. */
// @ts-ignore: decorator
@inline export function scTag(e: usize): u32 { return load<u32>(e, E_TAG); }
/** Whether `iova` passes entry `e`'s input-width check (canonical for a
 *  first-stage setup, below the address width for a second-stage one). */
// @ts-ignore: decorator
@inline export function scInputOk(e: usize, iova: u64): bool {
  return <u32>clz(iova + load<u64>(e, E_IN_BIAS)) >= <u32>load<u8>(e, E_IN_CLZ);
}
