/**
 * The snapshot byte format: a header ("VIOMMUSN", format version, section
 * count) and sections, each a 4-character tag, a u32 payload length and the
 * payload. Little-endian throughout. Readers check every length and throw an
 * Error naming what is wrong (truncated, bad magic, unknown version, ...).
 */

/** Magic bytes at offset 0. */
export const SNAPSHOT_MAGIC = 'VIOMMUSN';
/** Current format version (2: the VTD section holds the unit's typed state, VtdUnit.saveState). */
export const SNAPSHOT_VERSION = 2;

/** Appends little-endian values to a growing buffer. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private room(n: number): DataView {
    if (this.len + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    const v = new DataView(this.buf.buffer, this.len, n);
    this.len += n;
    return v;
  }

  u8(v: number): this { this.room(1).setUint8(0, v); return this; }
  u32(v: number): this { this.room(4).setUint32(0, v >>> 0, true); return this; }
  u64(v: bigint): this { this.room(8).setBigUint64(0, BigInt.asUintN(64, v), true); return this; }
  bool(v: boolean): this { return this.u8(v ? 1 : 0); }
  /** Length-prefixed bytes. */
  bytes(b: Uint8Array): this {
    this.u32(b.length);
    const v = this.room(b.length);
    new Uint8Array(v.buffer, v.byteOffset, b.length).set(b);
    return this;
  }
  /** Length-prefixed UTF-8 text. */
  text(s: string): this { return this.bytes(new TextEncoder().encode(s)); }
  /** The bytes written. */
  finish(): Uint8Array { return this.buf.slice(0, this.len); }
}

/** Reads what ByteWriter wrote; every read is bounds-checked. */
export class ByteReader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly b: Uint8Array, private readonly what: string) {
    this.view = new DataView(b.buffer, b.byteOffset, b.length);
  }

  private need(n: number): number {
    if (this.at + n > this.b.length) throw new Error(`snapshot: ${this.what} is truncated (need ${n} bytes at ${this.at} of ${this.b.length})`);
    const at = this.at;
    this.at += n;
    return at;
  }

  u8(): number { return this.view.getUint8(this.need(1)); }
  u32(): number { return this.view.getUint32(this.need(4), true); }
  u64(): bigint { return this.view.getBigUint64(this.need(8), true); }
  bool(): boolean { return this.u8() !== 0; }
  bytes(): Uint8Array { const n = this.u32(); const at = this.need(n); return this.b.slice(at, at + n); }
  text(): string { return new TextDecoder().decode(this.bytes()); }
  /** Throws unless every byte was read. */
  end(): void {
    if (this.at !== this.b.length) throw new Error(`snapshot: ${this.what} has ${this.b.length - this.at} unexpected trailing bytes`);
  }
}

/** Encodes sections (tag -> payload) behind the header. */
export function encodeSnapshot(sections: readonly [string, Uint8Array][]): Uint8Array {
  const w = new ByteWriter();
  for (const c of SNAPSHOT_MAGIC) w.u8(c.charCodeAt(0));
  w.u32(SNAPSHOT_VERSION).u32(sections.length);
  for (const [tag, payload] of sections) {
    if (tag.length !== 4) throw new Error(`tag: "${tag}" is not 4 characters`);
    for (const c of tag) w.u8(c.charCodeAt(0));
    w.bytes(payload);
  }
  return w.finish();
}

/** Decodes the header and sections; throws an Error naming what is wrong. */
export function decodeSnapshot(bytes: Uint8Array): Map<string, Uint8Array> {
  if (!(bytes instanceof Uint8Array)) throw new Error('snapshot: not a Uint8Array');
  const r = new ByteReader(bytes, 'header');
  const magic = String.fromCharCode(...Array.from({ length: SNAPSHOT_MAGIC.length }, () => r.u8()));
  if (magic !== SNAPSHOT_MAGIC) throw new Error(`snapshot: bad magic "${magic}" (expected ${SNAPSHOT_MAGIC})`);
  const version = r.u32();
  if (version !== SNAPSHOT_VERSION) throw new Error(`snapshot: format version ${version} is not supported (this build reads ${SNAPSHOT_VERSION})`);
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
