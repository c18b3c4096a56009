// Cache dump exports (docs/ABI.md "Cache contents"): Core.cacheContents()
// lists the live IOTLB, context-cache, PASID-cache and paging-structure
// cache entries. Entries appear after a translation and vanish after the
// invalidation that covers them (and only them); dumping is read-only: no
// counter moves, no hit turns into a miss.
import { describe, expect, it } from 'vitest';
import { Fixture, K, legacyFixture } from './core-fixture.js';

const SID = 0x18;

describe('cache dumps, legacy mode', () => {
  it('an IOTLB, context and PSC entry appear after a translation', async () => {
    const { f, ss, sid } = await legacyFixture();
    expect(f.core.cacheContents()).toEqual({ iotlb: [], context: [], pasid: [], psc: [] });
    f.ssMap(ss, 3, 0x4000_1000n, 0x20_0000n, { w: false });
    expect(f.tr(sid, 0x4000_1234n).ok).toBe(true);
    const c = f.core.cacheContents();
    expect(c.iotlb).toEqual([{
      did: 1, pasid: undefined, sid, iova: 0x4000_1000n, addr: 0x20_0000n, pageLg2: 12, perms: c.iotlb[0]!.perms, firstStage: false, supervisor: false,
    }]);
    expect(c.iotlb[0]!.perms & 3).toBe(1); // read-only: R without W
    expect(c.context).toHaveLength(1);
    expect(c.context[0]).toMatchObject({ sid, did: 1, stickyPassThrough: false });
    expect(c.context[0]!.lo & 1n).toBe(1n); // the cached entry is the present one
    expect(c.pasid).toEqual([]);
    // 3-level walk: the level-2 entry (covering 1 GiB) and the level-1 entry (2 MiB) are cached.
    expect(c.psc.map((e) => [e.stage, e.did, e.level, e.iova]).sort()).toEqual([
      ['second', 1, 1, 0x4000_0000n],
      ['second', 1, 2, 0x4000_0000n],
    ]);
  });

  it('dumping is read-only: counters unchanged, the next request still hits the IOTLB', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    f.tr(sid, 0x1000n);
    const before = f.core.stats();
    f.core.cacheContents();
    f.core.cacheContents();
    expect(f.core.stats()).toEqual(before);
    expect(f.tr(sid, 0x1000n).source).toBe(K.SRC_IOTLB);
  });

  it('a page-selective invalidation drops exactly that page; context invalidation drops the context entry', async () => {
    const { f, ss, sid } = await legacyFixture();
    for (const p of [0x1000n, 0x2000n]) f.ssMap(ss, 3, p, 0x20_0000n + p);
    f.tr(sid, 0x1000n);
    f.tr(sid, 0x2000n);
    expect(f.core.cacheContents().iotlb.map((e) => e.iova).sort()).toEqual([0x1000n, 0x2000n]);
    f.core.invIotlbPage(1, 0x1000n, 0, true);
    const c = f.core.cacheContents();
    expect(c.iotlb.map((e) => e.iova)).toEqual([0x2000n]);
    expect(c.psc.length).toBeGreaterThan(0); // IH=1 keeps the paging-structure caches
    f.core.invIotlbPage(1, 0x2000n, 0, false);
    expect(f.core.cacheContents().iotlb).toEqual([]);
    expect(f.core.cacheContents().context).toHaveLength(1);
    f.core.invContextGlobal();
    expect(f.core.cacheContents().context).toEqual([]);
  });

  it('a context entry stored after a global context invalidation is listed again (the dump skips its scan only while none was)', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    f.core.invContextGlobal();
    expect(f.core.cacheContents().context).toEqual([]);
    f.tr(sid, 0x1000n);
    expect(f.core.cacheContents().context.map((e) => e.sid)).toEqual([sid]);
    f.core.invContextGlobal();
    f.core.invContextGlobal();
    expect(f.core.cacheContents().context).toEqual([]);
    f.core.invIotlbGlobal();
    f.tr(sid, 0x1000n);
    expect(f.core.cacheContents().context.map((e) => e.sid)).toEqual([sid]);
  });

  it('a domain-selective invalidation keeps the other domain', async () => {
    const { f, ss, sid } = await legacyFixture();
    const ss2 = f.page();
    f.context(0x20, { ssptr: ss2, did: 2, aw: 1 });
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    f.ssMap(ss2, 3, 0x1000n, 0x30_0000n);
    f.tr(sid, 0x1000n);
    f.tr(0x20, 0x1000n);
    expect(f.core.cacheContents().iotlb.map((e) => [e.did, e.sid, e.addr]).sort()).toEqual([[1, sid, 0x20_0000n], [2, 0x20, 0x30_0000n]]);
    f.core.invIotlbDomain(1);
    const c = f.core.cacheContents();
    expect(c.iotlb.map((e) => e.did)).toEqual([2]);
    expect(new Set(c.psc.map((e) => e.did))).toEqual(new Set([2]));
    f.core.invIotlbGlobal();
    expect(f.core.cacheContents()).toMatchObject({ iotlb: [], psc: [] });
  });

  it('lists more entries than one dump buffer holds (the wrapper pages through them)', async () => {
    const { f, ss, sid } = await legacyFixture();
    const n = 600;
    for (let i = 0; i < n; i++) f.ssMap(ss, 3, BigInt(i) * 0x1000n, 0x40_0000n + BigInt(i) * 0x1000n);
    for (let i = 0; i < n; i++) expect(f.tr(sid, BigInt(i) * 0x1000n).ok).toBe(true);
    const iotlb = f.core.cacheContents().iotlb;
    // Set-associative with LRU replacement: a few may have been evicted.
    expect(iotlb.length).toBeGreaterThan(512);
    expect(iotlb.length).toBeLessThanOrEqual(n);
    expect(new Set(iotlb.map((e) => e.iova)).size).toBe(iotlb.length);
    for (const e of iotlb) expect(e.addr - e.iova).toBe(0x40_0000n);
  });

  it('raw export: max 0 only counts; a buffer outside device buffers is refused', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    f.tr(sid, 0x1000n);
    const buf = f.core.bufAlloc(4096);
    expect(f.core.unsafeExports.iotlbDump(buf, 0, 0)).toBe(1);
    expect(f.core.unsafeExports.iotlbDump(buf, 1, 10)).toBe(1); // nothing at live index 1
    expect(f.core.unsafeExports.iotlbDump(0, 0, 1)).toBe(K.ERR_BAD_ARG);
    expect(f.core.unsafeExports.contextCacheDump(buf, 0, 0x1000_0000)).toBe(K.ERR_BAD_ARG);
  });
});

describe('cache dumps, scalable mode', () => {
  /** sid 0x18, PASID 1 first stage (DID 2), 4 levels. */
  async function firstStage(): Promise<{ f: Fixture; fs: bigint }> {
    const f = await Fixture.create(32);
    f.scalable();
    const dir = f.page();
    f.smContext(SID, { pasidDir: dir });
    const fs = f.page();
    f.pasidEntry(dir, 1, { pgtt: 1, fsptr: fs, did: 2 });
    return { f, fs };
  }

  it('PASID-cache, first-stage IOTLB and PSC entries carry the PASID and vanish with PASID-selective invalidations', async () => {
    const { f, fs } = await firstStage();
    f.fsMap(fs, 4, 0x7000n, 0x23_0000n);
    expect(f.tr(SID, 0x7010n, K.ACC_READ | K.ACC_WRITE, 1).ok).toBe(true);
    let c = f.core.cacheContents();
    expect(c.pasid).toHaveLength(1);
    expect(c.pasid[0]).toMatchObject({ sid: SID, pasid: 1, did: 2, dirFpd: false });
    expect(c.pasid[0]!.entry[0] & 1n).toBe(1n);
    expect(c.iotlb).toEqual([{
      did: 2, pasid: 1, sid: SID, iova: 0x7000n, addr: 0x23_0000n, pageLg2: 12, perms: c.iotlb[0]!.perms, firstStage: true, supervisor: false,
    }]);
    expect(c.iotlb[0]!.perms & 3).toBe(3);
    expect(c.psc.map((e) => [e.stage, e.pasid, e.level]).sort()).toEqual([['first', 1, 1], ['first', 1, 2], ['first', 1, 3]]);
    f.core.invPasidIotlb(2, 1);
    c = f.core.cacheContents();
    expect(c.iotlb).toEqual([]);
    expect(c.psc).toEqual([]);
    expect(c.pasid).toHaveLength(1);
    f.core.invPasidCache(1, 2, 1);
    expect(f.core.cacheContents().pasid).toEqual([]);
  });
});
