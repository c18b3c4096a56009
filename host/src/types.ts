/**
 * Address and id types of the host (STYLE.md #3, docs/ARCHITECTURE.md
 * "Address and id types"). Each is a *flavor*: a compile-time tag only, at
 * run time an `Iova` is a `bigint` (or a `number` in the number API), a
 * `Sid` a `number`. A plain literal or computed value is accepted wherever a
 * flavor is expected (emulators and tests need not wrap every literal), but
 * one flavor is never accepted for another: passing an `Hpa` where a `Gpa`
 * is expected, or a `Did` where a `Pasid` is, is a compile error. The
 * checking constructors (`gpa(v, what)`, ...) check the range at a host API
 * boundary and throw an `Error` naming the argument.
 */

declare const brand: unique symbol;
/**
 * `T` tagged with the optional compile-time flavor `F` (the base of `Iova`,
 * `Gpa`, `Sid`, ...): a plain `T` is assignable to it, a `T` of another
 * flavor is not.
 */
export type Flavor<T, F extends string> = T & { readonly [brand]?: F };

/** An input address of a DMA request (I/O virtual address); `Iova<number>` in the number API. */
export type Iova<N extends bigint | number = bigint> = Flavor<N, 'Iova'>;
/** A guest-physical address; `Gpa<number>` in the number API (MMIO, guest RAM accessors). */
export type Gpa<N extends bigint | number = bigint> = Flavor<N, 'Gpa'>;
/** An output address of translation (a GPA of guest RAM in the emulated mode); `Hpa<number>` in the number API. */
export type Hpa<N extends bigint | number = bigint> = Flavor<N, 'Hpa'>;
/** A source id / requester id / stream id: bus << 8 | device << 3 | function. */
export type Sid = Flavor<number, 'Sid'>;
/** A domain id. */
export type Did = Flavor<number, 'Did'>;
/** A process address space id (20 bits; an SMMUv3 substream id). */
export type Pasid = Flavor<number, 'Pasid'>;

const U64_MAX = (1n << 64n) - 1n;
/** 2^64: the end (exclusive) of the 64-bit address space. */
export const ADDRESS_SPACE_END = 1n << 64n;
const TWO_32 = 4294967296;

function checkU64(v: bigint, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new Error(`${what}: ${String(v)} is not a 64-bit address`);
  return v;
}

function checkInt(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`${what}: ${String(v)} is not an integer in 0..${max}`);
  return v;
}

/** Checks and types a 64-bit input address. */
export const iova = (v: bigint, what = 'iova'): Iova => checkU64(v, what) as Iova;
/** Checks and types a 64-bit guest-physical address. */
export const gpa = (v: bigint, what = 'gpa'): Gpa => checkU64(v, what) as Gpa;
/** Checks and types a 64-bit output address. */
export const hpa = (v: bigint, what = 'hpa'): Hpa => checkU64(v, what) as Hpa;
/** Checks and types a 16-bit source id. */
export const sid = (v: number, what = 'sid'): Sid => checkInt(v, 0xffff, what) as Sid;
/** Checks and types an SMMUv3 StreamID (up to 32 bits, SMMU_IDR1.SIDSIZE) as a source id. */
export const streamId = (v: number, what = 'sid'): Sid => checkInt(v, 0xffff_ffff, what) as Sid;
/** Checks and types a 16-bit domain id. */
export const did = (v: number, what = 'did'): Did => checkInt(v, 0xffff, what) as Did;
/** Checks and types a 20-bit PASID. */
export const pasid = (v: number, what = 'pasid'): Pasid => checkInt(v, 0xfffff, what) as Pasid;

/**
 * The end (exclusive) of the range `[start, start + len)` of the 64-bit
 * address space, or undefined when the range wraps past 2^64 (its last
 * byte would be at a small address: never treat such a range as two). The
 * one overflow check for address ranges (STYLE.md #3); `start` must be a
 * 64-bit address and `len` a non-negative integer (callers check those).
 */
export function rangeEnd(start: bigint, len: bigint | number): bigint | undefined {
  const end = start + BigInt(len);
  return end <= ADDRESS_SPACE_END ? end : undefined;
}

/**
 * `rangeEnd` for the number API: true when `[hi:lo, hi:lo + len)` (a 64-bit
 * address as two u32 halves, `len` an integer in 0..2^32) stays inside the
 * 64-bit address space. Allocates nothing.
 */
export function rangeFits64(hi: number, lo: number, len: number): boolean {
  return (hi >>> 0) !== 0xffff_ffff || (lo >>> 0) + len <= TWO_32;
}

/** The source id of bus/device/function. */
export function sidOf(bus: number, dev: number, fn: number): Sid {
  checkInt(bus, 0xff, 'bus');
  checkInt(dev, 0x1f, 'device');
  checkInt(fn, 7, 'function');
  return ((bus << 8) | (dev << 3) | fn) as Sid;
}

/** Parses "BB:DD.F" or "DD.F" (bus 0) into a source id; throws naming `what` when malformed. */
export function parseBdf(text: string, what = 'bdf'): Sid {
  const known = parsedBdfs.get(text);
  if (known !== undefined) return known;
  const m = /^(?:([0-9a-fA-F]{1,2}):)?([0-9a-fA-F]{1,2})\.([0-7])$/.exec(text);
  if (!m) throw new Error(`${what}: "${text}" is not BB:DD.F`);
  const sid = sidOf(parseInt(m[1] ?? '0', 16), parseInt(m[2]!, 16), parseInt(m[3]!, 10));
  if (parsedBdfs.size >= MAX_PARSED_BDFS) parsedBdfs.clear();
  parsedBdfs.set(text, sid);
  return sid;
}

/** Source ids of the BDF strings parsed so far (a scenario names its few devices on every step; the fuzzer replays them per execution). */
const parsedBdfs = new Map<string, Sid>();
/** Bound of `parsedBdfs` (a string naming no device is parsed, and cached, too). */
const MAX_PARSED_BDFS = 4096;

/** Formats a source id as "BB:DD.F". */
export function formatBdf(s: Sid | number): string {
  const h = (n: number): string => n.toString(16).padStart(2, '0');
  return `${h(s >> 8)}:${h((s >> 3) & 0x1f)}.${s & 7}`;
}
