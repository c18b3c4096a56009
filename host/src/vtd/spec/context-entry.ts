/**
 * VT-d §9.3 context entry (legacy mode): 128 bits, a table of 256 indexed by
 * devfn (SID 7:0), and the §3 address-width encoding it carries. Layout,
 * codec and indexing only; the core's twin is
 * asm/assembly/spec/context-entry.ts (a test keeps the two equal).
 */
import { addr, decodeFields, encodeFields, flag, rsvd, uint, type Fields, type Layout } from './field-codec.js';

/** Size of a legacy context entry in bytes. */
export const CTX_ENTRY_BYTES = 16;

/** §9.3 context entry layout. */
export const CONTEXT_ENTRY = {
  P: flag(0, 0),
  FPD: flag(0, 1),
  TT: uint(0, 3, 2),
  rsvd0: rsvd(0, 11, 4),
  SSPTPTR: addr(0, 63, 12),
  AW: uint(1, 2, 0),
  AVAIL: uint(1, 6, 3),
  rsvd1: rsvd(1, 7, 7),
  DID: uint(1, 23, 8),
  rsvd2: rsvd(1, 63, 24),
} as const satisfies Layout;
/** Decoded §9.3 context entry. */
export type ContextEntry = Fields<typeof CONTEXT_ENTRY>;

/** §9.3 TT (translation type) values; 3 is reserved. */
export const TT = {
  /** Untranslated requests through the second-stage tables; translation requests blocked. */
  UNTRANSLATED: 0,
  /** As UNTRANSLATED, plus translation requests (needs ECAP.DT). */
  DEVICE_TLB: 1,
  /** Untranslated requests pass through (needs ECAP.PT). */
  PASS_THROUGH: 2,
} as const;

/** Encodes a §9.3 context entry (2 words). */
export const encodeContextEntry = (e: Partial<ContextEntry>): bigint[] => encodeFields(CONTEXT_ENTRY, e);
/** Decodes a §9.3 context entry. */
export const decodeContextEntry = (w: readonly bigint[]): ContextEntry => decodeFields(CONTEXT_ENTRY, w);

/** §9.3 context entry address: CTP + devfn * 16 (`devfn` taken mod 256). */
export const contextEntryAddress = (ctp: bigint, devfn: number): bigint => ctp + BigInt(devfn & 0xff) * BigInt(CTX_ENTRY_BYTES);

/** §3 / §9.3 AW encoding for a number of second-stage levels (3 -> 1, 4 -> 2, 5 -> 3). */
export const awForLevels = (levels: number): number => levels - 2;
/** §3 number of second-stage levels of an AW value (AW + 2). */
export const levelsOfAw = (aw: number): number => aw + 2;
/** §3 address width in bits of an AW value (30 + 9 * AW). */
export const agawBits = (aw: number): number => 30 + 9 * aw;
