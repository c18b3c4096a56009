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

/** BigInt(n) for n in 0..64, and the mask of n low bits: the field layer's constants, made once (a field read is then one shift and one and). */
const SHIFT: readonly bigint[] = Array.from({ length: 65 }, (_, n) => BigInt(n));
const LOW_MASK: readonly bigint[] = Array.from({ length: 65 }, (_, n) => (1n << BigInt(n)) - 1n);

/** The mask of bits `hi:lo` in place. */
export function maskOf(hi: number, lo: number): bigint {
  const m = LOW_MASK[hi - lo + 1];
  const s = SHIFT[lo];
  return m !== undefined && s !== undefined ? m << s : ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

/** Bits `hi:lo` of `v`, shifted down. */
export function bits(v: bigint, hi: number, lo: number = hi): bigint {
  const m = LOW_MASK[hi - lo + 1];
  const s = SHIFT[lo];
  return m !== undefined && s !== undefined ? (v >> s) & m : (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/**
 * A structure's doublewords: 64-bit words, or (the command queue's hot
 * path, no BigInt) the same bytes as little-endian u32 halves, doubleword i
 * being halves 2i (bits 31:0) and 2i+1 (bits 63:32).
 */
export type Words = readonly bigint[] | Uint32Array;

// Bits hi:lo (lo <= hi < 32) of a u32.
const bits32 = (v: number, hi: number, lo: number): number => (hi - lo === 31 ? v >>> 0 : (v >>> lo) & ((1 << (hi - lo + 1)) - 1));

/** Field `fd` of u32 halves, shifted down (fields of at most 53 bits): `get` without the type test (the command queue's path). */
export function get32(w: Uint32Array, fd: BitField): number {
  const lo = w[2 * fd.word] ?? 0;
  const hi = w[2 * fd.word + 1] ?? 0;
  if (fd.lo >= 32) return bits32(hi, fd.hi - 32, fd.lo - 32);
  if (fd.hi < 32) return bits32(lo, fd.hi, fd.lo);
  return (lo >>> fd.lo) + bits32(hi, fd.hi - 32, 0) * 2 ** (32 - fd.lo); // hi - lo < 53: exact
}

/** Sets field `fd` (inside one u32 half: lo and hi on the same side of bit 32) of u32 halves `w` to `value` (masked to the field). */
export function put32(w: Uint32Array, fd: BitField, value: number): void {
  const i = 2 * fd.word + (fd.lo >= 32 ? 1 : 0);
  const lo = fd.lo & 31;
  const width = fd.hi - fd.lo + 1;
  const m = width === 32 ? 0xffff_ffff : ((1 << width) - 1) << lo;
  w[i] = ((w[i]! & ~m) | ((value << lo) & m)) >>> 0;
}

/** Field `fd` of `words`, shifted down, as a number (fields of at most 53 bits). */
export function get(words: Words, fd: BitField): number {
  if (words instanceof Uint32Array) return get32(words, fd);
  return Number(bits(words[fd.word] ?? 0n, fd.hi, fd.lo));
}

/** Doubleword `i` of `words` as a bigint. */
export function word(words: Words, i: number): bigint {
  if (!(words instanceof Uint32Array)) return words[i] ?? 0n;
  return (BigInt(words[2 * i + 1] ?? 0) << 32n) | BigInt(words[2 * i] ?? 0);
}

/** Stores `v` (64 bits) as doubleword `i` of `out`: u32 dwords 2i (low half) and 2i + 1 (`word`'s inverse). */
export function putWord(out: Uint32Array, i: number, v: bigint): void {
  out[2 * i] = Number(v & 0xffff_ffffn);
  out[2 * i + 1] = Number((v >> 32n) & 0xffff_ffffn);
}

/** Field `fd` of `words` kept in place (an address field: low bits zero). */
export function getAddr(words: Words, fd: BitField): bigint {
  return word(words, fd.word) & maskOf(fd.hi, fd.lo);
}

/** `words` with field `fd` set to `value` (shifted into place; must fit). */
export function put(words: bigint[], fd: BitField, value: number | bigint): void {
  const v = BigInt(value) << BigInt(fd.lo);
  const m = maskOf(fd.hi, fd.lo);
  if ((v & ~m) !== 0n || v < 0n) throw new Error(`value ${String(value)} does not fit bits ${fd.hi}:${fd.lo}`);
  words[fd.word] = ((words[fd.word] ?? 0n) & ~m) | v;
}
