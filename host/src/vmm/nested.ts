/**
 * Nested mode: the guest's first-stage tables are used as they are, over the
 * host second stage (GPA -> HPA) of the VM.
 *
 * - A guest PASID-entry change followed by a PASID-cache invalidation
 *   (§6.5.2.2) makes the VMM re-read the entry: a present first-stage entry
 *   (PGTT 1) becomes a nested HWPT over the vIOMMU, attached to (device,
 *   host PASID); the guest PASID gets a host PASID from the VM's set (the
 *   gPASID -> hPASID table); a cleared entry detaches and frees them.
 * - Guest PASID-based IOTLB invalidations (§6.5.2.4) pass through as
 *   `hwptInvalidate` on the bound HWPTs of that (DID, PASID).
 * - A page request a device sends on a nested domain arrives in the VM's
 *   fault queue; the VMM forwards it to the guest's page-request queue with
 *   the pRID translated to the vRID and the host PASID to the guest PASID,
 *   and the guest's page-group response goes back by the group's cookie.
 *
 * Guest mistakes (an entry pointing nowhere, a PASID the host cannot give)
 * leave the (device, PASID) unbound — its DMA is blocked — and are logged.
 */
import { isHostIommuError } from '../hostiommu/errors.js';
import { FAULT_PERM, PRG_RESPONSE } from '../hostiommu/fault-queue.js';
import { S1_INVALIDATE_ALL } from '../hostiommu/hwpt.js';
import type { PageGroupResponse } from '../vtd/prq/page-request.js';
import { PGTT, type PasidEntry } from '../../../firmware-tests/lib/tables.js';
import { pasidEntry, presentPasids, smContext } from './guest-tables.js';
import type { ModeHandler, VirtualMachine, VmDevice } from './virtual-machine.js';

/** §6.5.2.2 PASID-cache granularity: PASID-selective within a domain. */
const PC_PASID_SELECTIVE = 1;

/** What a guest PASID entry asks for, in the fields a nested HWPT takes. */
interface FirstStage { readonly fsptptr: bigint; readonly did: number; readonly fsLevels: 4 | 5; readonly sre: boolean; readonly wpe: boolean }

/** One bound (device, guest PASID). */
interface Binding extends FirstStage { readonly hwpt: number; readonly dev: VmDevice; readonly gpasid: number; readonly ridPasid: boolean }

const key = (vrid: number, gpasid: number): string => `${vrid}:${gpasid}`;

/** The nested-mode VMM logic of one VM. */
export class NestedMode implements ModeHandler {
  /** Bound (vRID, gPASID) -> binding. */
  readonly bindings = new Map<string, Binding>();
  /** Forwarded page groups waiting for the guest: "vrid:gpasid:prgi" -> fault cookie. */
  readonly pending = new Map<string, number>();

  constructor(private readonly vm: VirtualMachine) {}

  onInvalidate(op: string, args: readonly unknown[]): void {
    if (op === 'invPasidCache') {
      const [g, , pasid] = args as [number, number, number];
      for (const d of this.vm.devices.values()) {
        if (g === PC_PASID_SELECTIVE) this.sync(d, pasid);
        else this.syncDevice(d);
      }
    } else if (op === 'invPasidIotlb' || op === 'invPasidIotlbPage') {
      const [did, pasid, addr, am, ih] = args as [number, number, bigint?, number?, (number | boolean)?];
      const entry = op === 'invPasidIotlb' ? { addr: 0n, npages: S1_INVALIDATE_ALL } : { addr: addr!, npages: 1n << BigInt(am!), leafOnly: Boolean(ih) };
      for (const b of this.bindings.values()) if (b.did === did && b.gpasid === pasid) this.vm.ctx.hwptInvalidate(b.hwpt, [entry]);
    } else if (op.startsWith('invContext')) {
      for (const d of this.vm.devices.values()) this.syncDevice(d);
    }
  }

  /** Re-reads every PASID of `d` the guest has present or the VMM has bound. */
  private syncDevice(d: VmDevice): void {
    const ce = this.context(d);
    const pasids = new Set([...(ce ? presentPasids(this.vm.host.guestRam, ce) : [])]);
    for (const b of this.bindings.values()) if (b.dev === d) pasids.add(b.gpasid);
    for (const p of pasids) this.sync(d, p);
  }

  private context(d: VmDevice) {
    const unit = this.vm.machine.vtd;
    return unit.scalableMode() ? smContext(this.vm.host.guestRam, unit.latchedRootTable, d.vrid) : undefined;
  }

  /** Makes the host binding of (d, gpasid) follow the guest's PASID entry. */
  sync(d: VmDevice, gpasid: number): void {
    const ce = this.context(d);
    const pe = ce && pasidEntry(this.vm.host.guestRam, ce, gpasid);
    const want = pe && this.firstStage(d, gpasid, pe);
    const have = this.bindings.get(key(d.vrid, gpasid));
    if (have && want && sameStage(have, want)) return;
    if (have && !want) {
      this.unbind(have);
      return;
    }
    if (want) this.bind(d, gpasid, want, have, ce!.RID_PASID === gpasid);
  }

  private firstStage(d: VmDevice, gpasid: number, pe: PasidEntry): FirstStage | undefined {
    if (pe.PGTT !== PGTT.FIRST_STAGE) {
      this.vm.log(`nested: ${d.vrid.toString(16)} PASID ${gpasid}: PGTT ${pe.PGTT} is not a first-stage entry; left unbound`);
      return undefined;
    }
    return { fsptptr: pe.FSPTPTR, did: Number(pe.DID), fsLevels: Number(pe.FSPM) === 1 ? 5 : 4, sre: pe.SRE, wpe: pe.WPE };
  }

  /** Binds (or rebinds, replacing `old`) a nested HWPT for (d, gpasid); on a host error nothing changes. */
  private bind(d: VmDevice, gpasid: number, fs: FirstStage, old: Binding | undefined, ridPasid: boolean): void {
    const { ctx, ids } = this.vm;
    let hwpt: number | undefined;
    let newHost: number | undefined;
    try {
      const hpasid = ridPasid ? undefined : (ctx.guestPasids.hostOf(gpasid) ?? (newHost = this.mapHostPasid(gpasid)));
      hwpt = ctx.hwptAllocNested(ids.viommu, { ...fs, faultId: ids.fault, pasid: true });
      if (old) ctx.replace(d.devId, hwpt, hpasid);
      else ctx.attach(d.devId, hwpt, hpasid);
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      if (hwpt !== undefined) ctx.destroy(hwpt);
      if (newHost !== undefined) this.freeHostPasid(gpasid);
      this.vm.log(`nested: bind ${d.vrid.toString(16)} PASID ${gpasid} refused by the host: ${e.message}`);
      return;
    }
    if (old) ctx.destroy(old.hwpt);
    this.bindings.set(key(d.vrid, gpasid), { ...fs, hwpt, dev: d, gpasid, ridPasid });
    this.vm.log(`nested: ${d.vrid.toString(16)} PASID ${gpasid} -> host PASID ${ridPasid ? 'RID_PASID' : ctx.guestPasids.hostOf(gpasid)}, nested HWPT ${hwpt} (FS root 0x${fs.fsptptr.toString(16)})`);
  }

  private unbind(b: Binding): void {
    const { ctx } = this.vm;
    ctx.detach(b.dev.devId, b.ridPasid ? undefined : ctx.guestPasids.hostOf(b.gpasid));
    ctx.destroy(b.hwpt);
    this.bindings.delete(key(b.dev.vrid, b.gpasid));
    if (!b.ridPasid && ![...this.bindings.values()].some((o) => o.gpasid === b.gpasid && !o.ridPasid)) this.freeHostPasid(b.gpasid);
    this.vm.log(`nested: ${b.dev.vrid.toString(16)} PASID ${b.gpasid} unbound`);
  }

  /** A host PASID for guest PASID `g` from the VM's set, recorded in the gPASID -> hPASID table. */
  mapHostPasid(g: number): number {
    const { ctx, ids } = this.vm;
    const h = ctx.pasidAlloc(ids.pasidSet);
    try {
      ctx.guestPasidMap(g, h);
    } catch (e) {
      ctx.pasidFree(ids.pasidSet, h);
      throw e;
    }
    return h;
  }

  private freeHostPasid(g: number): void {
    const { ctx, ids } = this.vm;
    const h = ctx.guestPasidUnmap(g);
    ctx.pasidFree(ids.pasidSet, h);
  }

  // -- I/O page faults -----------------------------------------------------

  /** Forwards every readable fault group to the guest's page-request queue. */
  onFaultReady(): void {
    const { ctx, ids, machine } = this.vm;
    for (const r of ctx.faultRead(ids.fault)) {
      const d = [...this.vm.devices.values()].find((x) => x.devId === r.devId)!;
      const vrid = ctx.vridOf(ids.viommu, d.prid);
      const b = [...this.bindings.values()].find((x) => x.dev === d && (r.pasid === undefined ? x.ridPasid : ctx.guestPasids.hostOf(x.gpasid) === r.pasid));
      const gpasid = r.pasid === undefined ? undefined : ctx.guestPasids.guestOf(r.pasid);
      const outcome = machine.vtd.submitPageRequest({
        sid: vrid, pasid: b?.ridPasid ? undefined : gpasid, addr: r.addr, prgi: r.groupId, lpig: r.last,
        read: (r.perms & FAULT_PERM.READ) !== 0, write: (r.perms & FAULT_PERM.WRITE) !== 0,
        exec: (r.perms & FAULT_PERM.EXEC) !== 0, priv: (r.perms & FAULT_PERM.PRIV) !== 0,
      });
      this.vm.log(`nested: page request ${d.prid.toString(16)} -> guest ${vrid.toString(16)} PASID ${gpasid ?? '-'} addr 0x${r.addr.toString(16)}: ${typeof outcome === 'string' ? outcome : `auto-response ${outcome.autoResponse}`}`);
      if (!r.last) continue;
      const k = `${vrid}:${gpasid ?? '-'}:${r.groupId}`;
      if (outcome === 'queued') this.pending.set(k, r.cookie);
      else ctx.faultRespond(ids.fault, r.cookie, outcome === 'rejected' || outcome === 'dropped' ? PRG_RESPONSE.INVALID : outcome.autoResponse);
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

  teardown(): void {
    for (const b of [...this.bindings.values()]) this.unbind(b);
    this.pending.clear();
  }
}

function sameStage(a: FirstStage, b: FirstStage): boolean {
  return a.fsptptr === b.fsptptr && a.did === b.did && a.fsLevels === b.fsLevels && a.sre === b.sre && a.wpe === b.wpe;
}
