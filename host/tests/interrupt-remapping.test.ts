/**
 * Unit tests of interrupt remapping (vtd/ir/, vtd/spec/interrupt-remapping.ts):
 * the remapper over a real register file and a byte-array RAM, the entry
 * cache's bounds, state validation, and a property run that any request
 * against any table entry gives a delivery or one of the spec's reasons,
 * never a throw. The guest-driven suites are in
 * firmware-tests/cases/interrupt-remapping/.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FaultRecord } from '../src/vtd/fault-recorder.js';
import { InterruptEntryCache } from '../src/vtd/ir/entry-cache.js';
import { InterruptRemapper } from '../src/vtd/ir/remapper.js';
import { createProfile } from '../src/vtd/profiles.js';
import { FakeMemory } from '../src/vtd/qi/testing.js';
import { RegisterFile } from '../src/vtd/register-file.js';
import { IR_FAULT, IRTE, REMAPPABLE, irteField } from '../src/vtd/spec/interrupt-remapping.js';
import { GCMD } from '../src/vtd/spec/registers.js';
import type { GuestMemory } from '../src/core/guest-memory.js';

const TABLE = 0x1000n;

function rig(profile = 'default') {
  const p = createProfile(profile, profile === 'default' ? {} : { scalableMode: false, awBits: 48 });
  const regs = new RegisterFile(p);
  const mem = new FakeMemory(1 << 20);
  const recorded: FaultRecord[] = [];
  const logs: string[] = [];
  const ir = new InterruptRemapper({
    regs, mem: mem as unknown as GuestMemory, profile: p, haw: 48,
    record: (f) => { recorded.push(f); return 'recorded'; }, log: (m) => logs.push(m),
  });
  const on = (irta: bigint): void => {
    regs.set('IRTA', irta);
    ir.latchTable();
    regs.set('GSTS', regs.get('GSTS') | BigInt(GCMD.IRE));
  };
  return { regs, mem, ir, recorded, logs, on };
}

describe('spec layer', () => {
  it('the handle is address 19:5 plus bit 2 as handle[15]; IRTE fields decode from their qwords', () => {
    expect(REMAPPABLE.handle(0xfee0_0000 | (0x7fff << 5) | 0x10 | 0x4)).toBe(0xffff);
    expect(REMAPPABLE.handle(0xfee0_0000 | (5 << 5) | 0x10)).toBe(5);
    const words = [0x0041_80a3, 0x0000_0301, 0x000b_0018, 0] as const;
    expect(irteField(words, IRTE.P)).toBe(1);
    expect(irteField(words, IRTE.FPD)).toBe(1);
    expect(irteField(words, IRTE.DLM)).toBe(5);
    expect(irteField(words, IRTE.IM)).toBe(1);
    expect(irteField(words, IRTE.V)).toBe(0x41);
    expect(irteField(words, IRTE.DST)).toBe(0x0301);
    expect(irteField(words, IRTE.SID)).toBe(0x18);
    expect(irteField(words, IRTE.SQ)).toBe(3);
    expect(irteField(words, IRTE.SVT)).toBe(2);
  });
});

describe('remapper', () => {
  it('before SIRTP the table has no entries: IRE logs, a remappable request faults 0x21', () => {
    const r = rig();
    r.ir.enableChanged(true);
    r.regs.set('GSTS', BigInt(GCMD.IRE));
    expect(r.logs.join()).toMatch(/before SIRTP/);
    const out = r.ir.request(0x18, 0xfee0_0010n, 0);
    expect(out).toMatchObject({ ok: false, reason: IR_FAULT.INDEX_BEYOND_TABLE, index: 0 });
    expect(r.recorded[0]).toMatchObject({ sid: 0x18, reason: 0x21, addr: 0n, read: false, pp: false });
  });

  it('a remapped request reads the IRTE once and serves it from the entry cache afterwards', () => {
    const r = rig();
    r.on(TABLE | 7n);
    r.mem.writeU64(TABLE + 16n * 3n, 1n | (0x41n << 16n) | (2n << 40n));
    const msi = 0xfee0_0010n | (3n << 5n);
    expect(r.ir.request(0x18, msi, 0)).toMatchObject({ ok: true, delivered: { remapped: { index: 3, vector: 0x41, destination: 2 } } });
    r.ir.request(0x18, msi, 0);
    expect(r.ir.stats()).toMatchObject({ requests: 2, remapped: 2, entryCache: { hits: 1, misses: 1 } });
    expect(rig('qemu-10.0').ir.stats().entryCache).toEqual({ hits: 0, misses: 0, invalidated: 0 });
  });

  it('the qemu-7.2 profile drops without recording; counters count the blocked request', () => {
    const r = rig('qemu-7.2');
    r.on(TABLE | 7n);
    expect(r.ir.request(0x18, 0xfee0_0010n, 0)).toMatchObject({ ok: false, reason: 0x22, outcome: 'silent' });
    expect(r.recorded).toEqual([]);
    expect(r.ir.stats().blocked).toBe(1);
  });

  it('loadState checks every field and empties the cache; reset forgets the table', () => {
    const r = rig();
    expect(() => r.ir.loadState(null as never)).toThrow(/state/);
    expect(() => r.ir.loadState({ latched: 1 as never, irta: 0n })).toThrow(/state\.latched/);
    expect(() => r.ir.loadState({ latched: true, irta: -1n })).toThrow(/state\.irta/);
    r.ir.loadState({ latched: true, irta: TABLE | 3n });
    expect(r.ir.tableEntries).toBe(16);
    expect(r.ir.saveState()).toEqual({ latched: true, irta: TABLE | 3n });
    r.ir.reset();
    expect(r.ir.tableEntries).toBe(0);
  });

  it('any request against any IRTE is a delivery or an interrupt-remapping reason, never a throw', () => {
    fc.assert(fc.property(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }),
      fc.boolean(), fc.constantFrom('default', 'qemu-7.2', 'qemu-10.0'),
      (qw0, qw1, data, handle, sid, x2apic, profile) => {
        const r = rig(profile);
        r.on(TABLE | (x2apic ? 1n << 11n : 0n) | 0xfn);
        r.mem.writeU64(TABLE + 16n * BigInt(handle & 0x3f), qw0);
        r.mem.writeU64(TABLE + 16n * BigInt(handle & 0x3f) + 8n, qw1);
        const address = 0xfee0_0010n | (BigInt(handle & 0x7fff) << 5n) | (BigInt(data & 0xc) & 0xcn);
        const out = r.ir.request(sid, address, data);
        if (out.ok) expect(out.delivered.address >> 20n & 0xfffn).toBe(0xfeen);
        else expect([0x20, 0x21, 0x22, 0x23, 0x24, 0x26]).toContain(out.reason);
      },
    ), { numRuns: 500 });
  });
});

describe('interrupt-entry cache', () => {
  it('holds at most its capacity, dropping the oldest; index-selective invalidation covers 2^IM aligned entries', () => {
    const c = new InterruptEntryCache(4);
    for (let i = 0; i < 6; i++) c.fill(i, [i, 0, 0, 0]);
    expect(c.size).toBe(4);
    expect(c.lookup(0)).toBeUndefined();
    expect(c.lookup(5)).toEqual([5, 0, 0, 0]);
    c.invalidateIndex(5, 1); // 4 and 5
    expect([2, 3, 4, 5].map((i) => c.lookup(i) !== undefined)).toEqual([true, true, false, false]);
    c.invalidateIndex(0xffff, 15); // 0x8000..0xffff: a large mask walks the cache, not the range
    expect(c.size).toBe(2);
    c.invalidateAll();
    expect(c.stats().invalidated).toBe(4);
    expect(() => new InterruptEntryCache(0)).toThrow(/capacity/);
  });
});
