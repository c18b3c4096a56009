// dmaCopy (page by page, both directions, faults mid-copy, buffer checks)
// and the batch API (one call for N requests == N single calls).
import { describe, expect, it } from 'vitest';
import { K, legacyFixture } from './core-fixture.js';

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
    expect(() => f.core.dmaCopy(sid, undefined, 0x1000n, 16, K.ACC_READ, f.core.exports.outPtr())).toThrow(/bufOff/);
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
