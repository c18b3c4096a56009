// The IOTLB probe goes to the way its fingerprint row points at (a 16-bit
// hash per way, four compared at once) instead of looping over the ways.
// Exactness whatever the geometry: a request hits iff a live entry with its
// tag and page is in the cache dump, after fills, LRU evictions and every
// kind of invalidation (which leave stale fingerprints behind), with rows of
// one word (up to 4 ways) and of several (up to 16), through the per-call
// and the batch paths alike.
import { describe, expect, it } from 'vitest';
import { Fixture, K } from './core-fixture.js';

const PASIDS = 12;
const PAGES = 24;
const DID = 7;

/** Scalable mode, one device (sid 0x18) with PASIDs 1..PASIDS of domain DID, first stage over the same IOVAs. */
async function fixture(setsLg2: number, ways: number): Promise<Fixture> {
  const f = await Fixture.create(64, [[K.CFG_IOTLB_SETS_LG2, setsLg2], [K.CFG_IOTLB_WAYS, ways]]);
  f.scalable();
  const dir = f.page();
  f.smContext(0x18, { pasidDir: dir });
  for (let p = 1; p <= PASIDS; p++) {
    const fs = f.page();
    f.pasidEntry(dir, p, { pgtt: 1, fsptr: fs, did: DID });
    for (let k = 0; k < PAGES; k++) f.fsMap(fs, 4, iovaOf(k), 0x100_0000n + BigInt(p * PAGES + k) * 0x1000n);
  }
  return f;
}

const iovaOf = (k: number): bigint => 0x4000_0000n + BigInt(k) * 0x1000n;

/** A deterministic pseudo-random sequence (xorshift32). */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

/** Whether the IOTLB dump holds a live entry for (pasid, page k). */
function cached(f: Fixture, pasid: number, k: number): boolean {
  return f.core.cacheContents().iotlb.some((e) => e.did === DID && e.pasid === pasid && e.iova === iovaOf(k) && e.pageLg2 === 12);
}

/** One request through the batch ring; returns its status and whether it hit the IOTLB (by the hit counter). */
function batchOne(f: Fixture, pasid: number, k: number): { status: number; hit: boolean; addr: bigint } {
  const before = f.core.stats()['iotlb_hits']!;
  const ring = f.core.batch;
  ring.set([0x18, pasid, Number(iovaOf(k) & 0xffff_ffffn), 0, K.ACC_READ | K.ACC_PASID, 0, 0, 0], 0);
  f.core.translateBatch(1);
  const addr = (BigInt(ring[K.BRES_ADDR_HI]!) << 32n) | BigInt(ring[K.BRES_ADDR_LO]!);
  return { status: ring[K.BRES_STATUS]!, hit: f.core.stats()['iotlb_hits']! > before, addr };
}

function invalidateSome(f: Fixture, next: () => number): void {
  const pick = next() % 16;
  if (pick === 0) f.core.invPasidIotlb(DID, 1 + (next() % PASIDS));
  else if (pick === 1) f.core.invPasidIotlbPage(DID, 1 + (next() % PASIDS), iovaOf(next() % PAGES), 0, 1);
  else if (pick === 2) f.core.invIotlbDomain(DID);
  else if (pick === 3 && next() % 4 === 0) f.core.invIotlbGlobal();
}

describe('IOTLB fingerprint probe', () => {
  for (const [setsLg2, ways] of [[0, 16], [1, 7], [2, 5], [3, 4], [4, 2], [2, 1]] as const) {
    it(`${1 << setsLg2} sets x ${ways} ways: a request hits iff its entry is live, per call and batched, through fills, evictions and invalidations`, async () => {
      const f = await fixture(setsLg2, ways);
      const next = rng(0x9e37 + setsLg2 * 31 + ways);
      let hits = 0, misses = 0;
      for (let i = 0; i < 700; i++) {
        // Mostly a hot set that fits even the smallest geometry, else any page.
        const hot = next() % 10 < 7;
        const pasid = 1 + (next() % (hot ? 2 : PASIDS)), k = next() % (hot ? 2 : PAGES);
        const expectHit = cached(f, pasid, k);
        const want = 0x100_0000n + BigInt(pasid * PAGES + k) * 0x1000n;
        if (i % 2 === 0) {
          const t = f.tr(0x18, iovaOf(k), K.ACC_READ | K.ACC_PASID, pasid);
          expect(t.ok, `request ${i}`).toBe(true);
          expect(t.addr).toBe(want);
          expect(t.source === K.SRC_IOTLB, `request ${i} (pasid ${pasid}, page ${k})`).toBe(expectHit);
        } else {
          const b = batchOne(f, pasid, k);
          expect(b.status, `request ${i}`).toBe(0);
          expect(b.addr).toBe(want);
          expect(b.hit, `request ${i} (pasid ${pasid}, page ${k})`).toBe(expectHit);
        }
        if (expectHit) hits++; else misses++;
        if (i % 7 === 6) invalidateSome(f, next);
      }
      // Both outcomes were exercised (the cache holds some of the 288 pages, not all).
      expect(hits).toBeGreaterThan(100);
      expect(misses).toBeGreaterThan(100);
    });
  }
});
