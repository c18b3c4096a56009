// The IORT generator, read back by an independent parser (Arm DEN 0049E.d layouts).
import { describe, expect, it } from 'vitest';
import { buildIort, IORT_NODE } from '../src/acpi/iort.js';
import { checksumOk } from '../src/acpi/table.js';
import { createArmMachine, SMMU_BASE } from '../src/arm-machine.js';

interface IdMapping { inputBase: number; count: number; outputBase: number; outputRef: number; flags: number }
interface Node { at: number; type: number; length: number; revision: number; id: number; mappings: IdMapping[]; body: DataView }

/** Parses the IORT header and node array (§3.2, §3.1.1). */
function parse(t: Uint8Array) {
  const v = new DataView(t.buffer, t.byteOffset, t.length);
  const nodes: Node[] = [];
  const count = v.getUint32(36, true);
  let at = v.getUint32(40, true);
  for (let i = 0; i < count; i++) {
    const length = v.getUint16(at + 1, true);
    const n = v.getUint32(at + 8, true);
    const mo = v.getUint32(at + 12, true);
    const mappings = Array.from({ length: n }, (_, k) => {
      const m = at + mo + 20 * k;
      return { inputBase: v.getUint32(m, true), count: v.getUint32(m + 4, true) + 1, outputBase: v.getUint32(m + 8, true), outputRef: v.getUint32(m + 12, true), flags: v.getUint32(m + 16, true) };
    });
    nodes.push({ at, type: t[at]!, length, revision: t[at + 3]!, id: v.getUint32(at + 4, true), mappings, body: new DataView(t.buffer, t.byteOffset + at, length) });
    at += length;
  }
  return { sig: String.fromCharCode(...t.subarray(0, 4)), length: v.getUint32(4, true), revision: t[8]!, nodes, end: at };
}

describe('ACPI IORT table', () => {
  it("describes the Arm machine's SMMUv3 and a root complex whose IDs map to it, checksummed", async () => {
    const m = await createArmMachine({ ramMib: 16 });
    const t = m.iortTable();
    expect(checksumOk(t)).toBe(true);
    const d = parse(t);
    expect(d.sig).toBe('IORT');
    expect(d.length).toBe(t.length);
    expect(d.end).toBe(t.length);
    const smmu = d.nodes.find((n) => n.type === IORT_NODE.SMMU_V3)!;
    const rc = d.nodes.find((n) => n.type === IORT_NODE.ROOT_COMPLEX)!;
    expect(smmu.body.getBigUint64(16, true)).toBe(SMMU_BASE);
    expect(smmu.body.getUint32(24, true) & 1).toBe(1); // COHACC override: the profile is coherent
    // GSIVs: event, PRI, GERR, sync = SPI + 32 (virt's SPIs 74, 75, 77, 76).
    expect([44, 48, 52, 56].map((o) => smmu.body.getUint32(o, true))).toEqual([106, 107, 109, 108]);
    expect(rc.mappings).toEqual([{ inputBase: 0, count: 0x1_0000, outputBase: 0, outputRef: smmu.at, flags: 0 }]);
    expect(rc.body.getUint32(28, true)).toBe(0); // segment
    expect(rc.body.getUint16(33, true)).toBe(20); // PASID width = the SMMU's SSIDSIZE
    expect(rc.body.getUint32(24, true) & 4).toBe(4); // PASID forwarding
    expect(rc.body.getUint32(24, true) & 1).toBe(1); // ATS: the default profile offers it (SMMU_IDR0.ATS)
    const q = await createArmMachine({ ramMib: 16, profile: 'qemu-7.2' });
    expect(parse(q.iortTable()).nodes.find((n) => n.type === IORT_NODE.ROOT_COMPLEX)!.body.getUint32(24, true) & 1).toBe(0);
  });

  it('maps a requester-id range to a StreamID base; a narrowed SMMU forwards no PASIDs', async () => {
    const t = buildIort({ smmuBase: 0x2b40_0000n, coherent: false, gsiv: { event: 1, pri: 0, sync: 0, gerror: 2 }, rids: { first: 0x100, count: 0x100 }, streamBase: 0x8000 });
    const d = parse(t);
    const rc = d.nodes.find((n) => n.type === IORT_NODE.ROOT_COMPLEX)!;
    expect(rc.mappings[0]).toMatchObject({ inputBase: 0x100, count: 0x100, outputBase: 0x8000 });
    expect(rc.body.getUint32(24, true)).toBe(0);
    const m = await createArmMachine({ ramMib: 16, smmu: { ssidBits: 0 } });
    expect(parse(m.iortTable()).nodes.find((n) => n.type === IORT_NODE.ROOT_COMPLEX)!.body.getUint16(33, true)).toBe(0);
  });

  it('refuses input it cannot describe, naming the field', () => {
    const ok = { smmuBase: 0x0905_0000n, coherent: true, gsiv: { event: 0, pri: 0, sync: 0, gerror: 0 } };
    expect(() => buildIort({ ...ok, smmuBase: 0x0905_1000n })).toThrow(/smmuBase/);
    expect(() => buildIort({ ...ok, rids: { first: 0xff00, count: 0x200 } })).toThrow(/rids.count/);
    expect(() => buildIort({ ...ok, pasidBits: 21 })).toThrow(/pasidBits/);
    expect(() => buildIort({ ...ok, ats: 1 as unknown as boolean })).toThrow(/^ats/);
    expect(() => buildIort({ ...ok, gsiv: { event: -1, pri: 0, sync: 0, gerror: 0 } })).toThrow(/gsiv.event/);
  });
});
