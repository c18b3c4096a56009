/**
 * wasm-viommu, platform-neutral entry: everything of the package entry
 * (index.ts) except the Node file-system loader, so it bundles for browsers
 * and Workers without stubs or shims. Bring the core yourself:
 *
 * ```ts
 * import { createMachine, loadCoreFrom } from 'wasm-viommu/browser';
 * const core = await loadCoreFrom(fetch(new URL('viommu.wasm', import.meta.url)));
 * const m = await createMachine({ core, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
 * ```
 *
 * One compiled `WebAssembly.Module` can back many cores (`loadCoreFromSync(module)`),
 * each with its own linear memory and so its own guest RAM.
 */

/** Build a machine (RAM, VT-d unit, PCI devices) from a config object. */
export { createMachine, Machine, VTD_BASE, VTD_WINDOW, BAR_BASE, ECAM_BASE, type MachineConfig, type DeviceConfig, type MachineBacking } from './machine.js';
export { MAX_RAM_MIB, MIN_RAM_MIB } from './machine-check.js';
/** The device kinds a machine config can name (`DeviceConfig.kind`) and what the registry builds. */
export { DEVICE_KINDS, type DeviceKind, type DeviceKindRow, type DeviceOptions, type DeviceFactory, type ModelDevice } from './devices/registry.js';
/** The WASM core's typed wrapper. */
export { Core, type CoreExports, type Translation } from './core/core.js';
/** Instantiating the core from bytes, a module or a URL: standalone, or over an emulator's memory (docs/EMBEDDING.md §2). */
export { loadCoreFrom, loadCoreFromSync, DEFAULT_STATE_BYTES, type CoreSource, type CoreMemoryOptions } from './core/load.js';
/** The caches' live contents (`Core.cacheContents()`). */
export type { CacheContents, IotlbEntry, ContextCacheEntry, PasidCacheEntry, PscEntry } from './core/cache-contents.js';
/** Guest RAM of a core (`machine.ram`). */
export { GuestMemory } from './core/guest-memory.js';
/**
 * The core's ABI numbers (docs/ABI.md): `ACC_` access flags, `OUT_` out-buffer words, `BREQ_` and `BRES_`
 * batch records, `FF_` fault flags, `SRC_` answer sources, `STAT_` counters, `CFG_` configuration keys,
 * `QUIRK_` profile behaviours, `FR_` fault reasons, `ERR_` RAM-setup errors.
 */
export * from './core/constants.js';
/** The VT-d unit: MMIO registers, commands, invalidation, fault recording. */
export { VtdUnit, type VtdUnitOptions, type DmaFault, type VtdUnitState, type InternalErrorSink } from './vtd/vtd-unit.js';
/** The parts of a `VtdUnit`: register file, command register target, fault recorder, event interrupts. */
export type { RegisterFile, WriteHandler, WriteRoute, ReadRoute } from './vtd/register-file.js';
export type { InvalidationListener, InvalidationEvent, InvalidationKind } from './vtd/cache-invalidation.js';
export type { GcmdTarget } from './vtd/gcmd.js';
export type { FaultRecorder } from './vtd/fault-recorder.js';
export type { EventInterrupts } from './vtd/interrupts.js';
/** The page-request side of a `VtdUnit` (VT-d §7.5): requests, the queue, open groups, responses routed back to devices. */
export type { PageRequestService, PageResponseRouter, GroupResponse } from './vtd/prq/page-request-service.js';
export type { PageRequestSink, PageRequestOutcome, PageGroupResponse, PageResponseTarget } from './vtd/prq/page-request.js';
/** A page request's fields (VT-d §7.4.1.1) and the PCIe response codes of a page group response. */
export { PageResponseCode, type PageRequest } from './vtd/spec/page-request.js';
export type { PageRequestQueue, EnqueueResult } from './vtd/prq/queue.js';
export type { OpenGroup } from './vtd/prq/groups.js';
/** The parts of `VtdUnitState`: queued invalidation, fault recording, page requests. */
export type { QiState } from './vtd/qi/invalidation-queue.js';
export type { FaultRecorderState } from './vtd/fault-recorder.js';
export type { PageRequestState, PageRequestStats } from './vtd/prq/page-request-service.js';
/** Capability profiles (`default`, `qemu-7.2`, `qemu-10.0`). */
export { createProfile, createProfileFromDevice, PROFILE_NAMES, type Profile, type ProfileName, type IommuOptions, type HostQuirks, type RegisterMasks } from './vtd/profiles.js';
export type { QiBehaviour, IqaReadBack } from './vtd/qi/qi-behaviour.js';
/** QEMU's `-device intel-iommu,...` property strings (`MachineConfig.device`), per QEMU version. */
export { parseQemuDevice, QEMU_DEVICES, type QemuDeviceModel, type PropType } from './vtd/qemu-device.js';
/** Interrupts the unit sends (fault / invalidation / page-request events). */
export type { MsiMessage, InterruptSink, InterruptSource } from './vtd/interrupts.js';
/** Interrupt remapping (VT-d chapter 5): what the platform receives from devices, the remapper's state and counters. */
export {
  InterruptRemapper, type DeliveredInterrupt, type RemappedInterrupt, type InterruptOutcome, type InterruptRemappingState,
  type InterruptRemappingStats, type IrHost,
} from './vtd/ir/remapper.js';
export type { EntryCacheStats } from './vtd/ir/entry-cache.js';
/** The virtual command interface (VT-d rev 3.3): PASID allocation a VMM answers (`vtd.virtualCommands.backend`). */
export { VirtualCommands, type VirtualCommandBackend, type VirtualCommandStats } from './vtd/virtual-command.js';
export type { DeliveredInterruptSink } from './vtd/ir/device-interrupts.js';
/** A fault as recorded in a fault recording register. */
export type { FaultRecord, RecordOutcome } from './vtd/fault-recorder.js';
/** The register table of a profile (offsets, widths, masks). */
export { buildRegisterTable, type RegisterRow, type RegName, type FixedRegName, type FrcdRegName } from './vtd/register-table.js';
/** Register offsets of the VT-d register block (VT-d §11.4). */
export { REG } from './vtd/spec/registers.js';
/** The DMA test device and its BAR layout. */
export { DmaTestDevice, type DmatOp, type DmatWait } from './devices/dma-test/device.js';
export { DMAT, DMAT_CMD, DMAT_STATE } from './devices/dma-test/regs.js';
/** The ATS device (device-TLB, translation requests, PRI) and its BAR layout. */
export { AtsDevice, type AtsOp, type AtsWait } from './devices/ats/device.js';
export { ATS, ATS_CMD, ATS_CTL, ATS_STATE } from './devices/ats/regs.js';
/** The shared work-queue device (PASID-tagged descriptors through a portal, SIOV / ENQCMD style) and its BAR layout. */
export { SwqDevice, type SwqJob } from './devices/swq/device.js';
export type { WorkDescriptor } from './devices/swq/descriptor.js';
/** What every built-in device is made of: its PCI function (config space, capabilities, interrupts, page requests). */
export type { DeviceFunction, FunctionCaps } from './devices/common/function.js';
export type { PriEngine, PageFault, PageResponseHandler } from './devices/common/pri-engine.js';
export { MAX_PAGE_REQUESTS, type RetryEngine, type PageWork } from './devices/common/retry-engine.js';
export { SWQ, SWQ_ERR, SWQ_PT, SWQ_VECTOR } from './devices/swq/regs.js';
/** PCI bus and the MSIs devices send (`MachineConfig.onDeviceInterrupt`). */
export { PciBus, type PciFunction, type DeviceTlbInvalidation } from './pci/bus.js';
/**
 * The DMA port every device and embedder uses (`machine.vtd.portFor(rid)`):
 * request flags, statuses, the reused result records and the BigInt layer's types.
 */
export {
  DmaPort, DmaOutcome, AtsCompletion, GpaRuns, REQ, DMA_OK, DMA_ABORT, MAX_TRANSLATE_BYTES,
  type DmaAttrs, type DmaResult, type TranslationCompletion,
} from './pci/dma-port.js';
export type { DeviceMsi, DeviceMsiSink, FunctionInterrupts, MsixTable } from './pci/msi.js';
/** PCI configuration space (identity, BARs, capability lists) and its access mechanisms (ECAM, ports 0xCF8/0xCFC). */
export { ConfigSpace, type PciIdentity, type BarSpec, type ConfigWriteHook } from './pci/config-space.js';
export type { AtsCap, PasidCap, MsiCap, MsixCap } from './pci/capabilities.js';
export { ConfigAccess } from './pci/config-access.js';
/** The ACPI DMAR table of a machine (`machine.dmarTable()` uses it). */
export { buildDmar, type DmarInput, type RmrrConfig } from './acpi/dmar.js';
/** Machine snapshots (`machine.snapshot()` / `machine.restore()`): the byte format's header and sections. */
export { SNAPSHOT_MAGIC, SNAPSHOT_VERSION, decodeSnapshot, type ByteReader } from './snapshot/format.js';
/**
 * The Arm machine with an SMMUv3 (`createArmMachine`): QEMU virt's layout, devices behind the SMMU with
 * their requester id as StreamID, the IORT (`machine.iortTable()`), the SMMU's wired interrupt lines.
 */
export {
  createArmMachine, ArmMachine, SMMU_BASE, SMMU_WINDOW, ARM_RAM_BASE, ARM_ECAM_BASE, ARM_BAR_WINDOW, SMMU_SPI, ARM_MSI_DOORBELLS, type ArmMachineConfig,
} from './arm-machine.js';
/** What both machines share: core, RAM, devices, the BigInt MMIO dispatch to their IOMMU unit. */
export { PciMachine, type MmioUnit, type MachineWindows } from './pci-machine.js';
/** The SMMUv3 unit: registers, stream table and context descriptors, command and event queues; its snapshot state. */
export { SmmuUnit, type SmmuUnitOptions, type SmmuInterrupt, type SmmuUnitState } from './smmu/smmu-unit.js';
/** Where an SMMU MSI lands (RAM, an interrupt controller's doorbell, or an abort) and the GERROR bit of each source's abort. */
export { msiRoute, MSI_ABORT_ERR, type MsiRoute, type MsiDoorbell, type SmmuIrqSource } from './smmu/msi.js';
/** The parts of an `SmmuUnit`: its register file and the typed access to the core's AArch64 walker (docs/ABI.md). */
export { SmmuRegisterFile, type SmmuRegRow, type SmmuWriteHandler } from './smmu/registers.js';
export { SmmuCore, type WalkSetup } from './smmu/core-abi.js';
/** PCIe ATS on an `SmmuUnit` (`unit.ats`, IHI 0070 §3.9.1). */
export { SmmuAts, ATS_CODE, type AtsAnswer, type AtsRequest } from './smmu/ats.js';
/** The SMMUv3 PRI queue (`smmu.priq`, IHI 0070 chapter 8): its counters and the router of CMD_PRI_RESP to devices; the PRI queue record and CMD_PRI_RESP.Resp values. */
export { SmmuPriQueue, type SmmuPageResponseRouter, type PriQueueStats, type PriQueueHost } from './smmu/priq.js';
export { PRI_RESP as SMMU_PRI_RESP, decodePriRecord, type PriRecord } from './smmu/spec/priq.js';
/** SMMUv3 capability profiles (`default`, `qemu-7.2`, `qemu-10.0`) and the options that narrow them. */
export { createSmmuProfile, capsOf, SMMU_PROFILE_NAMES, type SmmuProfile, type SmmuOptions, type SmmuCaps, type SmmuSwitches } from './smmu/profiles.js';
/** An SMMUv3 event record as a value (what the event queue receives, before encoding). */
export type { SmmuEvent } from './smmu/event.js';
/** SMMUv3 event numbers (IHI 0070 §7.3) and their names. */
export { EVT as SMMU_EVT, EVT_NAME as SMMU_EVT_NAME } from './smmu/spec/events.js';
/** The ACPI IORT of an Arm machine (`armMachine.iortTable()` uses it). */
export { buildIort, type IortInput } from './acpi/iort.js';
/**
 * The iommufd-like host side (host/src/hostiommu): platform, IOAS, HWPTs,
 * device binding, PASID spaces, fault queues, vIOMMU objects. A namespace,
 * because some of its names (FaultRecord, PageRequest) mean host-side
 * objects there: `new hostiommu.HostPlatform(...)`.
 */
export * as hostiommu from './hostiommu/index.js';
/** A paging table laid out in memory (a `hostiommu.HostProcess`'s page table is one). */
export type { PageTableBuilder, PageTableBuilderOptions, PageTableFormat } from './tables/table-builders.js';
/** The narrow guest-RAM view table writers use (`hostiommu.hostRam` turns one into host table memory). */
export type { GuestMemoryLike } from './tables/guest-ram.js';
/** Scenarios (`viommu-scenario/1`): validation, step-by-step and whole replay (`viommu replay`). */
export {
  startReplay, replayScenario, formatReplay, bytesToHex,
  type ReplayOutput, type ReplayOptions, type ReplayRun, type ReplayStep, type Observation,
} from './scenario/replay.js';
export { parseScenario, type Scenario, type ScenarioBase, type Step } from './scenario/parse.js';
export { ScenarioApics, type IrrReading } from './scenario/apics.js';
/** Branded ids and addresses. */
export * from './types.js';
