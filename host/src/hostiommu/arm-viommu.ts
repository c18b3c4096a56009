/**
 * The SMMUv3 vIOMMU (iommufd IOMMU_VIOMMU_TYPE_ARM_SMMUV3, Linux
 * arm-smmu-v3-iommufd.c) and its event queue (IOMMU_VEVENTQ_ALLOC).
 *
 * The vIOMMU is the guest's SMMU on the host side: it holds the VMID its
 * nested STEs carry (the nesting parent's), takes the guest's invalidation
 * commands raw (IOMMU_HWPT_INVALIDATE on the vIOMMU with
 * struct iommu_viommu_arm_smmuv3_invalidate entries, one 16-byte command
 * each), checks them and issues them on the physical command queue: TLBI_NH_*
 * get the VMID filled in (TLBI_NSNH_ALL becomes TLBI_NH_ALL of that VMID),
 * CFGI_CD / CFGI_CD_ALL / ATC_INV get the physical StreamID of the vDEVICE
 * whose virtual StreamID they name; any other command, or a vSID with no
 * vDEVICE, is EIO. Stage-1 events of its devices come back through
 * `reportEvent` and go to its vEVENTQ with the vSID in place of the pSID.
 */
import { fail, checkInt } from './errors.js';
import type { HostObject } from './objects.js';
import type { HwptPaging } from './hwpt.js';
import { Viommu } from './viommu.js';
import type { PhysicalSmmu } from './smmu-backend.js';
import { get, put } from '../smmu/spec/bits.js';
import { CMD, OP } from '../smmu/spec/commands.js';
import { EVT_FIELD } from '../smmu/spec/events.js';
import type { Sid } from '../types.js';

/** One invalidation entry (struct iommu_viommu_arm_smmuv3_invalidate): a guest command's two doublewords. */
export interface SmmuInvalidation {
  /** The command's doublewords 0 and 1 (IHI 0070 chapter 4). */
  readonly cmd: readonly [bigint, bigint];
}

/** How each command a guest may pass is converted (Linux arm_vsmmu_convert_user_cmd). */
const CONVERT: ReadonlyMap<number, 'vmid' | 'nh-all' | 'sid'> = new Map([
  [OP.TLBI_NH_VA, 'vmid'], [OP.TLBI_NH_VAA, 'vmid'], [OP.TLBI_NH_ALL, 'vmid'], [OP.TLBI_NH_ASID, 'vmid'],
  [OP.TLBI_NSNH_ALL, 'nh-all'], [OP.ATC_INV, 'sid'], [OP.CFGI_CD, 'sid'], [OP.CFGI_CD_ALL, 'sid'],
]);

/** A guest-visible SMMUv3 over a nesting-parent stage 2. */
export class SmmuViommu extends Viommu {
  /** Its event queue, once allocated (one per vIOMMU). */
  veventq: Veventq | undefined;

  /**
   * EINVAL unless `parent` is a nesting parent.
   * @param smmu The physical SMMU of the device it was allocated for.
   */
  constructor(parent: HwptPaging, readonly smmu: PhysicalSmmu) {
    super(parent, smmu);
  }

  /** The VMID of its nested STEs: the nesting parent's (Linux: vsmmu->vmid = s2_parent->vmid). */
  get vmid(): number {
    return this.parent.did;
  }

  /**
   * Checks and issues the guest's commands in order, then one CMD_SYNC.
   * At the first command it does not take it stops: the ones before it are
   * issued, and the EIO / EINVAL error's `count` says how many. Returns the
   * number issued.
   */
  override invalidate(entries: readonly unknown[]): number {
    const cmds: bigint[][] = [];
    let bad: unknown;
    for (const e of entries) {
      try {
        cmds.push(this.convert(e, cmds.length));
      } catch (err) {
        bad = err;
        break;
      }
    }
    if (cmds.length > 0) this.smmu.issue(cmds);
    if (bad !== undefined) {
      const err = bad as { errno?: 'EIO' | 'EINVAL'; message?: string };
      return fail(err.errno ?? 'EINVAL', String(err.message ?? bad).replace(/^E[A-Z]+: /, ''), cmds.length);
    }
    return cmds.length;
  }

  /** The physical command for entry `i`, or an error naming it. */
  private convert(e: unknown, i: number): bigint[] {
    const raw = (e as Partial<SmmuInvalidation> | null)?.cmd;
    if (!Array.isArray(raw) || raw.length !== 2 || !raw.every((w) => typeof w === 'bigint' && w >= 0n && w < 1n << 64n)) {
      fail('EINVAL', `entries[${i}].cmd: ${String(raw)} is not two 64-bit doublewords`);
    }
    const w = [raw[0] as bigint, raw[1] as bigint];
    const op = get(w, CMD.opcode);
    const how = CONVERT.get(op);
    if (how === undefined) fail('EIO', `entries[${i}].cmd: opcode 0x${op.toString(16)} is not a command a guest may pass (TLBI_NH_*, TLBI_NSNH_ALL, CFGI_CD(_ALL), ATC_INV)`);
    if (how === 'nh-all') return [BigInt(OP.TLBI_NH_ALL) | (BigInt(this.vmid) << 32n), 0n];
    if (how === 'vmid') {
      put(w, CMD.VMID, this.vmid);
      return w;
    }
    const vsid = get(w, CMD.SID);
    const dev = this.byVrid.get(vsid);
    if (dev === undefined) fail('EIO', `entries[${i}].cmd: virtual StreamID 0x${vsid.toString(16)} has no vDEVICE in vIOMMU ${this.id}`);
    put(w, CMD.SID, dev.device.phys.sid);
    return w;
  }

  /**
   * An event record (four doublewords) the physical SMMU logged for
   * physical StreamID `sid`: to the vEVENTQ with the device's vSID. Dropped
   * when the device has no vDEVICE here or there is no vEVENTQ.
   */
  reportEvent(sid: Sid, record: readonly bigint[]): void {
    const vsid = this.vridOf(sid);
    if (vsid === undefined || this.veventq === undefined) return;
    const w = [...record];
    put(w, EVT_FIELD.SID, vsid);
    this.veventq.deliver(w);
  }
}

/** One record read from a vEVENTQ (struct iommufd_vevent_header + the event). */
export interface VeventRecord {
  /** Sequence number (wraps at 2^31, as the uAPI's). */
  readonly sequence: number;
  /** Events were lost (the queue was full) before this one (IOMMU_VEVENTQ_FLAG_LOST_EVENTS). */
  readonly lostBefore: boolean;
  /** The SMMUv3 event record, the virtual StreamID in place (struct iommu_vevent_arm_smmuv3). */
  readonly record: readonly bigint[];
}

/** A vIOMMU's event queue: bounded, in order, with a lost-events mark. */
export class Veventq implements HostObject {
  readonly kind = 'veventq' as const;
  id = 0;
  users = 0;
  private readonly queue: VeventRecord[] = [];
  private sequence = 0;
  private lost = false;

  /**
   * Takes a reference on `viommu` (EEXIST if it has a vEVENTQ; EINVAL for a bad depth).
   * @param depth Most records held before new ones are lost.
   * @param notify Called after each delivered record (the VMM's wakeup).
   */
  constructor(
    /** The vIOMMU whose events it queues. */
    readonly viommu: SmmuViommu,
    readonly depth: number,
    private readonly notify?: () => void,
  ) {
    checkInt(depth, 1, 1 << 16, 'depth');
    if (viommu.veventq) fail('EEXIST', `viommuId: vIOMMU ${viommu.id} already has vEVENTQ ${viommu.veventq.id}`);
    viommu.veventq = this;
    viommu.users++;
  }

  /** Number of records waiting. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues a record (or marks it lost when full) and notifies. */
  deliver(record: readonly bigint[]): void {
    if (this.queue.length >= this.depth) {
      this.lost = true;
      return;
    }
    this.queue.push({ sequence: this.sequence, lostBefore: this.lost, record });
    this.sequence = (this.sequence + 1) & 0x7fff_ffff;
    this.lost = false;
    this.notify?.();
  }

  /** Takes up to `max` records, oldest first. */
  read(max: number): VeventRecord[] {
    return this.queue.splice(0, max);
  }

  release(): void {
    this.viommu.veventq = undefined;
    this.viommu.users--;
  }
}
