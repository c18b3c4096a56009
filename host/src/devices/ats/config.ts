/**
 * PCI identity and capabilities of the ATS device: a PCI Express endpoint
 * with one 8 KiB BAR, one MSI vector, ATS (device-TLB), PASID (20 bits,
 * execute, privileged) and PRI.
 */
import type { PciIdentity } from '../../pci/config-space.js';
import type { FunctionCaps } from '../common/function.js';
import { ATS_BAR_SIZE } from './regs.js';

/** Config-space identity of the ATS device (vendor 0x5654 "VT"). */
export const ATS_IDENTITY: PciIdentity = {
  vendorId: 0x5654, deviceId: 0x0a75, classCode: 0xff0000, revision: 1, bar0Size: ATS_BAR_SIZE,
};

/** Capabilities of the ATS device. */
export const ATS_CAPS: FunctionCaps = {
  msiVectorsLg2: 0, ats: true, pasid: { width: 20, exec: true, priv: true }, priCapacity: 16,
};

/** Device-TLB entries. */
export const ATS_DTLB_ENTRIES = 64;
