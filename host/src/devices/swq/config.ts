/**
 * PCI identity and capabilities of the shared work-queue device: a PCI
 * Express endpoint with one 16 KiB BAR, MSI-X (2 vectors, table and PBA in
 * BAR0), PASID (20 bits, privileged mode) and PRI.
 */
import type { PciIdentity } from '../../pci/config-space.js';
import type { FunctionCaps } from '../common/function.js';
import { SWQ, SWQ_BAR_SIZE } from './regs.js';

/** Config-space identity (vendor 0x5654 "VT"; class 08.80 other system peripheral). */
export const SWQ_IDENTITY: PciIdentity = {
  vendorId: 0x5654, deviceId: 0x05a0, classCode: 0x088000, revision: 1, bar0Size: SWQ_BAR_SIZE,
};

/** Capabilities of the device. */
export const SWQ_CAPS: FunctionCaps = {
  msix: { vectors: 2, table: SWQ.MSIX_TABLE, pba: SWQ.MSIX_PBA },
  pasid: { width: 20, exec: false, priv: true },
  priCapacity: 32,
};
