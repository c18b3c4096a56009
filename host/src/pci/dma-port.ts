/**
 * The port through which a device does DMA: every request goes through the
 * IOMMU with the device's own requester id. A device gets a port from the
 * machine (`machine.vtd.portFor(rid)`; a VMM gives its devices ports onto
 * the host IOMMU) and never touches guest RAM any other way. One class for
 * every device, every backend and every embedder:
 *
 * - untranslated requests (PCIe AT=00b), optionally with a PASID TLP prefix
 *   (privileged, execute): `dma`, moving data between guest RAM and a device
 *   buffer in the core's memory;
 * - translate-only requests for embedders whose devices move the data
 *   themselves (an emulator's IDE controller writing sectors into its own
 *   RAM): `translate` turns an IOVA range into guest-physical runs, faults
 *   recorded as for a DMA;
 * - ATS translation requests and translated requests (PCIe §10.2):
 *   `translationRequest`, `translated`;
 * - page requests of a PRI-capable device (PCIe §10.4, VT-d §7.4): `pageRequest`.
 *
 * The number API allocates nothing per call: arguments are numbers (an
 * address an integer below 2^53; the `64` forms take two u32 halves for the
 * full 64-bit space), attributes are `REQ` flags, the return value is a
 * status (0 done, 1-255 the VT-d fault reason, `DMA_ABORT` for a failure
 * that is not an IOMMU fault) and the details land in reused records
 * (`last`, `completion`, `runs`) valid until the port's next request. The
 * `...Big` methods are the BigInt convenience layer over it (objects per
 * call). The request logic over the WASM core is core-dma-port.ts; test
 * doubles extend this class too (devices/common/testing.ts).
 */
import type { PageRequestOutcome } from '../vtd/prq/page-request.js';
import type { PageRequest } from '../vtd/spec/page-request.js';
import { hpa as checkHpa, iova as checkIova, sid as checkSid, type Gpa, type Hpa, type Iova, type Pasid, type Sid } from '../types.js';

/**
 * Request attributes, OR-ed into a request's `flags` (the bits equal the
 * core's ACC_* bits where they mean the same). Without `WRITE` a request reads.
 */
export const REQ = {
  /** Write: device -> memory (buffer -> guest RAM). */
  WRITE: 0x02,
  /** Execute request (instruction fetch); with `PASID` only, reads only. */
  EXEC: 0x04,
  /** Privileged-mode (supervisor) request; with `PASID` only. */
  PRIV: 0x08,
  /** The request carries the PASID given as `pasid` (PASID TLP prefix). */
  PASID: 0x10,
  /**
   * The device has PRI enabled and will send a page request for a
   * recoverable fault: the IOMMU does not record such a fault, it returns it
   * with `last.recoverable` (VT-d §7.4).
   */
  PRI: 0x100,
} as const;

/** Every REQ bit. */
export const REQ_MASK = REQ.WRITE | REQ.EXEC | REQ.PRIV | REQ.PASID | REQ.PRI;

/** Status of a request that completed. */
export const DMA_OK = 0;
/**
 * Status of a request that failed without an IOMMU fault: blocked before
 * the IOMMU (a PASID the VMM does not map) or a master abort (a translated
 * request outside RAM; reads return all-ones).
 */
export const DMA_ABORT = 0x100;
/** Largest `len` of one translate-only request (16 MiB; split larger transfers). */
export const MAX_TRANSLATE_BYTES = 1 << 24;

const TWO_32 = 4294967296;

/** What the port's last request did, beyond its status. Reused: read it before the next request. */
export class DmaOutcome {
  /** The status the request returned. */
  status = DMA_OK;
  /** The fault went into a fault recording register (or the backend's fault report). */
  recorded = false;
  /** A recoverable fault returned unrecorded, for a page request (`REQ.PRI`). */
  recoverable = false;
  /**
   * The transfer went on past the fault (an IOMMU that behaves so, QEMU's: profile switch
   * `dmaPastFault`): only the failing pages were not moved (a read got 0 for them);
   * the other fields describe the first fault.
   */
  continued = false;
  /** The faulting (page) address is known: `faultHi:faultLo`. */
  hasFaultAddr = false;
  /** Faulting address, high dword. */
  faultHi = 0;
  /** Faulting address, low dword. */
  faultLo = 0;

  /** The faulting address as a number (exact below 2^53), NaN when there is none. */
  get faultAddress(): number {
    return this.hasFaultAddr ? this.faultHi * TWO_32 + this.faultLo : NaN;
  }

  /** The faulting address as a BigInt (convenience), undefined when there is none. */
  get faultAddr(): bigint | undefined {
    return this.hasFaultAddr ? (BigInt(this.faultHi) << 32n) | BigInt(this.faultLo) : undefined;
  }

  /** Resets the record for a request ending with `status`. */
  set(status: number, recorded = false, recoverable = false): number {
    this.status = status;
    this.recorded = recorded;
    this.recoverable = recoverable;
    this.continued = false;
    this.hasFaultAddr = false;
    return status;
  }

  /** Records the faulting address (two dwords). */
  setFaultAddr(hi: number, lo: number): void {
    this.hasFaultAddr = true;
    this.faultHi = hi >>> 0;
    this.faultLo = lo >>> 0;
  }
}

/** An ATS translation completion (PCIe §10.2.3). Reused per port. */
export class AtsCompletion {
  /** Input page base (aligned to 2^sizeLg2), high dword. */
  iovaHi = 0;
  /** Input page base, low dword. */
  iovaLo = 0;
  /** Translated page base, high dword (0 with perms 0: nothing is mapped). */
  addrHi = 0;
  /** Translated page base, low dword. */
  addrLo = 0;
  /** log2 of the translation's size. */
  sizeLg2 = 12;
  /** Granted permissions: bit 0 read, bit 1 write, bit 2 execute (R=W=0: not present or not allowed). */
  perms = 0;
  /** Privileged-mode translation. */
  priv = false;

  /**
   * Fills the record for a translation of 2^lg2 bytes: input `iovaHi:iovaLo`
   * and output `addrHi:addrLo` (u32 halves), each aligned down to the size.
   */
  set(iovaHi: number, iovaLo: number, addrHi: number, addrLo: number, lg2: number, perms: number, priv: boolean): void {
    const hiMask = lg2 >= 64 ? 0 : lg2 > 32 ? ~(2 ** (lg2 - 32) - 1) : -1;
    const loMask = lg2 >= 32 ? 0 : ~(2 ** lg2 - 1);
    this.iovaHi = (iovaHi & hiMask) >>> 0;
    this.iovaLo = (iovaLo & loMask) >>> 0;
    this.addrHi = (addrHi & hiMask) >>> 0;
    this.addrLo = (addrLo & loMask) >>> 0;
    this.sizeLg2 = lg2;
    this.perms = perms;
    this.priv = priv;
  }

  /** Input page base as a BigInt. */
  get iova(): bigint {
    return (BigInt(this.iovaHi) << 32n) | BigInt(this.iovaLo);
  }

  /** Translated page base as a BigInt. */
  get addr(): bigint {
    return (BigInt(this.addrHi) << 32n) | BigInt(this.addrLo);
  }
}

/**
 * Guest-physical runs of a translate-only request: run i is `len[i]` bytes
 * at guest-physical `gpa[i]` (a number below 2^53), in IOVA order, adjacent
 * pages merged. After a fault the runs cover the prefix before the faulting
 * page (`bytes` of them). Reused per port; the arrays grow, never shrink.
 */
export class GpaRuns {
  /** Runs filled. */
  count = 0;
  /** Bytes the runs cover. */
  bytes = 0;
  /** Guest-physical start of each run. */
  gpa = new Float64Array(16);
  /** Length of each run. */
  len = new Float64Array(16);

  /** Empties the list. */
  clear(): void {
    this.count = 0;
    this.bytes = 0;
  }

  /** Appends `n` bytes at `gpa`, merged with the last run when contiguous. */
  add(gpa: Gpa<number>, n: number): void {
    const k = this.count;
    if (k > 0 && this.gpa[k - 1]! + this.len[k - 1]! === gpa) this.len[k - 1]! += n;
    else {
      if (k === this.gpa.length) this.grow();
      this.gpa[k] = gpa;
      this.len[k] = n;
      this.count = k + 1;
    }
    this.bytes += n;
  }

  private grow(): void {
    const gpa = new Float64Array(this.gpa.length * 2);
    const len = new Float64Array(this.len.length * 2);
    gpa.set(this.gpa);
    len.set(this.len);
    this.gpa = gpa;
    this.len = len;
  }
}

/** Attributes of a request in the BigInt convenience layer (PCIe PASID TLP prefix: PASID, Privileged Mode, Execute). */
export interface DmaAttrs {
  /** The request carries this PASID. */
  readonly pasid?: Pasid;
  /** Privileged-mode (supervisor) request; only with a PASID. */
  readonly priv?: boolean;
  /** Execute request (instruction fetch); only with a PASID, reads only. */
  readonly exec?: boolean;
  /** `REQ.PRI`: a recoverable fault is returned unrecorded for a page request. */
  readonly pageRequest?: boolean;
}

/** Result of one request in the BigInt convenience layer: success, or the fault. */
export type DmaResult =
  | { readonly ok: true }
  | {
    readonly ok: false;
    /** VT-d fault reason, 0 for a failure that is not an IOMMU fault (`DMA_ABORT`). */
    readonly reason: number;
    /** True when the fault went into a fault recording register. */
    readonly recorded: boolean;
    /** A page request could resolve it (only with `DmaAttrs.pageRequest`). */
    readonly recoverable?: boolean;
    /** Faulting page address (for the page request). */
    readonly addr?: bigint;
    /**
     * The transfer went on past the fault (profile switch `dmaPastFault`): only the failing
     * pages were not transferred (a read got 0 for them); `reason` and `addr` are the first fault's.
     */
    readonly continued?: boolean;
  };

/** An ATS translation completion in the BigInt convenience layer. */
export type TranslationCompletion =
  | {
    readonly ok: true;
    /** Input page base (aligned to 2^sizeLg2). */
    readonly iova: bigint;
    /** Translated page base. */
    readonly addr: bigint;
    /** log2 of the translation's size. */
    readonly sizeLg2: number;
    readonly read: boolean;
    readonly write: boolean;
    readonly exec: boolean;
    readonly priv: boolean;
  }
  /** Unsupported request / completer abort: the IOMMU recorded a non-recoverable fault. */
  | { readonly ok: false; readonly reason: number; readonly recorded: boolean };

/** REQ flags for BigInt-layer attributes (PRIV/EXEC only with a PASID, as the TLP prefix carries them). */
export function reqFlags(write: boolean, a: DmaAttrs = {}): number {
  let flags = write ? REQ.WRITE : 0;
  if (a.pasid !== undefined) flags |= REQ.PASID | (a.priv ? REQ.PRIV : 0) | (a.exec ? REQ.EXEC : 0);
  if (a.pageRequest) flags |= REQ.PRI;
  return flags;
}

/** Throws an Error naming `what` unless `v` is an integer in 0..2^53-1. */
export function checkAddress(v: number, what: string): void {
  if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER && v % 1 === 0)) throw new Error(`${what}: ${String(v)} is not an integer in 0..2^53-1`);
}

/** Throws an Error naming the argument for bad flags or PASID. */
export function checkAttributes(flags: number, pasid: Pasid): void {
  if ((flags & REQ_MASK) !== flags) throw new Error(`flags: ${String(flags)} has bits outside REQ`);
  if ((flags & REQ.PASID) && (pasid & 0xf_ffff) !== pasid) throw new Error(`pasid: ${String(pasid)} is not a 20-bit PASID`);
}

/** The u32 halves of a checked 64-bit address. */
function split(v: bigint): [number, number] {
  return [Number(v >> 32n), Number(v & 0xffff_ffffn)];
}

/** A device's DMA path through the IOMMU (see the file comment). */
export abstract class DmaPort {
  /** Details of the last request. */
  readonly last = new DmaOutcome();
  /** The last translation completion (`translationRequest`). */
  readonly completion = new AtsCompletion();
  /** The runs of the last translate-only request (`translate`). */
  readonly runs = new GpaRuns();

  /** Requester id of every request (bus << 8 | devfn). */
  readonly sid: Sid;

  /** A port for requester id `sid`. */
  constructor(sid: Sid) {
    this.sid = checkSid(sid);
  }

  /** Reserves a device-local buffer in the core's memory; returns its handle (offset). */
  abstract allocBuffer(size: number): number;

  /** A view of `len` bytes of a buffer at `off` (re-fetch after memory growth). */
  abstract buffer(off: number, len: number): Uint8Array;

  /**
   * Untranslated request for `len` bytes at `iova` (an integer below 2^53):
   * with `REQ.WRITE` the buffer at `bufOff` goes to memory, otherwise memory
   * to the buffer. Faults are reported to the IOMMU's fault recording (or,
   * with `REQ.PRI`, returned recoverable) and described in `last`.
   */
  abstract dma(iova: Iova<number>, len: number, bufOff: number, flags?: number, pasid?: Pasid): number;

  /**
   * Translate-only request: the IOVA range [iova, iova + len) (len 1 to
   * MAX_TRANSLATE_BYTES, iova + len at most 2^53) as guest-physical `runs`,
   * checked for `flags` (REQ.WRITE for a write) and reported exactly as
   * `dma` reports a fault; no data moves.
   */
  abstract translate(iova: Iova<number>, len: number, flags?: number, pasid?: Pasid): number;

  /** ATS translation request (AT=01b) for the page holding `iovaHi:iovaLo`: the answer is in `completion`. */
  abstract translationRequest64(iovaHi: number, iovaLo: number, flags?: number, pasid?: Pasid): number;

  /** Translated request (AT=10b) to `addrHi:addrLo`, an address from a translation completion. */
  abstract translated64(addrHi: number, addrLo: number, len: number, bufOff: number, flags?: number): number;

  /** True when page requests reach an IOMMU page-request path (PRI is usable). */
  abstract get acceptsPageRequests(): boolean;

  /** A page request (PCIe PRI) from this device. */
  abstract pageRequest(req: PageRequest): PageRequestOutcome;

  /** `dma` for an IOVA anywhere in the 64-bit space (`iovaHi:iovaLo`). */
  dma64(iovaHi: number, iovaLo: number, len: number, bufOff: number, flags = 0, pasid: Pasid = 0): number {
    if (iovaHi >>> 0 <= 0x1f_ffff) return this.dma((iovaHi >>> 0) * TWO_32 + (iovaLo >>> 0), len, bufOff, flags, pasid);
    return this.dmaWide(iovaHi >>> 0, iovaLo >>> 0, len, bufOff, flags, pasid);
  }

  /** `dma64` for an IOVA at or above 2^53. */
  protected abstract dmaWide(iovaHi: number, iovaLo: number, len: number, bufOff: number, flags: number, pasid: number): number;

  /** `translationRequest64` with an IOVA below 2^53. */
  translationRequest(iova: Iova<number>, flags = 0, pasid: Pasid = 0): number {
    checkAddress(iova, 'iova');
    return this.translationRequest64((iova / TWO_32) >>> 0, iova >>> 0, flags, pasid);
  }

  /** `translated64` with an address below 2^53. */
  translated(addr: Hpa<number>, len: number, bufOff: number, flags = 0): number {
    checkAddress(addr, 'addr');
    return this.translated64((addr / TWO_32) >>> 0, addr >>> 0, len, bufOff, flags);
  }

  // --- BigInt convenience layer (an object per call) ---------------------------

  /** `dma` with a BigInt IOVA and attribute object; the result as an object. */
  dmaBig(iova: Iova, len: number, write: boolean, bufOff: number, attrs?: DmaAttrs): DmaResult {
    const [hi, lo] = split(checkIova(iova));
    return this.result(this.dma64(hi, lo, len, bufOff, reqFlags(write, attrs), attrs?.pasid ?? 0));
  }

  /** `translationRequest64` with a BigInt IOVA; the completion as an object. */
  translationRequestBig(iova: Iova, write: boolean, attrs?: DmaAttrs): TranslationCompletion {
    const [hi, lo] = split(checkIova(iova));
    const status = this.translationRequest64(hi, lo, reqFlags(write, attrs), attrs?.pasid ?? 0);
    if (status !== DMA_OK) return { ok: false, reason: status === DMA_ABORT ? 0 : status, recorded: this.last.recorded };
    const c = this.completion;
    return {
      ok: true, iova: c.iova, addr: c.addr, sizeLg2: c.sizeLg2,
      read: (c.perms & 1) !== 0, write: (c.perms & 2) !== 0, exec: (c.perms & 4) !== 0, priv: c.priv,
    };
  }

  /** `translated64` with a BigInt address; the result as an object. */
  translatedBig(addr: Hpa, len: number, write: boolean, bufOff: number): DmaResult {
    const [hi, lo] = split(checkHpa(addr, 'addr'));
    return this.result(this.translated64(hi, lo, len, bufOff, write ? REQ.WRITE : 0));
  }

  /** `last` as a DmaResult. */
  private result(status: number): DmaResult {
    if (status === DMA_OK) return { ok: true };
    const l = this.last;
    const reason = status === DMA_ABORT ? 0 : status;
    const addr = l.faultAddr;
    if (l.recoverable) return { ok: false, reason, recorded: false, recoverable: true, addr };
    if (l.continued) return { ok: false, reason, recorded: l.recorded, addr, continued: true };
    return addr === undefined ? { ok: false, reason, recorded: l.recorded } : { ok: false, reason, recorded: l.recorded, addr };
  }
}
