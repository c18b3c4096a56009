/**
 * Invalidation-queue registers (VT-d spec §11.4.9): IQH, IQT, IQA, ICS and
 * IQERCD field layouts and the IQE cause codes. Constants and accessors only.
 */

/** IQA (§11.4.9.3): base 63:12, DW 11 (256-bit descriptors), QS 2:0 (2^QS pages). */
export const IQA = {
  BASE_MASK: 0xffff_ffff_ffff_f000n,
  DW: 1n << 11n,
  QS_MASK: 7n,
  base: (v: bigint): bigint => v & 0xffff_ffff_ffff_f000n,
  dw: (v: bigint): boolean => (v & (1n << 11n)) !== 0n,
  qs: (v: bigint): number => Number(v & 7n),
} as const;

/**
 * Queue geometry for an IQA value: 2^QS 4 KiB pages of 16-byte (DW=0) or
 * 32-byte (DW=1) descriptors, i.e. 2^(QS+8) or 2^(QS+7) entries (§11.4.9.3).
 */
export function queueEntries(qs: number, wide: boolean): number {
  return 1 << (qs + (wide ? 7 : 8));
}

/** IQH / IQT (§11.4.9.1-2): byte offset in bits 18:4; with DW=1 bit 4 must be 0 (18:5). */
export const IQ_OFFSET_MASK = 0x7fff0n;
/** IQT bit 4: must be 0 in a 256-bit queue (IQEI 6 otherwise). */
export const IQT_QT0 = 0x10n;

/** ICS (§11.4.9.4): IWC, invalidation wait descriptor complete (RW1C). */
export const ICS_IWC = 1n;

/** IECTL.IP (§11.4.9.5): interrupt pending. */
export const IECTL_IP = 0x4000_0000n;

/** IQERCD (§11.4.9.9): IQEI 3:0, ITESID 47:32, ICESID 63:48. */
export const IQERCD = {
  IQEI_MASK: 0xfn,
  ITESID_SHIFT: 32n,
  ICESID_SHIFT: 48n,
  ITESID_MASK: 0xffffn << 32n,
  ICESID_MASK: 0xffffn << 48n,
} as const;

/** IQEI codes: why IQE was set (§11.4.9.9). */
export const IQEI = {
  /** No further information. */
  NONE: 0,
  /** IQT points beyond the queue. */
  INVALID_TAIL: 1,
  /** A descriptor could not be read (queue outside memory). */
  FETCH_ERROR: 2,
  /** Undefined or unsupported descriptor type. */
  INVALID_TYPE: 3,
  /** A reserved field is non-zero (includes an invalid granularity). */
  RESERVED_FIELD: 4,
  /** A 256-bit descriptor in a 128-bit queue. */
  INVALID_WIDTH: 5,
  /** IQT bit 4 set in a 256-bit queue. */
  TAIL_MISALIGNED: 6,
  /** Descriptor not allowed under the current translation table mode (TTM). */
  INVALID_TTM: 7,
} as const;

/** An IQEI code. */
export type IqeiCode = (typeof IQEI)[keyof typeof IQEI];
