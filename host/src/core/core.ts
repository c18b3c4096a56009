/**
 * The WASM core for the host (docs/ABI.md, last section): instantiating it
 * from bytes, a module or a URL, and typed wrappers around its numbers-only
 * exports. Platform-neutral (browsers, Workers, Node); the Node file-system
 * loader of build/viommu.wasm is load-node.ts. This module and
 * guest-memory.ts are the only host code that touches raw exports;
 * everything else uses `Core`.
 */
import * as K from './constants.js';
import {
  decodeContext, decodeIotlb, decodePasid, decodePsc, DUMP_RECORD_BYTES, readDump, type CacheContents, type DumpExport,
} from './cache-contents.js';

/** The raw exports of build/viommu.wasm (docs/ABI.md). */
export interface CoreExports {
  /** Linear memory: guest RAM regions, device buffers, out-buffer, batch ring, counters. */
  memory: WebAssembly.Memory;
  /** Adds a RAM region; returns its index or a negative ERR_* code. */
  ramAddRegion(baseGpa: number, size: number): number;
  /** Byte offset in memory of region i. */
  ramRegionOffset(i: number): number;
  /** Number of RAM regions. */
  ramRegionCount(): number;
  /** Guest-physical base of region i. */
  ramRegionBase(i: number): number;
  /** Size in bytes of region i. */
  ramRegionSize(i: number): number;
  /** Sets a CFG_* key; 0 or an error code. Empties the caches. */
  setConfig(key: number, value: number): number;
  /** Reads a CFG_* key. */
  getConfig(key: number): number;
  /** IOTLB entries (sets x ways). */
  iotlbCapacity(): number;
  /** SRTP: latches RTADDR (hi, lo) and TTM. */
  setRootTable(hi: number, lo: number, ttm: number): void;
  /** GSTS.TES: 1 translate, 0 identity. */
  setTranslationEnabled(on: number): void;
  /** Announces a device (requester id) behind the unit. */
  addRequester(sid: number): void;
  /** Translates one request; 0 or the fault reason, details in the out-buffer. */
  translate(sid: number, pasid: number, iovaHi: number, iovaLo: number, access: number): number;
  /** Byte offset of the out-buffer (OUT_* u32 words). */
  outPtr(): number;
  /** Reserves a device buffer; its byte offset, 0 when out of memory. */
  bufAlloc(size: number): number;
  /** Translates and copies between guest RAM and a device buffer; 0, the first fault, or 0xFFFFFFFF for a bad buffer. */
  dmaCopy(sid: number, pasid: number, iovaHi: number, iovaLo: number, len: number, access: number, bufOff: number): number;
  /** Byte offset of the batch ring (BREQ_ and BRES_ words). */
  batchPtr(): number;
  /** Records the batch ring holds. */
  batchCapacity(): number;
  /** Runs records 0..n-1 of the batch ring (copy=1 also moves data); how many succeeded. */
  translateBatch(n: number, copy: number): number;
  /** Empties every cache. */
  invalidateAll(): void;
  /** Context cache, global invalidation. */
  invContextGlobal(): void;
  /** Context cache, domain-selective. */
  invContextDomain(did: number): void;
  /** Context cache, device-selective (fm: function mask). */
  invContextDevice(did: number, sid: number, fm: number): void;
  /** IOTLB and paging-structure caches, global. */
  invIotlbGlobal(): void;
  /** IOTLB and paging-structure caches of a domain. */
  invIotlbDomain(did: number): void;
  /** IOTLB page-selective: 2^am pages; ih=1 keeps the paging-structure caches. */
  invIotlbPage(did: number, addrHi: number, addrLo: number, am: number, ih: number): void;
  /** PASID-based IOTLB, PASID-selective. */
  invPasidIotlb(did: number, pasid: number): void;
  /** PASID-based IOTLB, page-selective. */
  invPasidIotlbPage(did: number, pasid: number, addrHi: number, addrLo: number, am: number, ih: number): void;
  /** PASID cache: granularity 0 domain, 1 PASID in domain, 3 global. */
  invPasidCache(granularity: number, did: number, pasid: number): number;
  /** Byte offset of the STAT_* counters (f64). */
  statsPtr(): number;
  /** Zeroes the counters. */
  statsReset(): void;
  /** Live IOTLB entries: writes records first..first+max-1 at buf (a device buffer); the live count or ERR_BAD_ARG. */
  iotlbDump(buf: number, first: number, max: number): number;
  /** Live context-cache entries, as iotlbDump. */
  contextCacheDump(buf: number, first: number, max: number): number;
  /** Live PASID-cache entries, as iotlbDump. */
  pasidCacheDump(buf: number, first: number, max: number): number;
  /** Live paging-structure cache entries, as iotlbDump. */
  pscDump(buf: number, first: number, max: number): number;
}

/** Records per dump call (Core.cacheContents pages through larger caches). */
const DUMP_WINDOW = 256;

/** The answer to one translation (convenient, not the hot path). */
export interface Translation {
  /** True on success. */
  ok: boolean;
  /** 0 or the VT-d fault reason. */
  fault: number;
  /** Output address of the requested byte. */
  addr: bigint;
  /** log2 of the translated page size. */
  pageLg2: number;
  /** Allowed permissions: bit0 R, bit1 W, bit2 X. */
  perms: number;
  /** FF_* flags of a fault. */
  faultFlags: number;
  /** PV for the fault record. */
  faultPasid: number;
  /** Faulting page address (FRCD.FI). */
  faultAddr: bigint;
  /** Domain id used (valid on success). */
  did: number;
  /** SRC_* where the answer came from. */
  source: number;
}

const STAT_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(K).filter(([k]) => k.startsWith('STAT_') && k !== 'STAT_COUNT').map(([k, v]) => [v as number, k.slice(5).toLowerCase()]),
);

/** What `loadCoreFrom` accepts: the wasm bytes, a compiled module, a URL to fetch, or a fetch response (or its promise). */
export type CoreSource = BufferSource | WebAssembly.Module | URL | Response | PromiseLike<Response>;

function isResponseLike(v: unknown): v is Response {
  return typeof v === 'object' && v !== null && 'arrayBuffer' in v && 'ok' in v && 'status' in v;
}

async function wasmBytesOf(source: URL | Response | PromiseLike<Response>): Promise<ArrayBuffer> {
  if (source instanceof URL && source.protocol === 'file:') {
    throw new Error(`source: ${source.href} is a file URL; in Node use loadCore() or pass the file's bytes`);
  }
  const res = source instanceof URL ? await fetch(source) : await source;
  if (!isResponseLike(res)) throw new Error('source: the promise did not resolve to a fetch Response');
  if (!res.ok) throw new Error(`source: ${res.url || 'the response'} answered HTTP ${res.status}`);
  return res.arrayBuffer();
}

/**
 * Instantiates the core from `source` on any platform (browsers, Workers,
 * Node, Deno): wasm bytes, a compiled `WebAssembly.Module` (cheap: one module
 * can back many cores, each with its own memory and guest RAM), a URL to
 * fetch, or a fetch `Response`. Node users who want the packaged
 * build/viommu.wasm call `loadCore()` from the Node entry instead.
 */
export async function loadCoreFrom(source: CoreSource): Promise<Core> {
  if (source instanceof WebAssembly.Module) return loadCoreFromSync(source);
  const bytes = ArrayBuffer.isView(source) || source instanceof ArrayBuffer ? source : await wasmBytesOf(source);
  const { instance } = await WebAssembly.instantiate(bytes, {});
  return new Core(instance.exports as unknown as CoreExports);
}

/**
 * Instantiates the core synchronously from a compiled module or wasm bytes.
 * Browsers refuse to compile large modules synchronously on the main thread:
 * there compile once with `WebAssembly.compile` and pass the module.
 */
export function loadCoreFromSync(source: WebAssembly.Module | BufferSource): Core {
  let module: WebAssembly.Module;
  if (source instanceof WebAssembly.Module) module = source;
  else if (ArrayBuffer.isView(source) || source instanceof ArrayBuffer) module = new WebAssembly.Module(source);
  else throw new Error('source: expected a WebAssembly.Module or the wasm bytes');
  return new Core(new WebAssembly.Instance(module, {}).exports as unknown as CoreExports);
}

/** An integer IOVA in 0..2^53-1 (NaN, fractions and negatives fail). */
function isIova(v: number): boolean {
  return v >= 0 && v <= Number.MAX_SAFE_INTEGER && v % 1 === 0;
}

/** 2^32, for splitting numbers into (hi, lo) halves. */
const TWO_32 = 4294967296;

function checkU32(v: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new Error(`${what}: ${String(v)} is not an integer in 0..${max}`);
  }
  return v;
}

function split64(v: bigint, what: string): [number, number] {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) throw new Error(`${what}: ${String(v)} is not a 64-bit value`);
  return [Number(v >> 32n), Number(v & 0xffff_ffffn)];
}

const ERR_TEXT: Record<number, string> = {
  [K.ERR_BAD_ARG]: 'bad argument',
  [K.ERR_OVERLAP]: 'overlaps an existing region',
  [K.ERR_UNALIGNED]: 'not 4 KiB aligned',
  [K.ERR_TOO_LARGE]: 'larger than the wasm32 address space allows',
  [K.ERR_TOO_MANY]: 'too many regions',
  [K.ERR_NO_MEMORY]: 'memory.grow failed',
};

/** Typed wrappers around the core's exports (docs/ABI.md). */
export class Core {
  /** The raw instance exports (for benchmarks). */
  readonly exports: CoreExports;
  private buf: ArrayBuffer | undefined;
  private u8 = new Uint8Array(0);
  private outView = new Uint32Array(0);
  private batchView = new Uint32Array(0);
  private statsView = new Float64Array(0);
  private readonly outOff: number;
  private readonly batchOff: number;
  private readonly statsOff: number;
  /** Device buffer the cache dumps write to (allocated on first use). */
  private dumpOff = 0;

  /** Wraps the exports of an instance of the core (see loadCoreFrom). */
  constructor(exports: CoreExports) {
    this.exports = exports;
    this.outOff = exports.outPtr();
    this.batchOff = exports.batchPtr();
    this.statsOff = exports.statsPtr();
    this.views();
  }

  /** Re-creates the memory views if memory grew; returns the byte view. */
  views(): Uint8Array {
    const b = this.exports.memory.buffer;
    if (b !== this.buf) {
      this.buf = b;
      this.u8 = new Uint8Array(b);
      this.outView = new Uint32Array(b, this.outOff, K.OUT_WORDS);
      this.batchView = new Uint32Array(b, this.batchOff, this.exports.batchCapacity() * K.BREQ_WORDS);
      this.statsView = new Float64Array(b, this.statsOff, K.STAT_COUNT);
    }
    return this.u8;
  }

  /** The out-buffer (OUT_* u32 words), valid after translateRaw/dmaCopy. */
  get out(): Uint32Array {
    this.views();
    return this.outView;
  }

  /** The batch request ring (BREQ_* / BRES_* u32 words). */
  get batch(): Uint32Array {
    this.views();
    return this.batchView;
  }

  /** Adds a guest RAM region; returns its index. Throws naming the argument on an error. */
  addRam(baseGpa: number | bigint, size: number): number {
    const base = typeof baseGpa === 'bigint' ? Number(baseGpa) : baseGpa;
    if (!Number.isSafeInteger(base) || base < 0) throw new Error(`baseGpa: ${String(baseGpa)} is not a guest-physical address below 2^53`);
    if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`size: ${String(size)} is not a positive integer`);
    const r = this.exports.ramAddRegion(base, size);
    if (r < 0) throw new Error(`addRam(baseGpa 0x${base.toString(16)}, size 0x${size.toString(16)}): ${ERR_TEXT[r] ?? `error ${r}`}`);
    this.views();
    return r;
  }

  /** The RAM regions: base GPA, size, byte offset in memory. */
  ramRegions(): { base: number; size: number; offset: number }[] {
    const e = this.exports;
    const n = e.ramRegionCount();
    const out = [];
    for (let i = 0; i < n; i++) out.push({ base: e.ramRegionBase(i), size: e.ramRegionSize(i), offset: e.ramRegionOffset(i) });
    return out;
  }

  /** Sets a CFG_* value (caches are emptied). */
  setConfig(key: number, value: number): void {
    checkU32(key, K.CFG_COUNT - 1, 'key');
    checkU32(value, 0xffff_ffff, 'value');
    if (this.exports.setConfig(key, value) !== 0) throw new Error(`value: ${value} is out of range for config key ${key}`);
  }

  /** Reads a CFG_* value. */
  getConfig(key: number): number {
    return this.exports.getConfig(checkU32(key, K.CFG_COUNT - 1, 'key')) >>> 0;
  }

  /** SRTP: latches the root-table address (bits 63:12 used) and TTM (0-3). */
  setRootTable(rtaddr: bigint, ttm: number): void {
    const [hi, lo] = split64(rtaddr, 'rtaddr');
    this.exports.setRootTable(hi, lo, checkU32(ttm, 3, 'ttm'));
  }

  /** GSTS.TES: translation on or off (off = identity). */
  setTranslationEnabled(on: boolean | number): void {
    this.exports.setTranslationEnabled(on ? 1 : 0);
  }

  /**
   * Announces a device behind the unit (its requester id, 0..0xFFFF) before
   * its first request: QEMU's pass-through decision at TE, SRTP and
   * context-cache invalidation covers every device (QUIRK_PT_STICKY).
   */
  addRequester(sid: number): void {
    this.exports.addRequester(checkU32(sid, 0xffff, 'sid'));
  }

  /** Translates one request (allocates an object: not the hot path). */
  translate(sid: number, pasid: number | undefined, iova: bigint, access: number): Translation {
    const [hi, lo] = split64(iova, 'iova');
    checkU32(access, 0x7f, 'access');
    const acc = pasid === undefined ? access & ~K.ACC_PASID : access | K.ACC_PASID;
    const fault = this.translateRaw(sid, pasid ?? 0, hi, lo, acc);
    return this.result(fault);
  }

  /** The out-buffer as a Translation (after translateRaw or dmaCopy). */
  result(fault: number): Translation {
    const o = this.out;
    const ok = fault === 0;
    return {
      ok,
      fault,
      addr: ok ? (BigInt(o[K.OUT_ADDR_HI]!) << 32n) | BigInt(o[K.OUT_ADDR_LO]!) : 0n,
      pageLg2: ok ? o[K.OUT_PAGE_LG2]! : 0,
      perms: ok ? o[K.OUT_PERMS]! : 0,
      faultFlags: ok ? 0 : o[K.OUT_FAULT_FLAGS]!,
      faultPasid: ok ? 0 : o[K.OUT_FAULT_PASID]!,
      faultAddr: ok ? 0n : (BigInt(o[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(o[K.OUT_FAULT_ADDR_LO]!),
      did: ok ? o[K.OUT_DID]! : 0,
      source: o[K.OUT_SOURCE]!,
    };
  }

  /** The raw translate call: returns 0 or the fault reason; see `out`. */
  translateRaw(sid: number, pasid: number, iovaHi: number, iovaLo: number, access: number): number {
    checkU32(sid, 0xffff, 'sid');
    checkU32(pasid, 0xfffff, 'pasid');
    return this.exports.translate(sid, pasid, iovaHi >>> 0, iovaLo >>> 0, access) >>> 0;
  }

  /** Reserves a device buffer in the core's memory; returns its offset. */
  bufAlloc(size: number): number {
    checkU32(size, 0xffff_ffff, 'size');
    if (size === 0) throw new Error('size: 0 is not a buffer size');
    const off = this.exports.bufAlloc(size) >>> 0;
    if (off === 0) throw new Error(`size: no memory for a ${size}-byte buffer`);
    this.views();
    return off;
  }

  /** A view of `len` bytes of core memory at `off` (a buffer from bufAlloc). */
  buffer(off: number, len: number): Uint8Array {
    const u8 = this.views();
    checkU32(off, u8.length, 'off');
    checkU32(len, u8.length - off, 'len');
    return u8.subarray(off, off + len);
  }

  /** Translates and copies len bytes between guest RAM and the buffer at bufOff
   *  (ACC_READ: RAM -> buffer, ACC_WRITE: buffer -> RAM). Returns 0 or the first fault. */
  dmaCopy(sid: number, pasid: number | undefined, iova: bigint, len: number, access: number, bufOff: number): number {
    const [hi, lo] = split64(iova, 'iova');
    checkU32(sid, 0xffff, 'sid');
    checkU32(len, 0xffff_ffff, 'len');
    checkU32(bufOff, 0xffff_ffff, 'bufOff');
    checkU32(access, 0x7f, 'access');
    const acc = pasid === undefined ? access & ~K.ACC_PASID : access | K.ACC_PASID;
    const r = this.exports.dmaCopy(sid, checkU32(pasid ?? 0, 0xfffff, 'pasid'), hi, lo, len, acc, bufOff) >>> 0;
    if (r === 0xffff_ffff) throw new Error(`bufOff: [0x${bufOff.toString(16)}, +${len}) is not inside a device buffer`);
    return r;
  }

  /**
   * dmaCopy with number arguments, allocating nothing: `iova` an integer
   * below 2^53, `pasid` used when `access` has ACC_PASID. Returns 0 or the
   * first fault (the `out` words describe it).
   */
  dmaCopyNum(sid: number, pasid: number, iova: number, len: number, access: number, bufOff: number): number {
    if ((sid & 0xffff) !== sid || (pasid & 0xfffff) !== pasid || (access & 0x7f) !== access || !isIova(iova)) this.badRequest(sid, pasid, iova, access);
    if ((len >>> 0) !== len) checkU32(len, 0xffff_ffff, 'len');
    if ((bufOff >>> 0) !== bufOff) checkU32(bufOff, 0xffff_ffff, 'bufOff');
    const r = this.exports.dmaCopy(sid, pasid, (iova / TWO_32) >>> 0, iova >>> 0, len, access, bufOff) >>> 0;
    if (r === 0xffff_ffff) throw new Error(`bufOff: [0x${bufOff.toString(16)}, +${len}) is not inside a device buffer`);
    return r;
  }

  private badRequest(sid: number, pasid: number, iova: number, access: number): never {
    checkU32(sid, 0xffff, 'sid');
    checkU32(pasid, 0xfffff, 'pasid');
    checkU32(access, 0x7f, 'access');
    throw new Error(`iova: ${String(iova)} is not an integer in 0..2^53-1 (pass larger IOVAs as halves to translateRaw)`);
  }

  /** Runs batch records 0..n-1 (see `batch`); returns how many succeeded. */
  translateBatch(n: number, copy = false): number {
    checkU32(n, this.exports.batchCapacity(), 'n');
    return this.exports.translateBatch(n, copy ? 1 : 0) >>> 0;
  }

  /** Every cache. */
  invalidateAll(): void { this.exports.invalidateAll(); }
  /** Context cache, global. */
  invContextGlobal(): void { this.exports.invContextGlobal(); }
  /** Context cache, domain-selective. */
  invContextDomain(did: number): void { this.exports.invContextDomain(checkU32(did, 0xffff, 'did')); }
  /** Context cache, device-selective (fm: function mask 0-3). */
  invContextDevice(did: number, sid: number, fm: number): void {
    this.exports.invContextDevice(checkU32(did, 0xffff, 'did'), checkU32(sid, 0xffff, 'sid'), checkU32(fm, 3, 'fm'));
  }
  /** IOTLB + paging-structure caches, global. */
  invIotlbGlobal(): void { this.exports.invIotlbGlobal(); }
  /** IOTLB + paging-structure caches of a domain. */
  invIotlbDomain(did: number): void { this.exports.invIotlbDomain(checkU32(did, 0xffff, 'did')); }
  /** IOTLB page-selective: 2^am pages from addr (aligned down); ih=1 keeps PSC. */
  invIotlbPage(did: number, addr: bigint, am: number, ih: number | boolean): void {
    const [hi, lo] = split64(addr, 'addr');
    this.exports.invIotlbPage(checkU32(did, 0xffff, 'did'), hi, lo, checkU32(am, 63, 'am'), ih ? 1 : 0);
  }
  /** invIotlbPage with the address as (hi, lo) u32 halves: no BigInt (the invalidation queue's form). */
  invIotlbPageRaw(did: number, addrHi: number, addrLo: number, am: number, ih: number): void {
    this.exports.invIotlbPage(checkU32(did, 0xffff, 'did'), addrHi >>> 0, addrLo >>> 0, checkU32(am, 63, 'am'), ih ? 1 : 0);
  }
  /** PASID-based IOTLB, PASID-selective (first and second stage). */
  invPasidIotlb(did: number, pasid: number): void {
    this.exports.invPasidIotlb(checkU32(did, 0xffff, 'did'), checkU32(pasid, 0xfffff, 'pasid'));
  }
  /** PASID-based IOTLB, page-selective (first-stage entries). */
  invPasidIotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: number | boolean): void {
    const [hi, lo] = split64(addr, 'addr');
    this.exports.invPasidIotlbPage(checkU32(did, 0xffff, 'did'), checkU32(pasid, 0xfffff, 'pasid'), hi, lo, checkU32(am, 63, 'am'), ih ? 1 : 0);
  }
  /** invPasidIotlbPage with the address as (hi, lo) u32 halves: no BigInt (the invalidation queue's form). */
  invPasidIotlbPageRaw(did: number, pasid: number, addrHi: number, addrLo: number, am: number, ih: number): void {
    this.exports.invPasidIotlbPage(checkU32(did, 0xffff, 'did'), checkU32(pasid, 0xfffff, 'pasid'), addrHi >>> 0, addrLo >>> 0, checkU32(am, 63, 'am'), ih ? 1 : 0);
  }
  /** PASID cache: granularity 0 domain, 1 PASID in domain, 3 global. */
  invPasidCache(granularity: number, did: number, pasid: number): void {
    if (granularity !== 0 && granularity !== 1 && granularity !== 3) throw new Error(`granularity: ${String(granularity)} is not 0, 1 or 3`);
    this.exports.invPasidCache(granularity, checkU32(did, 0xffff, 'did'), checkU32(pasid, 0xfffff, 'pasid'));
  }

  /** The STAT_* counters by name (iotlb_hits, walks, ...). */
  stats(): Record<string, number> {
    this.views();
    const r: Record<string, number> = {};
    for (let i = 0; i < K.STAT_COUNT; i++) r[STAT_NAMES[i] ?? `stat${i}`] = this.statsView[i]!;
    return r;
  }
  /** Zeroes the counters. */
  statsReset(): void { this.exports.statsReset(); }

  /**
   * The live entries of the IOTLB, context cache, PASID cache and
   * paging-structure caches (read-only: no counter or cache state changes).
   * The first call reserves an 8 KiB device buffer in the core's memory.
   */
  cacheContents(): CacheContents {
    if (this.dumpOff === 0) this.dumpOff = this.bufAlloc(DUMP_WINDOW * DUMP_RECORD_BYTES);
    const e = this.exports;
    const read = <T>(dump: DumpExport, decode: (v: DataView, at: number) => T): T[] => readDump(dump, e.memory, this.dumpOff, DUMP_WINDOW, decode);
    return {
      iotlb: read(e.iotlbDump, decodeIotlb),
      context: read(e.contextCacheDump, decodeContext),
      pasid: read(e.pasidCacheDump, decodePasid),
      psc: read(e.pscDump, decodePsc),
    };
  }
}
