/**
 * VT-d §9.1 root entry (legacy mode, RTADDR.TTM=00): 128 bits, a table of
 * 256 indexed by bus (SID 15:8). Layout, codec and indexing only; the core's
 * twin is asm/assembly/spec/root-entry.ts (a test keeps the two equal).
 */
import { addr, decodeFields, encodeFields, flag, rsvd, type Fields, type Layout } from './field-codec.js';

/** Size of a root entry in bytes. */
export const ROOT_ENTRY_BYTES = 16;

/** §9.1 root entry layout. */
export const ROOT_ENTRY = {
  P: flag(0, 0),
  rsvd0: rsvd(0, 11, 1),
  CTP: addr(0, 63, 12),
  rsvd1: rsvd(1, 63, 0),
} as const satisfies Layout;
/** Decoded §9.1 root entry. */
export type RootEntry = Fields<typeof ROOT_ENTRY>;

/** Encodes a §9.1 root entry (2 words). */
export const encodeRootEntry = (e: Partial<RootEntry>): bigint[] => encodeFields(ROOT_ENTRY, e);
/** Decodes a §9.1 root entry. */
export const decodeRootEntry = (w: readonly bigint[]): RootEntry => decodeFields(ROOT_ENTRY, w);

/** §9.1 root entry address: RTA + bus * 16 (`bus` taken mod 256). */
export const rootEntryAddress = (rta: bigint, bus: number): bigint => rta + BigInt(bus & 0xff) * BigInt(ROOT_ENTRY_BYTES);
