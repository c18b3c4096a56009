/**
 * I/O page faults of a VM's devices, served by the guest (both modes): a
 * page request a device sends on a host HWPT with the VM's fault queue
 * arrives there under the id of the device — or of the subdevice whose
 * PASID it carries (hostiommu/subdevice.ts) — and the VMM forwards it to the
 * guest's page-request queue (VT-d §7.4.1.1 in 3.x) with the pRID replaced
 * by that device's vRID and the host PASID by the guest PASID (none for a
 * subdevice's default PASID: its request had none). The guest's page-group
 * response (§6.5.2.9: RID, PASID, PRG index) goes back by the group's
 * cookie, found under (vRID, guest PASID, PRGI): a response names one
 * function's group, so two subdevices of one parent faulting at once with
 * the same PRG index are answered one by one, and a response with a
 * sibling's RID, PASID or index completes nothing it does not name.
 */
import { isHostIommuError } from '../hostiommu/errors.js';
import { FAULT_PERM, type FaultRecord } from '../hostiommu/fault-queue.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import type { PageGroupResponse } from '../vtd/prq/page-request.js';
import type { VirtualMachine, VmDevice } from './virtual-machine.js';
import type { Sid } from '../types.js';

const groupKey = (vrid: number, gpasid: number | undefined, prgi: number): string => `${vrid}:${gpasid ?? '-'}:${prgi}`;

/**
 * The host answer for a guest's response code: the host takes only the user
 * codes Success and Invalid Request (iommufd's IOMMUFD_PAGE_RESP_SUCCESS /
 * INVALID), so every other code a guest unit can produce (Response Failure,
 * VT-d §6.5.2.9, e.g. its auto-response when its page-request queue is
 * unwritable, or a reserved code) leaves as Invalid Request: the device's
 * group is answered and never left waiting.
 */
const hostResponseCode = (code: number): PageResponseCode =>
  code === PageResponseCode.Success ? PageResponseCode.Success : PageResponseCode.InvalidRequest;

/** The page groups a VM forwarded to its guest and not yet answered. */
export class GuestPageRequests {
  /** Forwarded page groups waiting for the guest: "vrid:gpasid:prgi" -> fault cookie. */
  readonly pending = new Map<string, number>();

  constructor(private readonly vm: VirtualMachine) {}

  /** Forwards every readable record of the VM's fault queue to the guest's page-request queue. */
  forward(): void {
    const { ctx, ids } = this.vm;
    for (const r of ctx.faultRead(ids.fault)) {
      const d = [...this.vm.devices.values()].find((x) => x.devId === r.devId);
      if (d === undefined) {
        if (r.last) ctx.faultRespond(ids.fault, r.cookie, PageResponseCode.InvalidRequest);
        continue;
      }
      this.forwardOne(d, r);
    }
  }

  /** One record of device `d` to the guest; a group the guest's unit does not queue is answered at once. */
  private forwardOne(d: VmDevice, r: FaultRecord): void {
    const { ctx, ids, machine } = this.vm;
    const gpasid = r.pasid === undefined || r.pasid === d.defaultPasid ? undefined : ctx.guestPasids.guestOf(r.pasid);
    const outcome = machine.vtd.submitPageRequest({
      sid: d.vrid, pasid: gpasid, addr: r.addr, prgi: r.groupId, lpig: r.last,
      read: (r.perms & FAULT_PERM.READ) !== 0, write: (r.perms & FAULT_PERM.WRITE) !== 0,
      exec: (r.perms & FAULT_PERM.EXEC) !== 0, priv: (r.perms & FAULT_PERM.PRIV) !== 0,
    });
    this.vm.log(`vmm: page request ${d.prid.toString(16)}${r.pasid === undefined ? '' : ` PASID ${r.pasid}`} -> guest ${d.vrid.toString(16)} PASID ${gpasid ?? '-'} addr 0x${r.addr.toString(16)} PRGI ${r.groupId}: ${typeof outcome === 'string' ? outcome : `auto-response ${outcome.autoResponse}`}`);
    if (!r.last) return;
    if (outcome === 'queued') this.pending.set(groupKey(d.vrid, gpasid, r.groupId), r.cookie);
    else ctx.faultRespond(ids.fault, r.cookie, outcome === 'rejected' || outcome === 'dropped' ? PageResponseCode.InvalidRequest : hostResponseCode(outcome.autoResponse));
  }

  /** The guest's page-group response for function `vrid`: back to the device through the cookie of the group it names. */
  respond(vrid: Sid, r: PageGroupResponse): void {
    const k = groupKey(vrid, r.pasid, r.prgi);
    const cookie = this.pending.get(k);
    if (cookie === undefined) {
      this.vm.log(`vmm: guest response for ${k} answers no forwarded page group; ignored`);
      return;
    }
    this.pending.delete(k);
    try {
      this.vm.ctx.faultRespond(this.vm.ids.fault, cookie, hostResponseCode(r.code));
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      this.vm.log(`vmm: guest response for ${k}: ${e.message}`); // answered already (device reset, detach)
    }
  }

  /** Forwarded groups of a reset function were answered by the host: a late guest answer matches nothing. */
  forget(vrid: Sid): void {
    for (const k of [...this.pending.keys()]) if (k.startsWith(`${vrid}:`)) this.pending.delete(k);
  }

  /** Forgets everything (VM teardown). */
  clear(): void {
    this.pending.clear();
  }
}
