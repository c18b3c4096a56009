/** fillBytes (host/src/core/fill-bytes.ts) equals TypedArray fill on shared and plain buffers, at any start, length and value. */
import { describe, expect, it, vi } from 'vitest';
import { fillBytes } from '../src/core/fill-bytes.js';

describe('fillBytes', () => {
  it('sets exactly [start, end) to the byte, on shared and plain buffers', () => {
    for (const shared of [true, false]) {
      const size = 20_000;
      const u8 = new Uint8Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
      const want = new Uint8Array(size);
      for (const [start, end, byte] of [[0, 4096, 0], [1, 4097, 7], [100, 100 + 3 * 4096 + 5, 255], [4096, 8192, 0], [5, 4000, 9], [size - 4096, size, 1], [0, size, 0]] as const) {
        for (let i = 0; i < size; i++) u8[i] = want[i] = (i * 37 + 11) & 0xff;
        fillBytes(u8, byte, start, end);
        want.fill(byte, start, end);
        expect(Buffer.compare(Buffer.from(u8.slice()), Buffer.from(want)), `shared ${shared} [${start}, ${end}) = ${byte}`).toBe(0);
      }
    }
  });

  it('fills where SharedArrayBuffer is not defined (a browser page that is not cross-origin isolated)', async () => {
    const saved = globalThis.SharedArrayBuffer;
    vi.resetModules();
    delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
    try {
      const { fillBytes: fill } = await import('../src/core/fill-bytes.js');
      const u8 = new Uint8Array(3 * 4096).fill(1);
      fill(u8, 0, 5, 2 * 4096 + 5);
      expect([u8[4], u8[5], u8[2 * 4096 + 4], u8[2 * 4096 + 5]]).toEqual([1, 0, 0, 1]);
    } finally {
      globalThis.SharedArrayBuffer = saved;
      vi.resetModules();
    }
  });
});
