/**
 * Shadow mode: the guest's unit advertises caching mode (CAP.CM = 1, §6.1),
 * so the guest invalidates after *every* change of its tables, including
 * not-present -> present. Each invalidation makes the VMM re-read the
 * guest's legacy tables (§9.3 context, §9.8 second stage) for exactly the
 * invalidated scope and turn the difference into IOAS map/unmap on a host
 * second stage (one IOAS + paging HWPT per guest domain). Devices DMA
 * through the host domain only: a guest that changes a mapping and forgets
 * the invalidation keeps the old host mapping, as a stale IOTLB entry on
 * real hardware would.
 *
 * Host DMA faults are shown to the guest as the fault its own tables give
 * (§7.1.3 legacy reasons 5/6), in its fault recording registers.
 */
import { FR_READ, FR_WRITE } from '../core/constants.js';
import { isHostIommuError } from '../hostiommu/errors.js';
import { PERM } from '../hostiommu/ss-table.js';
import { legacyContext, levelsOfAw, ssLeaves, type SsLeaf } from './guest-tables.js';
import type { HostDmaFault } from './host-port.js';
import type { ModeHandler, VirtualMachine, VmDevice } from './virtual-machine.js';

/** One shadowed guest domain. */
interface ShadowDomain {
  readonly did: number;
  readonly ioas: number;
  readonly hwpt: number;
  root: bigint;
  levels: number;
  /** Host mappings made from the guest's leaves, by IOVA. */
  readonly leaves: Map<bigint, SsLeaf>;
  /** vRIDs attached. */
  readonly devices: Set<number>;
}

const ALL = { from: 0n, to: 1n << 57n } as const;

/** The shadow-mode VMM logic of one VM. */
export class ShadowMode implements ModeHandler {
  /** Shadowed guest domains by guest DID. */
  readonly domains = new Map<number, ShadowDomain>();
  /** Host map/unmap calls made (for narration and tests). */
  readonly stats = { maps: 0, unmaps: 0 };

  constructor(private readonly vm: VirtualMachine) {}

  onInvalidate(op: string, args: readonly unknown[]): void {
    if (op.startsWith('invContext')) this.syncContexts();
    else if (op === 'invIotlbGlobal') for (const d of this.domains.values()) this.syncRange(d, ALL.from, ALL.to);
    else if (op === 'invIotlbDomain') this.syncDid(args[0] as number, ALL.from, ALL.to);
    else if (op === 'invIotlbPage') {
      const [did, addr, am] = args as [number, bigint, number];
      const base = addr & ~((1n << BigInt(12 + am)) - 1n);
      this.syncDid(did, base, base + (1n << BigInt(12 + am)));
    }
  }

  private syncDid(did: number, from: bigint, to: bigint): void {
    const d = this.domains.get(did);
    if (d) this.syncRange(d, from, to);
  }

  /** Re-reads every device's context entry: attach to the shadow of its domain, or detach. */
  private syncContexts(): void {
    const unit = this.vm.machine.vtd;
    for (const dev of this.vm.devices.values()) {
      const ce = unit.scalableMode() ? undefined : legacyContext(this.vm.host.guestRam, unit.latchedRootTable, dev.vrid);
      const want = ce && Number(ce.TT) === 0 ? { did: Number(ce.DID), root: ce.SLPTPTR, levels: levelsOfAw(ce.AW) } : undefined;
      const cur = [...this.domains.values()].find((d) => d.devices.has(dev.vrid));
      if (cur && want && cur.did === want.did) {
        if (cur.root !== want.root || cur.levels !== want.levels) Object.assign(cur, { root: want.root, levels: want.levels });
        this.syncRange(cur, ALL.from, ALL.to);
        continue;
      }
      if (cur) this.detach(dev, cur);
      if (want) this.attach(dev, want);
    }
  }

  private attach(dev: VmDevice, want: { did: number; root: bigint; levels: number }): void {
    const { ctx } = this.vm;
    let d = this.domains.get(want.did);
    try {
      if (!d) {
        const ioas = ctx.ioasAlloc();
        let hwpt: number;
        try {
          hwpt = ctx.hwptAllocPaging(ioas);
        } catch (e) {
          ctx.destroy(ioas);
          throw e;
        }
        d = { did: want.did, ioas, hwpt, root: want.root, levels: want.levels, leaves: new Map(), devices: new Set() };
        this.domains.set(want.did, d);
        this.syncRange(d, ALL.from, ALL.to);
      }
      ctx.attach(dev.devId, d.hwpt);
      d.devices.add(dev.vrid);
      this.vm.log(`shadow: ${dev.vrid.toString(16)} -> guest domain ${want.did} (host HWPT ${d.hwpt}, ${d.leaves.size} mappings)`);
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      this.vm.log(`shadow: attaching ${dev.vrid.toString(16)} to guest domain ${want.did} refused by the host: ${e.message}`);
      if (d && d.devices.size === 0) this.dropDomain(d);
    }
  }

  private detach(dev: VmDevice, d: ShadowDomain): void {
    this.vm.ctx.detach(dev.devId);
    d.devices.delete(dev.vrid);
    if (d.devices.size === 0) this.dropDomain(d);
  }

  private dropDomain(d: ShadowDomain): void {
    this.vm.ctx.destroy(d.hwpt);
    this.vm.ctx.destroy(d.ioas);
    this.domains.delete(d.did);
  }

  /** Makes the host mappings of `d` in [from, to) equal the guest's present leaves there. */
  private syncRange(d: ShadowDomain, from: bigint, to: bigint): void {
    const { ctx, host } = this.vm;
    const guest = new Map(ssLeaves(host.guestRam, d.root, d.levels, from, to).map((l) => [l.iova, l]));
    for (const [iova, old] of d.leaves) {
      if (iova < from || iova >= to || sameLeaf(old, guest.get(iova))) continue;
      ctx.ioasUnmap(d.ioas, iova, 1n << BigInt(old.sizeLg2));
      d.leaves.delete(iova);
      this.stats.unmaps++;
    }
    for (const [iova, leaf] of guest) {
      if (d.leaves.has(iova)) continue;
      const len = 1n << BigInt(leaf.sizeLg2);
      if (!host.guestRam.contains(leaf.gpa, Number(len))) {
        this.vm.log(`shadow: guest domain ${d.did} maps 0x${iova.toString(16)} to 0x${leaf.gpa.toString(16)}, outside guest RAM; not mapped`);
        continue;
      }
      try {
        ctx.ioasMap(d.ioas, { iova, hpa: host.hpaOf(leaf.gpa), len, perms: (leaf.read ? PERM.READ : 0) | (leaf.write ? PERM.WRITE : 0) });
        d.leaves.set(iova, leaf);
        this.stats.maps++;
      } catch (e) {
        if (!isHostIommuError(e)) throw e;
        this.vm.log(`shadow: mapping 0x${iova.toString(16)} of guest domain ${d.did} refused by the host: ${e.message}`);
      }
    }
  }

  /** A host DMA fault: recorded in the guest's fault registers at the device's vRID. */
  onHostFault(dev: VmDevice, f: HostDmaFault): void {
    this.vm.machine.vtd.faults.record({ sid: dev.vrid, reason: f.write ? FR_WRITE : FR_READ, addr: f.iova & ~0xfffn, read: !f.write, pp: false, pv: 0 });
  }

  teardown(): void {
    for (const d of [...this.domains.values()]) {
      for (const v of d.devices) this.vm.ctx.detach(this.vm.device(v).devId);
      d.devices.clear();
      this.dropDomain(d);
    }
  }
}

function sameLeaf(a: SsLeaf, b: SsLeaf | undefined): boolean {
  return b !== undefined && a.gpa === b.gpa && a.sizeLg2 === b.sizeLg2 && a.read === b.read && a.write === b.write;
}
