/**
 * The VMM logic both modes share: it keeps the host attachments of every
 * requester the guest programs — a device's requests without PASID, and
 * each PASID it uses — equal to what the guest's structures ask for
 * (guest-view.ts), and follows the guest's invalidations:
 *
 * - context-cache (§6.5.2.1) and PASID-cache (§6.5.2.2) invalidations make
 *   the VMM re-read the entries they cover and attach each requester to a
 *   shadow domain (shadow-domains.ts), a nested HWPT over the vIOMMU (the
 *   guest's first stage walked by the host), the VM's GPA -> HPA domain
 *   (pass-through), or nothing;
 * - IOTLB invalidations (§6.5.2.3, global / domain / page) re-sync shadow
 *   domains and pass through to the nested HWPTs of that domain (the host
 *   IOTLB caches nested translations too); PASID-based IOTLB invalidations
 *   (§6.5.2.4) pass through to the nested HWPTs of (DID, PASID);
 * - a DMA the host refuses is recorded in the guest's fault registers with
 *   the reason the guest's own tables give (or the refusal's reason).
 *
 * On the group path (`VmConfig.hostPath` 'group', shadow-spaces.ts) a
 * device joins its shadow domain's VFIO container by IOMMU group instead
 * of being attached to an HWPT in the VM's context; on the vdpa path the
 * shadow domains are changed through vhost IOTLB messages, and a VM mixing
 * VFIO and vDPA devices has each shadow domain followed by both
 * (shadow-spaces.ts SubsystemSpaces).
 *
 * A guest PASID gets a host PASID from the VM's set (the gPASID -> hPASID
 * table) while any requester of it is bound or refused; a refused one keeps
 * it, so its DMA reaches the host, faults, and is reported to the guest; a
 * PASID the guest holds through virtual commands (vcmd-pasids.ts) is the
 * guest's to free and stays mapped. A
 * host refusal (out of PASIDs, memory...) is logged and leaves the
 * requester unbound. All work is charged to the guest access's budget
 * (work-budget.ts); what could not be re-verified within it is detached,
 * never left as it was.
 *
 * Page requests: HWPTs the mirror allocates in the VM's context (shadow
 * domains, nested HWPTs) report I/O page faults to the VM's fault queue
 * when every device of the VM can send them (host PRI), and the groups are
 * forwarded to the guest (guest-page-requests.ts); otherwise the host
 * answers a page request Invalid at once.
 */
import {
  FR_ADDR_WIDTH, FR_CTX_ACCESS, FR_CTX_INVALID, FR_PTE_ACCESS, FR_READ, FR_SM_ADDR_WIDTH, FR_SM_READ, FR_SM_SS_ACCESS,
  FR_SM_SS_NP, FR_SM_SS_RSVD, FR_SM_SS_TOP_ACCESS, FR_SM_WRITE, FR_SS_ACCESS, FR_SS_RSVD, FR_WRITE,
} from '../core/constants.js';
import { isHostIommuError } from '../hostiommu/errors.js';
import { S1_INVALIDATE_ALL, type S1Invalidation } from '../hostiommu/hwpt.js';
import type { InvalidationEvent } from '../vtd/cache-invalidation.js';
import { PC_DESC } from '../vtd/spec/descriptors.js';
import { CAP, ECAP } from '../vtd/spec/registers.js';
import { isFault, presentPasids, smContext } from './guest-tables.js';
import { sameWant, wantOf, type GuestUnitView, type Want } from './guest-view.js';
import type { HostDmaFault } from './host-port.js';
import { ShadowDomains, type ShadowDomain } from './shadow-domains.js';
import { GroupPath, iommufdSpace, SubsystemSpaces, vdpaSpace, type DomainSpace } from './shadow-spaces.js';
import { GuestPageRequests } from './guest-page-requests.js';
import type { PageGroupResponse } from '../vtd/prq/page-request.js';
import type { SsFaultKind } from './ss-walk.js';
import { AccessBudget, type WorkBudget } from './work-budget.js';
import type { ModeHandler, VirtualMachine, VmDevice } from './virtual-machine.js';
import type { Iova, Pasid, Sid } from '../types.js';

/** One requester's host state. */
export interface Binding {
  readonly dev: VmDevice;
  /** The PASID of its requests (undefined: requests without PASID). */
  readonly gpasid: Pasid | undefined;
  /** The guest PASID entry it follows (RID_PASID for requests without PASID in scalable mode). */
  readonly entryPasid: Pasid | undefined;
  readonly want: Want;
  /** The host HWPT it is attached to (undefined: detached, its DMA faults). */
  readonly hwpt: number | undefined;
  /** A nested HWPT allocated for it (destroyed with it). */
  readonly nested?: number;
  readonly domain?: ShadowDomain;
}

/** Fault reason per second-stage fault kind: [legacy read, legacy write, scalable read, scalable write] (§7.1.3). */
const SS_FAULT_CODES: Record<SsFaultKind, readonly [number, number, number, number]> = {
  'top-access': [FR_CTX_INVALID, FR_CTX_INVALID, FR_SM_SS_TOP_ACCESS, FR_SM_SS_TOP_ACCESS],
  access: [FR_SS_ACCESS, FR_SS_ACCESS, FR_SM_SS_ACCESS, FR_SM_SS_ACCESS],
  'not-present': [FR_READ, FR_WRITE, FR_SM_SS_NP, FR_SM_SS_NP],
  read: [FR_READ, FR_READ, FR_SM_READ, FR_SM_READ],
  write: [FR_WRITE, FR_WRITE, FR_SM_WRITE, FR_SM_WRITE],
  reserved: [FR_SS_RSVD, FR_SS_RSVD, FR_SM_SS_RSVD, FR_SM_SS_RSVD],
  width: [FR_ADDR_WIDTH, FR_ADDR_WIDTH, FR_SM_ADDR_WIDTH, FR_SM_ADDR_WIDTH],
};

const key = (vrid: number, gpasid: number | undefined): string => `${vrid}:${gpasid ?? 'rid'}`;

/** The attachments and invalidation logic of one VM (ShadowMode and NestedMode build on it). */
export class GuestMirror implements ModeHandler {
  /** Requesters with host state, by "vrid:gpasid" ("vrid:rid" without PASID). */
  readonly bindings = new Map<string, Binding>();
  readonly shadows: ShadowDomains;
  private readonly budget: AccessBudget;
  /** Guest PASIDs whose host PASID this mirror mapped (and frees when unused); others the guest holds (vcmd-pasids.ts). */
  private readonly mapped = new Set<number>();
  /** The VFIO containers of the group path (undefined on the cdev path). */
  private readonly groupPath: GroupPath | undefined;
  /** Paging HWPT over the VM's IOAS (GPA -> HPA) for pass-through requesters, allocated on first use. */
  private ptHwpt: number | undefined;
  /** Page groups forwarded to the guest, awaiting its response. */
  readonly pageRequests: GuestPageRequests;
  /** The VM's fault queue, given to the HWPTs the mirror allocates; undefined when a device of the VM has no PRI. */
  private readonly faultId: number | undefined;

  constructor(protected readonly vm: VirtualMachine) {
    const p = vm.machine.vtd.profile;
    const groupPath = vm.hostPath === 'group' && vm.config.groups ? new GroupPath(vm, vm.config.groups) : undefined;
    this.groupPath = groupPath;
    this.pageRequests = new GuestPageRequests(vm);
    const pri = [...vm.devices.values()].every((d) => vm.host.platform.deviceInfo(d.prid)?.pri === true);
    const faultId = pri ? vm.ids.fault : undefined;
    this.faultId = faultId;
    this.shadows = new ShadowDomains({
      ctx: vm.ctx, ram: vm.host.guestRam, hpaOf: (gpa) => vm.host.hpaOf(gpa), log: (m) => vm.log(m),
      space: groupPath ? (did) => groupPath.space(did) : () => new SubsystemSpaces((path) => (path === 'vdpa' ? vdpaSpace : iommufdSpace)(vm.ctx, faultId), vm.hostPath),
      limits: { haw: p.haw, sslps: CAP.sslps(p.cap), snoopControl: (p.ecap & ECAP.SC) !== 0n },
    });
    this.budget = new AccessBudget(() => vm.machine.vtd.accesses, vm.config.workBudget);
  }

  /** A host fault-queue group became readable: to the guest's page-request queue. */
  onFaultReady(): void {
    this.pageRequests.forward();
  }

  /** The guest answered a page group of `vrid`. */
  onGuestResponse(vrid: Sid, r: PageGroupResponse): void {
    this.pageRequests.respond(vrid, r);
  }

  /** The device `vrid` was reset: its forwarded groups were answered by the host. */
  onDeviceReset(vrid: Sid): void {
    this.pageRequests.forget(vrid);
  }

  /** The VM device of `prid` with a host attachment for guest PASID `gpasid`. */
  requester(prid: Sid, gpasid: Pasid): VmDevice | undefined {
    for (const b of this.bindings.values()) if (b.dev.prid === prid && b.gpasid === gpasid && b.hwpt !== undefined) return b.dev;
    return undefined;
  }

  onInvalidate(ev: InvalidationEvent): void {
    const budget = this.budget.current();
    switch (ev.kind) {
      case 'contextGlobal': case 'contextDomain': case 'contextDevice':
        return this.onContextCache(budget);
      case 'pasidCache':
        return this.onPasidCache(ev, budget);
      default:
        this.shadows.invalidate(ev, budget);
        this.passThrough(ev);
    }
  }

  /**
   * A context-cache invalidation re-reads every requester and, as QEMU does
   * (vtd_address_space_sync), re-syncs the shadow domains that were already
   * there (new ones were just built).
   */
  private onContextCache(budget: WorkBudget): void {
    const before = [...this.shadows.byDid.values()];
    this.syncAll(budget, true);
    for (const d of before) if (this.shadows.byDid.get(d.did) === d) this.shadows.syncWhole(d, budget);
  }

  /** Re-reads the requesters of every device (`withRid`: also their requests without PASID). */
  private syncAll(budget: WorkBudget, withRid: boolean): void {
    for (const d of this.vm.devices.values()) this.syncDevice(d, budget, withRid);
  }

  /** §6.5.2.2: granularity 1 is one PASID within a domain, 0 a domain, 3 global. */
  private onPasidCache({ granularity, pasid }: { granularity: number; pasid: number }, budget: WorkBudget): void {
    if (granularity !== PC_DESC.G_PASID) return this.syncAll(budget, true);
    for (const d of this.vm.devices.values()) {
      const ce = this.view().scalable ? smContext(this.vm.host.guestRam, this.view().rootTable, d.vrid) : undefined;
      const rid = ce !== undefined && !isFault(ce) && Number(ce.RID_PASID) === pasid;
      this.sync(d, rid ? undefined : pasid, budget);
    }
  }

  /** Re-reads every PASID of `d` the guest has present or the VMM holds (and its RID requests). */
  private syncDevice(d: VmDevice, budget: WorkBudget, withRid: boolean): void {
    const view = this.view();
    const ce = view.scalable ? smContext(view.mem, view.rootTable, d.vrid) : undefined;
    const pasids = new Set<number>();
    if (ce !== undefined && !isFault(ce) && ce.PASIDE) {
      const present = presentPasids(view.mem, ce, budget);
      if (present === undefined) return this.blockDevice(d, 'its PASID table needs more work than one guest access may cause');
      for (const p of present) if (p !== Number(ce.RID_PASID)) pasids.add(p);
    }
    for (const b of this.bindings.values()) if (b.dev === d && b.gpasid !== undefined) pasids.add(b.gpasid);
    if (withRid) this.sync(d, undefined, budget);
    for (const p of pasids) this.sync(d, p, budget);
  }

  /** Makes the host state of (d, gpasid) follow the guest's entry. */
  private sync(d: VmDevice, gpasid: number | undefined, budget: WorkBudget): void {
    if (budget.left < 0) return this.blockDevice(d, 'the guest access ran out of work budget');
    const view = this.view();
    const want = wantOf(view, d.vrid, gpasid);
    const entryPasid = gpasid ?? this.ridPasid(d);
    this.converge(d, gpasid, entryPasid, want, budget);
  }

  private ridPasid(d: VmDevice): number | undefined {
    const view = this.view();
    if (!view.scalable) return undefined;
    const ce = smContext(view.mem, view.rootTable, d.vrid);
    return isFault(ce) ? undefined : Number(ce.RID_PASID);
  }

  /** Detaches every requester of `d` (its DMA faults as unreadable entries) until the next sync. */
  private blockDevice(d: VmDevice, why: string): void {
    let n = 0;
    for (const b of [...this.bindings.values()]) {
      if (b.dev !== d || b.want.kind === 'refused') continue;
      const reason = b.gpasid === undefined && !this.view().scalable ? FR_CTX_ACCESS : FR_PTE_ACCESS;
      this.converge(d, b.gpasid, b.entryPasid, { kind: 'refused', reason, why }, { left: 0 });
      n++;
    }
    if (n) this.vm.log(`vmm: ${d.vrid.toString(16)}: ${n} requester(s) detached: ${why}`);
  }

  /** Moves the host state of one requester to `want`; a host refusal leaves it unbound (logged), never as it was. */
  private converge(d: VmDevice, gpasid: number | undefined, entryPasid: number | undefined, want: Want, budget: WorkBudget): void {
    const k = key(d.vrid, gpasid);
    const have = this.bindings.get(k);
    if (have && sameWant(have.want, want)) return;
    if (want.kind === 'absent') {
      if (have) this.unbind(have);
      return;
    }
    const { ctx } = this.vm;
    let hpasid: number | undefined;
    let target: Target | undefined;
    try {
      this.groupPath?.check(want.kind, gpasid);
      hpasid = gpasid === undefined ? undefined : (ctx.guestPasids.hostOf(gpasid) ?? this.mapHostPasid(gpasid));
      target = this.target(d, want, budget);
      if (this.groupPath) this.groupPath.place(d, target?.domain?.space ?? target?.space);
      else if (target && have?.hwpt !== undefined) ctx.replace(d.devId, target.hwpt!, hpasid);
      else if (target) ctx.attach(d.devId, target.hwpt!, hpasid);
      else if (have?.hwpt !== undefined) ctx.detach(d.devId, hpasid);
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      if (target) this.release(target, want);
      this.vm.log(`vmm: ${label(d, gpasid)}: ${want.kind === 'shadow' ? `shadow of guest domain ${want.did}` : want.kind} refused by the host: ${e.message}`);
      // Never keep serving what the guest replaced; leave nothing behind (its DMA is blocked).
      if (have) this.unbind(have);
      else if (gpasid !== undefined) this.unbindPasidIfUnused(gpasid);
      return;
    }
    if (have) this.release(have, have.want);
    this.bindings.set(k, { dev: d, gpasid, entryPasid, want, hwpt: target?.hwpt, nested: target?.nested, domain: target?.domain });
    this.vm.log(`vmm: ${label(d, gpasid)} -> ${describe(want, target?.hwpt, hpasid)}`);
  }

  /** The host HWPT a want of device `d` attaches to (undefined for a refusal). */
  private target(d: VmDevice, want: Want, budget: WorkBudget): Target | undefined {
    const { ctx, ids } = this.vm;
    switch (want.kind) {
      case 'shadow': {
        const domain = this.shadows.acquire(want, budget);
        try {
          return { hwpt: domain.space.hwptFor(d.hostPath), domain };
        } catch (e) {
          this.shadows.release(domain, want, budget);
          throw e;
        }
      }
      case 'nested': {
        const { fsptptr, fsLevels, sre, wpe } = want;
        const nested = ctx.hwptAllocNested(ids.viommu, { fsptptr, fsLevels, sre, wpe, faultId: this.faultId, pasid: true });
        return { hwpt: nested, nested };
      }
      case 'pass-through':
        if (this.groupPath) return { hwpt: undefined, space: this.groupPath.passThrough() };
        this.ptHwpt ??= ctx.hwptAllocPaging(ids.ioas, { pasid: true });
        return { hwpt: this.ptHwpt };
      default:
        return undefined;
    }
  }

  /** Frees what a binding of `want` held (a shadow domain's table goes with it). */
  private release(t: { nested?: number; domain?: ShadowDomain }, want: Want): void {
    if (t.domain && want.kind === 'shadow') this.shadows.release(t.domain, want, this.budget.current());
    if (t.nested !== undefined) this.vm.ctx.destroy(t.nested);
  }

  private unbind(b: Binding): void {
    const { ctx } = this.vm;
    if (this.groupPath) this.groupPath.place(b.dev, undefined);
    else if (b.hwpt !== undefined) ctx.detach(b.dev.devId, b.gpasid === undefined ? undefined : ctx.guestPasids.hostOf(b.gpasid));
    this.release(b, b.want);
    this.bindings.delete(key(b.dev.vrid, b.gpasid));
    if (b.gpasid !== undefined) this.unbindPasidIfUnused(b.gpasid);
    this.vm.log(`vmm: ${label(b.dev, b.gpasid)} unbound`);
  }

  /** Resets the host side of `d` when this mirror placed it (group path); undefined: the VM's context holds it. */
  resetDevice(d: VmDevice): number | undefined {
    return this.groupPath?.reset(d);
  }

  /** Frees the host PASID of `g` when no requester uses it any more. */
  private unbindPasidIfUnused(g: number): void {
    if ([...this.bindings.values()].some((o) => o.gpasid === g)) return;
    if (!this.mapped.delete(g)) return;
    const { ctx, ids } = this.vm;
    if (ctx.guestPasids.hostOf(g) !== undefined) ctx.pasidFree(ids.pasidSet, ctx.guestPasidUnmap(g));
  }

  /** Unbinds every requester of guest PASID `g` (the guest frees it through a virtual command). */
  unbindPasid(g: number): void {
    for (const b of [...this.bindings.values()]) if (b.gpasid === g) this.unbind(b);
  }

  /** A host PASID for guest PASID `g` from the VM's set, recorded in the gPASID -> hPASID table. */
  private mapHostPasid(g: number): number {
    const { ctx, ids } = this.vm;
    const h = ctx.pasidAlloc(ids.pasidSet);
    try {
      ctx.guestPasidMap(g, h);
    } catch (e) {
      ctx.pasidFree(ids.pasidSet, h);
      throw e;
    }
    this.mapped.add(g);
    return h;
  }

  /** IOTLB and PASID-based IOTLB invalidations reach the nested HWPTs they cover (hwptInvalidate). */
  private passThrough(ev: InvalidationEvent): void {
    const pick = (match: (b: Binding) => boolean, entry: S1Invalidation) => {
      for (const b of this.bindings.values()) if (b.nested !== undefined && match(b)) this.vm.ctx.hwptInvalidate(b.nested, [entry]);
    };
    const all: S1Invalidation = { addr: 0n, npages: S1_INVALIDATE_ALL };
    const didOf = (b: Binding) => (b.want.kind === 'nested' ? b.want.did : -1);
    switch (ev.kind) {
      case 'iotlbGlobal': return pick(() => true, all);
      case 'iotlbDomain': return pick((b) => didOf(b) === ev.did, all);
      case 'iotlbPage': return pick((b) => didOf(b) === ev.did, pageRange(ev.addr, ev.am, Boolean(ev.ih)));
      case 'pasidIotlb': return pick((b) => didOf(b) === ev.did && b.entryPasid === ev.pasid, all);
      case 'pasidIotlbPage': return pick((b) => didOf(b) === ev.did && b.entryPasid === ev.pasid, pageRange(ev.addr, ev.am, Boolean(ev.ih)));
      default: return;
    }
  }

  /**
   * A DMA the host refused: recorded in the guest's fault recording
   * registers at the device's vRID with the reason the guest's view gives.
   */
  onHostFault(d: VmDevice, f: HostDmaFault): void {
    const gpasid = f.pasid === undefined ? undefined : this.vm.ctx.guestPasids.guestOf(f.pasid);
    const reason = this.faultReason(d, gpasid, f);
    if (reason === undefined) {
      this.vm.log(`vmm: ${label(d, gpasid)}: host fault 0x${f.reason.toString(16)} at 0x${f.iova.toString(16)} not shown to the guest`);
      return;
    }
    this.vm.machine.vtd.faults.record({ sid: d.vrid, reason, addr: f.iova & ~0xfffn, read: !f.write, pp: gpasid !== undefined, pv: gpasid ?? 0 });
  }

  /**
   * A DMA with guest PASID `gpasid` the VMM holds no host PASID for (so it
   * never reached the host IOMMU): recorded in the guest's fault registers
   * with the reason the guest's own tables give (a PASID entry not present,
   * a refused one), or SPT.1 (0x58) when they would allow it but the VMM
   * could not bind it. Returns the reason.
   */
  onUnmappedPasid(d: VmDevice, gpasid: Pasid, iova: Iova, write: boolean): number {
    const want = this.bindings.get(key(d.vrid, gpasid))?.want ?? wantOf(this.view(), d.vrid, gpasid);
    const reason = want.kind === 'absent' || want.kind === 'refused' ? want.reason : FR_PTE_ACCESS;
    this.vm.machine.vtd.faults.record({ sid: d.vrid, reason, addr: iova & ~0xfffn, read: !write, pp: true, pv: gpasid });
    return reason;
  }

  private faultReason(d: VmDevice, gpasid: number | undefined, f: HostDmaFault): number | undefined {
    const b = this.bindings.get(key(d.vrid, gpasid));
    const want = b?.want ?? wantOf(this.view(), d.vrid, gpasid);
    switch (want.kind) {
      case 'refused':
      case 'absent':
        return want.reason;
      case 'shadow': {
        const kind = b?.domain ? this.shadows.faultKind(b.domain, f.iova, f.write) : 'not-present';
        return SS_FAULT_CODES[kind][(want.scalable ? 2 : 0) + (f.write ? 1 : 0)];
      }
      case 'nested':
        return f.reason; // the physical IOMMU walked the guest's own first stage
      default:
        return undefined; // pass-through: the address is outside the VM's memory
    }
  }

  /** The guest unit as the VMM reads it. */
  protected view(): GuestUnitView {
    const unit = this.vm.machine.vtd;
    return { mem: this.vm.host.guestRam, profile: unit.profile, rootTable: unit.latchedRootTable, scalable: unit.scalableMode() };
  }

  /** Drops every binding and domain (VM teardown). */
  teardown(): void {
    this.pageRequests.clear();
    for (const b of [...this.bindings.values()]) this.unbind(b);
    this.shadows.teardown();
    this.groupPath?.teardown();
    if (this.ptHwpt !== undefined) this.vm.ctx.destroy(this.ptHwpt);
    this.ptHwpt = undefined;
  }
}

/** What a requester is attached to: an HWPT in the VM's context (none on the group path) and what was allocated for it. */
interface Target {
  readonly hwpt: number | undefined;
  readonly nested?: number;
  readonly domain?: ShadowDomain;
  /** The group path's pass-through container (no HWPT in the VM's context). */
  readonly space?: DomainSpace;
}

/** 2^am pages at `addr` (aligned down) as a first-stage invalidation entry. */
function pageRange(addr: bigint, am: number, leafOnly: boolean): S1Invalidation {
  const lg2 = BigInt(Math.min(am, 52));
  return { addr: (addr >> (12n + lg2)) << (12n + lg2), npages: 1n << lg2, leafOnly };
}

function label(d: VmDevice, gpasid: number | undefined): string {
  return `${d.vrid.toString(16)} ${gpasid === undefined ? 'RID' : `PASID ${gpasid}`}`;
}

function describe(want: Want, hwpt: number | undefined, hpasid: number | undefined): string {
  const at = `${hwpt === undefined ? 'VFIO container' : `HWPT ${hwpt}`}${hpasid === undefined ? '' : ` at host PASID ${hpasid}`}`;
  switch (want.kind) {
    case 'shadow': return `shadow of guest domain ${want.did} (${at})`;
    case 'nested': return `nested HWPT, FS root 0x${want.fsptptr.toString(16)} (${at})`;
    case 'pass-through': return `pass-through (${at})`;
    case 'refused': return `refused (fault 0x${want.reason.toString(16)}): ${want.why}`;
    default: return 'nothing';
  }
}
