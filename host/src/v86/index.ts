/**
 * `wasm-viommu/v86`: a VT-d unit inside the v86 PC emulator
 * (docs/EMBEDDING.md §15). Platform-neutral: the caller brings v86 and the
 * compiled core.
 *
 * ```ts
 * import { V86 } from 'v86';
 * import { attachIommu } from 'wasm-viommu/v86';
 * const emulator = new V86({ ..., acpi: true, autostart: false });
 * emulator.add_listener('emulator-loaded', async () => {
 *   const vtd = await attachIommu(emulator, { core: await WebAssembly.compileStreaming(fetch('viommu.wasm')) });
 *   emulator.run();
 * });
 * ```
 */
export { attachIommu, V86_VTD_BASE, type AttachOptions, type V86Iommu, type V86IommuStats } from './attach.js';
export { BusMaster, type BusMasterCounters } from './bus-master.js';
export { V86LocalApic, type MsiCounters, type MsiOutcome } from './local-apic.js';
export { EmbeddedIommu, type EmbeddedIommuOptions, type RamRegion } from './model.js';
export { mapRegisterWindow, MMAP_BLOCK_SIZE, REGISTER_PAGE, type RegisterBlock, type WindowCounters } from './register-window.js';
export type * from './v86-types.js';
