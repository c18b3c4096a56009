/**
 * The caches' live contents as plain objects (`Core.cacheContents()`): the
 * decoders of the core's dump records (docs/ABI.md "Cache contents"; 32
 * bytes each, little-endian) and the types they produce. Read-only
 * inspection for tools and the playground, not the hot path.
 */
import { PASID_NONE } from './constants.js';
import type { Did, Hpa, Iova, Pasid, Sid } from '../types.js';

/** Size of one dump record. */
export const DUMP_RECORD_BYTES = 32;

/** One IOTLB entry (§6.2.2). */
export interface IotlbEntry {
  /** Domain id tag. */
  readonly did: Did;
  /** PASID tag; undefined for requests without a PASID in legacy mode. */
  readonly pasid: Pasid | undefined;
  /** Requester id of the request that filled it. */
  readonly sid: Sid;
  /** Input page base. */
  readonly iova: Iova;
  /** Output page address. */
  readonly addr: Hpa;
  /** Page size log2 (12, 21, 30). */
  readonly pageLg2: number;
  /** Permission bits: R 1, W 2, X 4; 8 = writes may hit without a walk (second stage, or a first-stage leaf with D set). */
  readonly perms: number;
  /** Filled by a first-stage or nested walk. */
  readonly firstStage: boolean;
  /** Filled by a supervisor request (first stage). */
  readonly supervisor: boolean;
}

/** One context-cache entry (§6.2.1). */
export interface ContextCacheEntry {
  /** Source id (requester id) the entry is cached for. */
  readonly sid: Sid;
  /** Domain-id tag (legacy mode; 0 in scalable mode). */
  readonly did: Did;
  /** The cached context entry's low 64 bits (scalable mode: of its first 128 bits). */
  readonly lo: bigint;
  /** The cached context entry's high 64 bits. */
  readonly hi: bigint;
  /** QEMU's sticky pass-through state (QUIRK_PT_STICKY) is attached. */
  readonly stickyPassThrough: boolean;
}

/** One PASID-cache entry (§6.2.3). */
export interface PasidCacheEntry {
  /** Source id the entry is cached for. */
  readonly sid: Sid;
  /** PASID the entry is cached for. */
  readonly pasid: Pasid;
  /** Domain id of the PASID entry. */
  readonly did: Did;
  /** PASID-table entry qwords 0-2. */
  readonly entry: readonly [bigint, bigint, bigint];
  /** FPD of the PASID-directory entry above it. */
  readonly dirFpd: boolean;
}

/** One paging-structure cache entry (§6.2.4): a non-leaf entry of a walk. */
export interface PscEntry {
  /** Which walk the entry belongs to. */
  readonly stage: 'first' | 'second';
  /** Domain id tag. */
  readonly did: Did;
  /** PASID (first stage; 0 for second stage). */
  readonly pasid: Pasid;
  /** Level of the cached entry (0 = leaf level, never cached). */
  readonly level: number;
  /** Base of the input range the entry covers (2^(12 + 9 * level) bytes). */
  readonly iova: Iova;
  /** Address of the next table (nested first stage: already translated). */
  readonly table: bigint;
  /** Permissions accumulated down to this level. */
  readonly perms: number;
}

/** Every cache's live entries. */
export interface CacheContents {
  /** IOTLB entries. */
  readonly iotlb: IotlbEntry[];
  /** Context-cache entries. */
  readonly context: ContextCacheEntry[];
  /** PASID-cache entries. */
  readonly pasid: PasidCacheEntry[];
  /** Paging-structure cache entries (second and first stage). */
  readonly psc: PscEntry[];
}

/** A dump export of the core: (buf, first, max) -> live count or a negative error. */
export type DumpExport = (buf: number, first: number, max: number) => number;

/** Decodes the record at byte `at` of `v`. */
type Decoder<T> = (v: DataView, at: number) => T;

const u64 = (v: DataView, at: number): bigint => v.getBigUint64(at, true);

/** IOTLB record decoder. */
export const decodeIotlb: Decoder<IotlbEntry> = (v, at) => {
  const pasid = v.getUint32(at + 4, true);
  const flags = v.getUint32(at + 28, true);
  return {
    did: v.getUint32(at, true), pasid: pasid === PASID_NONE ? undefined : pasid, sid: v.getUint16(at + 26, true),
    iova: u64(v, at + 8), addr: u64(v, at + 16), pageLg2: v.getUint8(at + 24), perms: v.getUint8(at + 25),
    firstStage: (flags & 1) !== 0, supervisor: (flags & 2) !== 0,
  };
};

/** Context-cache record decoder. */
export const decodeContext: Decoder<ContextCacheEntry> = (v, at) => ({
  sid: v.getUint32(at + 16, true), did: v.getUint32(at + 20, true), lo: u64(v, at), hi: u64(v, at + 8),
  stickyPassThrough: (v.getUint32(at + 24, true) & 1) !== 0,
});

/** PASID-cache record decoder. */
export const decodePasid: Decoder<PasidCacheEntry> = (v, at) => {
  const entry: [bigint, bigint, bigint] = [u64(v, at), u64(v, at + 8), u64(v, at + 16)];
  return {
    sid: v.getUint16(at + 24, true), pasid: v.getUint32(at + 28, true), did: Number(entry[1] & 0xffffn),
    entry, dirFpd: (v.getUint16(at + 26, true) & 1) !== 0,
  };
};

/** Paging-structure cache record decoder. */
export const decodePsc: Decoder<PscEntry> = (v, at) => ({
  stage: v.getUint8(at + 29) === 1 ? 'first' : 'second', did: v.getUint32(at, true), pasid: v.getUint32(at + 4, true),
  level: v.getUint8(at + 28), iova: u64(v, at + 8), table: u64(v, at + 16), perms: v.getUint32(at + 24, true),
});

/**
 * Every live entry of one cache: calls `dump` for windows of `capacity`
 * records into the buffer at `buf` until all are read (`memory` is re-read
 * after each call; the dumps change nothing, so the count is stable).
 */
export function readDump<T>(dump: DumpExport, memory: WebAssembly.Memory, buf: number, capacity: number, decode: Decoder<T>): T[] {
  const out: T[] = [];
  for (;;) {
    const live = dump(buf, out.length, capacity);
    if (live < 0) throw new Error(`buf: the core refused dump buffer ${buf} (error ${live})`);
    const n = Math.min(capacity, live - out.length);
    const v = new DataView(memory.buffer, buf, n * DUMP_RECORD_BYTES);
    for (let i = 0; i < n; i++) out.push(decode(v, i * DUMP_RECORD_BYTES));
    if (out.length >= live || n <= 0) return out;
  }
}
