// No cliffs as a guest grows: the IOTLB set index mixes the (DID, PASID)
// key, so many domains or PASIDs touching the same IOVAs keep hitting (it
// hashed only the page number before: from ~5 contexts the hit rate fell to
// 0); invalidations that name the key probe its sets, those that do not
// (a domain's pages for every PASID) scan, and both stay exact. Legacy-mode
// hits take the decoded-setup fast path with the full path's counters.
import { describe, expect, it } from 'vitest';
import { Fixture, K } from './core-fixture.js';

const IOVAS = [0x1000n, 0x2000n, 0x3000n, 0x4000n];

/** Legacy mode: `n` devices (sid 0x100 + i), each its own domain (DID i + 1) mapping the same IOVAS. */
async function legacyDomains(n: number): Promise<Fixture> {
  const f = await Fixture.create(64);
  f.legacy();
  for (let i = 0; i < n; i++) {
    const ss = f.page();
    f.context(0x100 + i, { ssptr: ss, did: i + 1, aw: 2 });
    for (const [k, iova] of IOVAS.entries()) f.ssMap(ss, 4, iova, 0x100_0000n + BigInt(i * 16 + k) * 0x1000n);
  }
  return f;
}

/** Scalable mode: one device, `n` PASIDs (1..n) of one domain (DID 7), first stage over the same IOVAS. */
async function scalablePasids(n: number): Promise<Fixture> {
  const f = await Fixture.create(64);
  f.scalable();
  const dir = f.page();
  f.smContext(0x18, { pasidDir: dir });
  for (let p = 1; p <= n; p++) {
    const fs = f.page();
    f.pasidEntry(dir, p, { pgtt: 1, fsptr: fs, did: 7 });
    for (const [k, iova] of IOVAS.entries()) f.fsMap(fs, 4, iova, 0x100_0000n + BigInt(p * 16 + k) * 0x1000n);
  }
  return f;
}

function hitRate(f: Fixture, requests: Array<[sid: number, pasid: number | undefined]>, rounds = 3): number {
  for (const [sid, pasid] of requests) for (const iova of IOVAS) expect(f.tr(sid, iova, K.ACC_READ, pasid).ok).toBe(true);
  f.core.statsReset();
  for (let r = 0; r < rounds; r++) for (const [sid, pasid] of requests) for (const iova of IOVAS) f.tr(sid, iova, K.ACC_READ, pasid);
  const s = f.core.stats();
  return s['iotlb_hits']! / (s['iotlb_hits']! + s['iotlb_misses']!);
}

describe('IOTLB set index mixes DID and PASID', () => {
  it('64 domains on the same IOVAs: every repeat hits (256 entries in a 1024-entry IOTLB)', async () => {
    const f = await legacyDomains(64);
    expect(hitRate(f, Array.from({ length: 64 }, (_, i) => [0x100 + i, undefined]))).toBe(1);
  });

  it('64 PASIDs of one domain on the same IOVAs: every repeat hits', async () => {
    const f = await scalablePasids(64);
    expect(hitRate(f, Array.from({ length: 64 }, (_, i) => [0x18, i + 1]))).toBe(1);
  });

  it('page- and domain-selective invalidation in legacy mode drop exactly their domain', async () => {
    const f = await legacyDomains(8);
    hitRate(f, Array.from({ length: 8 }, (_, i) => [0x100 + i, undefined]), 1);
    f.core.invIotlbPage(3, 0x2000n, 0, 1); // DID 3 = sid 0x102
    f.core.statsReset();
    for (let i = 0; i < 8; i++) for (const iova of IOVAS) f.tr(0x100 + i, iova);
    expect(f.core.stats()['iotlb_misses']).toBe(1);
    expect(f.tr(0x102, 0x2000n).source).toBe(K.SRC_IOTLB);
    f.core.invIotlbDomain(5);
    f.core.statsReset();
    for (let i = 0; i < 8; i++) for (const iova of IOVAS) f.tr(0x100 + i, iova);
    expect(f.core.stats()['iotlb_misses']).toBe(4);
  });

  it('PASID page-selective probes its sets; a domain page-selective one reaches every first-stage entry of every PASID (scan, §6.5.2.3)', async () => {
    const f = await scalablePasids(16);
    const all = Array.from({ length: 16 }, (_, i): [number, number] => [0x18, i + 1]);
    hitRate(f, all, 1);
    f.core.invPasidIotlbPage(7, 9, 0x3000n, 0, 1);
    f.core.statsReset();
    for (const [sid, p] of all) for (const iova of IOVAS) f.tr(sid, iova, K.ACC_READ, p);
    expect(f.core.stats()['iotlb_misses']).toBe(1);
    f.core.invIotlbPage(7, 0x4000n, 0, 1); // type-2 PSI: DID 7, every PASID, every first-stage entry whatever its address
    f.core.statsReset();
    for (const [sid, p] of all) for (const iova of IOVAS) f.tr(sid, iova, K.ACC_READ, p);
    expect(f.core.stats()['iotlb_misses']).toBe(64);
    expect(f.core.cacheContents().iotlb).toHaveLength(64);
  });

  it('QEMU profile (IOTLB by source id before the context): a context change keeps serving the cached page', async () => {
    const f = await legacyDomains(4);
    f.core.setConfig(K.CFG_QUIRKS, K.QUIRK_IOTLB_BEFORE_CONTEXT);
    expect(f.tr(0x101, 0x1000n).addr).toBe(0x101_0000n);
    const ss = f.page();
    f.context(0x101, { ssptr: ss, did: 9, aw: 2 }); // no invalidation: QEMU still hits by source id
    expect(f.tr(0x101, 0x1000n)).toMatchObject({ source: K.SRC_IOTLB, addr: 0x101_0000n });
    f.core.invIotlbPage(2, 0x1000n, 0, 1); // the entry's DID: scanned, gone
    f.core.invContextGlobal();
    expect(f.tr(0x101, 0x1000n).fault).toBe(K.FR_READ);
  });
});

describe('legacy-mode fast path', () => {
  it('hits count a context-cache hit and an IOTLB hit, never a PASID-cache hit', async () => {
    const f = await legacyDomains(2);
    expect(f.tr(0x100, 0x1000n).ok).toBe(true);
    f.core.statsReset();
    for (let i = 0; i < 10; i++) expect(f.tr(0x100, 0x1008n)).toMatchObject({ ok: true, source: K.SRC_IOTLB, addr: 0x100_0008n, did: 1 });
    expect(f.core.stats()).toMatchObject({ iotlb_hits: 10, ctx_hits: 10, pasid_hits: 0, ctx_misses: 0, walks: 0 });
  });

  it('a changed context entry is seen only after a context-cache invalidation', async () => {
    const f = await legacyDomains(1);
    expect(f.tr(0x100, 0x1000n).addr).toBe(0x100_0000n);
    const ss = f.page();
    f.ssMap(ss, 4, 0x1000n, 0x300_0000n);
    f.context(0x100, { ssptr: ss, did: 2, aw: 2 });
    expect(f.tr(0x100, 0x1000n)).toMatchObject({ addr: 0x100_0000n, did: 1 });
    f.core.invContextDevice(1, 0x100, 0);
    expect(f.tr(0x100, 0x1000n)).toMatchObject({ addr: 0x300_0000n, did: 2, source: K.SRC_WALK });
    expect(f.tr(0x100, 0x1000n)).toMatchObject({ addr: 0x300_0000n, did: 2, source: K.SRC_IOTLB });
  });

  it('requests the fast path must not answer still get the full rules: PASID, translation request, width, permissions', async () => {
    const f = await legacyDomains(1);
    f.tr(0x100, 0x1000n);
    expect(f.tr(0x100, 0x1000n, K.ACC_READ, 5).fault).toBe(K.FR_SM_PASID_IN_LEGACY);
    expect(f.tr(0x100, 0x1000n, K.ACC_READ | K.ACC_TRANSLATION_REQ).fault).toBe(K.FR_TT_BLOCKED);
    expect(f.tr(0x100, 1n << 48n).fault).toBe(K.FR_ADDR_WIDTH);
    const batch = f.core.batch;
    batch.set([0x100, 0, 0x1000, 0, K.ACC_READ, 0, 0, 0, 0x100, 0, 0x9000, 0, K.ACC_READ, 0, 0, 0]);
    expect(f.core.translateBatch(2)).toBe(1);
    expect([batch[0], batch[1], batch[8]]).toEqual([0, 0x100_0000, K.FR_READ]);
  });
});
