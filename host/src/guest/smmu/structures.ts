/**
 * Guest-side encoders of the SMMUv3 structures (IHI 0070): stream table
 * entries (§5.2), level-1 stream table descriptors (§5.1), context
 * descriptors (§5.4), level-1 CD descriptors (§5.3) and commands (chapter
 * 4), written as a driver would over the spec layer's field positions
 * (host/src/smmu/spec) with the generic field codec. Pure functions.
 */
import { encodeFields, type FieldSpec, type Layout } from '../../vtd/spec/field-codec.js';
import { get, getAddr, maskOf, put, type BitField } from '../../smmu/spec/bits.js';
import { CMD, OP } from '../../smmu/spec/commands.js';
import { EVT_FIELD } from '../../smmu/spec/events.js';
import { CD } from '../../smmu/spec/cd.js';
import { STE } from '../../smmu/spec/ste.js';
import type { Gpa, Iova, Pasid, Sid } from '../../types.js';

/**
 * A field-codec layout over the spec layer's fields (host/src/smmu/spec, the
 * one home of their positions): `addrs` are addresses kept in place, one-bit
 * fields flags, the rest numbers; `W7`, doubleword 7 whole, for tests that
 * fill what the spec leaves to software.
 */
function layoutOf(fields: Readonly<Record<string, BitField>>, addrs: readonly string[]): Layout {
  const out: Record<string, FieldSpec> = { W7: { word: 7, hi: 63, lo: 0, kind: 'uint' } };
  for (const [name, fd] of Object.entries(fields)) {
    out[name] = { ...fd, kind: addrs.includes(name) ? 'addr' : fd.hi === fd.lo ? 'flag' : 'uint' };
  }
  return out;
}

/** §5.2 STE (8 doublewords) for the field codec. */
export const STE_LAYOUT = layoutOf(STE, ['S1ContextPtr', 'S2TTB']);
/** §5.4 CD (8 doublewords) for the field codec. */
export const CD_LAYOUT = layoutOf(CD, ['TTB0', 'TTB1']);

/** STE.Config (§5.2). */
export { STE_CONFIG as CONFIG } from '../../smmu/spec/ste.js';

/** Field values of an STE or CD: flags as booleans, numbers, addresses (in place) as bigints. */
export type StructFields<T> = { readonly [K in keyof T | 'W7']?: boolean | number | bigint };

/** Encodes an STE (8 words); throws naming a field that does not fit. */
export const encodeSte = (f: StructFields<typeof STE>): bigint[] => encodeFields(STE_LAYOUT, f as never, 8);
/** Encodes a CD (8 words); throws naming a field that does not fit. */
export const encodeCd = (f: StructFields<typeof CD>): bigint[] => encodeFields(CD_LAYOUT, f as never, 8);

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

// ---- commands (chapter 4): two doublewords, fields of spec/commands.ts ---------

/** Command opcodes (§4). */
export { OP as OPC } from '../../smmu/spec/commands.js';

type CmdFields = { readonly [K in keyof typeof CMD]?: number };

/** A command: opcode, numeric fields, and an address field kept in place. */
function command(op: number, fields: CmdFields, addr?: { readonly fd: BitField; readonly value: bigint }): bigint[] {
  const w = [0n, 0n];
  put(w, CMD.opcode, op);
  for (const [name, v] of Object.entries(fields)) if (v !== undefined) put(w, CMD[name as keyof typeof CMD], v);
  if (addr) w[addr.fd.word] = w[addr.fd.word]! | (addr.value & maskOf(addr.fd.hi, addr.fd.lo));
  return w;
}
const ssv = (ssid: number | undefined): CmdFields => (ssid === undefined ? {} : { SSV: 1, SSID: ssid });
/** Bits 51:12 of an IPA (TLBI_S2_IPA). */
const IPA_MASK = 0x000f_ffff_ffff_f000n;

/** The guest's command builders. */
export const C = {
  cfgiSte: (sid: number, leaf = true): bigint[] => command(OP.CFGI_STE, { SID: sid, Leaf: leaf ? 1 : 0 }),
  cfgiSteRange: (sid: number, range: number): bigint[] => command(OP.CFGI_STE_RANGE, { SID: sid, Range: range }),
  cfgiAll: (): bigint[] => command(OP.CFGI_STE_RANGE, { Range: 31 }),
  cfgiCd: (sid: number, ssid: number, leaf = true): bigint[] => command(OP.CFGI_CD, { SID: sid, SSID: ssid, Leaf: leaf ? 1 : 0 }),
  cfgiCdAll: (sid: number): bigint[] => command(OP.CFGI_CD_ALL, { SID: sid }),
  tlbiNhAll: (vmid: number): bigint[] => command(OP.TLBI_NH_ALL, { VMID: vmid }),
  tlbiNhAsid: (vmid: number, asid: number): bigint[] => command(OP.TLBI_NH_ASID, { VMID: vmid, ASID: asid }),
  /** One page, or with `range` (4 KiB granule, TG 1) (NUM+1)*2^SCALE pages (SMMU_IDR3.RIL). */
  tlbiNhVa: (vmid: number, asid: number, va: bigint, leaf = true, range?: { num: number; scale: number }): bigint[] =>
    command(OP.TLBI_NH_VA, { VMID: vmid, ASID: asid, Leaf: leaf ? 1 : 0, ...(range ? { NUM: range.num, SCALE: range.scale, TG: 1 } : {}) }, { fd: CMD.Address, value: va }),
  tlbiNhVaa: (vmid: number, va: bigint, leaf = true): bigint[] => command(OP.TLBI_NH_VAA, { VMID: vmid, Leaf: leaf ? 1 : 0 }, { fd: CMD.Address, value: va }),
  tlbiS12Vmall: (vmid: number): bigint[] => command(OP.TLBI_S12_VMALL, { VMID: vmid }),
  tlbiS2Ipa: (vmid: number, ipa: bigint, leaf = true): bigint[] => command(OP.TLBI_S2_IPA, { VMID: vmid, Leaf: leaf ? 1 : 0 }, { fd: CMD.Address, value: ipa & IPA_MASK }),
  tlbiNsnhAll: (): bigint[] => command(OP.TLBI_NSNH_ALL, {}),
  atcInv: (sid: number, ssid: number | undefined, addr: bigint, size: number): bigint[] =>
    command(OP.ATC_INV, { SID: sid, ...ssv(ssid), ATC_Size: size }, { fd: CMD.Address, value: addr }),
  priResp: (sid: number, ssid: number | undefined, grp: number, resp: number): bigint[] => command(OP.PRI_RESP, { SID: sid, ...ssv(ssid), PRGI: grp, Resp: resp }),
  /** CMD_SYNC: cs 0 none, 1 IRQ (with an MSI address: a 32-bit write of `data` there), 2 SEV. */
  sync: (cs: number, msiAddr = 0n, data = 0): bigint[] => command(OP.CMD_SYNC, { CS: cs, MSIData: data >>> 0 }, { fd: CMD.MSIAddress, value: msiAddr }),
} as const;

// ---- events (§7.3), fields of spec/events.ts -----------------------------------

/** A decoded event record. */
export interface EventRecord {
  readonly type: number;
  readonly sid: Sid;
  readonly ssv: boolean;
  readonly ssid: Pasid;
  readonly rnw: boolean;
  readonly pnu: boolean;
  readonly ind: boolean;
  readonly s2: boolean;
  readonly cls: number;
  readonly addr: Iova;
  readonly ipa: bigint;
  readonly fetchAddr: Gpa;
}

/** Decodes an event record's four doublewords. */
export function decodeEvent(w: readonly bigint[]): EventRecord {
  const F = EVT_FIELD;
  return {
    type: get(w, F.type), ssv: get(w, F.SSV) === 1, ssid: get(w, F.SSID), sid: get(w, F.SID),
    pnu: get(w, F.PnU) === 1, ind: get(w, F.InD) === 1, rnw: get(w, F.RnW) === 1, s2: get(w, F.S2) === 1, cls: get(w, F.CLASS),
    addr: getAddr(w, F.InputAddr), ipa: getAddr(w, F.IPA), fetchAddr: getAddr(w, F.FetchAddr),
  };
}

/** Event numbers (§7.3). */
export { EVT as EV } from '../../smmu/spec/events.js';
