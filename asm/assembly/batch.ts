// Batch translation: the host writes N request records (BREQ_*) into a ring
// in linear memory and makes one call; each record's first four words are
// overwritten with its result (BRES_*). A fast-path hit (fast.ts) goes
// straight to the record, without the out-buffer.

import {
  BATCH_CAPACITY, BREQ_ACCESS, BREQ_BUF, BREQ_IOVA_LO, BREQ_LEN, BREQ_PASID, BREQ_SID, BREQ_WORDS,
  BRES_ADDR_HI, BRES_ADDR_LO, BRES_PAGE, BRES_STATUS, OUT_ADDR_HI, OUT_ADDR_LO, OUT_PAGE_LG2, OUT_PERMS,
  STAT_CTX_HITS, STAT_IOTLB_HITS, STAT_PASID_HITS, STAT_TRANSLATIONS,
} from './abi/layout';
import { outGet } from './out';
import { translateSlow } from './translate';
import { FAST_MISS, fastAddr, fastEntry, fastMiss, NOT_FAST, setFastSetup } from './fast';
import { entryPageWord, iotlbEpochGen, iotlbSetTick, iotlbStamp, iotlbTick } from './cache/iotlb';
import { scFind } from './cache/setup-cache';
import { rootTtm } from './ctx/device';
import { TTM_SCALABLE } from './spec/registers';
import { bumpBy } from './stats';
import { dmaCopy } from './dma';
import { heapAlloc } from './mem/heap';

/** Base of the request ring (BATCH_CAPACITY records of BREQ_WORDS u32; set once, at instantiation). */
export let BATCH: usize = 0;

/** Allocate the ring. Returns false when the state region cannot hold it. */
export function batchInit(): bool {
  BATCH = heapAlloc(<u64>BATCH_CAPACITY * BREQ_WORDS * 4, 64);
  return BATCH != 0;
}

/** Handle records 0..n-1 (n clamped to the capacity); with copy != 0 each is
 *  a dmaCopy. Returns the number that succeeded. */
export function translateBatch(n: u32, copy: u32): u32 {
  if (n > BATCH_CAPACITY) n = BATCH_CAPACITY;
  return copy != 0 ? copyAll(n) : translateAll(n);
}

// @ts-ignore: decorator
@inline function record(i: u32): usize { return BATCH + <usize>(i * BREQ_WORDS * 4); }
// The IOVA words (lo, then hi: BREQ_IOVA_HI = BREQ_IOVA_LO + 1) as one little-endian u64 load.
// @ts-ignore: decorator
@inline function iovaOf(r: usize): u64 {
  return load<u64>(r + (BREQ_IOVA_LO << 2));
}

// Each record a dmaCopy.
function copyAll(n: u32): u32 {
  let ok: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const r = record(i);
    const status = dmaCopy(load<u32>(r + (BREQ_SID << 2)), load<u32>(r + (BREQ_PASID << 2)), iovaOf(r), load<u32>(r + (BREQ_LEN << 2)),
      load<u32>(r + (BREQ_ACCESS << 2)), load<u32>(r + (BREQ_BUF << 2)));
    if (storeResult(r, status)) ok++;
  }
  return ok;
}

// The status, and the out-buffer's answer on success, into record r.
function storeResult(r: usize, status: u32): bool {
  store<u32>(r + (BRES_STATUS << 2), status);
  const ok = status == 0;
  store<u32>(r + (BRES_ADDR_LO << 2), ok ? outGet(OUT_ADDR_LO) : 0);
  store<u32>(r + (BRES_ADDR_HI << 2), ok ? outGet(OUT_ADDR_HI) : 0);
  store<u32>(r + (BRES_PAGE << 2), ok ? outGet(OUT_PAGE_LG2) | (outGet(OUT_PERMS) << 8) : 0);
  return ok;
}

// translate() for each record: runs of fast-path hits (hitRun), each
// request the fast path does not settle between them, the common miss
// (fastMiss) or else through the full path. The two are separate functions on purpose: wasm engines keep no
// register across a call, so a loop that contains the full path's call
// would spill the hit loop's values on every iteration.
function translateAll(n: u32): u32 {
  runOk = 0;
  let i = hitRun(0, n);
  while (i < n) {
    const r = record(i);
    const sid = load<u32>(r + (BREQ_SID << 2)) & 0xffff;
    const iova = iovaOf(r);
    const access = load<u32>(r + (BREQ_ACCESS << 2));
    if (runEntry == FAST_MISS && fastMiss(r, runSetup, sid, iova, access)) {
      runOk++;
    } else {
      setFastSetup(runSetup);
      const status = translateSlow(sid, load<u32>(r + (BREQ_PASID << 2)), iova, access, runEntry == FAST_MISS);
      if (storeResult(r, status)) runOk++;
    }
    i = hitRun(i + 1, n);
  }
  bumpBy(STAT_TRANSLATIONS, n);
  return runOk;
}

// What the last hitRun left: successes so far, and for the request it
// stopped at, its decoded setup and what tryFast found (FAST_MISS / NOT_FAST).
let runOk: u32 = 0;
let runSetup: usize = 0;
let runEntry: usize = 0;

// Records i.. while each is a fast-path hit; returns the index of the first
// that is not (n: all were). No call inside. The IOTLB's global generation
// and epoch cannot change during a run (only invalidations do), so they are
// read once; the LRU tick is counted in a local, the hits are the records
// passed, both stored back at the end of the run.
function hitRun(first: u32, n: u32): u32 {
  const epochGen = iotlbEpochGen();
  let tick = iotlbTick();
  const ring = BATCH;
  let i = first;
  for (; i < n; i++) {
    const r = ring + <usize>(i * BREQ_WORDS * 4);
    const sid = load<u32>(r + (BREQ_SID << 2)) & 0xffff;
    const pasid = load<u32>(r + (BREQ_PASID << 2));
    const iova = iovaOf(r);
    const access = load<u32>(r + (BREQ_ACCESS << 2));
    const s = scFind(sid, pasid, access);
    const e = s != 0 ? fastEntry(s, iova, access, epochGen) : NOT_FAST;
    if (e <= NOT_FAST) {
      runSetup = s;
      runEntry = e;
      break;
    }
    // commitFast, with the tick in a local and the counters at the end
    iotlbStamp(e, ++tick);
    store<u32>(r + (BRES_STATUS << 2), 0);
    store<u64>(r + (BRES_ADDR_LO << 2), fastAddr(e, iova)); // lo, hi (BRES_ADDR_HI = BRES_ADDR_LO + 1) in one store
    store<u32>(r + (BRES_PAGE << 2), entryPageWord(e));
  }
  const hits = i - first;
  if (hits != 0) {
    iotlbSetTick(tick);
    runOk += hits;
    bumpBy(STAT_CTX_HITS, hits); // a stored setup stands for a context-cache hit
    // and, scalable, a PASID-cache hit: a live setup was decoded in the
    // current root-table mode (setting the root table empties every cache)
    if (rootTtm == TTM_SCALABLE) bumpBy(STAT_PASID_HITS, hits);
    bumpBy(STAT_IOTLB_HITS, hits);
  }
  return i;
}
