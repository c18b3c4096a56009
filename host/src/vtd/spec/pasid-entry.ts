/**
 * VT-d §9.5 PASID directory entry (64 bits, index PASID[19:6]) and §9.6
 * scalable-mode PASID table entry (512 bits, 64 per 4 KiB table, index
 * PASID[5:0]). Layouts, codecs and indexing only; the core's twin is
 * asm/assembly/spec/pasid-entry.ts (a test keeps the two equal).
 */
import { addr, decodeFields, encodeFields, flag, rsvd, uint, type Fields, type Layout } from './field-codec.js';
import type { Pasid } from '../../types.js';

/** Size of a PASID table entry in bytes. */
export const PASID_ENTRY_BYTES = 64;

/** §9.5 PASID directory entry layout. */
export const PASID_DIR_ENTRY = {
  P: flag(0, 0),
  FPD: flag(0, 1),
  rsvd0: rsvd(0, 11, 2),
  SMPTBLPTR: addr(0, 63, 12),
} as const satisfies Layout;
/** Decoded §9.5 PASID directory entry. */
export type PasidDirEntry = Fields<typeof PASID_DIR_ENTRY>;

/** §9.6 PASID table entry layout. Bit numbers in comments are absolute (qw1 bit 0 = bit 64). */
export const PASID_ENTRY = {
  P: flag(0, 0),
  FPD: flag(0, 1),
  AW: uint(0, 4, 2),
  SSEE: flag(0, 5),
  PGTT: uint(0, 8, 6),
  SSADE: flag(0, 9),
  rsvd0: rsvd(0, 11, 10),
  SSPTPTR: addr(0, 63, 12),
  DID: uint(1, 15, 0), // 79:64
  rsvd1: rsvd(1, 22, 16), // 86:80
  PWSNP: flag(1, 23), // 87
  PGSNP: flag(1, 24), // 88
  CD: flag(1, 25), // 89
  EMTE: flag(1, 26), // 90
  EMT: uint(1, 29, 27), // 93:91
  PWT: flag(1, 30), // 94
  PCD: flag(1, 31), // 95
  PAT: uint(1, 63, 32), // 127:96
  SRE: flag(2, 0), // 128
  ERE: flag(2, 1), // 129
  FSPM: uint(2, 3, 2), // 131:130
  WPE: flag(2, 4), // 132
  NXE: flag(2, 5), // 133 (3.x)
  SMEP: flag(2, 6), // 134 (3.x)
  EAFE: flag(2, 7), // 135
  rsvd2: rsvd(2, 11, 8), // 139:136
  FSPTPTR: addr(2, 63, 12), // 191:140
  rsvd3: rsvd(3, 63, 0),
  rsvd4: rsvd(4, 63, 0),
  rsvd5: rsvd(5, 63, 0),
  rsvd6: rsvd(6, 63, 0),
  rsvd7: rsvd(7, 63, 0),
} as const satisfies Layout;
/** Decoded §9.6 PASID table entry. */
export type PasidEntry = Fields<typeof PASID_ENTRY>;

/** §9.6 PGTT (PASID-granular translation type) values; 0 and 5-7 are reserved. */
export const PGTT = { FIRST_STAGE: 1, SECOND_STAGE: 2, NESTED: 3, PASS_THROUGH: 4 } as const;

/** Encodes a §9.5 PASID directory entry (1 word). */
export const encodePasidDirEntry = (e: Partial<PasidDirEntry>): bigint[] => encodeFields(PASID_DIR_ENTRY, e);
/** Decodes a §9.5 PASID directory entry. */
export const decodePasidDirEntry = (w: readonly bigint[]): PasidDirEntry => decodeFields(PASID_DIR_ENTRY, w);
/** Encodes a §9.6 PASID table entry (8 words). */
export const encodePasidEntry = (e: Partial<PasidEntry>): bigint[] => encodeFields(PASID_ENTRY, e);
/** Decodes a §9.6 PASID table entry. */
export const decodePasidEntry = (w: readonly bigint[]): PasidEntry => decodeFields(PASID_ENTRY, w);

/** §9.5 PASID directory entry address: PASIDDIRPTR + PASID[19:6] * 8. */
export const pasidDirEntryAddress = (dir: bigint, pasid: Pasid): bigint => dir + BigInt(pasid >>> 6) * 8n;
/** §9.6 PASID table entry address: SMPTBLPTR + PASID[5:0] * 64. */
export const pasidEntryAddress = (table: bigint, pasid: Pasid): bigint => table + BigInt(pasid & 0x3f) * BigInt(PASID_ENTRY_BYTES);
