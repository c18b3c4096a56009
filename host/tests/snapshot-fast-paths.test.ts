/**
 * The snapshot's fast paths against their plain forms (issue 19, fuzzer
 * speed): ByteWriter (one DataView, ASCII text copied as is, buffers reused
 * between writers) writes what a DataView per value and a TextEncoder per
 * string write; encodeSnapshot and writeSnapshot (sections written in
 * place, lengths filled in after) are the reference encoding; the
 * memoized config key is the computed one, and checkConfigKey's shortcut
 * for identical text agrees with the parsed comparison.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { wasmPath } from '../src/core/load-node.js';
import { createMachine, type MachineConfig } from '../src/machine.js';
import { checkConfigKey, computeConfigKey, configKey } from '../src/snapshot/config-key.js';
import { crc32Table } from '../src/snapshot/crc32.js';
import { ByteReader, ByteWriter, decodeSnapshot, encodeSnapshot, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, writeSnapshot } from '../src/snapshot/format.js';

/** One value a writer appends. */
type Op = { k: 'u8'; v: number } | { k: 'u32'; v: number } | { k: 'u64'; v: bigint } | { k: 'bool'; v: boolean } | { k: 'bytes'; v: Uint8Array } | { k: 'text'; v: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((v) => ({ k: 'u8' as const, v })),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }).map((v) => ({ k: 'u32' as const, v })),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }).map((v) => ({ k: 'u64' as const, v })),
  fc.boolean().map((v) => ({ k: 'bool' as const, v })),
  fc.uint8Array({ maxLength: 700 }).map((v) => ({ k: 'bytes' as const, v })),
  fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 10 })).map((v) => ({ k: 'text' as const, v })),
);

/** The plain writer: a DataView per value, a TextEncoder per string, one array per value, concatenated. */
function plain(ops: readonly Op[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const num = (n: number, f: (d: DataView) => void): void => {
    const b = new Uint8Array(n);
    f(new DataView(b.buffer));
    parts.push(b);
  };
  const bytes = (b: Uint8Array): void => {
    num(4, (d) => d.setUint32(0, b.length, true));
    parts.push(b.slice());
  };
  for (const op of ops) {
    if (op.k === 'u8') num(1, (d) => d.setUint8(0, op.v));
    else if (op.k === 'u32') num(4, (d) => d.setUint32(0, op.v >>> 0, true));
    else if (op.k === 'u64') num(8, (d) => d.setBigUint64(0, BigInt.asUintN(64, op.v), true));
    else if (op.k === 'bool') num(1, (d) => d.setUint8(0, op.v ? 1 : 0));
    else if (op.k === 'bytes') bytes(op.v);
    else bytes(new TextEncoder().encode(op.v));
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function write(w: ByteWriter, ops: readonly Op[]): ByteWriter {
  for (const op of ops) {
    if (op.k === 'u8') w.u8(op.v);
    else if (op.k === 'u32') w.u32(op.v);
    else if (op.k === 'u64') w.u64(op.v);
    else if (op.k === 'bool') w.bool(op.v);
    else if (op.k === 'bytes') w.bytes(op.v);
    else w.text(op.v);
  }
  return w;
}

describe('ByteWriter', () => {
  it('writes what a DataView per value and a TextEncoder per string write (any text, any start capacity)', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 40 }), fc.nat(2000), (ops, capacity) => {
      expect(write(new ByteWriter(capacity), ops).finish()).toEqual(plain(ops));
    }), { numRuns: 300 });
  });

  it('reads back through ByteReader as a TextDecoder per string reads (ASCII, any UTF-8, short and long)', () => {
    const textArb = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 70 }), fc.constant('\uFEFFBOM'));
    fc.assert(fc.property(fc.array(textArb, { maxLength: 20 }), (texts) => {
      const r = new ByteReader(write(new ByteWriter(), texts.map((v) => ({ k: 'text', v }))).finish(), 'test');
      // What a TextDecoder per string reads (it drops a leading BOM and replaces lone surrogates).
      expect(texts.map(() => r.text())).toEqual(texts.map((t) => new TextDecoder().decode(new TextEncoder().encode(t))));
      r.end();
    }), { numRuns: 100 });
  });

  it('writers that share spare buffers (nested, one after another) never change a finished result', () => {
    fc.assert(fc.property(fc.array(fc.array(opArb, { maxLength: 12 }), { minLength: 1, maxLength: 8 }), (lists) => {
      const results: Uint8Array[] = [];
      const expected = lists.map(plain);
      // Nested: each writer is opened before the previous one finishes, as a device's inside the DEVS section's.
      const open = lists.map((ops) => write(new ByteWriter(), ops));
      for (const w of open.reverse()) results.unshift(w.finish());
      // Then more writers, which take the spares back and overwrite them.
      for (const ops of lists) write(new ByteWriter(), ops).finish();
      expect(results).toEqual(expected);
    }), { numRuns: 100 });
  });

  it('refuses writes after finish; a second finish is another copy', () => {
    const w = new ByteWriter().u32(7);
    const a = w.finish();
    expect(() => w.u8(1)).toThrow(/after finish/);
    const b = w.finish();
    expect(b).toEqual(a);
    expect(b).not.toBe(a);
  });
});

describe('encodeSnapshot', () => {
  /** The reference encoding: header fields and sections by a plain writer, CRC by the table form. */
  function reference(sections: [string, Uint8Array][]): Uint8Array {
    const ops: Op[] = [...SNAPSHOT_MAGIC].map((c) => ({ k: 'u8', v: c.charCodeAt(0) }));
    ops.push({ k: 'u32', v: SNAPSHOT_VERSION }, { k: 'u32', v: 0 }, { k: 'u64', v: 0n }, { k: 'u32', v: sections.length });
    for (const [tag, payload] of sections) ops.push(...[...tag].map((c): Op => ({ k: 'u8', v: c.charCodeAt(0) })), { k: 'bytes', v: payload });
    const out = plain(ops);
    const view = new DataView(out.buffer);
    view.setBigUint64(16, BigInt(out.length), true);
    view.setUint32(12, crc32Table(out.subarray(16), crc32Table(out.subarray(0, 12))), true);
    return out;
  }

  it('is the reference encoding, and decodes back to its sections', () => {
    const tagArb = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ '), minLength: 4, maxLength: 4 });
    fc.assert(fc.property(fc.uniqueArray(fc.tuple(tagArb, fc.uint8Array({ maxLength: 3000 })), { selector: ([t]) => t, maxLength: 7 }), (sections) => {
      const bytes = encodeSnapshot(sections);
      expect(bytes).toEqual(reference(sections));
      expect([...decodeSnapshot(bytes)]).toEqual(sections);
    }), { numRuns: 150 });
  });

  it('writeSnapshot (payloads written in place, lengths filled in after) is encodeSnapshot of the payloads written apart', () => {
    const tagArb = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ '), minLength: 4, maxLength: 4 });
    fc.assert(fc.property(fc.uniqueArray(fc.tuple(tagArb, fc.array(opArb, { maxLength: 25 })), { selector: ([t]) => t, maxLength: 7 }), (sections) => {
      const inPlace = writeSnapshot(sections.map(([tag, ops]) => [tag, (w: ByteWriter) => void write(w, ops)]));
      expect(inPlace).toEqual(encodeSnapshot(sections.map(([tag, ops]) => [tag, plain(ops)])));
    }), { numRuns: 150 });
  });
});

describe.skipIf(!existsSync(wasmPath()))('config key', () => {
  const configs: MachineConfig[] = [
    {},
    { ramMib: 32, devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:05.0', kind: 'ats' }] },
    { ramMib: 32, devices: [{ kind: 'ats', bdf: '5.0' }, { dmaMaskBits: 64, bdf: '00:03.0', kind: 'dma-test' }], iommu: { awBits: 48, scalableMode: true, cachingMode: false }, profile: 'default' },
    { ramMib: 16, profile: 'qemu-7.2', devices: [{ bdf: '00:04.0', kind: 'dma-test', dmaMaskBits: 32 }] },
    { ramMib: 16, profile: 'default', iommu: { scalableMode: false } },
  ];

  it('the memoized key is the computed one, on first use and after; identical text passes the check exactly when the parsed comparison does', async () => {
    const machines = await Promise.all(configs.map((c) => createMachine(c)));
    const keys = machines.map((m) => computeConfigKey(m));
    for (const [i, m] of machines.entries()) {
      expect(configKey(m)).toBe(keys[i]);
      expect(configKey(m)).toBe(keys[i]);
    }
    for (const a of keys) {
      for (const b of keys) {
        // The slow path: the stored text spelled differently (whitespace), so only the parsed comparison can accept it.
        const spelled = JSON.stringify(JSON.parse(a), null, 1);
        const slow = (() => { try { checkConfigKey(spelled, b); return true; } catch { return false; } })();
        const fast = (() => { try { checkConfigKey(a, b); return true; } catch { return false; } })();
        expect(fast).toBe(slow);
        expect(fast).toBe(a === b);
      }
    }
    expect(keys[1]).toBe(keys[2]); // the same machine spelled two ways
  });
});
