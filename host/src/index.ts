/**
 * wasm-viommu: a virtual Intel VT-d IOMMU with PCI devices that DMA through
 * it. The package entry for Node: everything of the platform-neutral entry
 * (browser.ts, `wasm-viommu/browser`) plus the loader of the packaged
 * build/viommu.wasm, which `createMachine` uses when no `core` is given.
 *
 * ```ts
 * import { createMachine } from 'wasm-viommu';
 * const m = await createMachine({ profile: 'default', devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
 * m.mmioWrite(0xfed90020n, 8, rootTableGpa);   // RTADDR
 * m.mmioWrite(0xfed90018n, 4, 0x4000_0000n);   // GCMD.SRTP
 * m.dmaTest('00:03.0').read(iova, 64);         // DMA through the IOMMU
 * ```
 */

export * from './browser.js';
/** Node: load build/viommu.wasm (or the debug build) from the package. */
export { loadCore, loadCoreSync, wasmPath, type LoadOptions } from './core/load-node.js';
