/**
 * BAR0 layout of the shared work-queue device (16 KiB memory BAR), in the
 * style of Intel DSA's shared WQ (SIOV): software submits 64-byte work
 * descriptors to a portal; each carries the PASID of the address space it
 * works in (ENQCMD puts the process's PASID there).
 *
 * | off    | name          | access  | meaning |
 * |--------|---------------|---------|---------|
 * | 0x00   | ID            | RO      | 0x44515753 ("SWQD") |
 * | 0x04   | WQ_CAP        | RO      | 7:0 queue depth, 15:8 PASID-table slots |
 * | 0x08   | WQ_CFG        | RW      | bit 0 queue enabled |
 * | 0x0C   | WQ_OCC        | RO      | descriptors in flight (waiting for page responses) |
 * | 0x10   | SWERR         | RO/W1C 64 | 0 valid, 1 overflow, 15:8 error code, 23:16 opcode; 51:32 PASID, 63 privileged. Writing 1 to bit 0 clears it |
 * | 0x18   | COMPLETED     | RO      | descriptors completed (any status) |
 * | 0x1C   | ERRORS        | RO      | descriptors rejected into SWERR |
 * | 0x20   | PORTAL_STATUS | RO      | last portal submission: 0 accepted, 1 retry (queue full or disabled) |
 * | 0x100  | PASID_TABLE   | RW 16x4 | 31 enabled, 30 privileged allowed, 19:0 PASID |
 * | 0x1000 | PORTAL        | WO 64 B | descriptor; the write that covers bytes 0x38-0x3F submits |
 * | 0x2000 | MSI-X table   |         | vector 0 completion interrupt, vector 1 error interrupt |
 * | 0x3000 | MSI-X PBA     |         | |
 */

/** Register offsets. */
export const SWQ = {
  ID: 0x00, WQ_CAP: 0x04, WQ_CFG: 0x08, WQ_OCC: 0x0c, SWERR: 0x10, COMPLETED: 0x18, ERRORS: 0x1c,
  PORTAL_STATUS: 0x20, PASID_TABLE: 0x100, PORTAL: 0x1000, MSIX_TABLE: 0x2000, MSIX_PBA: 0x3000,
} as const;

/** BAR0 size. */
export const SWQ_BAR_SIZE = 0x4000;
/** ID register value. */
export const SWQ_ID = 0x44515753;
/** Descriptors that may be in flight. */
export const SWQ_DEPTH = 16;
/** PASID-table slots. */
export const SWQ_PASID_SLOTS = 16;
/** MSI-X vectors. */
export const SWQ_VECTOR = { COMPLETION: 0, ERROR: 1 } as const;

/** PASID_TABLE entry bits. */
export const SWQ_PT = { ENABLED: 0x8000_0000, PRIV: 0x4000_0000, PASID_MASK: 0xf_ffff } as const;

/** SWERR error codes: descriptors the device rejects without touching their address space. */
export const SWQ_ERR = {
  /** The PASID is not in the device's PASID table (or the PASID capability is disabled). */
  INVALID_PASID: 1,
  /** Privileged descriptor for a PASID without privileged mode. */
  PRIV_NOT_ALLOWED: 2,
  /** Bus Master Enable is clear. */
  BUS_MASTER_OFF: 3,
  /** The completion record could not be written (bad alignment or a fault). */
  COMPLETION_FAULT: 4,
} as const;
