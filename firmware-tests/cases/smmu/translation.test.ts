// SMMUv3 guest-driver tests: everything through MMIO and guest memory.
// Stream table entries (bypass, abort, S1, S2, nested), context descriptors
// (linear and 2-level, SSIDs), the AArch64 walk and its faults as events.
import { describe, expect, it } from 'vitest';
import { smmuBed, RAM_BASE, type SmmuBed } from '../../lib/smmu/testbed.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeCd, encodeSte, EV, l1cd, s1Cd } from '../../../host/src/guest/smmu/structures.js';

const SID = 0x18;
const DATA = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);

/** Stage 1 for SID: a CD table with one CD (ASID 7) over fresh tables; returns the tables. */
function stage1(b: SmmuBed, o: { asid?: number; record?: boolean } = {}): { s1: LpaeTables; cdTable: bigint } {
  const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
  const cdTable = b.alloc.alloc();
  s1Cd(s1.root, o.asid ?? 7, { record: o.record }).forEach((w, i) => b.mem.writeU64(cdTable + BigInt(8 * i), w));
  b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cdTable }));
  return { s1, cdTable };
}

describe('SMMUv3 registers', () => {
  it('advertises the profile IDs and completes the CR0 / GBPA / IRQ_CTRL handshakes', async () => {
    const b = await smmuBed();
    expect(b.drv.read32(0x0) & 3).toBe(3); // S2P, S1P
    expect(b.drv.read32(0x4) & 0x3f).toBe(16);
    b.drv.write32(0x44, 0x8010_0000); // GBPA.UPDATE | ABORT
    expect(b.drv.read32(0x44)).toBe(0x10_0000);
    b.drv.write32(0x50, 5);
    expect(b.drv.read32(0x54)).toBe(5);
    b.drv.setCr0(0xc);
    expect(b.drv.read32(0x24)).toBe(0xc);
  });
  it('keeps the event queue indexes in page 1; page-0 copies and bad accesses are ignored and logged', async () => {
    const b = await smmuBed();
    b.drv.write32(0x100ac, 3);
    expect(b.drv.read32(0x100ac)).toBe(3);
    expect(b.drv.read32(0xac)).toBe(0);
    b.drv.write64(0x20, 0xffn); // 64-bit access to a 32-bit register
    expect(b.drv.read32(0x20)).toBe(0);
    expect(b.logs.some((l) => l.includes('0x20'))).toBe(true);
  });
  it('qemu-7.2: page 1 aliases page 0, no GBPA, QEMU IDs', async () => {
    const b = await smmuBed('qemu-7.2');
    expect(b.drv.read32(0x0)).toBe(0x0d40_101a); // S1P TTF=2 COHACC ASID16 TTENDIAN=2 STALL=1 TERM ST_LEVEL=1
    expect(b.drv.read32(0x10000)).toBe(b.drv.read32(0x0));
    b.drv.write32(0x44, 0x10_0000);
    expect(b.drv.read32(0x44)).toBe(0);
  });
});

describe('SMMUv3 stream table entries', () => {
  it('disabled SMMU: GBPA bypass, then GBPA.ABORT', async () => {
    const b = await smmuBed();
    b.drv.init({ noEnable: true });
    expect(b.dma(SID, RAM_BASE + 0x2000n, { write: DATA }).ok).toBe(true);
    expect([...b.mem.read(RAM_BASE + 0x2000n, 8)]).toEqual([...DATA]);
    b.drv.write32(0x44, 0x8010_0000);
    expect(b.dma(SID, RAM_BASE + 0x2000n, { len: 8 }).ok).toBe(false);
  });
  it('bypass, abort (no event), invalid (C_BAD_STE), reserved Config (aborts, no event), SID beyond the table (C_BAD_STREAMID)', async () => {
    const b = await smmuBed();
    b.drv.init({ sidBits: 8 });
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.BYPASS }));
    expect(b.dma(SID, RAM_BASE + 0x3000n, { write: DATA }).ok).toBe(true);
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.ABORT }));
    expect(b.dma(SID, RAM_BASE + 0x3000n).ok).toBe(false);
    expect(b.drv.events()).toEqual([]);
    b.drv.setSte(SID, encodeSte({ V: false, Config: CONFIG.BYPASS }));
    b.dma(SID, 0x1000n);
    b.drv.setSte(SID, encodeSte({ V: true, Config: 2 }));
    expect(b.dma(SID, 0x1000n).ok).toBe(false);
    b.dma(0x100, 0x1000n);
    expect(b.drv.events().map((e) => [e.type, e.sid])).toEqual([[EV.C_BAD_STE, SID], [EV.C_BAD_STREAMID, 0x100]]);
  });
  it('an STE is cached until CFGI_STE (and CFGI_STE_RANGE / CFGI_ALL)', async () => {
    const b = await smmuBed();
    b.drv.init();
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.BYPASS }));
    expect(b.dma(SID, RAM_BASE).ok).toBe(true);
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.ABORT }), false);
    expect(b.dma(SID, RAM_BASE).ok).toBe(true);
    b.drv.submit([C.cfgiSteRange(SID & ~3, 1)]);
    expect(b.dma(SID, RAM_BASE).ok).toBe(false);
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.BYPASS }), false);
    b.drv.submit([C.cfgiAll()]);
    expect(b.dma(SID, RAM_BASE).ok).toBe(true);
  });
  it('2-level stream table: L1 descriptors, Span, F_STE_FETCH outside RAM', async () => {
    const b = await smmuBed();
    b.drv.init({ sidBits: 16, twoLevel: { split: 8 } });
    b.drv.setSte(0x1234, encodeSte({ V: true, Config: CONFIG.BYPASS }));
    expect(b.dma(0x1234, RAM_BASE).ok).toBe(true);
    expect(b.dma(0x1334, RAM_BASE).ok).toBe(false); // L1 descriptor Span 0
    b.mem.writeU64(b.drv.strtab + 0x14n * 8n, 0x10_0000_0000n | 9n); // L2 table outside RAM
    b.drv.submit([C.cfgiAll()]);
    b.dma(0x1400, RAM_BASE);
    const ev = b.drv.events();
    expect(ev.map((e) => e.type)).toEqual([EV.C_BAD_STREAMID, EV.F_STE_FETCH]);
    expect(ev[1]!.fetchAddr).toBe(0x10_0000_0000n);
  });
});

describe('SMMUv3 stage 1 (context descriptors, AArch64 4 KiB tables)', () => {
  it('translates VA -> PA through TTB0, 4 KiB pages and 2 MiB blocks', async () => {
    const b = await smmuBed();
    b.drv.init();
    const { s1 } = stage1(b);
    s1.map(0x1234_5000n, RAM_BASE + 0x40_0000n, 12);
    s1.map(0x4020_0000n, RAM_BASE + 0x60_0000n, 21);
    expect(b.dma(SID, 0x1234_5010n, { write: DATA }).ok).toBe(true);
    expect([...b.mem.read(RAM_BASE + 0x40_0010n, 8)]).toEqual([...DATA]);
    expect(b.dma(SID, 0x4021_0008n, { write: DATA }).ok).toBe(true);
    expect([...b.mem.read(RAM_BASE + 0x61_0008n, 8)]).toEqual([...DATA]);
    expect(b.dma(SID, 0x1234_5010n)).toMatchObject({ ok: true, data: DATA });
  });
  it('faults: F_TRANSLATION, F_PERMISSION, F_ACCESS, F_ADDR_SIZE, F_WALK_EABT, with address and RnW', async () => {
    const b = await smmuBed();
    b.drv.init();
    const { s1 } = stage1(b);
    s1.map(0x1000n, RAM_BASE + 0x40_0000n, 12, { write: false });
    s1.map(0x2000n, RAM_BASE + 0x40_1000n, 12, { af: false });
    s1.map(0x7000_0000n, RAM_BASE, 12);
    b.dma(SID, 0x9000n);
    b.dma(SID, 0x1008n, { write: DATA });
    b.dma(SID, 0x2000n);
    s1.setDescriptor(0x7000_0000n, 2, 0xdead_0000n | 3n); // next table outside RAM
    b.dma(SID, 0x7000_0000n);
    const ev = b.drv.events();
    expect(ev.map((e) => e.type)).toEqual([EV.F_TRANSLATION, EV.F_PERMISSION, EV.F_ACCESS, EV.F_WALK_EABT]);
    expect(ev[0]).toMatchObject({ sid: SID, addr: 0x9000n, rnw: true, s2: false, cls: 2 });
    expect(ev[1]).toMatchObject({ addr: 0x1008n, rnw: false });
    expect(ev[3]!.fetchAddr).toBe(0xdead_0000n + ((0x7000_0000n >> 12n) & 511n) * 8n);
  });
  it('CD.IPS limits the output: F_ADDR_SIZE', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
    const cd = b.alloc.alloc();
    s1Cd(s1.root, 1, { ips: 0 }).forEach((w, i) => b.mem.writeU64(cd + BigInt(8 * i), w)); // 32-bit output
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd }));
    s1.map(0x1000n, RAM_BASE, 12); // RAM_BASE fits 32 bits
    s1.map(0x2000n, 0x1_0000_0000n, 12);
    expect(b.dma(SID, 0x1000n).ok).toBe(true);
    const r = b.dma(SID, 0x2000n);
    expect(r.ok ? undefined : r.reason).toBe(EV.F_ADDR_SIZE);
  });
  it('CD.R = 0 suppresses translation-fault events; a bad CD is C_BAD_CD, an unreadable one F_CD_FETCH', async () => {
    const b = await smmuBed();
    b.drv.init();
    stage1(b, { record: false });
    expect(b.dma(SID, 0x9000n).ok).toBe(false);
    expect(b.drv.events()).toEqual([]);
    const cd = b.alloc.alloc();
    encodeCd({ V: false, AA64: true, A: true }).forEach((w, i) => b.mem.writeU64(cd + BigInt(8 * i), w));
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd }));
    b.dma(SID, 0x1000n);
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: 0x20_0000_0000n }));
    b.dma(SID, 0x1000n);
    expect(b.drv.events().map((e) => e.type)).toEqual([EV.C_BAD_CD, EV.F_CD_FETCH]);
  });
  it('SSIDs from the PASID: linear and 2-level CD tables, S1DSS, C_BAD_SUBSTREAMID, F_STREAM_DISABLED', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s1a = new LpaeTables(b.mem, b.alloc, 1, 48);
    const s1b = new LpaeTables(b.mem, b.alloc, 1, 48);
    s1a.map(0x1000n, RAM_BASE + 0x40_0000n, 12);
    s1b.map(0x1000n, RAM_BASE + 0x50_0000n, 12);
    // 2-level CD table, 4 KiB leaves (64 CDs each): SSID 5 and SSID 300.
    const l1 = b.alloc.alloc();
    const leafA = b.alloc.alloc();
    const leafB = b.alloc.alloc();
    b.mem.writeU64(l1, l1cd(leafA));
    b.mem.writeU64(l1 + 8n * BigInt(300 >> 6), l1cd(leafB));
    s1Cd(s1a.root, 5).forEach((w, i) => b.mem.writeU64(leafA + 5n * 64n + BigInt(8 * i), w));
    s1Cd(s1b.root, 300).forEach((w, i) => b.mem.writeU64(leafB + BigInt(300 & 63) * 64n + BigInt(8 * i), w));
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S1, S1Fmt: 1, S1CDMax: 10, S1ContextPtr: l1, S1DSS: 0 }));
    expect(b.dma(SID, 0x1000n, { ssid: 5, write: DATA }).ok).toBe(true);
    expect(b.dma(SID, 0x1000n, { ssid: 300, write: DATA }).ok).toBe(true);
    expect([...b.mem.read(RAM_BASE + 0x50_0000n, 8)]).toEqual([...DATA]);
    b.dma(SID, 0x1000n, { ssid: 1024 }); // beyond S1CDMax
    b.dma(SID, 0x1000n, { ssid: 64 * 2 }); // L1CD not valid
    b.dma(SID, 0x1000n); // no SSID, S1DSS terminate
    const ev = b.drv.events();
    expect(ev.map((e) => [e.type, e.ssv, e.ssid])).toEqual([[EV.C_BAD_SUBSTREAMID, true, 1024], [EV.C_BAD_SUBSTREAMID, true, 128], [EV.F_STREAM_DISABLED, false, 0]]);
  });
});

describe('SMMUv3 stage 2 and nesting', () => {
  /** A VM: stage 2 maps IPA 0..16 MiB to RAM_BASE + 32 MiB (VMID 3). */
  function vm(b: SmmuBed): LpaeTables {
    const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, 1);
    for (let i = 0n; i < 8n; i++) s2.map(i << 21n, RAM_BASE + 0x200_0000n + (i << 21n), 21);
    return s2;
  }
  const s2Fields = (s2: LpaeTables) => ({ S2VMID: 3, S2T0SZ: 24, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: true, S2R: true, S2TTB: s2.root });

  it('stage 2 only: IPA -> PA, and an unmapped IPA is F_TRANSLATION with S2 = 1', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s2 = vm(b);
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.S2, ...s2Fields(s2) }));
    expect(b.dma(SID, 0x10_1000n, { write: DATA }).ok).toBe(true);
    expect([...b.mem.read(RAM_BASE + 0x210_1000n, 8)]).toEqual([...DATA]);
    b.dma(SID, 0x200_0000n);
    expect(b.drv.events()[0]).toMatchObject({ type: EV.F_TRANSLATION, s2: true, ipa: 0x200_0000n });
  });
  it('nested: the guest CD table at an IPA, stage-1 tables in IPA space, stage-2 faults with CLASS CD / TT / IN', async () => {
    const b = await smmuBed();
    b.drv.init();
    const s2 = vm(b);
    // The guest's structures live at IPAs 0x10_0000.. (PA = RAM_BASE + 32 MiB + IPA).
    const pa = (ipa: bigint) => RAM_BASE + 0x200_0000n + ipa;
    const ipaAlloc = { next: 0x10_0000n, alloc() { const p = this.next; this.next += 0x1000n; return p; } };
    const s1root = ipaAlloc.alloc();
    const cdIpa = ipaAlloc.alloc();
    const l3 = [ipaAlloc.alloc(), ipaAlloc.alloc(), ipaAlloc.alloc()];
    // VA 0x8000_1000 -> IPA 0x30_0000 through a hand-built 4-level table (IPA pointers).
    b.mem.writeU64(pa(s1root) + ((0x8000_1000n >> 39n) & 511n) * 8n, l3[0]! | 3n);
    b.mem.writeU64(pa(l3[0]!) + ((0x8000_1000n >> 30n) & 511n) * 8n, l3[1]! | 3n);
    b.mem.writeU64(pa(l3[1]!) + ((0x8000_1000n >> 21n) & 511n) * 8n, l3[2]! | 3n);
    b.mem.writeU64(pa(l3[2]!) + ((0x8000_1000n >> 12n) & 511n) * 8n, 0x30_0000n | 0x743n);
    s1Cd(s1root, 9).forEach((w, i) => b.mem.writeU64(pa(cdIpa) + BigInt(8 * i), w));
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.NESTED, S1ContextPtr: cdIpa, ...s2Fields(s2) }));
    expect(b.dma(SID, 0x8000_1008n, { write: DATA }).ok).toBe(true);
    expect([...b.mem.read(pa(0x30_0008n), 8)]).toEqual([...DATA]);
    // Stage-2 faults: output IPA unmapped (CLASS IN), a table IPA unmapped (TT), the CD IPA unmapped (CD).
    s2.unmap(0x20_0000n, 2);
    b.drv.submit([C.tlbiS12Vmall(3)]);
    b.dma(SID, 0x8000_1008n);
    b.mem.writeU64(pa(l3[2]!) + ((0x8000_1000n >> 12n) & 511n) * 8n, 0x30_0000n | 0x743n);
    b.mem.writeU64(pa(l3[1]!) + ((0x8020_0000n >> 21n) & 511n) * 8n, 0x200_0000n | 3n); // a table IPA stage 2 does not map
    b.dma(SID, 0x8020_0000n);
    b.drv.setSte(SID, encodeSte({ V: true, Config: CONFIG.NESTED, S1ContextPtr: 0x300_0000n, ...s2Fields(s2) }));
    b.dma(SID, 0x8000_1008n);
    const ev = b.drv.events();
    expect(ev.map((e) => [e.type, e.s2, e.cls])).toEqual([[EV.F_TRANSLATION, true, 2], [EV.F_TRANSLATION, true, 1], [EV.F_TRANSLATION, true, 0]]);
    expect(ev[0]!.ipa).toBe(0x30_0000n);
    expect(ev[1]!.ipa).toBe(0x200_0000n);
    expect(ev[2]!.ipa).toBe(0x300_0000n);
  });
});
