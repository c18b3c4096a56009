import { describe, expect, it } from 'vitest';
import { buildDmar, checksumOk } from '../src/acpi/dmar.js';
import { createMachine } from '../src/machine.js';

/** An independent DMAR parser (VT-d chapter 8 layouts). */
function parse(t: Uint8Array) {
  const v = new DataView(t.buffer, t.byteOffset, t.length);
  const sig = String.fromCharCode(...t.subarray(0, 4));
  const structs: { type: number; flags: number; base: bigint; limit?: bigint; scopes: { type: number; bus: number; path: number[] }[] }[] = [];
  for (let at = 48; at < t.length;) {
    const type = v.getUint16(at, true);
    const len = v.getUint16(at + 2, true);
    const hdr = type === 0 ? 16 : 24;
    const scopes = [];
    for (let s = at + hdr; s < at + len;) {
      const sl = t[s + 1]!;
      const path = [...t.subarray(s + 6, s + sl)];
      scopes.push({ type: t[s]!, bus: t[s + 5]!, path });
      s += sl;
    }
    structs.push({ type, flags: t[at + 4]!, base: v.getBigUint64(at + 8, true), limit: type === 1 ? v.getBigUint64(at + 16, true) : undefined, scopes });
    at += len;
  }
  return { sig, length: v.getUint32(4, true), haw: t[36]! + 1, flags: t[37]!, structs };
}

describe('ACPI DMAR table', () => {
  it('describes the unit, its devices (through root ports) and RMRRs, with a valid checksum', async () => {
    const m = await createMachine({
      ramMib: 16,
      devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '02:00.1', kind: 'ats' }],
      rmrr: [{ base: 0xe_0000n, limit: 0xe_ffffn, devices: ['00:03.0'] }],
    });
    const t = m.dmarTable();
    expect(checksumOk(t)).toBe(true);
    const d = parse(t);
    expect(d.sig).toBe('DMAR');
    expect(d.length).toBe(t.length);
    expect(d.haw).toBe(m.core.getConfig(2));
    const [drhd, rmrr] = d.structs;
    expect(drhd).toMatchObject({ type: 0, flags: 0, base: 0xfed9_0000n });
    expect(drhd!.scopes).toEqual([
      { type: 1, bus: 0, path: [3, 0] },
      { type: 1, bus: 0, path: [0x1c, 0, 0, 1] },
      { type: 2, bus: 0, path: [0x1c, 0] },
    ]);
    expect(rmrr).toMatchObject({ type: 1, base: 0xe_0000n, limit: 0xe_ffffn, scopes: [{ type: 1, bus: 0, path: [3, 0] }] });
  });

  it('with includePciAll sets the DRHD flag INCLUDE_PCI_ALL and lists no PCI scopes (§8.3)', () => {
    const t = buildDmar({ haw: 39, registerBase: 0xfed9_0000n, includePciAll: true, devices: [], bridges: [] });
    expect(checksumOk(t)).toBe(true);
    const d = parse(t);
    expect(d.haw).toBe(39);
    expect(d.structs).toEqual([{ type: 0, flags: 1, base: 0xfed9_0000n, limit: undefined, scopes: [] }]);
    expect(() => buildDmar({ haw: 39, registerBase: 0n, includePciAll: true, devices: [0xf0], bridges: [] })).toThrow(/devices: must be empty/);
  });

  it('refuses what it cannot describe, naming the field', () => {
    expect(() => buildDmar({ haw: 20, registerBase: 0n, devices: [], bridges: [] })).toThrow(/haw/);
    expect(() => buildDmar({ haw: 48, registerBase: 0n, devices: [0x300], bridges: [] })).toThrow(/bus 3/);
    expect(() => buildDmar({ haw: 48, registerBase: 0n, devices: [], bridges: [], rmrr: [{ base: 0x1001n, limit: 0x1fffn, devices: [] }] })).toThrow(/rmrr\[0\]/);
  });
});
