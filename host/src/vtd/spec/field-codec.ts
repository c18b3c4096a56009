/**
 * The generic codec of VT-d's in-memory structures (spec chapter 9): a
 * structure is a list of 64-bit words (`bigint`, qw0 at the lowest
 * address), and its layout a table of fields: `word`, bit range `hi:lo`
 * inside that word, and a kind: `flag` (boolean), `uint` (number), `addr`
 * (bigint kept in place, i.e. the address itself, low bits zero) or `rsvd`
 * (reserved: not a field; used by `reservedMask`).
 *
 * The spec files beside this one (root-entry.ts, pasid-entry.ts, ...) hold
 * one layout each. Pure functions only: no state, no policy.
 */

/** One field of a structure layout. */
export interface FieldSpec {
  readonly word: number;
  readonly hi: number;
  readonly lo: number;
  readonly kind: 'flag' | 'uint' | 'addr' | 'rsvd';
}

/** A structure layout: field name -> position. */
export type Layout = Readonly<Record<string, FieldSpec>>;

type ValueOf<F extends FieldSpec> = F['kind'] extends 'flag' ? boolean : F['kind'] extends 'uint' ? number : bigint;
type FieldNames<L extends Layout> = { [K in keyof L]: L[K]['kind'] extends 'rsvd' ? never : K }[keyof L];

/** The decoded form of a layout: one property per non-reserved field. */
export type Fields<L extends Layout> = { [K in FieldNames<L>]: ValueOf<L[K]> };

/** The decoded form with JS numbers for addresses too (`encodeFieldsNumber`). */
export type NumberFields<L extends Layout> = { [K in FieldNames<L>]: L[K]['kind'] extends 'flag' ? boolean : number };

/** A one-bit field at `bit` of qword `word`. */
export const flag = (word: number, bit: number) => ({ word, hi: bit, lo: bit, kind: 'flag' as const });
/** An unsigned number in bits `hi:lo` of qword `word`. */
export const uint = (word: number, hi: number, lo: number) => ({ word, hi, lo, kind: 'uint' as const });
/** An address kept in place in bits `hi:lo` of qword `word` (the low bits read as zero). */
export const addr = (word: number, hi: number, lo: number) => ({ word, hi, lo, kind: 'addr' as const });
/** Reserved bits `hi:lo` of qword `word`. */
export const rsvd = (word: number, hi: number, lo: number) => ({ word, hi, lo, kind: 'rsvd' as const });

/** The mask of a field's bits inside its qword. */
export function fieldMask(f: FieldSpec): bigint {
  return ((1n << BigInt(f.hi - f.lo + 1)) - 1n) << BigInt(f.lo);
}

/** Field masks and layout sizes met so far (layouts are module constants: encodeFields is called per table entry). */
const masks = new WeakMap<FieldSpec, bigint>();
const sizes = new WeakMap<Layout, number>();

/** `fieldMask(f)`, computed once per field. */
function maskOf(f: FieldSpec): bigint {
  let m = masks.get(f);
  if (m === undefined) masks.set(f, (m = fieldMask(f)));
  return m;
}

/** Number of 64-bit words a layout spans. */
export function layoutWords(layout: Layout): number {
  let n = sizes.get(layout);
  if (n === undefined) sizes.set(layout, (n = Math.max(...Object.values(layout).map((f) => f.word)) + 1));
  return n;
}

/**
 * Encodes `fields` (missing ones are 0) into `words` u64 words. Throws an
 * `Error` naming the field when a value does not fit its bit range.
 */
export function encodeFields<L extends Layout>(layout: L, fields: Partial<Fields<L>>, words = layoutWords(layout)): bigint[] {
  const out = new Array<bigint>(words).fill(0n);
  for (const [name, value] of Object.entries(fields) as [string, boolean | number | bigint | undefined][]) {
    const f = layout[name];
    if (f === undefined || f.kind === 'rsvd') throw new Error(`unknown field '${name}'`);
    if (value === undefined) continue;
    const mask = maskOf(f);
    let bits: bigint;
    if (f.kind === 'flag') bits = value ? 1n << BigInt(f.lo) : 0n;
    else if (f.kind === 'addr') bits = BigInt(value);
    else bits = BigInt(value) << BigInt(f.lo);
    if (bits < 0n || (bits & ~mask) !== 0n) throw new Error(`field '${name}' value ${String(value)} does not fit bits ${f.hi}:${f.lo}`);
    out[f.word] = out[f.word]! | bits;
  }
  return out;
}

/** A field as `decodeFields` reads it: from a 32-bit half of its qword where it fits in one (`half` 0 or 1), else from the qword. */
interface CompiledField {
  readonly name: string;
  readonly word: number;
  readonly kind: 'flag' | 'uint' | 'addr';
  /** 0 or 1: the field lies in that u32 half of its qword; -1: it spans both (read as a bigint). */
  readonly half: number;
  /** The field's lowest bit inside its half, and its width. */
  readonly shift: number;
  /** The field's bits as a number mask (after the shift). */
  readonly bitMask: number;
  readonly mask: bigint;
  readonly lo: bigint;
}

/** A layout's fields for decoding, and which qwords have a field read from a half. */
interface CompiledLayout {
  readonly fields: readonly CompiledField[];
  readonly halfWords: readonly number[];
}

const compiledLayouts = new WeakMap<Layout, CompiledLayout>();

/** Qwords whose fields may be read from halves (a later qword's are read as bigints). */
const MAX_HALF_WORDS = 16;
/** The u32 halves of the qwords `decodeFields` reads (index 2 * word + half). */
const halves = new Float64Array(2 * MAX_HALF_WORDS);

/** `layout` compiled for `decodeFields` (once per layout object). */
function compiled(layout: Layout): CompiledLayout {
  let c = compiledLayouts.get(layout);
  if (c !== undefined) return c;
  const fields: CompiledField[] = [];
  for (const [name, f] of Object.entries(layout)) {
    if (f.kind === 'rsvd') continue;
    const half = f.kind === 'addr' || (f.lo < 32) !== (f.hi < 32) || f.word >= MAX_HALF_WORDS ? -1 : f.lo >> 5;
    fields.push({ name, word: f.word, kind: f.kind, half, shift: f.lo & 31, bitMask: 2 ** (f.hi - f.lo + 1) - 1, mask: fieldMask(f), lo: BigInt(f.lo) });
  }
  const halfWords = [...new Set(fields.filter((f) => f.half >= 0).map((f) => f.word))];
  compiledLayouts.set(layout, (c = { fields, halfWords }));
  return c;
}

/**
 * Decodes every non-reserved field of `layout` from `words` (a missing word
 * reads 0). Flags and numbers inside one 32-bit half are read from the
 * halves with number operations, each qword split once; addresses and
 * fields across bit 32 with bigint masks precomputed per layout
 * (host/tests/field-codec.test.ts compares it with the plain bigint decode).
 */
export function decodeFields<L extends Layout>(layout: L, words: readonly bigint[]): Fields<L> {
  const c = compiled(layout);
  for (const w of c.halfWords) {
    const v = words[w] ?? 0n;
    halves[2 * w] = Number(v & 0xffff_ffffn);
    halves[2 * w + 1] = Number((v >> 32n) & 0xffff_ffffn);
  }
  const out: Record<string, boolean | number | bigint> = {};
  for (const f of c.fields) {
    if (f.half < 0) {
      const raw = (words[f.word] ?? 0n) & f.mask;
      out[f.name] = f.kind === 'flag' ? raw !== 0n : f.kind === 'addr' ? raw : Number(raw >> f.lo);
      continue;
    }
    const h = halves[2 * f.word + f.half]!;
    const v = ((h >>> f.shift) & f.bitMask) >>> 0;
    out[f.name] = f.kind === 'flag' ? v !== 0 : v;
  }
  return out as Fields<L>;
}

/** Per-word mask of the layout's fixed reserved bits (`rsvd` fields). */
export function reservedMask(layout: Layout): bigint[] {
  const out = new Array<bigint>(layoutWords(layout)).fill(0n);
  for (const f of Object.values(layout)) if (f.kind === 'rsvd') out[f.word] = out[f.word]! | fieldMask(f);
  return out;
}

/**
 * `encodeFields` with JS numbers instead of `bigint`, for structures built in
 * bulk where every word stays below 2^53 (the bench's guest images): the same
 * layout tables, so the bit positions keep one home. Throws an `Error` naming
 * the field when a value does not fit its bits or a word would pass 2^53.
 */
export function encodeFieldsNumber<L extends Layout>(layout: L, fields: Partial<NumberFields<L>>, words = layoutWords(layout)): number[] {
  const out = new Array<number>(words).fill(0);
  for (const [name, value] of Object.entries(fields) as [string, boolean | number | undefined][]) {
    const f = layout[name];
    if (f === undefined || f.kind === 'rsvd') throw new Error(`unknown field '${name}'`);
    if (value === undefined) continue;
    const bits = fieldNumber(f, value);
    if (bits === undefined) throw new Error(`field '${name}' value ${String(value)} does not fit bits ${f.hi}:${f.lo} below 2^53`);
    out[f.word] = out[f.word]! + bits; // fields never overlap: + is |
    if (!Number.isSafeInteger(out[f.word])) throw new Error(`field '${name}': word ${f.word} passes 2^53`);
  }
  return out;
}

/** A field's bits as a number (value placed at `lo`; an address as is), or undefined when it does not fit. */
function fieldNumber(f: FieldSpec, value: boolean | number): number | undefined {
  const unit = 2 ** f.lo;
  if (f.kind === 'flag') return value ? unit : 0;
  const v = Number(value);
  if (!Number.isSafeInteger(v) || v < 0) return undefined;
  if (f.kind === 'addr') return v % unit === 0 && v < 2 ** (f.hi + 1) ? v : undefined;
  const bits = v * unit;
  return v < 2 ** (f.hi - f.lo + 1) && Number.isSafeInteger(bits) ? bits : undefined;
}
