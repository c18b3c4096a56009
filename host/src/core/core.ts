/**
 * The WASM core for the host (docs/ABI.md, last section): typed wrappers
 * around its numbers-only exports. Platform-neutral (browsers, Workers,
 * Node); instantiation (standalone or over an embedder's memory) is in
 * load.ts, the Node file-system loader of build/viommu.wasm in
 * load-node.ts. This module and guest-memory.ts are the only host code that
 * touches raw exports; everything else uses `Core`.
 */
import * as K from './constants.js';
import {
  decodeContext, decodeIotlb, decodePasid, decodePsc, DUMP_RECORD_BYTES, readDump, type CacheContents, type DumpExport,
} from './cache-contents.js';
import type { Did, Gpa, Iova, Pasid, Sid, Hpa } from '../types.js';

/** The raw exports of build/viommu.wasm (docs/ABI.md). */
export interface CoreExports {
  /** The memory the core runs over (imported, exported again): its state region, guest RAM regions, device buffers. */
  memory: WebAssembly.Memory;
  /** First byte of the state region. */
  stateBase(): number;
  /** End of the state region (exclusive; 2^32 when it grows with memory). */
  stateLimit(): number;
  /** Bytes of the state region in use. */
  stateUsed(): number;
  /** Adds a RAM region carved from the state region; returns its index or a negative ERR_* code. */
  ramAddRegion(baseGpa: Gpa<number>, size: number): number;
  /** Adds a RAM region over the embedder's bytes at memOffset; returns its index or a negative ERR_* code. */
  ramMapRegion(baseGpa: Gpa<number>, size: number, memOffset: number): number;
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
  addRequester(sid: Sid): void;
  /** Translates one request; 0 or the fault reason, details in the out-buffer. */
  translate(sid: Sid, pasid: Pasid, iovaHi: number, iovaLo: number, access: number): number;
  /** Checks a translated request (ATS): 0, a fault reason (out-buffer filled), TRANSLATED_UR, or ERR_BAD_ARG for len 0. */
  checkTranslated(sid: Sid, addrHi: number, addrLo: number, len: number, access: number): number;
  /** Byte offset of the out-buffer (OUT_* u32 words). */
  outPtr(): number;
  /** Reserves a device buffer; its byte offset, 0 when out of memory. */
  bufAlloc(size: number): number;
  /** Translates and copies between guest RAM and a device buffer; 0, the first fault, or 0xFFFFFFFF for a bad buffer. */
  dmaCopy(sid: Sid, pasid: Pasid, iovaHi: number, iovaLo: number, len: number, access: number, bufOff: number): number;
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
  invContextDomain(did: Did): void;
  /** Context cache, device-selective (fm: function mask). */
  invContextDevice(did: Did, sid: Sid, fm: number): void;
  /** IOTLB and paging-structure caches, global. */
  invIotlbGlobal(): void;
  /** IOTLB and paging-structure caches of a domain. */
  invIotlbDomain(did: Did): void;
  /** IOTLB page-selective: 2^am pages; ih=1 keeps the paging-structure caches. */
  invIotlbPage(did: Did, addrHi: number, addrLo: number, am: number, ih: number): void;
  /** PASID-based IOTLB, PASID-selective. */
  invPasidIotlb(did: Did, pasid: Pasid): void;
  /** PASID-based IOTLB, page-selective. */
  invPasidIotlbPage(did: Did, pasid: Pasid, addrHi: number, addrLo: number, am: number, ih: number): void;
  /** PASID cache: granularity 0 domain, 1 PASID in domain, 3 global. */
  invPasidCache(granularity: number, did: Did, pasid: Pasid): number;
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
  addr: Hpa;
  /** log2 of the translated page size. */
  pageLg2: number;
  /** Allowed permissions: bit0 R, bit1 W, bit2 X. */
  perms: number;
  /** FF_* flags of a fault. */
  faultFlags: number;
  /** PV for the fault record. */
  faultPasid: Pasid;
  /** Faulting page address (FRCD.FI). */
  faultAddr: Iova;
  /** Domain id used (valid on success). */
  did: Did;
  /** SRC_* where the answer came from. */
  source: number;
}

const STAT_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(K).filter(([k]) => k.startsWith('STAT_') && k !== 'STAT_COUNT').map(([k, v]) => [v as number, k.slice(5).toLowerCase()]),
);

/** An integer IOVA in 0..2^53-1 (NaN, fractions and negatives fail). */
function isIova(v: number): boolean {
  return v >= 0 && v <= Number.MAX_SAFE_INTEGER && v % 1 === 0;
}


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
  [K.ERR_TOO_LARGE]: 'larger than the state region or the wasm32 address space allows',
  [K.ERR_TOO_MANY]: `too many regions (at most ${K.MAX_RAM_REGIONS})`,
  [K.ERR_NO_MEMORY]: 'no memory (memory.grow failed or the state region is full)',
  [K.ERR_STATE]: "overlaps the core's state region",
  [K.ERR_OUTSIDE]: 'not inside the memory',
};

/** 2^32, for splitting numbers into (hi, lo) halves. */
const TWO_32 = 4294967296;

/** Typed wrappers around the core's exports (docs/ABI.md). */
export class Core {
  /**
   * The raw instance exports, including `memory`: for benchmarks and tools.
   * Unsafe: writing through them outside guest RAM and device buffers
   * corrupts the core's state.
   */
  readonly unsafeExports: CoreExports;
  /** The memory the core runs over: its own (standalone) or the embedder's. */
  readonly memory: WebAssembly.Memory;
  /** True when the core runs in a bounded state region of an embedder's memory (loadCoreFrom with `memory`). */
  readonly embedded: boolean;
  // Views over `memory`, re-created when growth detached them (a detached
  // view has length 0: no `memory.buffer` getter per access).
  private u8: Uint8Array;
  private outView: Uint32Array;
  private batchView: Uint32Array;
  private statsView: Float64Array;
  private readonly outOff: number;
  private readonly batchOff: number;
  private readonly statsOff: number;
  /** Device buffers handed out: [start, end) pairs. */
  private readonly bufs: number[] = [];
  /** Bumped whenever a RAM region is added (GuestMemory re-reads the table then). */
  private ramVersion = 0;
  /** Device buffer the cache dumps write to (allocated on first use). */
  private dumpOff = 0;

  /** Wraps the exports of an instance of the core (see loadCoreFrom). */
  constructor(exports: CoreExports) {
    this.unsafeExports = exports;
    this.memory = exports.memory;
    this.embedded = exports.stateLimit() < TWO_32;
    this.outOff = exports.outPtr();
    this.batchOff = exports.batchPtr();
    this.statsOff = exports.statsPtr();
    this.u8 = new Uint8Array(0);
    this.outView = new Uint32Array(0);
    this.batchView = new Uint32Array(0);
    this.statsView = new Float64Array(0);
    this.remap();
  }

  private remap(): void {
    const b = this.memory.buffer;
    this.u8 = new Uint8Array(b);
    this.outView = new Uint32Array(b, this.outOff, K.OUT_WORDS);
    this.batchView = new Uint32Array(b, this.batchOff, this.unsafeExports.batchCapacity() * K.BREQ_WORDS);
    this.statsView = new Float64Array(b, this.statsOff, K.STAT_COUNT);
  }

  /**
   * A writable view of the whole memory: guest RAM, device buffers and the
   * core's own state. Unsafe: a write outside guest RAM and device buffers
   * corrupts the core. Invalid after the memory grows (fetch it again).
   * Prefer `GuestMemory` (`machine.ram`) for guest RAM and `buffer()` for
   * device buffers.
   */
  unsafeBytes(): Uint8Array {
    if (this.u8.length === 0) this.remap();
    return this.u8;
  }

  /** Version of the RAM-region table: changes whenever a region is added. */
  get ramTableVersion(): number {
    return this.ramVersion;
  }

  /** The out-buffer (OUT_* u32 words), valid after translateRaw/translateNum/dmaCopy. */
  get out(): Uint32Array {
    if (this.outView.length === 0) this.remap();
    return this.outView;
  }

  /** The batch request ring (BREQ_* / BRES_* u32 words). */
  get batch(): Uint32Array {
    if (this.batchView.length === 0) this.remap();
    return this.batchView;
  }

  /** The state region the core keeps its private state in: [base, limit) of `memory` (limit 2^32 when it grows with the memory), and how many bytes are in use. */
  stateRegion(): { base: number; limit: number; used: number } {
    const e = this.unsafeExports;
    return { base: e.stateBase(), limit: e.stateLimit(), used: e.stateUsed() };
  }

  /**
   * Adds a guest RAM region [baseGpa, baseGpa + size) carved from the state
   * region (standalone; 4 KiB aligned); returns its index. Throws naming the
   * argument on an error; nothing is added then.
   */
  addRam(baseGpa: Gpa<number> | Gpa, size: number): number {
    const base = typeof baseGpa === 'bigint' ? Number(baseGpa) : baseGpa;
    if (!Number.isSafeInteger(base) || base < 0) throw new Error(`baseGpa: ${String(baseGpa)} is not a guest-physical address below 2^53`);
    if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`size: ${String(size)} is not a positive integer`);
    const r = this.unsafeExports.ramAddRegion(base, size);
    if (r < 0) throw new Error(`addRam(baseGpa 0x${base.toString(16)}, size 0x${size.toString(16)}): ${ERR_TEXT[r] ?? `error ${r}`}`);
    this.ramVersion++;
    return r;
  }

  /**
   * Maps guest RAM the embedder owns: guest-physical [gpaBase, gpaBase +
   * bytes) is the memory's bytes [memOffset, memOffset + bytes) (e.g. v86:
   * `core.mapRam(0, cpu.memory_size[0], cpu.mem8.byteOffset)`). Walks,
   * descriptor fetches and the unit's status/fault/page-request writes then
   * read and write those bytes directly, with no copy. `gpaBase` and `bytes`
   * are 4 KiB aligned, `bytes` > 0; the range must lie inside the memory and
   * outside the core's state region, and must not overlap another region's
   * guest-physical range. Returns the region's index; throws naming the
   * argument otherwise (nothing is mapped then).
   */
  mapRam(gpaBase: number, bytes: number, memOffset: number): number {
    if (!Number.isSafeInteger(gpaBase) || gpaBase < 0) throw new Error(`gpaBase: ${String(gpaBase)} is not a guest-physical address below 2^53`);
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`bytes: ${String(bytes)} is not a positive integer`);
    if (!Number.isSafeInteger(memOffset) || memOffset < 0) throw new Error(`memOffset: ${String(memOffset)} is not a byte offset`);
    const r = this.unsafeExports.ramMapRegion(gpaBase, bytes, memOffset);
    if (r < 0) {
      const arg = r === K.ERR_STATE || r === K.ERR_OUTSIDE ? 'memOffset' : r === K.ERR_UNALIGNED || r === K.ERR_OVERLAP ? 'gpaBase' : 'bytes';
      throw new Error(`${arg}: mapRam(gpaBase 0x${gpaBase.toString(16)}, bytes 0x${bytes.toString(16)}, memOffset 0x${memOffset.toString(16)}): ${ERR_TEXT[r] ?? `error ${r}`}`);
    }
    this.ramVersion++;
    return r;
  }

  /** The RAM regions: base GPA, size, byte offset in memory. */
  ramRegions(): { base: number; size: number; offset: number }[] {
    const e = this.unsafeExports;
    const n = e.ramRegionCount();
    const out = [];
    for (let i = 0; i < n; i++) out.push({ base: e.ramRegionBase(i), size: e.ramRegionSize(i), offset: e.ramRegionOffset(i) });
    return out;
  }

  /** Sets a CFG_* value (caches are emptied). */
  setConfig(key: number, value: number): void {
    checkU32(key, K.CFG_COUNT - 1, 'key');
    checkU32(value, 0xffff_ffff, 'value');
    const r = this.unsafeExports.setConfig(key, value);
    if (r === K.ERR_NO_MEMORY) throw new Error(`value: ${value} for config key ${key} needs a larger IOTLB than the state region holds`);
    if (r !== 0) throw new Error(`value: ${value} is out of range for config key ${key}`);
  }

  /** Reads a CFG_* value. */
  getConfig(key: number): number {
    return this.unsafeExports.getConfig(checkU32(key, K.CFG_COUNT - 1, 'key')) >>> 0;
  }

  /** SRTP: latches the root-table address (bits 63:12 used) and TTM (0-3). */
  setRootTable(rtaddr: Gpa, ttm: number): void {
    const [hi, lo] = split64(rtaddr, 'rtaddr');
    this.unsafeExports.setRootTable(hi, lo, checkU32(ttm, 3, 'ttm'));
  }

  /** GSTS.TES: translation on or off (off = identity). */
  setTranslationEnabled(on: boolean | number): void {
    this.unsafeExports.setTranslationEnabled(on ? 1 : 0);
  }

  /**
   * Announces a device behind the unit (its requester id, 0..0xFFFF) before
   * its first request: QEMU's pass-through decision at TE, SRTP and
   * context-cache invalidation covers every device (QUIRK_PT_STICKY).
   */
  addRequester(sid: Sid): void {
    this.unsafeExports.addRequester(checkU32(sid, 0xffff, 'sid'));
  }

  /** Translates one request (allocates an object: not the hot path; translateNum is). */
  translate(sid: Sid, pasid: Pasid | undefined, iova: Iova, access: number): Translation {
    const [hi, lo] = split64(iova, 'iova');
    checkU32(access, 0x7f, 'access');
    const acc = pasid === undefined ? access & ~K.ACC_PASID : access | K.ACC_PASID;
    const fault = this.translateRaw(sid, pasid ?? 0, hi, lo, acc);
    return this.result(fault);
  }

  /** The out-buffer as a Translation (after translateRaw, translateNum or dmaCopy). */
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
  translateRaw(sid: Sid, pasid: Pasid, iovaHi: number, iovaLo: number, access: number): number {
    checkU32(sid, 0xffff, 'sid');
    checkU32(pasid, 0xfffff, 'pasid');
    return this.unsafeExports.translate(sid, pasid, iovaHi >>> 0, iovaLo >>> 0, access) >>> 0;
  }

  /**
   * Translates one request with number arguments, allocating nothing (the
   * hot path for embedders): `iova` an integer below 2^53, `pasid` used when
   * `access` has ACC_PASID. Returns 0 or the fault reason; on success
   * `outAddr()` is the output address, the `out` words hold the rest.
   */
  translateNum(sid: Sid, pasid: Pasid, iova: Iova<number>, access: number): number {
    if ((sid & 0xffff) !== sid || (pasid & 0xfffff) !== pasid || (access & 0x7f) !== access || !isIova(iova)) this.badRequest(sid, pasid, iova, access);
    return this.unsafeExports.translate(sid, pasid, (iova / TWO_32) >>> 0, iova >>> 0, access) >>> 0;
  }

  /** The out-buffer's output address as a number (exact: output addresses are below 2^52). */
  outAddr(): number {
    const o = this.out;
    return o[K.OUT_ADDR_HI]! * TWO_32 + o[K.OUT_ADDR_LO]!;
  }

  /** The out-buffer's faulting page address (FRCD.FI) as a number, exact below 2^53 (use `out` words beyond). */
  outFaultAddr(): number {
    const o = this.out;
    return o[K.OUT_FAULT_ADDR_HI]! * TWO_32 + o[K.OUT_FAULT_ADDR_LO]!;
  }

  private badRequest(sid: number, pasid: number, iova: number, access: number): never {
    checkU32(sid, 0xffff, 'sid');
    checkU32(pasid, 0xfffff, 'pasid');
    checkU32(access, 0x7f, 'access');
    throw new Error(`iova: ${String(iova)} is not an integer in 0..2^53-1 (pass larger IOVAs as halves to translateRaw)`);
  }

  /**
   * Checks a translated request (PCIe AT=10b, VT-d §4.2.5) of `len` bytes
   * (1..2^32-1) at `addrHi:addrLo` from `sid`, `access` ACC_WRITE or a read:
   * 0 when it may go to memory, a fault reason to record (the out-buffer
   * describes it, as after `translateRaw`), or TRANSLATED_UR when it is
   * blocked without a fault (translation off). Allocates nothing.
   */
  checkTranslated(sid: Sid, addrHi: number, addrLo: number, len: number, access: number): number {
    if ((sid & 0xffff) !== sid) checkU32(sid, 0xffff, 'sid');
    if ((len >>> 0) !== len || len === 0) checkU32(len, 0xffff_ffff, 'len');
    if (len === 0) throw new Error('len: 0 is not a request length');
    return this.unsafeExports.checkTranslated(sid, addrHi >>> 0, addrLo >>> 0, len, access & K.ACC_WRITE) >>> 0;
  }

  /** Reserves a device buffer in the core's state region; returns its offset. */
  bufAlloc(size: number): number {
    checkU32(size, 0xffff_ffff, 'size');
    if (size === 0) throw new Error('size: 0 is not a buffer size');
    const off = this.unsafeExports.bufAlloc(size) >>> 0;
    if (off === 0) throw new Error(`size: no room for a ${size}-byte buffer in the core's state region`);
    this.bufs.push(off, off + Math.ceil(size / 4096) * 4096);
    return off;
  }

  /**
   * A view of `len` bytes at `off` inside one device buffer from `bufAlloc`
   * (what devices move DMA data through). Anything else — guest RAM, the
   * core's state — is refused with an Error naming `off`/`len`. Invalid
   * after the memory grows (fetch it again).
   */
  buffer(off: number, len: number): Uint8Array {
    checkU32(off, 0xffff_ffff, 'off');
    checkU32(len, 0xffff_ffff, 'len');
    if (!this.inBuffer(off, len)) throw new Error(`off: [0x${off.toString(16)}, +${len}) is not inside one device buffer from bufAlloc`);
    return this.unsafeBytes().subarray(off, off + len);
  }

  private inBuffer(off: number, len: number): boolean {
    const b = this.bufs;
    for (let i = 0; i < b.length; i += 2) if (off >= b[i]! && off + len <= b[i + 1]!) return true;
    return false;
  }

  /** Translates and copies len bytes between guest RAM and the buffer at bufOff
   *  (ACC_READ: RAM -> buffer, ACC_WRITE: buffer -> RAM). Returns 0 or the first fault. */
  dmaCopy(sid: Sid, pasid: Pasid | undefined, iova: Iova, len: number, access: number, bufOff: number): number {
    const [hi, lo] = split64(iova, 'iova');
    checkU32(sid, 0xffff, 'sid');
    checkU32(len, 0xffff_ffff, 'len');
    checkU32(bufOff, 0xffff_ffff, 'bufOff');
    checkU32(access, 0x7f, 'access');
    const acc = pasid === undefined ? access & ~K.ACC_PASID : access | K.ACC_PASID;
    const r = this.unsafeExports.dmaCopy(sid, checkU32(pasid ?? 0, 0xfffff, 'pasid'), hi, lo, len, acc, bufOff) >>> 0;
    if (r === 0xffff_ffff) throw new Error(`bufOff: [0x${bufOff.toString(16)}, +${len}) is not inside a device buffer`);
    return r;
  }

  /**
   * dmaCopy with number arguments, allocating nothing: `iova` an integer
   * below 2^53, `pasid` used when `access` has ACC_PASID. Returns 0 or the
   * first fault (the `out` words describe it).
   */
  dmaCopyNum(sid: Sid, pasid: Pasid, iova: Iova<number>, len: number, access: number, bufOff: number): number {
    if ((sid & 0xffff) !== sid || (pasid & 0xfffff) !== pasid || (access & 0x7f) !== access || !isIova(iova)) this.badRequest(sid, pasid, iova, access);
    if ((len >>> 0) !== len) checkU32(len, 0xffff_ffff, 'len');
    if ((bufOff >>> 0) !== bufOff) checkU32(bufOff, 0xffff_ffff, 'bufOff');
    const r = this.unsafeExports.dmaCopy(sid, pasid, (iova / TWO_32) >>> 0, iova >>> 0, len, access, bufOff) >>> 0;
    if (r === 0xffff_ffff) throw new Error(`bufOff: [0x${bufOff.toString(16)}, +${len}) is not inside a device buffer`);
    return r;
  }

  /** Runs batch records 0..n-1 (see `batch`); returns how many succeeded. */
  translateBatch(n: number, copy = false): number {
    checkU32(n, this.unsafeExports.batchCapacity(), 'n');
    return this.unsafeExports.translateBatch(n, copy ? 1 : 0) >>> 0;
  }

  /** Every cache. */
  invalidateAll(): void { this.unsafeExports.invalidateAll(); }
  /** Context cache, global. */
  invContextGlobal(): void { this.unsafeExports.invContextGlobal(); }
  /** Context cache, domain-selective. */
  invContextDomain(did: Did): void { this.unsafeExports.invContextDomain(checkU32(did, 0xffff, 'did')); }
  /** Context cache, device-selective (fm: function mask 0-3). */
  invContextDevice(did: Did, sid: Sid, fm: number): void {
    this.unsafeExports.invContextDevice(checkU32(did, 0xffff, 'did'), checkU32(sid, 0xffff, 'sid'), checkU32(fm, 3, 'fm'));
  }
  /** IOTLB + paging-structure caches, global. */
  invIotlbGlobal(): void { this.unsafeExports.invIotlbGlobal(); }
  /** IOTLB + paging-structure caches of a domain. */
  invIotlbDomain(did: Did): void { this.unsafeExports.invIotlbDomain(checkU32(did, 0xffff, 'did')); }
  /** IOTLB page-selective: 2^am pages from addr (aligned down); ih=1 keeps PSC. */
  invIotlbPage(did: Did, addr: Iova, am: number, ih: number | boolean): void {
    const [hi, lo] = split64(addr, 'addr');
    this.unsafeExports.invIotlbPage(checkU32(did, 0xffff, 'did'), hi, lo, checkU32(am, 63, 'am'), ih ? 1 : 0);
  }
  /** invIotlbPage with the address as (hi, lo) u32 halves: no BigInt (the invalidation queue's form). */
  invIotlbPageRaw(did: Did, addrHi: number, addrLo: number, am: number, ih: number): void {
    this.unsafeExports.invIotlbPage(checkU32(did, 0xffff, 'did'), addrHi >>> 0, addrLo >>> 0, checkU32(am, 63, 'am'), ih ? 1 : 0);
  }
  /** PASID-based IOTLB, PASID-selective (first and second stage). */
  invPasidIotlb(did: Did, pasid: Pasid): void {
    this.unsafeExports.invPasidIotlb(checkU32(did, 0xffff, 'did'), checkU32(pasid, 0xfffff, 'pasid'));
  }
  /** PASID-based IOTLB, page-selective (first-stage entries). */
  invPasidIotlbPage(did: Did, pasid: Pasid, addr: Iova, am: number, ih: number | boolean): void {
    const [hi, lo] = split64(addr, 'addr');
    this.unsafeExports.invPasidIotlbPage(checkU32(did, 0xffff, 'did'), checkU32(pasid, 0xfffff, 'pasid'), hi, lo, checkU32(am, 63, 'am'), ih ? 1 : 0);
  }
  /** invPasidIotlbPage with the address as (hi, lo) u32 halves: no BigInt (the invalidation queue's form). */
  invPasidIotlbPageRaw(did: Did, pasid: Pasid, addrHi: number, addrLo: number, am: number, ih: number): void {
    this.unsafeExports.invPasidIotlbPage(checkU32(did, 0xffff, 'did'), checkU32(pasid, 0xfffff, 'pasid'), addrHi >>> 0, addrLo >>> 0, checkU32(am, 63, 'am'), ih ? 1 : 0);
  }
  /** PASID cache: granularity 0 domain, 1 PASID in domain, 3 global. */
  invPasidCache(granularity: number, did: Did, pasid: Pasid): void {
    if (granularity !== 0 && granularity !== 1 && granularity !== 3) throw new Error(`granularity: ${String(granularity)} is not 0, 1 or 3`);
    this.unsafeExports.invPasidCache(granularity, checkU32(did, 0xffff, 'did'), checkU32(pasid, 0xfffff, 'pasid'));
  }

  /** The STAT_* counters by name (iotlb_hits, walks, ...). */
  stats(): Record<string, number> {
    if (this.statsView.length === 0) this.remap();
    const r: Record<string, number> = {};
    for (let i = 0; i < K.STAT_COUNT; i++) r[STAT_NAMES[i] ?? `stat${i}`] = this.statsView[i]!;
    return r;
  }
  /** Zeroes the counters. */
  statsReset(): void { this.unsafeExports.statsReset(); }

  /**
   * The live entries of the IOTLB, context cache, PASID cache and
   * paging-structure caches (read-only: no counter or cache state changes).
   * The first call reserves an 8 KiB device buffer in the core's memory.
   */
  cacheContents(): CacheContents {
    if (this.dumpOff === 0) this.dumpOff = this.bufAlloc(DUMP_WINDOW * DUMP_RECORD_BYTES);
    const e = this.unsafeExports;
    const read = <T>(dump: DumpExport, decode: (v: DataView, at: number) => T): T[] => readDump(dump, e.memory, this.dumpOff, DUMP_WINDOW, decode);
    return {
      iotlb: read(e.iotlbDump, decodeIotlb),
      context: read(e.contextCacheDump, decodeContext),
      pasid: read(e.pasidCacheDump, decodePasid),
      psc: read(e.pscDump, decodePsc),
    };
  }
}
