/**
 * The iommufd-like host object model (ARCHITECTURE.md "Host side"): a
 * platform (physical IOMMU, devices, global PASID space), contexts with
 * numeric object ids (IOAS, HWPT paging/nested, devices, fault queues,
 * vIOMMU/vDEVICE, PASID sets), errno-style errors, and fail-nth injection;
 * the physical IOMMU a VT-d (table-iommu.ts) or an SMMUv3 (smmu-backend.ts),
 * with the SMMUv3 nesting shape (arm-viommu.ts, arm-nested.ts).
 */
export { ERRNO_MEANING, HostIommuError, isHostIommuError, type Errno } from './errors.js';
export { FailInjector } from './fail-nth.js';
export { ObjectTable, MAX_OBJECT_ID, type ObjectKind, type HostObject } from './objects.js';
export { HostPages, hostRam, PAGE, type TableMemory } from './host-pages.js';
export { SsPageTable, SS, PERM, VTD_SS_FORMAT, type SsLookup, type SsFormat } from './ss-table.js';
export { ARM_S2_FORMAT, S2_DESC } from './arm-s2-format.js';
export { Ioas, PinAccount, type Area, type MapArgs, type IoasDomain, type Pages } from './ioas.js';
export { IovaSpace, U64_MAX, MAX_AUTO_ALIGN, type IovaRange } from './iova-space.js';
export { HwptPaging, HwptNested, S1_INVALIDATE_ALL, type Hwpt, type S1Invalidation, type Attachment, type HwptBase, type HwptPagingOptions, type HwptNestedOptions, type DidRelease } from './hwpt.js';
export { PhysDevice, DeviceFile, BoundDevice, MSI_WINDOW, type DeviceInfo, type PasidPolicy } from './device.js';
export { FaultQueue, FAULT_PERM, type FaultRecord, type PageRequest, type PageResponder } from './fault-queue.js';
export { Viommu, Vdevice } from './viommu.js';
export { Subdevice, type DeviceTarget } from './subdevice.js';
export { IommuGroups, type IommuGroup, type GroupTopologyOptions } from './groups.js';
export { VfioContainer } from './vfio-container.js';
export { VdpaDevice, VHOST_IOTLB, VHOST_ACCESS, type VhostIotlbMsg } from './vdpa.js';
export { HostProcess, type Vma, type FaultResult } from './host-process.js';
export { SvaBinding, type SvaStats } from './sva.js';
export { SmmuViommu, Veventq, type SmmuInvalidation, type VeventRecord } from './arm-viommu.js';
export { HwptNestedArm, validateGuestSte, type ArmNestedOptions } from './arm-nested.js';
export { PhysicalSmmu, type SmmuMmio } from './smmu-backend.js';
export { GlobalPasidSpace, PasidSet, DevicePasidSpace, GuestPasidTable, PASID_MAX, type PasidRange, type PasidTaken, type HostPasidOwners } from './pasid.js';
export { RID_PASID, type PhysicalIommu, type DomainProgram, type PagingProgram, type NestedProgram, type SmmuNestedProgram } from './backend.js';
export { TableIommu, coveringBlock, type CoreCaches, type TableIommuOptions } from './table-iommu.js';
export { HostPlatform, type PlatformOptions, type PlatformUsage, type PhysPageRequest } from './platform.js';
export { HostIommu, type PagingAllocOptions, type NestedAllocOptions, type ArmNestedAllocOptions, type ViommuType, type IovaRanges } from './host-iommu.js';
export { HOST_IOMMU_OPS, callOp, type OpRow, type OpArgs } from './ops.js';
