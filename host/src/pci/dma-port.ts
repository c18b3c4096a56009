/**
 * The port through which a device does DMA: every request goes through the
 * IOMMU with the device's own requester id. A device gets a port from the
 * machine and never touches guest RAM any other way.
 *
 * Besides untranslated requests (optionally with a PASID, privileged or
 * execute attributes), an ATS-capable device uses translation requests and
 * translated requests (PCIe §10.2), and a PRI-capable device sends page
 * requests to the IOMMU's page-request sink.
 */
import type { PageRequestSink } from '../vtd/prq/page-request.js';

/** Attributes of a request (PCIe PASID TLP prefix: PASID, Privileged Mode, Execute). */
export interface DmaAttrs {
  /** The request carries this PASID. */
  readonly pasid?: number;
  /** Privileged-mode (supervisor) request; only with a PASID. */
  readonly priv?: boolean;
  /** Execute request (instruction fetch); only with a PASID, reads only. */
  readonly exec?: boolean;
  /**
   * The device has PRI enabled and will send a page request for a
   * recoverable fault: the IOMMU does not record such a fault (it returns it
   * with `recoverable`), as for an ATS translation request (VT-d §7.4).
   */
  readonly pageRequest?: boolean;
}

/** Result of one DMA request: success, or the fault the IOMMU returned. */
export type DmaResult =
  | { readonly ok: true }
  | {
    readonly ok: false;
    /** VT-d fault reason, 0 for a failure that is not an IOMMU fault. */
    readonly reason: number;
    /** True when the fault went into a fault recording register. */
    readonly recorded: boolean;
    /** A page request could resolve it (only with `DmaAttrs.pageRequest`). */
    readonly recoverable?: boolean;
    /** Faulting page address (for the page request). */
    readonly addr?: bigint;
  };

/** An ATS translation completion (PCIe §10.2.3). */
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

/** A device's DMA path through the IOMMU. */
export interface DmaPort {
  /** Reserves a device-local buffer in the core's memory; returns its handle (offset). */
  allocBuffer(size: number): number;
  /** A view of `len` bytes of a buffer at `off` (re-fetch after memory growth). */
  buffer(off: number, len: number): Uint8Array;
  /**
   * Untranslated request for `len` bytes at `iova`: `write` copies buffer ->
   * memory, otherwise memory -> buffer. Faults are reported to the IOMMU's
   * fault recorder and returned.
   */
  dma(iova: bigint, len: number, write: boolean, bufOff: number, attrs?: DmaAttrs): DmaResult;
  /** ATS translation request for the page holding `iova`; `write` asks for write permission. */
  translationRequest?(iova: bigint, write: boolean, attrs?: DmaAttrs): TranslationCompletion;
  /** Translated request (AT=10b) to `addr`, an address from a translation completion. */
  translatedDma?(addr: bigint, len: number, write: boolean, bufOff: number): DmaResult;
  /** Where page requests go (the IOMMU's page-request queue), when the IOMMU has one. */
  readonly pageRequests?: PageRequestSink;
}
