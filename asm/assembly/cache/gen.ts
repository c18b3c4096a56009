// Generation counters: how domain- and PASID-selective invalidations stay
// O(1) in the size of a cache. Every cache entry records, when filled, the
// cache's global generation, its domain's generation and its (DID, PASID)
// bucket's generation; it is valid only while all three are unchanged.
// Bumping a counter drops every entry it covers at once. Two (DID, PASID)
// pairs may share a bucket: invalidating one then also drops the other's
// entries, an over-invalidation the spec allows.

import { heapAlloc } from '../mem/heap';
import { scDropAll } from './setup-cache';

/** Number of domain ids (16-bit DID). */
export const DID_COUNT: u32 = 65536;
/** log2 of the number of (DID, PASID) buckets. */
export const BUCKET_LG2: u32 = 12;

/** A generation space: a global counter + per-DID + per-bucket arrays. */
export const SPACE_IOTLB: u32 = 0;
/** Paging-structure caches. */
export const SPACE_PSC: u32 = 1;
/** Context cache. */
export const SPACE_CTX: u32 = 2;
/** PASID cache. */
export const SPACE_PASID: u32 = 3;
const SPACES: u32 = 4;

// Per space, 8 bytes: the epoch (u32), then the global generation (u32), so
// that both load as one u64 (genEpochGlobal). The epoch changes with every
// bump of any of the space's counters: an entry filled at the current epoch
// (and global generation) is live without looking at its DID and bucket
// generations.
let epochGlobal: usize = 0;
let epochWraps: usize = 0;
// Per DID and per bucket, the spaces' generations side by side (index
// id * SPACES + space): an invalidation that bumps the IOTLB's and the
// paging-structure caches' generation of one domain or bucket touches one
// cache line.
let didGen: usize = 0;
let bucketGen: usize = 0;

/** Allocate the counters (once, at instantiation). Returns false when the
 *  state region cannot hold them. */
export function genInit(): bool {
  epochGlobal = heapAlloc(<u64>SPACES * 4 * 3, 64);
  didGen = heapAlloc(<u64>SPACES * DID_COUNT * 4, 64);
  bucketGen = heapAlloc(<u64>SPACES << (BUCKET_LG2 + 2), 64);
  if (epochGlobal == 0 || didGen == 0 || bucketGen == 0) return false;
  epochWraps = epochGlobal + SPACES * 8;
  for (let s: u32 = 0; s < SPACES; s++) store<u64>(epochGlobal + (s << 3), 1 | (<u64>1 << 32));
  return true;
}

/** The (DID, PASID) bucket index. */
// @ts-ignore: decorator
@inline export function bucketOf(did: u32, pasid: u32): u32 {
  return ((did * 0x9e3779b1) ^ (pasid * 0x85ebca6b)) >>> (32 - BUCKET_LG2);
}

/** The global generation of `space`. */
// @ts-ignore: decorator
@inline export function genGlobal(space: u32): u32 {
  return load<u32>(epochGlobal + (space << 3), 4);
}
/** The generation of domain `did` in `space`. */
// @ts-ignore: decorator
@inline export function genDid(space: u32, did: u32): u32 {
  return load<u32>(didGen + (((did & 0xffff) * SPACES + space) << 2));
}
/** The generation of bucket `b` in `space`. */
// @ts-ignore: decorator
@inline export function genBucket(space: u32, b: u32): u32 {
  return load<u32>(bucketGen + ((b * SPACES + space) << 2));
}

/** How many times the epoch of `space` wrapped around (caches holding
 *  epochs forget them when this changes). */
// @ts-ignore: decorator
@inline export function genEpochWraps(space: u32): u32 {
  return load<u32>(epochWraps + (space << 2));
}

/** The epoch of `space`: unchanged while none of its generations changed. */
// @ts-ignore: decorator
@inline export function genEpoch(space: u32): u32 {
  return load<u32>(epochGlobal + (space << 3));
}

/** genEpoch(space) | genGlobal(space) << 32, in one load. */
// @ts-ignore: decorator
@inline export function genEpochGlobal(space: u32): u64 {
  return load<u64>(epochGlobal + (space << 3));
}

// Every bump: a new epoch (on wrap-around also a new global generation, so
// that entries of an old epoch equal to a new one are not live); the
// decoded-setup cache depends on the context and PASID caches.
function noteSpace(space: u32): void {
  if (space == SPACE_CTX || space == SPACE_PASID) scDropAll();
  const p = epochGlobal + (space << 3);
  const next = load<u32>(p) + 1;
  store<u32>(p, next);
  if (next == 0) {
    store<u32>(p, 1);
    store<u32>(p, load<u32>(p, 4) + 1, 4);
    const w = epochWraps + (space << 2);
    store<u32>(w, load<u32>(w) + 1);
  }
}

/** Drop every entry of `space`. */
export function bumpGlobal(space: u32): void {
  noteSpace(space);
  const p = epochGlobal + (space << 3);
  store<u32>(p, load<u32>(p, 4) + 1, 4);
}
/** Drop every entry of `space` tagged with `did`. */
export function bumpDid(space: u32, did: u32): void {
  noteSpace(space);
  const p = didGen + (((did & 0xffff) * SPACES + space) << 2);
  store<u32>(p, load<u32>(p) + 1);
}
/** Drop every entry of `space` tagged with (did, pasid) (and its bucket mates). */
export function bumpBucket(space: u32, did: u32, pasid: u32): void {
  noteSpace(space);
  const p = bucketGen + ((bucketOf(did, pasid) * SPACES + space) << 2);
  store<u32>(p, load<u32>(p) + 1);
}
