/**
 * VT-d §9.2 scalable-mode root entry (RTADDR.TTM=01): 128 bits, a table of
 * 256 indexed by bus. qw0 (LP, LCTP) names the context table of devfn
 * 0x00-0x7F, qw1 (UP, UCTP) the one of devfn 0x80-0xFF. Layout and codec
 * only; the core's twin is asm/assembly/spec/sm-root-entry.ts.
 */
import { addr, decodeFields, encodeFields, flag, rsvd, type Fields, type Layout } from './field-codec.js';

/** Size of a scalable-mode root entry in bytes. */
export const SM_ROOT_ENTRY_BYTES = 16;

/** §9.2 scalable-mode root entry layout. */
export const SM_ROOT_ENTRY = {
  LP: flag(0, 0),
  rsvd0: rsvd(0, 11, 1),
  LCTP: addr(0, 63, 12),
  UP: flag(1, 0),
  rsvd1: rsvd(1, 11, 1),
  UCTP: addr(1, 63, 12),
} as const satisfies Layout;
/** Decoded §9.2 scalable-mode root entry. */
export type SmRootEntry = Fields<typeof SM_ROOT_ENTRY>;

/** Encodes a §9.2 scalable-mode root entry (2 words). */
export const encodeSmRootEntry = (e: Partial<SmRootEntry>): bigint[] => encodeFields(SM_ROOT_ENTRY, e);
/** Decodes a §9.2 scalable-mode root entry. */
export const decodeSmRootEntry = (w: readonly bigint[]): SmRootEntry => decodeFields(SM_ROOT_ENTRY, w);
