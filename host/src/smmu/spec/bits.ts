/**
 * Bit-field access on the 64-bit words of SMMUv3 structures (STE, CD,
 * commands, event records) and registers. A field is `(word, hi, lo)` with
 * bit numbers inside that 64-bit word, the way IHI 0070 draws each
 * structure as 64-bit doublewords. Pure functions, no state.
 */

/** One field: 64-bit word index and inclusive bit range inside it. */
export interface BitField {
  readonly word: number;
  readonly hi: number;
  readonly lo: number;
}

/** A field in word `word`, bits `hi:lo`. */
export const f = (word: number, hi: number, lo: number = hi): BitField => ({ word, hi, lo });

/** The mask of bits `hi:lo` in place. */
export function maskOf(hi: number, lo: number): bigint {
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

/** Bits `hi:lo` of `v`, shifted down. */
export function bits(v: bigint, hi: number, lo: number = hi): bigint {
  return (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** Field `fd` of `words`, shifted down, as a number (fields of at most 53 bits). */
export function get(words: readonly bigint[], fd: BitField): number {
  return Number(bits(words[fd.word] ?? 0n, fd.hi, fd.lo));
}

/** Field `fd` of `words` kept in place (an address field: low bits zero). */
export function getAddr(words: readonly bigint[], fd: BitField): bigint {
  return (words[fd.word] ?? 0n) & maskOf(fd.hi, fd.lo);
}

/** `words` with field `fd` set to `value` (shifted into place; must fit). */
export function put(words: bigint[], fd: BitField, value: number | bigint): void {
  const v = BigInt(value) << BigInt(fd.lo);
  const m = maskOf(fd.hi, fd.lo);
  if ((v & ~m) !== 0n || v < 0n) throw new Error(`value ${String(value)} does not fit bits ${fd.hi}:${fd.lo}`);
  words[fd.word] = ((words[fd.word] ?? 0n) & ~m) | v;
}
