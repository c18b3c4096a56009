/**
 * The snapshot byte format, little-endian throughout:
 *
 * | offset | size | field                                                   |
 * |--------|------|---------------------------------------------------------|
 * | 0      | 8    | magic "VIOMMUSN"                                        |
 * | 8      | 4    | format version (SNAPSHOT_VERSION)                       |
 * | 12     | 4    | CRC-32 (crc32.ts) of every byte of the snapshot but these four |
 * | 16     | 8    | total length in bytes                                   |
 * | 24     | 4    | section count                                           |
 * | 28     |      | sections: 4-character tag, u32 payload length, payload  |
 *
 * A reader checks magic, version, length and checksum before it reads
 * anything else, so a changed, truncated or extended snapshot is refused
 * whole; then every length, throwing an Error naming what is wrong.
 */
import { crc32 } from './crc32.js';

/** Magic bytes at offset 0. */
export const SNAPSHOT_MAGIC = 'VIOMMUSN';
/**
 * Current format version. 3: header with CRC-32 and length (version 2 had
 * no integrity check and is refused: take the snapshot again with this
 * build); the VTD section holds the unit's typed state (VtdUnit.saveState).
 */
export const SNAPSHOT_VERSION = 3;

/** Bytes before the first section. */
const HEADER_BYTES = 28;
/** Offset of the CRC field. */
const CRC_AT = 12;

/** One encoder and decoder for every writer and reader (a new one per string cost more than the snapshot's other work). */
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Texts up to this many bytes, when ASCII, are read without the decoder (register names: the decoder's call costs more than their bytes). */
const SHORT_TEXT = 64;

/**
 * Buffers writers are done with, kept for the next writers: a snapshot's
 * writers (sections, devices, the whole) then allocate little more than
 * their results (a new 64 KiB buffer costs 12-30 us of zeroing and external
 * memory accounting here, more than the bytes written into it).
 */
const spare: Uint8Array[] = [];
/** Spare buffers kept at most, and the largest kept. */
const SPARE_COUNT = 8;
const SPARE_MAX_BYTES = 4 << 20;

/** Keeps `b` for a later writer if there is room. */
function release(b: Uint8Array): void {
  if (spare.length < SPARE_COUNT && b.length <= SPARE_MAX_BYTES) spare.push(b);
}

/**
 * Appends little-endian values to a growing buffer: one DataView over it
 * (replaced when it grows), not one per value; the buffer is a spare one
 * when there is one. `finish` ends the writer.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;
  private done = false;

  /** A writer with room for at least `capacity` bytes before it grows. */
  constructor(capacity = 256) {
    let b = spare.pop();
    if (b === undefined || b.length < capacity) {
      if (b !== undefined) release(b);
      b = new Uint8Array(Math.max(capacity, 256));
    }
    this.buf = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.length);
  }

  /** Reserves `n` bytes; returns their offset. */
  private room(n: number): number {
    if (this.done) throw new Error('ByteWriter: written after finish');
    const at = this.len;
    if (at + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, at + n));
      next.set(this.buf.subarray(0, at));
      release(this.buf);
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.len = at + n;
    return at;
  }

  // Each reserves its room before reading buf or view (room may replace them).
  u8(v: number): this { const at = this.room(1); this.buf[at] = v; return this; }
  u32(v: number): this { const at = this.room(4); this.view.setUint32(at, v >>> 0, true); return this; }
  u64(v: bigint): this { const at = this.room(8); this.view.setBigUint64(at, BigInt.asUintN(64, v), true); return this; }
  bool(v: boolean): this { return this.u8(v ? 1 : 0); }
  /** Length-prefixed bytes. */
  bytes(b: Uint8Array): this {
    return this.u32(b.length).raw(b);
  }
  /** Bytes as they are (no length). */
  raw(b: Uint8Array): this {
    const at = this.room(b.length);
    this.buf.set(b, at);
    return this;
  }
  /** Bytes written so far. */
  get length(): number {
    return this.len;
  }
  /** Overwrites the u32 at `at` (written before) with `v`: a length known only after what follows it. */
  patchU32(at: number, v: number): void {
    if (this.done || at < 0 || at + 4 > this.len) throw new Error(`ByteWriter: no u32 written at ${at}`);
    this.view.setUint32(at, v >>> 0, true);
  }
  /** Length-prefixed UTF-8 text (ASCII, every name and key the snapshot holds, is copied as is). */
  text(s: string): this {
    const n = s.length;
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return this.bytes(encoder.encode(s));
    this.u32(n);
    const at = this.room(n);
    for (let i = 0; i < n; i++) this.buf[at + i] = s.charCodeAt(i);
    return this;
  }
  /** The bytes written, a copy the caller owns (the buffer goes back to the spares); the writer takes no more. */
  finish(): Uint8Array {
    if (this.done) return this.buf.slice(); // a second finish: another copy of the same bytes
    const out = this.buf.slice(0, this.len);
    this.done = true;
    release(this.buf);
    this.buf = out; // nothing of the spare stays reachable from here
    return out;
  }
}

/** Reads what ByteWriter wrote; every read is bounds-checked. */
export class ByteReader {
  private at = 0;
  private readonly view: DataView;

  /** A reader of `b`; errors name it `what` ("section \"VTD \"", "device 00:03.0"). */
  constructor(private readonly b: Uint8Array, private readonly what: string) {
    this.view = new DataView(b.buffer, b.byteOffset, b.length);
  }

  private need(n: number): number {
    if (this.at + n > this.b.length) throw new Error(`snapshot: ${this.what} is truncated (need ${n} bytes at ${this.at} of ${this.b.length})`);
    const at = this.at;
    this.at += n;
    return at;
  }

  /** The next byte. */
  u8(): number { return this.view.getUint8(this.need(1)); }
  /** The next little-endian u32. */
  u32(): number { return this.view.getUint32(this.need(4), true); }
  /** The next little-endian u64. */
  u64(): bigint { return this.view.getBigUint64(this.need(8), true); }
  /** A byte that must be 0 or 1 (anything else is an Error naming it). */
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new Error(`snapshot: ${this.what} has ${v} where a boolean (0 or 1) belongs`);
    return v === 1;
  }
  /** Length-prefixed bytes (a view of the snapshot, not a copy). */
  bytes(): Uint8Array { const n = this.u32(); const at = this.need(n); return this.b.subarray(at, at + n); }
  /** Skips `n` bytes. */
  skip(n: number): void { this.need(n); }
  /** Length-prefixed UTF-8 text. */
  text(): string {
    const b = this.bytes();
    if (b.length > SHORT_TEXT) return decoder.decode(b);
    let s = '';
    for (let i = 0; i < b.length; i++) {
      if (b[i]! > 0x7f) return decoder.decode(b); // UTF-8 beyond ASCII (and a BOM, which the decoder drops)
      s += String.fromCharCode(b[i]!);
    }
    return s;
  }
  /** Throws unless every byte was read. */
  end(): void {
    if (this.at !== this.b.length) throw new Error(`snapshot: ${this.what} has ${this.b.length - this.at} unexpected trailing bytes`);
  }
}

/** A section of a snapshot being written: its tag and what writes its payload. */
export type SectionWriter = readonly [tag: string, write: (w: ByteWriter) => void];

/**
 * Writes the header and sections (each payload written in place by its
 * writer, its length filled in after), then the length and checksum: one
 * buffer for the whole snapshot instead of one per section copied again.
 */
export function writeSnapshot(sections: readonly SectionWriter[]): Uint8Array {
  for (const [tag] of sections) if (tag.length !== 4) throw new Error(`tag: "${tag}" is not 4 characters`);
  const w = new ByteWriter(1 << 16);
  for (const c of SNAPSHOT_MAGIC) w.u8(c.charCodeAt(0));
  w.u32(SNAPSHOT_VERSION).u32(0).u64(0n).u32(sections.length);
  for (const [tag, write] of sections) {
    for (const c of tag) w.u8(c.charCodeAt(0));
    const at = w.length;
    w.u32(0);
    write(w);
    w.patchU32(at, w.length - at - 4);
  }
  const out = w.finish();
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  view.setBigUint64(16, BigInt(out.length), true);
  view.setUint32(CRC_AT, checksum(out), true);
  return out;
}

/** Encodes sections (tag -> payload) behind the header, with the length and checksum filled in. */
export function encodeSnapshot(sections: readonly [string, Uint8Array][]): Uint8Array {
  return writeSnapshot(sections.map(([tag, payload]): SectionWriter => [tag, (w) => w.raw(payload)]));
}

/** CRC-32 of `bytes` without the CRC field. */
function checksum(bytes: Uint8Array): number {
  return crc32(bytes.subarray(CRC_AT + 4), crc32(bytes.subarray(0, CRC_AT)));
}

/** Checks magic, version, length and checksum; throws an Error naming the first that is wrong. */
function checkHeader(bytes: Uint8Array): void {
  const r = new ByteReader(bytes.subarray(0, Math.min(bytes.length, HEADER_BYTES)), 'header');
  const magic = String.fromCharCode(...Array.from({ length: SNAPSHOT_MAGIC.length }, () => r.u8()));
  if (magic !== SNAPSHOT_MAGIC) throw new Error(`snapshot: bad magic "${magic}" (expected ${SNAPSHOT_MAGIC})`);
  const version = r.u32();
  if (version === 2) throw new Error('snapshot: format version 2 has no integrity check and is not read any more (this build reads version 3); take the snapshot again with this build');
  if (version !== SNAPSHOT_VERSION) throw new Error(`snapshot: format version ${version} is not supported (this build reads ${SNAPSHOT_VERSION})`);
  const stored = r.u32();
  const length = r.u64();
  if (length !== BigInt(bytes.length)) {
    throw new Error(`snapshot: ${length > BigInt(bytes.length) ? 'truncated' : 'has trailing bytes'}: the header says ${length} bytes, got ${bytes.length}`);
  }
  const computed = checksum(bytes);
  if (computed !== stored) throw new Error(`snapshot: checksum mismatch (header 0x${stored.toString(16)}, bytes 0x${computed.toString(16)}): the snapshot was changed or damaged`);
}

/** Decodes the header and sections; throws an Error naming what is wrong. */
export function decodeSnapshot(bytes: Uint8Array): Map<string, Uint8Array> {
  if (!(bytes instanceof Uint8Array)) throw new Error('snapshot: not a Uint8Array');
  checkHeader(bytes);
  const r = new ByteReader(bytes, 'header');
  r.skip(HEADER_BYTES - 4);
  const count = r.u32();
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    const tag = String.fromCharCode(r.u8(), r.u8(), r.u8(), r.u8());
    if (out.has(tag)) throw new Error(`snapshot: section "${tag}" appears twice`);
    out.set(tag, r.bytes());
  }
  r.end();
  return out;
}

/** The section `tag`; throws naming it when missing. */
export function section(sections: Map<string, Uint8Array>, tag: string): ByteReader {
  const b = sections.get(tag);
  if (!b) throw new Error(`snapshot: section "${tag}" is missing`);
  return new ByteReader(b, `section "${tag}"`);
}
