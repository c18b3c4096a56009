/**
 * Guest-side encoders of the SMMUv3 structures (IHI 0070): stream table
 * entries (§5.2), level-1 stream table descriptors (§5.1), context
 * descriptors (§5.4), level-1 CD descriptors (§5.3) and commands (chapter
 * 4), written from the spec as a driver would, with the generic field codec
 * of ../tables.ts. Pure functions.
 */
import { encodeFields, type Layout } from '../../vtd/spec/field-codec.js';

const flag = (word: number, bit: number) => ({ word, hi: bit, lo: bit, kind: 'flag' as const });
const uint = (word: number, hi: number, lo: number) => ({ word, hi, lo, kind: 'uint' as const });
const addr = (word: number, hi: number, lo: number) => ({ word, hi, lo, kind: 'addr' as const });

/** §5.2 STE (8 doublewords). */
export const STE_LAYOUT = {
  V: flag(0, 0), Config: uint(0, 3, 1), S1Fmt: uint(0, 5, 4), S1ContextPtr: addr(0, 51, 6), S1CDMax: uint(0, 63, 59),
  S1DSS: uint(1, 1, 0), S1CIR: uint(1, 3, 2), S1COR: uint(1, 5, 4), S1CSH: uint(1, 7, 6), S1STALLD: flag(1, 27), EATS: uint(1, 29, 28),
  STRW: uint(1, 31, 30), SHCFG: uint(1, 45, 44),
  S2VMID: uint(2, 15, 0), S2T0SZ: uint(2, 37, 32), S2SL0: uint(2, 39, 38), S2IR0: uint(2, 41, 40), S2OR0: uint(2, 43, 42),
  S2SH0: uint(2, 45, 44), S2TG: uint(2, 47, 46), S2PS: uint(2, 50, 48), S2AA64: flag(2, 51), S2ENDI: flag(2, 52), S2AFFD: flag(2, 53),
  S2PTW: flag(2, 54), S2HD: flag(2, 55), S2HA: flag(2, 56), S2S: flag(2, 57), S2R: flag(2, 58),
  S2TTB: addr(3, 51, 4), W7: uint(7, 63, 0),
} as const satisfies Layout;

/** STE.Config (§5.2). */
export const CONFIG = { ABORT: 0, BYPASS: 4, S1: 5, S2: 6, NESTED: 7 } as const;

/** §5.4 CD (8 doublewords). */
export const CD_LAYOUT = {
  T0SZ: uint(0, 5, 0), TG0: uint(0, 7, 6), IR0: uint(0, 9, 8), OR0: uint(0, 11, 10), SH0: uint(0, 13, 12), EPD0: flag(0, 14),
  ENDI: flag(0, 15), T1SZ: uint(0, 21, 16), TG1: uint(0, 23, 22), EPD1: flag(0, 30), V: flag(0, 31), IPS: uint(0, 34, 32),
  AFFD: flag(0, 35), WXN: flag(0, 36), TBI: uint(0, 39, 38), PAN: flag(0, 40), AA64: flag(0, 41), HD: flag(0, 42), HA: flag(0, 43), S: flag(0, 44), R: flag(0, 45),
  A: flag(0, 46), ASET: flag(0, 47), ASID: uint(0, 63, 48), HAD0: flag(1, 1), TTB0: addr(1, 51, 4), HAD1: flag(2, 1), TTB1: addr(2, 51, 4),
  MAIR: uint(3, 63, 0), W7: uint(7, 63, 0),
} as const satisfies Layout;

/** Encodes an STE (8 words). */
export const encodeSte = (f: Parameters<typeof encodeFields<typeof STE_LAYOUT>>[1]): bigint[] => encodeFields(STE_LAYOUT, f, 8);
/** Encodes a CD (8 words). */
export const encodeCd = (f: Parameters<typeof encodeFields<typeof CD_LAYOUT>>[1]): bigint[] => encodeFields(CD_LAYOUT, f, 8);

/** The CD a Linux-like driver writes for a 4 KiB-granule, 48-bit stage 1 over TTB0 (TTB1 disabled). */
export function s1Cd(ttb0: bigint, asid: number, o: { t0sz?: number; epd0?: boolean; record?: boolean; ips?: number } = {}): bigint[] {
  return encodeCd({
    T0SZ: o.t0sz ?? 16, TG0: 0, EPD0: o.epd0 ?? false, EPD1: true, V: true, IPS: o.ips ?? 5, AA64: true, R: o.record ?? true, A: true, ASET: true,
    ASID: asid, TTB0: ttb0, IR0: 1, OR0: 1, SH0: 3, MAIR: 0x44ff04,
  });
}

/** §5.1 L1STD: Span 4:0, L2Ptr 51:6. */
export function l1std(l2: bigint, span: number): bigint { return (l2 & 0x000f_ffff_ffff_ffc0n) | BigInt(span); }
/** §5.3 L1CD: V bit 0, L2Ptr 51:12. */
export function l1cd(l2: bigint, valid = true): bigint { return (l2 & 0x000f_ffff_ffff_f000n) | (valid ? 1n : 0n); }

// ---- commands (chapter 4): two doublewords ----------------------------------

/** Command opcodes. */
export const OPC = {
  CFGI_STE: 0x03, CFGI_STE_RANGE: 0x04, CFGI_CD: 0x05, CFGI_CD_ALL: 0x06, TLBI_NH_ALL: 0x10, TLBI_NH_ASID: 0x11, TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13, TLBI_S12_VMALL: 0x28, TLBI_S2_IPA: 0x2a, TLBI_NSNH_ALL: 0x30, ATC_INV: 0x40, PRI_RESP: 0x41, CMD_SYNC: 0x46,
} as const;

const w0 = (op: number, hi = 0n, mid = 0n): bigint => BigInt(op) | mid | (hi << 32n);
/** The guest's command builders. */
export const C = {
  cfgiSte: (sid: number, leaf = true): bigint[] => [w0(OPC.CFGI_STE, BigInt(sid)), leaf ? 1n : 0n],
  cfgiSteRange: (sid: number, range: number): bigint[] => [w0(OPC.CFGI_STE_RANGE, BigInt(sid)), BigInt(range)],
  cfgiAll: (): bigint[] => [w0(OPC.CFGI_STE_RANGE), 31n],
  cfgiCd: (sid: number, ssid: number, leaf = true): bigint[] => [w0(OPC.CFGI_CD, BigInt(sid), BigInt(ssid) << 12n), leaf ? 1n : 0n],
  cfgiCdAll: (sid: number): bigint[] => [w0(OPC.CFGI_CD_ALL, BigInt(sid)), 0n],
  tlbiNhAll: (vmid: number): bigint[] => [w0(OPC.TLBI_NH_ALL, BigInt(vmid)), 0n],
  tlbiNhAsid: (vmid: number, asid: number): bigint[] => [w0(OPC.TLBI_NH_ASID, BigInt(vmid) | (BigInt(asid) << 16n)), 0n],
  /** One page, or with `range` = {tg: 1 (4K), num, scale} (NUM+1)*2^SCALE pages (SMMU_IDR3.RIL). */
  tlbiNhVa: (vmid: number, asid: number, va: bigint, leaf = true, range?: { num: number; scale: number }): bigint[] => [
    w0(OPC.TLBI_NH_VA, BigInt(vmid) | (BigInt(asid) << 16n), range ? (BigInt(range.num) << 12n) | (BigInt(range.scale) << 20n) : 0n),
    (va & ~0xfffn) | (leaf ? 1n : 0n) | (range ? 1n << 10n : 0n),
  ],
  tlbiNhVaa: (vmid: number, va: bigint, leaf = true): bigint[] => [w0(OPC.TLBI_NH_VAA, BigInt(vmid)), (va & ~0xfffn) | (leaf ? 1n : 0n)],
  tlbiS12Vmall: (vmid: number): bigint[] => [w0(OPC.TLBI_S12_VMALL, BigInt(vmid)), 0n],
  tlbiS2Ipa: (vmid: number, ipa: bigint, leaf = true): bigint[] => [w0(OPC.TLBI_S2_IPA, BigInt(vmid)), (ipa & 0x000f_ffff_ffff_f000n) | (leaf ? 1n : 0n)],
  tlbiNsnhAll: (): bigint[] => [w0(OPC.TLBI_NSNH_ALL), 0n],
  atcInv: (sid: number, ssid: number | undefined, addr: bigint, size: number): bigint[] => [
    w0(OPC.ATC_INV, BigInt(sid), ssid === undefined ? 0n : (BigInt(ssid) << 12n) | (1n << 11n)), (addr & ~0xfffn) | BigInt(size),
  ],
  priResp: (sid: number, ssid: number | undefined, grp: number, resp: number): bigint[] => [
    w0(OPC.PRI_RESP, BigInt(sid), ssid === undefined ? 0n : (BigInt(ssid) << 12n) | (1n << 11n)), BigInt(grp) | (BigInt(resp) << 12n),
  ],
  /** CMD_SYNC: cs 0 none, 1 IRQ (with an MSI address: a 32-bit write of `data` there), 2 SEV. */
  sync: (cs: number, msiAddr = 0n, data = 0): bigint[] => [w0(OPC.CMD_SYNC, BigInt(data >>> 0), BigInt(cs) << 12n), msiAddr & 0x000f_ffff_ffff_fffcn],
} as const;

// ---- events (§7.3) -------------------------------------------------------------

/** A decoded event record. */
export interface EventRecord {
  readonly type: number;
  readonly sid: number;
  readonly ssv: boolean;
  readonly ssid: number;
  readonly rnw: boolean;
  readonly pnu: boolean;
  readonly ind: boolean;
  readonly s2: boolean;
  readonly cls: number;
  readonly addr: bigint;
  readonly ipa: bigint;
  readonly fetchAddr: bigint;
}

/** Decodes an event record's four doublewords. */
export function decodeEvent(w: readonly bigint[]): EventRecord {
  const b = (v: bigint, hi: number, lo: number): number => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
  return {
    type: b(w[0]!, 7, 0), ssv: b(w[0]!, 11, 11) === 1, ssid: b(w[0]!, 31, 12), sid: b(w[0]!, 63, 32),
    pnu: b(w[1]!, 33, 33) === 1, ind: b(w[1]!, 34, 34) === 1, rnw: b(w[1]!, 35, 35) === 1, s2: b(w[1]!, 39, 39) === 1, cls: b(w[1]!, 41, 40),
    addr: w[2]!, ipa: w[3]! & 0x000f_ffff_ffff_f000n, fetchAddr: w[3]! & 0x000f_ffff_ffff_fff8n,
  };
}

/** Event numbers (§7.3). */
export const EV = {
  C_BAD_STREAMID: 0x02, F_STE_FETCH: 0x03, C_BAD_STE: 0x04, F_STREAM_DISABLED: 0x06, C_BAD_SUBSTREAMID: 0x08, F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a, F_WALK_EABT: 0x0b, F_TRANSLATION: 0x10, F_ADDR_SIZE: 0x11, F_ACCESS: 0x12, F_PERMISSION: 0x13,
} as const;
