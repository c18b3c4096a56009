// SMMUv3 guest-driver tests, table-driven: each STE and CD field value the
// spec calls ILLEGAL (IHI 0070 §5.2, §5.4: "behaves as V == 0", C_BAD_STE /
// C_BAD_CD), each reserved value that "behaves as" another, and each field
// that is IGNORED, written by the guest and then used by one DMA. The
// event (or its absence) is what the guest sees. qemu-* differences are
// rows of their own, each a profile switch with a recording behind it
// (docs/SMMU-PROFILES.md).
import { describe, expect, it } from 'vitest';
import { smmuBed, RAM_BASE, type SmmuBed } from '../../lib/smmu/testbed.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeCd, encodeSte, EV } from '../../../host/src/guest/smmu/structures.js';
import type { SmmuOptions } from '../../../host/src/smmu/profiles.js';

const SID = 0x18;
type SteFields = Parameters<typeof encodeSte>[0];
type CdFields = Parameters<typeof encodeCd>[0];
/** What the DMA does: completes, aborts without an event, or aborts with the event. */
type Outcome = 'ok' | 'abort' | number;

/** A machine with a 4-entry linear CD table (the same CD at each index) over stage-1 tables, and a VM's stage 2. */
async function bed(profile = 'default', options?: SmmuOptions) {
  const b = await smmuBed(profile, 64, options);
  b.drv.init();
  const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
  s1.map(0x1000n, RAM_BASE + 0x40_0000n, 12);
  const cdTable = b.alloc.alloc();
  const cd = (o: CdFields = {}): CdFields => ({
    T0SZ: 16, TG0: 0, EPD1: true, V: true, IPS: 5, AA64: true, R: true, A: true, ASET: true, ASID: 7, TTB0: s1.root, IR0: 1, OR0: 1, SH0: 3, MAIR: 0x44ff04, ...o,
  });
  const writeCd = (o: CdFields = {}) => {
    for (let i = 0n; i < 4n; i++) encodeCd(cd(o)).forEach((w, j) => b.mem.writeU64(cdTable + i * 64n + BigInt(8 * j), w));
  };
  writeCd();
  // Stage 2: IPA 0..16 MiB -> RAM_BASE + 32 MiB (40-bit IPA, start level 1: two concatenated tables).
  const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, 1);
  for (let i = 0n; i < 8n; i++) s2.map(i << 21n, RAM_BASE + 0x200_0000n + (i << 21n), 21);
  const s2Ste: SteFields = { V: true, Config: CONFIG.S2, S2VMID: 3, S2T0SZ: 24, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: true, S2R: true, S2TTB: s2.root };
  const s1Ste: SteFields = { V: true, Config: CONFIG.S1, S1ContextPtr: cdTable };
  return { b, writeCd, s1Ste, s2Ste, s2 };
}

/** Sets SID's STE, makes one 4-byte read and returns what the guest sees. */
function outcome(b: SmmuBed, ste: SteFields, iova: bigint, ssid?: number): Outcome {
  b.drv.setSte(SID, encodeSte(ste));
  b.drv.submit([C.cfgiCdAll(SID), C.tlbiNsnhAll()]);
  const r = b.dma(SID, iova, { ssid, len: 4 });
  const ev = b.drv.events();
  if (r.ok) return ev.length === 0 ? 'ok' : -1;
  return ev.length === 0 ? 'abort' : ev.length === 1 ? ev[0]!.type : -2;
}

const name = (o: Outcome): string => (typeof o === 'string' ? o : Object.entries(EV).find(([, v]) => v === o)?.[0] ?? String(o));

interface Row { readonly what: string; readonly ste: (s1: SteFields, s2: SteFields, s2root: bigint) => SteFields; readonly ssid?: number; readonly iova?: bigint; readonly want: Outcome }

/** STE rows on the default profile (stage 1 reads IOVA 0x1000; stage 2 reads IPA 0x10_0000; bypass reads RAM). */
const STE_ROWS: readonly Row[] = [
  { what: 'a valid stage-1 STE', ste: (s1) => s1, want: 'ok' },
  { what: 'V = 0', ste: (s1) => ({ ...s1, V: false }), want: EV.C_BAD_STE },
  { what: 'Config 0b000 aborts without an event', ste: (s1) => ({ ...s1, Config: 0 }), want: 'abort' },
  { what: 'Config 0b001 (reserved) behaves as 0b000', ste: (s1) => ({ ...s1, Config: 1 }), want: 'abort' },
  { what: 'Config 0b010 (reserved) behaves as 0b000', ste: (s1) => ({ ...s1, Config: 2 }), want: 'abort' },
  { what: 'Config 0b011 (reserved) behaves as 0b000', ste: (s1) => ({ ...s1, Config: 3 }), want: 'abort' },
  { what: 'Config 0b100 bypasses', ste: () => ({ V: true, Config: CONFIG.BYPASS }), iova: RAM_BASE, want: 'ok' },
  { what: 'S1CDMax above SSIDSIZE', ste: (s1) => ({ ...s1, S1CDMax: 21 }), ssid: 1, want: EV.C_BAD_STE },
  { what: 'S1Fmt is IGNORED with S1CDMax 0', ste: (s1) => ({ ...s1, S1Fmt: 1 }), want: 'ok' },
  { what: 'S1Fmt 0b11 (reserved) behaves as linear', ste: (s1) => ({ ...s1, S1Fmt: 3, S1CDMax: 2 }), ssid: 3, want: 'ok' },
  { what: 'S1STALLD = 1 without a configurable stall model', ste: (s1) => ({ ...s1, S1STALLD: true }), want: EV.C_BAD_STE },
  { what: 'a SubstreamID with S1CDMax 0', ste: (s1) => s1, ssid: 0, want: EV.C_BAD_SUBSTREAMID },
  { what: 'a SubstreamID at 2^S1CDMax', ste: (s1) => ({ ...s1, S1CDMax: 2 }), ssid: 4, want: EV.C_BAD_SUBSTREAMID },
  { what: 'S1DSS 0b00: no SubstreamID terminates', ste: (s1) => ({ ...s1, S1CDMax: 2, S1DSS: 0 }), want: EV.F_STREAM_DISABLED },
  { what: 'S1DSS 0b01: no SubstreamID bypasses stage 1', ste: (s1) => ({ ...s1, S1CDMax: 2, S1DSS: 1 }), iova: RAM_BASE, want: 'ok' },
  { what: 'S1DSS 0b10: no SubstreamID takes CD 0', ste: (s1) => ({ ...s1, S1CDMax: 2, S1DSS: 2 }), want: 'ok' },
  { what: 'S1DSS 0b10: SubstreamID 0 is then F_STREAM_DISABLED', ste: (s1) => ({ ...s1, S1CDMax: 2, S1DSS: 2 }), ssid: 0, want: EV.F_STREAM_DISABLED },
  { what: 'S1DSS 0b11 (reserved) behaves as 0b00', ste: (s1) => ({ ...s1, S1CDMax: 2, S1DSS: 3 }), want: EV.F_STREAM_DISABLED },
  { what: 'EATS and STRW are IGNORED without ATS or Hyp', ste: (s1) => ({ ...s1, EATS: 1, STRW: 2 }), want: 'ok' },
  { what: 'a valid stage-2 STE', ste: (_, s2) => s2, iova: 0x10_0000n, want: 'ok' },
  { what: 'S2TG 0b11 (reserved)', ste: (_, s2) => ({ ...s2, S2TG: 3 }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2AA64 = 0 (no AArch32 tables)', ste: (_, s2) => ({ ...s2, S2AA64: false }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2ENDI = 1 (little-endian only)', ste: (_, s2) => ({ ...s2, S2ENDI: true }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2S = 1 without a stall model', ste: (_, s2) => ({ ...s2, S2S: true }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2HA = 1 without HTTU', ste: (_, s2) => ({ ...s2, S2HA: true }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2HD = 1 without HTTU', ste: (_, s2) => ({ ...s2, S2HD: true }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2T0SZ below 16', ste: (_, s2) => ({ ...s2, S2T0SZ: 15 }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2T0SZ above 39', ste: (_, s2) => ({ ...s2, S2T0SZ: 40 }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2SL0 0b11', ste: (_, s2) => ({ ...s2, S2SL0: 3 }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2SL0 inconsistent with S2T0SZ (over 16 concatenated tables)', ste: (_, s2) => ({ ...s2, S2SL0: 0 }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2TTB beyond the effective S2PS', ste: (_, s2) => ({ ...s2, S2PS: 2, S2TTB: 1n << 41n }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  { what: 'S2TTB bits below the table alignment are taken as zero', ste: (_, s2, root) => ({ ...s2, S2TTB: root + 0x800n }), iova: 0x10_0000n, want: 'ok' },
  { what: 'S2PS below the IPA size is legal (S2T0SZ bound by the OAS)', ste: (_, s2) => ({ ...s2, S2PS: 0 }), iova: 0x10_0000n, want: 'ok' },
  { what: 'S2VMID[15:8] with VMID16', ste: (_, s2) => ({ ...s2, S2VMID: 0x1234 }), iova: 0x10_0000n, want: 'ok' },
];

/** CD rows (a stage-1 STE, IOVA 0x1000). */
const CD_ROWS: readonly { what: string; cd: CdFields; want: Outcome }[] = [
  { what: 'a valid CD', cd: {}, want: 'ok' },
  { what: 'V = 0', cd: { V: false }, want: EV.C_BAD_CD },
  { what: 'AA64 = 0 (no AArch32 tables)', cd: { AA64: false }, want: EV.C_BAD_CD },
  { what: 'ENDI = 1 (little-endian only)', cd: { ENDI: true }, want: EV.C_BAD_CD },
  { what: 'A = 0 with TERM_MODEL', cd: { A: false }, want: EV.C_BAD_CD },
  { what: 'S = 1 without a stall model', cd: { S: true }, want: EV.C_BAD_CD },
  { what: 'HA = 1 without HTTU', cd: { HA: true }, want: EV.C_BAD_CD },
  { what: 'HD = 1 without HTTU', cd: { HD: true }, want: EV.C_BAD_CD },
  { what: 'T0SZ below 16', cd: { T0SZ: 15 }, want: EV.C_BAD_CD },
  { what: 'T0SZ above 39', cd: { T0SZ: 40 }, want: EV.C_BAD_CD },
  { what: 'TG0 0b11 (reserved)', cd: { TG0: 3 }, want: EV.C_BAD_CD },
  { what: 'TG1 0b00 (reserved) with EPD1 = 0', cd: { EPD1: false, T1SZ: 16, TG1: 0 }, want: EV.C_BAD_CD },
  { what: 'TTB1 unused by a low address', cd: { EPD1: false, T1SZ: 16, TG1: 2 }, want: 'ok' },
  { what: 'TTB0 beyond the effective IPS', cd: { IPS: 0, TTB0: 1n << 32n }, want: EV.C_BAD_CD },
  { what: 'IPS 0b110 is capped to the OAS', cd: { IPS: 6 }, want: 'ok' },
  { what: 'EPD0 = 1: the lower half faults at the walk', cd: { EPD0: true }, want: EV.F_TRANSLATION },
  { what: 'a 16-bit ASID with ASID16', cd: { ASID: 0xfedc }, want: 'ok' },
];

describe('SMMUv3 STE fields: ILLEGAL, reserved and IGNORED values (default profile)', () => {
  for (const row of STE_ROWS) {
    it(`${row.what}: ${name(row.want)}`, async () => {
      const { b, s1Ste, s2Ste, s2 } = await bed();
      expect(name(outcome(b, row.ste(s1Ste, s2Ste, s2.root), row.iova ?? 0x1000n, row.ssid))).toBe(name(row.want));
    });
  }
});

describe('SMMUv3 CD fields: ILLEGAL, reserved and IGNORED values (default profile)', () => {
  for (const row of CD_ROWS) {
    it(`${row.what}: ${name(row.want)}`, async () => {
      const { b, writeCd, s1Ste } = await bed();
      writeCd(row.cd);
      expect(name(outcome(b, s1Ste, 0x1000n))).toBe(name(row.want));
    });
  }
});

describe('SMMUv3 STE checks that follow the ID registers and the qemu profiles', () => {
  const rows: readonly { what: string; profile: string; options?: SmmuOptions; ste: (s1: SteFields, s2: SteFields) => SteFields; ssid?: number; iova?: bigint; want: Outcome }[] = [
    { what: 'stage 2 on an SMMU without S2P', profile: 'qemu-7.2', ste: (_, s2) => s2, iova: 0x10_0000n, want: EV.C_BAD_STE },
    { what: 'stage 1 on an SMMU without S1P', profile: 'default', options: { stage1: false }, ste: (s1) => s1, want: EV.C_BAD_STE },
    { what: 'S1CDMax is IGNORED without substreams', profile: 'default', options: { ssidBits: 0 }, ste: (s1) => ({ ...s1, S1CDMax: 1, S1Fmt: 1 }), want: 'ok' },
    { what: 'a SubstreamID without substreams', profile: 'default', options: { ssidBits: 0 }, ste: (s1) => s1, ssid: 0, want: EV.C_BAD_SUBSTREAMID },
    { what: 'S2VMID is IGNORED without stage 2', profile: 'default', options: { stage2: false }, ste: (s1) => ({ ...s1, S2VMID: 0x1234 }), want: 'ok' },
    { what: 'qemu-7.2: S1CDMax != 0 without substreams (cdMaxIllegalWithoutSubstreams)', profile: 'qemu-7.2', ste: (s1) => ({ ...s1, S1CDMax: 1 }), want: EV.C_BAD_STE },
    { what: 'qemu-10.0: S2HA is not checked (s2HttuIgnored)', profile: 'qemu-10.0', ste: (_, s2) => ({ ...s2, S2HA: true }), iova: 0x10_0000n, want: 'ok' },
    { what: 'qemu-10.0: S2T0SZ bound by S2PS (s2InputBoundByS2ps)', profile: 'qemu-10.0', ste: (_, s2) => ({ ...s2, S2PS: 0 }), iova: 0x10_0000n, want: EV.C_BAD_STE },
  ];
  for (const row of rows) {
    it(`${row.what}: ${name(row.want)}`, async () => {
      const { b, s1Ste, s2Ste } = await bed(row.profile, row.options);
      expect(name(outcome(b, row.ste(s1Ste, s2Ste), row.iova ?? 0x1000n, row.ssid))).toBe(name(row.want));
    });
  }
});
