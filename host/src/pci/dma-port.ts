/**
 * The port through which a device does DMA: every request goes through the
 * IOMMU with the device's own requester id. A device gets a port from the
 * machine and never touches guest RAM any other way.
 */

/** Result of one DMA request: success, or the fault the IOMMU returned. */
export type DmaResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: number; readonly recorded: boolean };

/** A device's DMA path through the IOMMU. */
export interface DmaPort {
  /** Reserves a device-local buffer in the core's memory; returns its handle (offset). */
  allocBuffer(size: number): number;
  /** A view of `len` bytes of a buffer at `off` (re-fetch after memory growth). */
  buffer(off: number, len: number): Uint8Array;
  /**
   * Untranslated request without PASID for `len` bytes at `iova`: `write`
   * copies buffer -> memory, otherwise memory -> buffer. Faults are reported
   * to the IOMMU's fault recorder and returned.
   */
  dma(iova: bigint, len: number, write: boolean, bufOff: number): DmaResult;
}
