// The event queue writes records from u32 dwords (event.ts encodeEventDwords,
// no BigInt per field). Every event encodes to the same four doublewords as
// the plain BigInt form (each field `put` into 64-bit words), and a value
// that does not fit its field is the same Error.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeEvent, encodeEventDwords, type SmmuEvent } from '../src/smmu/event.js';
import { put, word } from '../src/smmu/spec/bits.js';
import { EVT_FIELD as F } from '../src/smmu/spec/events.js';

/** The record as the BigInt field layer writes it (the plain path). */
function plain(e: SmmuEvent, noClass = false): bigint[] {
  const w = [0n, 0n, 0n, 0n];
  put(w, F.type, e.type);
  put(w, F.SID, e.sid);
  if (e.ssid !== undefined) {
    put(w, F.SSV, 1);
    put(w, F.SSID, e.ssid);
  }
  if (e.priv) put(w, F.PnU, 1);
  if (e.exec) put(w, F.InD, 1);
  if (e.read) put(w, F.RnW, 1);
  if (e.s2) put(w, F.S2, 1);
  if (e.cls !== undefined && !noClass) put(w, F.CLASS, e.cls);
  if (e.addr !== undefined) w[2] = BigInt.asUintN(64, e.addr);
  if (e.ipa !== undefined) w[3] = e.ipa & 0x000f_ffff_ffff_f000n;
  if (e.fetchAddr !== undefined) w[3] = e.fetchAddr & 0x000f_ffff_ffff_fff8n;
  return w;
}

const u64 = fc.bigInt(0n, (1n << 64n) - 1n);
const event: fc.Arbitrary<SmmuEvent> = fc.record({
  type: fc.integer({ min: 0, max: 0xff }),
  sid: fc.integer({ min: 0, max: 0xffff_ffff }),
  ssid: fc.option(fc.integer({ min: 0, max: 0xf_ffff }), { nil: undefined }),
  addr: fc.option(u64, { nil: undefined }),
  read: fc.boolean(), priv: fc.boolean(), exec: fc.boolean(), s2: fc.boolean(),
  cls: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  ipa: fc.option(u64, { nil: undefined }),
  fetchAddr: fc.option(u64, { nil: undefined }),
}, { requiredKeys: ['type', 'sid'] });

describe('SMMUv3 event records from u32 dwords', () => {
  it('encode every event as the BigInt field layer does, with and without CLASS', () => {
    fc.assert(fc.property(event, fc.boolean(), (e, noClass) => {
      const d = encodeEventDwords(e, new Uint32Array(8).fill(0xdead_beef), noClass);
      expect([0, 1, 2, 3].map((i) => word(d, i))).toEqual(plain(e, noClass));
      expect(encodeEvent(e)).toEqual(plain(e));
    }), { numRuns: 2000, seed: 19 });
  });

  it('refuse a value that does not fit its field, as the BigInt layer does', () => {
    for (const e of [{ type: 0x100, sid: 0 }, { type: 1, sid: 2 ** 32 }, { type: 1, sid: 0, ssid: 1 << 20 }, { type: 1, sid: 0, cls: 4 }, { type: -1, sid: 0 }]) {
      expect(() => encodeEventDwords(e, new Uint32Array(8))).toThrow(/does not fit bits/);
      expect(() => plain(e)).toThrow(/does not fit bits/);
    }
  });
});
