// A hostile guest against the SMMUv3 front end: from a working set-up
// (stage 1 with a CD table, stage 2, nested, bypass and abort streams) the
// guest writes anything anywhere — any value into any STE, CD, L1
// descriptor or translation-table word, any command (well-formed with
// random fields, or random words), any register at any offset and width —
// and devices DMA from any StreamID / SubstreamID to any address (through
// the unit's BigInt API or the DMA port's number path with its fast path),
// send ATS Translation Requests and Translated transactions. Whatever
// it does, nothing throws, every step ends promptly (no hang, no unbounded
// work), every DMA answers ok or with the spec's event number, every
// event record the guest reads has a type the spec defines, and after a
// reset the unit works again. Seeded (fast-check), so a failure replays.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { smmuBed, RAM_BASE, type SmmuBed } from '../../lib/smmu/testbed.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { CONFIG, encodeSte, EV, s1Cd } from '../../../host/src/guest/smmu/structures.js';
import { hostileCommand as cmd, hostileValue as value, putHostile, u64 } from '../../lib/smmu/hostile.js';
import { SR } from '../../../host/src/guest/smmu/driver.js';

const VA = 0x5555_0000n;
/** The streams of the set-up. */
const SID = { S1: 1, S2: 2, NESTED: 3, BYPASS: 4, ABORT: 5 } as const;
/** A step slower than this counts as a hang or unbounded work (generous: the machine is shared). */
const STEP_MS = 1500;
const EVENT_TYPES: ReadonlySet<number> = new Set(Object.values(EV));

/** Builds the working set-up and returns the addresses a hostile guest aims at. */
function setUp(b: SmmuBed, twoLevel: boolean): bigint[] {
  b.drv.init(twoLevel ? { sidBits: 8, twoLevel: { split: 4 } } : { sidBits: 8 });
  const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
  const cdTable = b.alloc.alloc();
  for (let ssid = 0; ssid < 4; ssid++) {
    s1.map(VA + BigInt(ssid) * 0x1000n, RAM_BASE + 0x40_0000n + BigInt(ssid) * 0x1000n, 12);
    s1Cd(s1.root, ssid + 1).forEach((w, i) => b.mem.writeU64(cdTable + BigInt(64 * ssid + 8 * i), w));
  }
  // Stage 2: guest RAM identity-mapped in 2 MiB blocks (40-bit IPA, start level 1), so nested CDs and tables sit at IPA = PA.
  const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, 1);
  for (let i = 0n; i < 32n; i++) s2.map(RAM_BASE + (i << 21n), RAM_BASE + (i << 21n), 21);
  const s2Fields = { S2VMID: 3, S2T0SZ: 24, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: true, S2R: true, S2TTB: s2.root };
  b.drv.setSte(SID.S1, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cdTable, S1CDMax: 2, S1DSS: 2 }));
  b.drv.setSte(SID.S2, encodeSte({ V: true, Config: CONFIG.S2, ...s2Fields }));
  b.drv.setSte(SID.NESTED, encodeSte({ V: true, Config: CONFIG.NESTED, S1ContextPtr: cdTable, S1CDMax: 2, S1DSS: 1, ...s2Fields }));
  b.drv.setSte(SID.BYPASS, encodeSte({ V: true, Config: CONFIG.BYPASS }));
  b.drv.setSte(SID.ABORT, encodeSte({ V: true, Config: CONFIG.ABORT }));
  const targets: bigint[] = [];
  for (const sid of Object.values(SID)) for (let i = 0n; i < 8n; i++) targets.push(b.drv.steAddr(sid) + 8n * i);
  for (let i = 0n; i < 32n; i++) targets.push(cdTable + 8n * i);
  for (let level = 0; level <= 3; level++) targets.push(s1.descriptorAddr(VA, level));
  for (let level = 1; level <= 2; level++) targets.push(s2.descriptorAddr(RAM_BASE + 0x40_0000n, level), s2.descriptorAddr(cdTable, level));
  if (twoLevel) targets.push(b.drv.strtab);
  return targets;
}

const REGS = Object.values(SR);
const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('mem' as const), at: fc.nat(), value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('area' as const), off: fc.nat(), value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cmd' as const), cmd, recover: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mmio' as const), off: fc.oneof(fc.constantFrom(...REGS), fc.nat({ max: 0x1ffff })), size: fc.constantFrom(1, 2, 4, 4, 8, 8), value: u64 }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('dma' as const),
      sid: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...Object.values(SID)) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xfffff }) }),
      ssid: fc.option(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xfffff }) }), { freq: 2 }),
      iova: fc.oneof(
        { weight: 4, arbitrary: fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 0xf00 })).map(([p, o]) => VA + BigInt(p * 0x1000 + o)) },
        { weight: 1, arbitrary: fc.constantFrom(RAM_BASE + 0x40_0000n, 0n) },
        { weight: 1, arbitrary: u64 },
      ),
      len: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 256 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4096 }) }),
      write: fc.boolean(), priv: fc.boolean(), exec: fc.boolean(), num: fc.boolean(),
    }),
  },
  {
    // ATS (§3.9.1): a Translation Request, or a Translated transaction to any physical address.
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('ats' as const), translated: fc.boolean(),
      sid: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...Object.values(SID)) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xfffff }) }),
      ssid: fc.option(fc.integer({ min: 0, max: 0xfffff }), { freq: 2 }), addr: fc.oneof(fc.constant(VA), u64),
      len: fc.integer({ min: 1, max: 4096 }), write: fc.boolean(), priv: fc.boolean(), exec: fc.boolean(),
    }),
  },
);

/** What the DMAs of a run did (the property is only worth something if both happen). */
const seen = { ok: 0, events: 0 };

/** Runs one hostile step; returns its duration in ms. Throws (fails the property) if the model does. */
function run(b: SmmuBed, area: { start: bigint; pages: number }, targets: readonly bigint[], s: Step): number {
  const t0 = performance.now();
  const put = (at: bigint, v: Parameters<typeof putHostile>[2]) => putHostile(b.mem, at, v);
  switch (s.kind) {
    case 'mem': put(targets[s.at % targets.length]!, s.value); break;
    case 'area': put(area.start + BigInt(s.off % (area.pages * 512)) * 8n, s.value); break;
    case 'cmd':
      if (b.drv.submit([s.cmd]) !== 0 && s.recover) b.drv.recoverCommandError();
      break;
    case 'mmio':
      b.unit.mmioWrite(s.off, s.size, s.value);
      b.unit.mmioRead(s.off, s.size);
      break;
    case 'dma': {
      const r = b.dma(s.sid, s.iova, { ssid: s.ssid ?? undefined, len: s.len, write: s.write ? new Uint8Array(s.len).fill(0x5a) : undefined, priv: s.priv, exec: s.exec, num: s.num });
      expect(typeof r.ok).toBe('boolean');
      if (!r.ok) expect(Number.isInteger(r.reason)).toBe(true);
      else seen.ok++;
      for (const e of b.drv.events()) seen.events++, expect(EVENT_TYPES.has(e.type), `event type 0x${e.type.toString(16)}`).toBe(true);
      break;
    }
    case 'ats': {
      if (s.translated) {
        const r = b.unit.ats.translated(s.sid, s.addr, s.len, s.write);
        if (!r.ok) expect([0, EV.F_TRANSL_FORBIDDEN]).toContain(r.reason);
      } else {
        const c = b.unit.ats.translate({ sid: s.sid, ssid: s.ssid ?? undefined, iova: s.addr, write: s.write, priv: s.priv, exec: s.exec });
        if (c.status === 'success') expect([c.perms & ~7, c.iova & ((1n << BigInt(c.lg2)) - 1n)]).toEqual([0, 0n]);
        else expect(c.event === 0 || EVENT_TYPES.has(c.event)).toBe(true);
      }
      for (const e of b.drv.events()) expect(EVENT_TYPES.has(e.type)).toBe(true);
      break;
    }
  }
  return performance.now() - t0;
}
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

/** After a reset and a fresh driver set-up, stage 1 works again (no state left poisoned). */
function recovers(b: SmmuBed): void {
  b.unit.reset();
  b.drv.init({ sidBits: 8 });
  const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
  const cd = b.alloc.alloc();
  const pa = RAM_BASE + 0x80_0000n;
  s1.map(VA, pa, 12);
  s1Cd(s1.root, 9).forEach((w, i) => b.mem.writeU64(cd + BigInt(8 * i), w));
  b.drv.setSte(7, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd }));
  b.mem.fill(pa, 8, 0x77);
  expect(b.dma(7, VA, { len: 8 }).data).toEqual(new Uint8Array(8).fill(0x77));
}

describe('SMMUv3 under a hostile guest', () => {
  for (const profile of ['default', 'qemu-7.2', 'qemu-10.0']) {
    it(`${profile}: any value in any structure, command or register, any DMA: no throw, no hang, spec events only, recovers after reset`, async () => {
      const b = await smmuBed(profile);
      let worst = 0;
      seen.ok = 0;
      seen.events = 0;
      fc.assert(fc.property(fc.boolean(), fc.array(step, { minLength: 1, maxLength: 40, size: 'medium' }), (twoLevel, steps) => {
        b.unit.reset();
        const start = b.alloc.highWater;
        const targets = setUp(b, twoLevel);
        // 'area' steps hit any word of the pages this set-up allocated (stream table, queues, CDs, tables).
        const area = { start, pages: Number((b.alloc.highWater - start) / 0x1000n) };
        for (const s of steps) worst = Math.max(worst, run(b, area, targets, s));
        expect(worst).toBeLessThan(STEP_MS);
      }), { numRuns: 100, seed: 23 });
      expect(seen.ok).toBeGreaterThan(30);
      expect(seen.events).toBeGreaterThan(30);
      recovers(b);
    }, 120_000);
  }
});

describe('SMMUv3 host API: nonsense arguments are Errors naming them, before anything is done', () => {
  it('dma, translateOnly and injectEvent', async () => {
    const b = await smmuBed();
    b.drv.init();
    const before = b.unit.logLines.length;
    const dma = (sid: number, ssid: number | undefined, iova: bigint, len: number) => () => b.unit.dma(sid, ssid, iova, len, false, b.buf);
    expect(dma(-1, undefined, 0n, 8)).toThrow(/^sid: -1 /);
    expect(dma(1.5, undefined, 0n, 8)).toThrow(/^sid: 1.5 /);
    expect(dma(2 ** 32, undefined, 0n, 8)).toThrow(/^sid: /);
    expect(dma(1, 2 ** 20, 0n, 8)).toThrow(/^ssid: /);
    expect(dma(1, -1, 0n, 8)).toThrow(/^ssid: /);
    expect(dma(1, undefined, -5n, 8)).toThrow(/^iova: -5 /);
    expect(dma(1, undefined, 1n << 64n, 8)).toThrow(/^iova: /);
    expect(dma(1, undefined, 0n, 0)).toThrow(/^len: 0 /);
    expect(dma(1, undefined, 0n, 8192)).toThrow(/^bufOff: /);
    expect(() => b.unit.translateOnly(1, undefined, -1n, 0)).toThrow(/^iova: /);
    expect(() => b.unit.translateOnly(1, undefined, 0n, -1)).toThrow(/^access: /);
    expect(() => b.unit.injectEvent([1n, 2n])).toThrow(/^record: /);
    // Nothing reached the unit: no event, no log line.
    expect(b.drv.events()).toEqual([]);
    expect(b.unit.logLines.length).toBe(before);
  });
});
