/**
 * Issue 19, snapshot restore: integrity (CRC-32 over the whole snapshot,
 * checked first: every single-bit flip is refused), atomicity (a refused
 * snapshot changes nothing, wherever the problem is), register values
 * checked against the profile, restore time linear in the snapshot size,
 * configs compared after normalization, VMM-backed machines refused with a
 * clear error, old format versions refused with a clear message.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { wasmPath } from '../src/core/load-node.js';
import { createMachine, type Machine, type MachineConfig } from '../src/machine.js';
import { crc32, crc32IsNative, crc32Table } from '../src/snapshot/crc32.js';
import { decodeSnapshot, encodeSnapshot, ByteReader } from '../src/snapshot/format.js';
import { encodeVtdState, readVtd } from '../src/snapshot/vtd-state.js';
import type { VtdUnitState } from '../src/vtd/vtd-unit.js';
import { bootGuest } from '../src/flows/guest-side.js';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import { GuestQueue } from '../src/guest/invalidation-queue.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';

const CONFIG: MachineConfig = { ramMib: 32, devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:05.0', kind: 'ats' }] };
const VTD = 0xfed9_0000n;

/** A machine with guest tables, a queue, RAM contents and a DMA done. */
async function booted(): Promise<Machine> {
  const m = await createMachine(CONFIG);
  const env = guestEnvFor(m);
  const g = new GuestIommu(env, 'legacy');
  g.attachLegacy(0x18, { did: 1 }).map(0x1000n, 0x8_0000n, 12, encodeSsPte({ R: true, W: true }));
  g.start();
  new GuestQueue(env).enable();
  m.ram.write(0x9_0000n, Uint8Array.from([1, 2, 3, 4]));
  m.dmaTest('00:03.0').buffer().fill(0x5a, 0, 16);
  expect(m.dmaTest('00:03.0').write(0x1000n, 16).ok).toBe(true);
  return m;
}

/** `snap` with section `tag` replaced by `f(old payload)`, re-encoded with a valid checksum. */
function withSection(snap: Uint8Array, tag: string, f: (b: Uint8Array) => Uint8Array): Uint8Array {
  const s = decodeSnapshot(snap);
  s.set(tag, f(s.get(tag)!));
  return encodeSnapshot([...s]);
}

/** `snap` with its VT-d state changed by `f`. */
function withVtd(snap: Uint8Array, f: (s: VtdUnitState) => VtdUnitState): Uint8Array {
  return withSection(snap, 'VTD ', (b) => encodeVtdState(f(readVtd(new ByteReader(b, 'VTD')))));
}

/** Everything observable of a machine, as bytes (its own snapshot). */
const stateOf = (m: Machine): Uint8Array => m.snapshot();

describe('CRC-32', () => {
  /** Bit-at-a-time reference. */
  const reference = (b: Uint8Array): number => {
    let c = 0xffff_ffff;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb8_8320 : c >>> 1;
    }
    return (c ^ 0xffff_ffff) >>> 0;
  };

  it('is the IEEE CRC-32 (check value of "123456789") and agrees with a bitwise reference, also when continued: the native and the table form', () => {
    for (const f of [crc32, crc32Table]) {
      expect(f(new TextEncoder().encode('123456789'))).toBe(0xcbf4_3926);
      fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (b, cut) => {
        const k = Math.min(cut, b.length);
        expect(f(b)).toBe(reference(b));
        expect(f(b.subarray(k), f(b.subarray(0, k)))).toBe(reference(b));
      }), { numRuns: 200 });
    }
  });

  it('uses node:zlib where Node has it, with the table form\'s values on snapshot-sized inputs and offsets', () => {
    const proc = process as unknown as { getBuiltinModule?: (id: string) => { crc32?: unknown } };
    expect(crc32IsNative).toBe(typeof proc.getBuiltinModule?.('node:zlib')?.crc32 === 'function');
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 70_000 }), fc.nat(), fc.nat(), (b, from, seed) => {
      const sub = b.subarray(from % b.length);
      expect(crc32(sub, seed >>> 0)).toBe(crc32Table(sub, seed >>> 0));
    }), { numRuns: 60 });
  });
});

describe.skipIf(!existsSync(wasmPath()))('snapshot integrity and atomicity', () => {
  it('every single-bit flip is refused and leaves the machine unchanged (400 random flips)', async () => {
    const snap = (await booted()).snapshot();
    const target = await createMachine(CONFIG);
    const before = stateOf(target);
    let silent = 0;
    fc.assert(fc.property(fc.nat(snap.length * 8 - 1), (bit) => {
      const bad = snap.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      try {
        target.restore(bad);
        silent++;
      } catch (e) {
        expect((e as Error).message).toMatch(/^snapshot: /);
      }
    }), { numRuns: 400, seed: 19 });
    expect(silent).toBe(0);
    expect(stateOf(target)).toEqual(before);
    target.restore(snap); // the intact snapshot still restores
    expect(stateOf(target)).toEqual(snap);
  });

  it('random multi-byte damage and truncation are refused', async () => {
    const snap = (await booted()).snapshot();
    const target = await createMachine(CONFIG);
    fc.assert(fc.property(fc.nat(snap.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 }), (at, bytes) => {
      const bad = snap.slice();
      bad.set(bytes.subarray(0, bad.length - at), at);
      fc.pre(bad.some((b, i) => b !== snap[i]));
      expect(() => target.restore(bad)).toThrow(/^snapshot: /);
    }), { numRuns: 100, seed: 7 });
    expect(() => target.restore(snap.subarray(0, snap.length - 100))).toThrow(/truncated/);
  });

  it('a snapshot refused after its RAM section (a bad register) leaves RAM and registers as they were', async () => {
    const snap = (await booted()).snapshot();
    const target = await createMachine(CONFIG);
    target.ram.write(0x9_0000n, Uint8Array.from([9, 9]));
    const before = stateOf(target);
    expect(() => target.restore(withVtd(snap, (s) => ({ ...s, registers: { ...s.registers, CAP: (1n << 64n) - 1n } })))).toThrow(/registers\.CAP: /);
    expect(stateOf(target)).toEqual(before);
    expect([...target.ram.read(0x9_0000n, 2)]).toEqual([9, 9]);
  });

  it('a snapshot refused at its last device leaves every device, RAM and the unit as they were', async () => {
    const snap = (await booted()).snapshot();
    const target = await createMachine(CONFIG);
    const before = stateOf(target);
    const devs = decodeSnapshot(snap).get('DEVS')!;
    const cut = withSection(snap, 'DEVS', () => devs.subarray(0, devs.length - 1));
    expect(() => target.restore(cut)).toThrow(/truncated/);
    expect(stateOf(target)).toEqual(before);
  });
});

describe.skipIf(!existsSync(wasmPath()))('register values are checked against the profile', () => {
  it.each([
    ['CAP all-ones', 'CAP', (1n << 64n) - 1n, /registers\.CAP: .* read-only bits/],
    ['ECAP changed', 'ECAP', 0n, /registers\.ECAP: /],
    ['VER changed', 'VER', 0x20n, /registers\.VER: /],
    ['GSTS all-ones', 'GSTS', 0xffff_ffffn, /registers\.GSTS: /],
    ['GSTS with a command the profile lacks (SFL)', 'GSTS', 1n << 29n, /registers\.GSTS: .*cannot set/],
    ['GSTS.QIES without an enabled queue', 'GSTS', 1n << 26n, /registers\.GSTS: QIES=1/],
    ['FEDATA beyond its 16 writable bits', 'FEDATA', 0x1_0000n, /registers\.FEDATA: /],
    ['FSTS.FRI past the last fault record', 'FSTS', 0xff00n, /registers\.FSTS: FRI 255/],
    ['FSTS.PPF with no fault pending', 'FSTS', 2n, /registers\.FSTS: PPF=1/],
    ['IQH not the queue head', 'IQH', 0x40n, /registers\.IQH: /],
    ['a 4-byte register with 33 bits', 'FECTL', 1n << 32n, /registers\.FECTL: .* not a 32-bit value/],
  ])('%s is refused and nothing changes', async (_what, name, value, error) => {
    const m = await createMachine(CONFIG);
    const s = m.vtd.saveState();
    const target = await createMachine(CONFIG);
    const before = target.vtd.saveState();
    expect(() => target.vtd.loadState({ ...s, registers: { ...s.registers, [name]: value } })).toThrow(error);
    expect(target.vtd.saveState()).toEqual(before);
  });

  it('a missing register is refused; writable values within their masks are accepted', async () => {
    const m = await createMachine(CONFIG);
    const s = m.vtd.saveState();
    const { FEDATA: _dropped, ...rest } = s.registers;
    expect(() => m.vtd.loadState({ ...s, registers: rest })).toThrow(/registers\.FEDATA: missing/);
    m.vtd.loadState({ ...s, registers: { ...s.registers, FEDATA: 0xbeefn, FEADDR: 0xfee0_0000n, IQT: 0x30n } });
    expect(m.mmioRead(VTD + 0x3cn, 4)).toBe(0xbeefn);
  });
});

describe.skipIf(!existsSync(wasmPath()))('restore time and configs', () => {
  it('open page-request groups restore in one step each, whatever their page counts (bounded time)', async () => {
    const m = await createMachine(CONFIG);
    const s = m.vtd.saveState();
    const groups = Array.from({ length: 2000 }, (_, i) => ({ sid: 0x18, pasid: i, prgi: i & 0x1ff, pages: 1 << 20, complete: false }));
    const snap = withVtd(m.snapshot(), () => ({ ...s, prq: { ...s.prq, groups } }));
    expect(snap.length).toBeLessThan(200_000);
    const target = await createMachine(CONFIG);
    const t0 = performance.now();
    target.restore(snap);
    expect(performance.now() - t0).toBeLessThan(2000); // 2000 x 2^20 page steps before (hours)
    expect(target.vtd.prq.openGroups()).toHaveLength(2000);
    expect(target.vtd.prq.openGroups()[7]).toEqual(groups[7]);
  });

  it('a group open twice is refused', async () => {
    const m = await createMachine(CONFIG);
    const s = m.vtd.saveState();
    const g = { sid: 0x18, prgi: 3, pages: 1, complete: true };
    expect(() => m.vtd.loadState({ ...s, prq: { ...s.prq, groups: [g, { ...g }] } })).toThrow(/state\.prq\.groups\[1\]: .* open twice/);
  });

  it('equal configs spelled differently (defaults written out, keys and devices reordered, short BDFs) restore', async () => {
    const snap = (await booted()).snapshot();
    const same: MachineConfig = {
      devices: [{ kind: 'ats', bdf: '5.0' }, { dmaMaskBits: 64, bdf: '00:03.0', kind: 'dma-test' }],
      iommu: { awBits: 48, scalableMode: true, cachingMode: false }, profile: 'default', ramMib: 32,
    };
    const target = await createMachine(same);
    target.restore(snap);
    expect(target.snapshot().subarray(0)).toBeDefined();
    expect(target.mmioRead(VTD + 0x1cn, 4)).toBe((await booted()).mmioRead(VTD + 0x1cn, 4));
    const other = await createMachine({ ...CONFIG, devices: [{ bdf: '00:03.0', kind: 'dma-test', dmaMaskBits: 32 }, { bdf: '00:05.0', kind: 'ats' }] });
    expect(() => other.restore(snap)).toThrow(/config differs/);
  });

  it('format version 2 (no checksum) is refused with a clear message; unknown sections are refused', async () => {
    const snap = (await booted()).snapshot();
    const v2 = snap.slice();
    new DataView(v2.buffer).setUint32(8, 2, true);
    const target = await createMachine(CONFIG);
    expect(() => target.restore(v2)).toThrow(/format version 2 has no integrity check .* take the snapshot again/);
    const extra = encodeSnapshot([...decodeSnapshot(snap), ['XTRA', new Uint8Array(4)]]);
    expect(() => target.restore(extra)).toThrow(/unknown section "XTRA"/);
  });
});

describe.skipIf(!existsSync(wasmPath()))('VMM-backed machines', () => {
  it('cannot be snapshotted or restored: a clear error instead of a snapshot without the guest\'s RAM', async () => {
    const g = await bootGuest({ mode: 'shadow', devices: [{ bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' }] });
    expect(() => g.vm.machine.snapshot()).toThrow(/VMM-backed machine .* cannot be snapshotted/);
    const snap = (await booted()).snapshot();
    expect(() => g.vm.machine.restore(snap)).toThrow(/VMM-backed machine .* cannot be restored/);
    g.vm.close();
  });
});
