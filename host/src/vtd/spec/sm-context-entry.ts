/**
 * VT-d §9.4 scalable-mode context entry: 256 bits, 128 per table, indexed by
 * devfn & 0x7F (the root entry's half picks the table). Layout, codec and
 * indexing only; the core's twin is asm/assembly/spec/sm-context-entry.ts.
 */
import { addr, decodeFields, encodeFields, flag, rsvd, uint, type Fields, type Layout } from './field-codec.js';

/** Size of a scalable-mode context entry in bytes. */
export const SM_CTX_ENTRY_BYTES = 32;

/** §9.4 scalable-mode context entry layout. */
export const SM_CONTEXT_ENTRY = {
  P: flag(0, 0),
  FPD: flag(0, 1),
  DTE: flag(0, 2),
  PASIDE: flag(0, 3),
  PRE: flag(0, 4),
  rsvd0: rsvd(0, 8, 5),
  PDTS: uint(0, 11, 9),
  PASIDDIRPTR: addr(0, 63, 12),
  RID_PASID: uint(1, 19, 0),
  RID_PRIV: flag(1, 20),
  rsvd1: rsvd(1, 63, 21),
  rsvd2: rsvd(2, 63, 0),
  rsvd3: rsvd(3, 63, 0),
} as const satisfies Layout;
/** Decoded §9.4 scalable-mode context entry. */
export type SmContextEntry = Fields<typeof SM_CONTEXT_ENTRY>;

/** Encodes a §9.4 scalable-mode context entry (4 words). */
export const encodeSmContextEntry = (e: Partial<SmContextEntry>): bigint[] => encodeFields(SM_CONTEXT_ENTRY, e);
/** Decodes a §9.4 scalable-mode context entry. */
export const decodeSmContextEntry = (w: readonly bigint[]): SmContextEntry => decodeFields(SM_CONTEXT_ENTRY, w);

/** §9.4 scalable context entry address: (L/U)CTP + (devfn & 0x7F) * 32. */
export const smContextEntryAddress = (ctp: bigint, devfn: number): bigint => ctp + BigInt(devfn & 0x7f) * BigInt(SM_CTX_ENTRY_BYTES);
/** §9.4 PDTS: number of PASID directory entries, 2^(PDTS+7). */
export const pasidDirEntries = (pdts: number): number => 2 ** (pdts + 7);
