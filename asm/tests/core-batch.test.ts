// dmaCopy (page by page, both directions, faults mid-copy, buffer checks)
// and the batch API (one call for N requests == N single calls).
import { describe, expect, it } from 'vitest';
import { Fixture, K, legacyFixture } from './core-fixture.js';

describe('dmaCopy', () => {
  it('reads and writes across a page boundary into discontiguous guest pages', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x30_0000n);
    f.ssMap(ss, 3, 0x2000n, 0x20_0000n);
    for (let i = 0; i < 16; i++) f.mem.writeU32(0x30_0ff0n + BigInt(i), 0);
    f.mem.write(0x30_0ff8n, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    f.mem.write(0x20_0000n, Uint8Array.from([9, 10, 11, 12]));
    const buf = f.core.bufAlloc(64);
    expect(f.core.dmaCopy(sid, undefined, 0x1ff8n, 12, K.ACC_READ, buf)).toBe(0);
    expect([...f.core.buffer(buf, 12)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    f.core.buffer(buf, 12).set([21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32]);
    expect(f.core.dmaCopy(sid, undefined, 0x1ffcn, 8, K.ACC_WRITE, buf)).toBe(0);
    expect([...f.mem.read(0x30_0ffcn, 4)]).toEqual([21, 22, 23, 24]);
    expect([...f.mem.read(0x20_0000n, 4)]).toEqual([25, 26, 27, 28]);
  });

  it('stops at the first fault (the out-buffer describes it); earlier pages moved', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x30_0000n);
    const buf = f.core.bufAlloc(8192);
    f.core.buffer(buf, 8192).fill(0xab);
    expect(f.core.dmaCopy(sid, undefined, 0x1f00n, 0x200, K.ACC_WRITE, buf)).toBe(K.FR_WRITE);
    expect(f.core.out[K.OUT_FAULT_ADDR_LO]).toBe(0x2000);
    expect(f.mem.read(0x30_0f00n, 0x100).every((b) => b === 0xab)).toBe(true);
  });

  it('rejects buffers that are not device buffers (never writes core state)', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x30_0000n);
    const buf = f.core.bufAlloc(4096);
    expect(() => f.core.dmaCopy(sid, undefined, 0x1000n, 4097, K.ACC_READ, buf)).toThrow(/bufOff/);
    expect(() => f.core.dmaCopy(sid, undefined, 0x1000n, 16, K.ACC_READ, f.core.unsafeExports.outPtr())).toThrow(/bufOff/);
    const ram = f.core.ramRegions()[0]!.offset;
    expect(() => f.core.dmaCopy(sid, undefined, 0x1000n, 16, K.ACC_READ, ram)).toThrow(/bufOff/);
  });
});

describe('translateBatch', () => {
  it('gives the same results as one call per request, in one call', async () => {
    const { f, ss, sid } = await legacyFixture();
    for (let p = 1n; p < 40n; p += 3n) f.ssMap(ss, 3, p << 12n, 0x40_0000n + (p << 13n), { w: p % 2n === 0n });
    const reqs: [number, bigint, number][] = [];
    for (let i = 0; i < 100; i++) reqs.push([sid, BigInt((i * 0x1357) % 0x28000), i % 3 === 0 ? K.ACC_WRITE : K.ACC_READ]);
    const single = reqs.map(([s, iova, acc]) => f.tr(s, iova, acc));
    f.core.invalidateAll();
    const ring = f.core.batch;
    reqs.forEach(([s, iova, acc], i) => {
      const r = i * K.BREQ_WORDS;
      ring[r + K.BREQ_SID] = s;
      ring[r + K.BREQ_PASID] = 0;
      ring[r + K.BREQ_IOVA_LO] = Number(iova & 0xffff_ffffn);
      ring[r + K.BREQ_IOVA_HI] = Number(iova >> 32n);
      ring[r + K.BREQ_ACCESS] = acc;
    });
    const ok = f.core.translateBatch(reqs.length);
    expect(ok).toBe(single.filter((t) => t.ok).length);
    expect(ok).toBeGreaterThan(10);
    expect(ok).toBeLessThan(100);
    single.forEach((t, i) => {
      const r = i * K.BREQ_WORDS;
      expect(ring[r + K.BRES_STATUS]).toBe(t.fault);
      if (t.ok) {
        expect((BigInt(ring[r + K.BRES_ADDR_HI]!) << 32n) | BigInt(ring[r + K.BRES_ADDR_LO]!)).toBe(t.addr);
        expect(ring[r + K.BRES_PAGE]).toBe(t.pageLg2 | (t.perms << 8));
      }
    });
  });

  it('scalable second stage streaming through tables (the fast miss path): results, counters and IOTLB as one call per request', async () => {
    const f = await Fixture.create(32);
    f.scalable();
    const dir = f.page(), ss = f.page();
    f.smContext(0x20, { pasidDir: dir });
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, aw: 2, did: 4 });
    // 600 pages: plain, read-only, write-only, absent, reserved bit 62, near
    // the interrupt range, and a 2 MiB leaf further up.
    for (let p = 0; p < 600; p++) {
      const iova = 0x4000_0000n + BigInt(p) * 0x1000n;
      const kind = p % 11;
      if (kind === 3) continue;
      const gpa = kind === 5 ? 0xfee0_0000n : 0x80_0000n + BigInt(p % 256) * 0x1000n;
      f.ssMap(ss, 4, iova, gpa, { w: kind !== 1, r: kind !== 2, leafBits: kind === 7 ? 1n << 62n : 0n });
    }
    f.ssMap(ss, 4, 0x8000_0000n, 0x20_0000n, { lg2: 21 });
    const reqs: [bigint, number][] = [];
    for (let i = 0; i < 1500; i++) {
      const iova = i % 9 === 8 ? 0x8000_0000n + BigInt(i) * 0x40n : 0x4000_0000n + BigInt(i % 620) * 0x1000n + 8n;
      reqs.push([iova, i % 4 === 0 ? K.ACC_WRITE : i % 4 === 1 ? K.ACC_READ | K.ACC_WRITE : i % 13 === 0 ? K.ACC_READ | K.ACC_EXEC : K.ACC_READ]);
    }
    f.core.invalidateAll();
    f.core.statsReset();
    const single = reqs.map(([iova, acc]) => f.tr(0x20, iova, acc));
    const singleStats = f.core.stats(), singleCache = f.core.cacheContents();
    f.core.invalidateAll();
    f.core.statsReset();
    const ring = f.core.batch;
    let ok = 0;
    for (let start = 0; start < reqs.length; start += 1000) {
      const part = reqs.slice(start, start + 1000);
      part.forEach(([iova, acc], i) => ring.set([0x20, 0, Number(iova & 0xffff_ffffn), Number(iova >> 32n), acc, 0, 0, 0], i * K.BREQ_WORDS));
      ok += f.core.translateBatch(part.length);
      part.forEach((_, i) => {
        const t = single[start + i]!, r = i * K.BREQ_WORDS;
        expect(ring[r + K.BRES_STATUS], `request ${start + i}`).toBe(t.fault);
        if (t.ok) {
          expect((BigInt(ring[r + K.BRES_ADDR_HI]!) << 32n) | BigInt(ring[r + K.BRES_ADDR_LO]!)).toBe(t.addr);
          expect(ring[r + K.BRES_PAGE]).toBe(t.pageLg2 | (t.perms << 8));
        }
      });
    }
    expect(ok).toBe(single.filter((t) => t.ok).length);
    expect(ok).toBeGreaterThan(800);
    expect(f.core.stats()).toEqual(singleStats);
    expect(f.core.cacheContents()).toEqual(singleCache);
  });

  it('copy mode runs dmaCopy per record', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x30_0000n);
    f.mem.write(0x30_0010n, Uint8Array.from([7, 8, 9]));
    const buf = f.core.bufAlloc(4096);
    const ring = f.core.batch;
    ring.fill(0, 0, 2 * K.BREQ_WORDS);
    Object.entries({ [K.BREQ_SID]: sid, [K.BREQ_IOVA_LO]: 0x1010, [K.BREQ_ACCESS]: K.ACC_READ, [K.BREQ_LEN]: 3, [K.BREQ_BUF]: buf })
      .forEach(([k, v]) => { ring[Number(k)] = v; });
    Object.entries({ [K.BREQ_SID]: sid, [K.BREQ_IOVA_LO]: 0x5000, [K.BREQ_ACCESS]: K.ACC_READ, [K.BREQ_LEN]: 3, [K.BREQ_BUF]: buf + 8 })
      .forEach(([k, v]) => { ring[K.BREQ_WORDS + Number(k)] = v; });
    expect(f.core.translateBatch(2, true)).toBe(1);
    expect([...f.core.buffer(buf, 3)]).toEqual([7, 8, 9]);
    expect(ring[K.BREQ_WORDS + K.BRES_STATUS]).toBe(K.FR_READ);
  });
});
