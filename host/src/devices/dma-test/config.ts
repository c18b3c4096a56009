/**
 * PCI identity and capabilities of the DMA test device: a PCI Express
 * endpoint with one 8 KiB memory BAR, one MSI vector, PASID (20 bits, with
 * execute and privileged modes) and PRI. Vendor 0x1b36 device 0x00d7 would
 * collide with real devices, so the ids are this project's own (vendor
 * 0x5654 "VT").
 */
import type { PciIdentity } from '../../pci/config-space.js';
import type { FunctionCaps } from '../common/function.js';
import { DMAT_BAR_SIZE } from './regs.js';

/** Config-space identity of the DMA test device. */
export const DMA_TEST_IDENTITY: PciIdentity = {
  vendorId: 0x5654,
  deviceId: 0x0d7a,
  classCode: 0xff0000, // unassigned class: a test device
  revision: 1,
  bar0Size: DMAT_BAR_SIZE,
};

/** Capabilities of the DMA test device. */
export const DMA_TEST_CAPS: FunctionCaps = {
  msiVectorsLg2: 0,
  pasid: { width: 20, exec: true, priv: true },
  priCapacity: 16,
};
