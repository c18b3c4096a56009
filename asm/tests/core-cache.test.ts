// Caches and invalidation: IOTLB, context cache, PASID cache and
// paging-structure caches (hits, misses, counters), and every invalidation
// scope: a stale translation survives until the required invalidation and is
// gone after it; domain invalidation is O(1) in the IOTLB size.
import { describe, expect, it } from 'vitest';
import { Fixture, K, legacyFixture } from './core-fixture.js';

const SID = 0x18;

describe('IOTLB', () => {
  it('counts misses, walks, PTE reads and hits; never caches faults', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    f.core.statsReset();
    expect(f.tr(sid, 0x1000n).ok).toBe(true);
    let s = f.core.stats();
    expect(s).toMatchObject({ iotlb_misses: 1, iotlb_hits: 0, walks: 1, pte_reads: 3, ctx_misses: 1 });
    expect(f.tr(sid, 0x1ff0n).source).toBe(K.SRC_IOTLB);
    s = f.core.stats();
    expect(s).toMatchObject({ iotlb_hits: 1, walks: 1, ctx_hits: 1 });
    f.tr(sid, 0x9000n); // not present
    f.tr(sid, 0x9000n);
    expect(f.core.stats().walks).toBe(3);
    expect(f.core.stats().faults).toBe(2);
  });

  it('paging-structure cache: a miss next to a recent miss reads only the leaf level', async () => {
    const { f, ss, sid } = await legacyFixture([], 3); // 5 levels
    for (let i = 0n; i < 4n; i++) f.ssMap(ss, 5, 0x10_0000_0000n + i * 0x1000n, 0x20_0000n + i * 0x1000n);
    expect(f.tr(sid, 0x10_0000_0000n).ok).toBe(true);
    f.core.statsReset();
    expect(f.tr(sid, 0x10_0000_1000n).ok).toBe(true);
    expect(f.core.stats()).toMatchObject({ walks: 1, pte_reads: 1, psc_hits: 1 });
    // QUIRK_NO_PSC: every level again
    f.core.setConfig(K.CFG_QUIRKS, K.QUIRK_NO_PSC);
    f.tr(sid, 0x10_0000_0000n);
    f.core.statsReset();
    f.tr(sid, 0x10_0000_2000n);
    expect(f.core.stats().pte_reads).toBe(5);
  });

  it('set-associative with LRU replacement: a small IOTLB evicts the least recently used way', async () => {
    const { f, ss, sid } = await legacyFixture([[K.CFG_IOTLB_SETS_LG2, 0], [K.CFG_IOTLB_WAYS, 2]]);
    expect(f.core.unsafeExports.iotlbCapacity()).toBe(2);
    for (const p of [1n, 2n, 3n]) f.ssMap(ss, 3, p << 12n, 0x20_0000n + (p << 12n));
    f.tr(sid, 0x1000n);
    f.tr(sid, 0x2000n);
    f.tr(sid, 0x1000n); // 1 is now most recent
    f.tr(sid, 0x3000n); // evicts 2
    expect(f.tr(sid, 0x1000n).source).toBe(K.SRC_IOTLB);
    expect(f.tr(sid, 0x2000n).source).toBe(K.SRC_WALK);
  });

  it('a cached read-only page is re-walked on a write (spec): the new permission is seen', async () => {
    const { f, ss, sid } = await legacyFixture();
    const leaf = f.ssMap(ss, 3, 0x1000n, 0x20_0000n, { w: false });
    expect(f.tr(sid, 0x1000n).ok).toBe(true);
    expect(f.tr(sid, 0x1000n, K.ACC_WRITE).fault).toBe(K.FR_WRITE);
    f.put(leaf, f.mem.readU64(leaf) | 2n);
    expect(f.tr(sid, 0x1000n, K.ACC_WRITE).ok).toBe(true);
  });
});

describe('invalidation scopes (stale until invalidated, gone after)', () => {
  /** Maps 0x1000 -> A, translates (cached), remaps to B in memory. */
  async function stale(aw = 1): Promise<{ f: Fixture; ss: bigint; leaf: bigint }> {
    const { f, ss } = await legacyFixture([], aw);
    const leaf = f.ssMap(ss, aw + 2, 0x1000n, 0x20_0000n);
    expect(f.tr(SID, 0x1000n).addr).toBe(0x20_0000n);
    f.put(leaf, 0x30_0003n);
    expect(f.tr(SID, 0x1000n).addr).toBe(0x20_0000n);
    return { f, ss, leaf };
  }

  it('global IOTLB', async () => {
    const { f } = await stale();
    f.core.invContextGlobal();
    expect(f.tr(SID, 0x1000n).addr).toBe(0x20_0000n); // context invalidation does not touch the IOTLB
    f.core.invIotlbGlobal();
    expect(f.tr(SID, 0x1000n).addr).toBe(0x30_0000n);
  });

  it('domain-selective IOTLB: other domains keep their entries', async () => {
    const { f, ss } = await stale();
    const other = 0x20;
    f.context(other, { ssptr: ss, did: 2 });
    expect(f.tr(other, 0x1000n).addr).toBe(0x30_0000n);
    f.put(ss, 0n); // both domains' tables now empty
    f.core.invIotlbDomain(2);
    expect(f.tr(SID, 0x1000n).addr).toBe(0x20_0000n);
    expect(f.tr(other, 0x1000n).fault).toBe(K.FR_READ);
    f.core.invIotlbDomain(1);
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_READ);
  });

  it('page-selective with AM covers 2^AM pages, aligned down; other pages and domains stay', async () => {
    const { f, ss } = await stale();
    const leaf5 = f.ssMap(ss, 3, 0x5000n, 0x25_0000n);
    f.tr(SID, 0x5000n);
    f.put(leaf5, 0x35_0003n);
    f.core.invIotlbPage(1, 0x4000n, 0, 0);
    expect(f.tr(SID, 0x1000n).addr).toBe(0x20_0000n);
    expect(f.tr(SID, 0x5000n).addr).toBe(0x25_0000n);
    f.core.invIotlbPage(2, 0x1000n, 0, 0);
    expect(f.tr(SID, 0x1000n).addr).toBe(0x20_0000n);
    f.core.invIotlbPage(1, 0x3000n, 2, 0); // 0x0000-0x3fff
    expect(f.tr(SID, 0x1000n).addr).toBe(0x30_0000n);
    expect(f.tr(SID, 0x5000n).addr).toBe(0x25_0000n);
    f.core.invIotlbPage(1, 0x5000n, 0, 1);
    expect(f.tr(SID, 0x5000n).addr).toBe(0x35_0000n);
  });

  it('page-selective removes a superpage entry covering the address', async () => {
    const { f, ss } = await legacyFixture([], 2);
    const leaf = f.ssMap(ss, 4, 0x4000_0000n, 0x20_0000n, { lg2: 21 });
    expect(f.tr(SID, 0x4010_0000n).addr).toBe(0x30_0000n);
    f.put(leaf, 0x60_0083n);
    f.core.invIotlbPage(1, 0x4010_0000n, 0, 1);
    expect(f.tr(SID, 0x4010_0000n).addr).toBe(0x70_0000n);
  });

  it('IH=1 walk reuses the stale paging-structure entry; IH=0 does not', async () => {
    const { f, ss } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    f.tr(SID, 0x1000n);
    const oldL0 = f.mem.readU64(f.mem.readU64(ss) & ~0xfffn) & ~0xfffn;
    const newL1 = f.page();
    const newL0 = f.page();
    f.put(ss, newL1 | 3n);
    f.put(newL1, newL0 | 3n);
    f.put(newL0 + 8n, 0x40_0003n);
    f.put(oldL0 + 8n, 0x30_0003n);
    f.core.invIotlbPage(1, 0x1000n, 0, 1);
    expect(f.tr(SID, 0x1000n).addr).toBe(0x30_0000n); // cached L1 entry still names the old leaf table
    f.core.invIotlbPage(1, 0x1000n, 0, 0);
    expect(f.tr(SID, 0x1000n).addr).toBe(0x40_0000n);
  });

  it('context cache: global, domain and device (function mask) invalidation', async () => {
    const { f, ss } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    const sids = [0x18, 0x1c, 0x1a]; // 00:03.0, 00:03.4, 00:03.2
    for (const s of sids) f.context(s, { ssptr: ss, did: 1 });
    for (const s of sids) f.tr(s, 0x1000n);
    for (const s of sids) f.context(s, { ssptr: ss, p: false });
    f.core.invIotlbGlobal();
    for (const s of sids) expect(f.tr(s, 0x1000n).ok).toBe(true); // cached context entries
    f.core.invContextDevice(1, 0x18, 1); // masks SID[2]: 0x18 and 0x1c
    expect(f.tr(0x18, 0x1000n).fault).toBe(K.FR_CTX_NP);
    expect(f.tr(0x1c, 0x1000n).fault).toBe(K.FR_CTX_NP);
    expect(f.tr(0x1a, 0x1000n).ok).toBe(true);
    f.core.invContextDomain(2);
    expect(f.tr(0x1a, 0x1000n).ok).toBe(true);
    f.core.invContextDomain(1);
    expect(f.tr(0x1a, 0x1000n).fault).toBe(K.FR_CTX_NP);
  });

  it('domain invalidation is O(1) in the IOTLB size', async () => {
    const time = async (setsLg2: number): Promise<number> => {
      const { f } = await legacyFixture([[K.CFG_IOTLB_SETS_LG2, setsLg2], [K.CFG_IOTLB_WAYS, 16]]);
      const inv = f.core.unsafeExports.invIotlbDomain;
      for (let i = 0; i < 2000; i++) inv(i & 0xffff);
      const t0 = performance.now();
      for (let i = 0; i < 20000; i++) inv(i & 0xffff);
      return performance.now() - t0;
    };
    const small = await time(0); // 16 slots
    const large = await time(12); // 65536 slots
    // a scan of 65536 slots 20000 times would take seconds
    expect(large).toBeLessThan(Math.max(250, small * 10));
  });
});

describe('scalable caches: PASID cache and PASID-based invalidation', () => {
  async function smFs(): Promise<{ f: Fixture; dir: bigint; fs: bigint; leaf: bigint }> {
    const f = await Fixture.create(32);
    f.scalable();
    const dir = f.page();
    const fs = f.page();
    f.smContext(SID, { pasidDir: dir });
    f.pasidEntry(dir, 5, { pgtt: 1, fsptr: fs, did: 3 });
    f.pasidEntry(dir, 6, { pgtt: 1, fsptr: fs, did: 3 });
    const leaf = f.fsMap(fs, 4, 0x1000n, 0x20_0000n);
    return { f, dir, fs, leaf };
  }

  it('PASID cache hits; an entry change is seen only after a covering PASID-cache invalidation', async () => {
    const { f, dir, fs } = await smFs();
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).ok).toBe(true);
    f.core.statsReset();
    f.tr(SID, 0x1000n, K.ACC_READ, 5);
    expect(f.core.stats()).toMatchObject({ pasid_hits: 1, pasid_misses: 0 });
    f.pasidEntry(dir, 5, { pgtt: 1, fsptr: fs, did: 3, p: false });
    f.core.invPasidIotlb(3, 5);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).ok).toBe(true);
    f.core.invPasidCache(1, 3, 6); // another PASID (maybe the same bucket: over-invalidation allowed)
    f.core.invPasidCache(0, 4, 0); // another domain
    f.core.invPasidCache(1, 3, 5);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).fault).toBe(K.FR_PASID_NP);
  });

  it('PASID cache domain and global granularity', async () => {
    const { f, dir, fs } = await smFs();
    f.tr(SID, 0x1000n, K.ACC_READ, 5);
    f.pasidEntry(dir, 5, { pgtt: 1, fsptr: fs, did: 3, p: false });
    f.core.invPasidIotlb(3, 5);
    f.core.invPasidCache(0, 3, 0);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).fault).toBe(K.FR_PASID_NP);
    f.pasidEntry(dir, 5, { pgtt: 1, fsptr: fs, did: 3 });
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).ok).toBe(true); // P=0 was not cached: re-read, present again
    f.pasidEntry(dir, 5, { pgtt: 1, fsptr: fs, did: 3, p: false });
    f.core.invPasidIotlb(3, 5);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).ok).toBe(true);
    f.core.invPasidCache(3, 0, 0);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).fault).toBe(K.FR_PASID_NP);
  });

  it('page-selective IOTLB (type 2) drops every first-stage entry of the domain, whatever its address (§6.5.2.3)', async () => {
    const { f, leaf } = await smFs();
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x20_0000n);
    f.put(leaf, 0x30_0027n);
    f.core.invIotlbPage(4, 0x1000n, 0, 1); // another domain
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x20_0000n);
    f.core.invIotlbPage(3, 0x8000_0000n, 0, 1); // the domain, another (second-stage input) address
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x30_0000n);
  });

  it('page-selective IOTLB with IH=1 still drops the domain\'s first-stage paging-structure entries (§6.5.2.3)', async () => {
    const { f, fs } = await smFs();
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x20_0000n);
    // Point the top-level entry at a new table chain mapping 0x1000 elsewhere.
    const [l2, l1, l0] = [f.page(), f.page(), f.page()];
    f.put(fs, l2 | 0x27n);
    f.put(l2, l1 | 0x27n);
    f.put(l1, l0 | 0x27n);
    f.put(l0 + 8n, 0x40_0027n);
    f.core.invPasidIotlbPage(3, 5, 0x1000n, 0, 1); // leaf only: the cached upper entries stay
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x20_0000n);
    f.core.invIotlbPage(3, 0x1000n, 0, 1);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x40_0000n);
  });

  it('PASID-selective and PASID page-selective IOTLB invalidation', async () => {
    const { f, leaf } = await smFs();
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x20_0000n);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 6).addr).toBe(0x20_0000n);
    f.put(leaf, 0x30_0027n);
    f.core.invPasidIotlbPage(3, 5, 0x2000n, 0, 0);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x20_0000n);
    f.core.invPasidIotlbPage(3, 5, 0x1000n, 0, 0);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 5).addr).toBe(0x30_0000n);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 6).addr).toBe(0x20_0000n);
    f.core.invPasidIotlb(3, 6);
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 6).addr).toBe(0x30_0000n);
  });
});

describe('paging-structure cache keeps upper-level rights', () => {
  it('a write through a cached read-only upper entry faults as a full walk does (fuzz finding psc-read-only-entry-allows-write)', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x800_0000n, 0x60_0000n);                      // RW leaf under ...
    const top = ss;                                                // ... a top-level entry made read-only:
    f.put(top, f.mem.readU64(top) & ~2n);
    expect(f.tr(sid, 0x3c_1000n).fault).toBe(K.FR_READ);           // a read walk through it fills the PSC
    expect(f.tr(sid, 0x800_0000n, K.ACC_WRITE).fault).toBe(K.FR_WRITE);
    expect(f.tr(sid, 0x800_0000n)).toMatchObject({ ok: true });    // reads still pass
  });
});
