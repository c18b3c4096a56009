/**
 * A vDPA-style device's own mapping interface (Linux vhost-vdpa: struct
 * vhost_iotlb_msg with VHOST_IOTLB_UPDATE / VHOST_IOTLB_INVALIDATE, batched
 * between VHOST_IOTLB_BATCH_BEGIN and VHOST_IOTLB_BATCH_END) over the
 * iommufd-like objects: the messages become map / unmap on an IOAS whose
 * paging HWPT the device (or one of its PASIDs) is attached to. The IOAS may
 * be shared with another subsystem (a VFIO-style user mapping through
 * `ioasMap`): then both see the same mappings and every unmap, from either
 * side, is invalidated for every device attached to the domain.
 *
 * Messages are validated as vhost-vdpa does: size 0 or a wrapping range is
 * EINVAL, a permission outside RO/WO/RW is EINVAL, an update overlapping a
 * mapping is EEXIST. Each message is applied when it arrives and is
 * all-or-nothing; a batch only groups them (for a device on the platform
 * IOMMU, vhost-vdpa maps each update at once too), so BATCH_END of no batch
 * is EINVAL and nothing else changes.
 */
import { checkU64, fail, isHostIommuError } from './errors.js';
import type { HostIommu } from './host-iommu.js';
import { PERM } from './ss-table.js';
import { rangeEnd, type Iova } from '../types.js';

/** vhost_iotlb_msg types (include/uapi/linux/vhost_types.h). */
export const VHOST_IOTLB = { MISS: 1, UPDATE: 2, INVALIDATE: 3, ACCESS_FAIL: 4, BATCH_BEGIN: 5, BATCH_END: 6 } as const;

/** vhost_iotlb_msg perm values. */
export const VHOST_ACCESS = { RO: 1, WO: 2, RW: 3 } as const;

/** One IOTLB message (VHOST_IOTLB_MSG_V2; `uaddr` is the host address of the memory in this model). */
export interface VhostIotlbMsg {
  /** VHOST_IOTLB_* message type. */
  readonly type: number;
  /** First IOVA (UPDATE, INVALIDATE). */
  readonly iova?: Iova;
  /** Length in bytes (UPDATE, INVALIDATE). */
  readonly size?: bigint;
  /** Host address of the memory (UPDATE). */
  readonly uaddr?: bigint;
  /** VHOST_ACCESS_* (UPDATE). */
  readonly perm?: number;
  /** Address space id (vhost-vdpa ASID); this device has address space 0 only. */
  readonly asid?: number;
}


const PERMS: Readonly<Record<number, number>> = {
  [VHOST_ACCESS.RO]: PERM.READ, [VHOST_ACCESS.WO]: PERM.WRITE, [VHOST_ACCESS.RW]: PERM.READ | PERM.WRITE,
};

/** The vhost-vdpa side of one device: its IOTLB messages applied to an IOAS. */
export class VdpaDevice {
  /** Inside BATCH_BEGIN .. BATCH_END. */
  private batching = false;

  /**
   * The interface over `ioas` of `ctx`.
   * @param ctx The host context of the process that owns the device.
   * @param ioas The address space its messages change (shared with a VFIO user when the flow wants it).
   */
  constructor(readonly ctx: HostIommu, readonly ioas: number) {}

  /** Processes one message (vhost_vdpa_process_iotlb_msg); throws a HostIommuError for a bad one. */
  message(msg: VhostIotlbMsg): void {
    if (typeof msg !== 'object' || msg === null) fail('EINVAL', 'msg: not an object');
    if ((msg.asid ?? 0) !== 0) fail('EINVAL', `msg.asid: ${String(msg.asid)} is not an address space of this device`);
    switch (msg.type) {
      case VHOST_IOTLB.BATCH_BEGIN:
        this.batching = true;
        return;
      case VHOST_IOTLB.BATCH_END:
        if (!this.batching) fail('EINVAL', 'msg.type: BATCH_END without BATCH_BEGIN');
        this.batching = false;
        return;
      case VHOST_IOTLB.UPDATE:
        this.update(checkRange(msg), msg);
        return;
      case VHOST_IOTLB.INVALIDATE:
        this.invalidate(checkRange(msg));
        return;
      default:
        fail('EINVAL', `msg.type: ${String(msg.type)} is not a message user space sends`);
    }
  }

  private update({ iova, size }: { iova: bigint; size: bigint }, msg: VhostIotlbMsg): void {
    const perms = PERMS[msg.perm ?? -1];
    if (perms === undefined) fail('EINVAL', `msg.perm: ${String(msg.perm)} is not RO, WO or RW`);
    // The address space refuses an overlap with EEXIST, whichever subsystem made the mapping.
    this.ctx.ioasMap(this.ioas, { iova, hpa: checkU64(msg.uaddr, 'msg.uaddr'), len: size, perms });
  }

  /** Unmaps the range from the address space (what another subsystem mapped there goes too: one address space). */
  private invalidate({ iova, size }: { iova: bigint; size: bigint }): void {
    try {
      this.ctx.ioasUnmap(this.ioas, iova, size);
    } catch (e) {
      if (!isHostIommuError(e, 'ENOENT')) throw e; // vhost-vdpa: invalidating nothing is not an error
    }
  }
}

function checkRange(msg: VhostIotlbMsg): { iova: bigint; size: bigint } {
  const iova = checkU64(msg.iova, 'msg.iova');
  const size = checkU64(msg.size, 'msg.size');
  if (size === 0n || rangeEnd(iova, size) === undefined) fail('EINVAL', `msg.size: 0x${size.toString(16)} at 0x${iova.toString(16)} is empty or wraps`);
  return { iova, size };
}
