/**
 * wasm-viommu: a virtual Intel VT-d IOMMU with PCI devices that DMA through
 * it. The public surface for embedders:
 *
 * ```ts
 * import { createMachine } from 'wasm-viommu';
 * const m = await createMachine({ profile: 'default', devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
 * m.mmioWrite(0xfed90020n, 8, rootTableGpa);   // RTADDR
 * m.mmioWrite(0xfed90018n, 4, 0x4000_0000n);   // GCMD.SRTP
 * m.dmaTest('00:03.0').read(iova, 64);         // DMA through the IOMMU
 * ```
 */

/** Build a machine (RAM, VT-d unit, PCI devices) from a config object. */
export { createMachine, Machine, VTD_BASE, BAR_BASE, type MachineConfig, type DeviceConfig } from './machine.js';
/** The VT-d unit: MMIO registers, commands, invalidation, fault recording. */
export { VtdUnit, type VtdUnitOptions, type DmaFault } from './vtd/vtd-unit.js';
/** Capability profiles (`default`, `qemu-7.2`, `qemu-10.0`). */
export { createProfile, PROFILE_NAMES, type Profile, type ProfileName, type IommuOptions } from './vtd/profiles.js';
/** Interrupts the unit sends (fault / invalidation / page-request events). */
export type { MsiMessage, InterruptSink, InterruptSource } from './vtd/interrupts.js';
/** A fault as recorded in a fault recording register. */
export type { FaultRecord, RecordOutcome } from './vtd/fault-recorder.js';
/** The register table of a profile (offsets, widths, masks). */
export { buildRegisterTable, type RegisterRow, type RegName } from './vtd/register-table.js';
/** The DMA test device and its BAR layout. */
export { DmaTestDevice } from './devices/dma-test/device.js';
export { DMAT, DMAT_CMD, DMAT_STATE } from './devices/dma-test/regs.js';
/** PCI bus and the DMA port devices use. */
export { PciBus, type PciFunction } from './pci/bus.js';
export type { DmaPort, DmaResult } from './pci/dma-port.js';
/** Scenario replay (`viommu replay`). */
export { replayScenario, formatReplay, startReplay, bytesToHex, type ReplayOutput, type Observation, type ReplayOptions, type ReplayRun, type ReplayStep } from './scenario/replay.js';
export { parseScenario, type Scenario, type Step } from './scenario/parse.js';
/** Branded ids and addresses. */
export * from './types.js';
