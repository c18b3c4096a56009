/**
 * Nested mode: the guest's first-stage tables are used as they are, over
 * the host second stage (GPA -> HPA) of the VM. The guest's unit advertises
 * caching mode and first-stage, second-stage and pass-through translation
 * (not nested: ECAP.NEST = 0). What each guest entry becomes, and how
 * invalidations reach the host, is guest-mirror.ts:
 *
 * - a PASID entry with PGTT 1 becomes a nested HWPT over the vIOMMU,
 *   attached to (device, host PASID); the guest PASID gets a host PASID from
 *   the VM's set (the gPASID -> hPASID table) unless the guest already
 *   holds it through the virtual command interface (vcmd-pasids.ts:
 *   gPASID == hPASID); PGTT 2 and legacy entries
 *   are shadowed, PGTT 4 uses the VM's GPA -> HPA domain;
 * - guest IOTLB invalidations (global, domain, page: §6.5.2.3) and
 *   PASID-based IOTLB invalidations (§6.5.2.4) pass through as
 *   `hwptInvalidate` on the nested HWPTs they cover, so the host IOTLB
 *   drops what the guest's own unit drops.
 *
 * Here: a page request a device sends on a nested domain arrives in the
 * VM's fault queue; the VMM forwards it to the guest's page-request queue
 * with the pRID translated to the vRID and the host PASID to the guest
 * PASID, and the guest's page-group response goes back by the group's
 * cookie.
 */
import { isHostIommuError } from '../hostiommu/errors.js';
import { FAULT_PERM } from '../hostiommu/fault-queue.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import type { PageGroupResponse } from '../vtd/prq/page-request.js';
import { GuestMirror } from './guest-mirror.js';

/** The nested-mode VMM logic of one VM. */
export class NestedMode extends GuestMirror {
  /** Forwarded page groups waiting for the guest: "vrid:gpasid:prgi" -> fault cookie. */
  readonly pending = new Map<string, number>();

  /** Forwards every readable fault group to the guest's page-request queue. */
  onFaultReady(): void {
    const { ctx, ids, machine } = this.vm;
    for (const r of ctx.faultRead(ids.fault)) {
      const d = [...this.vm.devices.values()].find((x) => x.devId === r.devId)!;
      const vrid = ctx.vridOf(ids.viommu, d.prid);
      const gpasid = r.pasid === undefined ? undefined : ctx.guestPasids.guestOf(r.pasid);
      const outcome = machine.vtd.submitPageRequest({
        sid: vrid, pasid: gpasid, addr: r.addr, prgi: r.groupId, lpig: r.last,
        read: (r.perms & FAULT_PERM.READ) !== 0, write: (r.perms & FAULT_PERM.WRITE) !== 0,
        exec: (r.perms & FAULT_PERM.EXEC) !== 0, priv: (r.perms & FAULT_PERM.PRIV) !== 0,
      });
      this.vm.log(`nested: page request ${d.prid.toString(16)} -> guest ${vrid.toString(16)} PASID ${gpasid ?? '-'} addr 0x${r.addr.toString(16)}: ${typeof outcome === 'string' ? outcome : `auto-response ${outcome.autoResponse}`}`);
      if (!r.last) continue;
      const k = `${vrid}:${gpasid ?? '-'}:${r.groupId}`;
      if (outcome === 'queued') this.pending.set(k, r.cookie);
      else ctx.faultRespond(ids.fault, r.cookie, outcome === 'rejected' || outcome === 'dropped' ? PageResponseCode.InvalidRequest : outcome.autoResponse);
    }
  }

  /** The guest's page-group response: back to the device through the fault queue's cookie. */
  onGuestResponse(vrid: number, r: PageGroupResponse): void {
    const k = `${vrid}:${r.pasid ?? '-'}:${r.prgi}`;
    const cookie = this.pending.get(k);
    if (cookie === undefined) {
      this.vm.log(`nested: guest response for ${k} answers no forwarded page group; ignored`);
      return;
    }
    this.pending.delete(k);
    try {
      this.vm.ctx.faultRespond(this.vm.ids.fault, cookie, r.code);
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      this.vm.log(`nested: guest response for ${k}: ${e.message}`); // answered already (device reset, detach)
    }
  }

  /** Forwarded groups of a reset device were answered by the host: a late guest answer matches nothing. */
  onDeviceReset(vrid: number): void {
    for (const k of [...this.pending.keys()]) if (k.startsWith(`${vrid}:`)) this.pending.delete(k);
  }

  override teardown(): void {
    super.teardown();
    this.pending.clear();
  }
}
