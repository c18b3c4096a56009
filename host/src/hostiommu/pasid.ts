/**
 * PASID allocation on the host (the 2020-21 ioasid discussions):
 *
 * - `GlobalPasidSpace`: one system-wide namespace, as ENQCMD needs (the
 *   IA32_PASID MSR value is used by every device a process submits work to).
 *   Allocations are made through *sets* (one per VM / owner), each with a
 *   quota: a set over its quota gets EDQUOT, an exhausted space ENOSPC.
 *   Destroying a set frees all its PASIDs.
 * - `DevicePasidSpace`: a per-device namespace, as SMMUv3 guests use (the
 *   same PASID number may be live on two devices with different meanings).
 *   It never hands out a number the device already uses (is attached at)
 *   as a global PASID; the global space, in turn, does not pick by itself a
 *   number a bound device holds in its own (a subdevice's default PASID).
 * - `GuestPasidTable`: a VM's gPASID -> hPASID table; a guest PASID maps to
 *   one host PASID only, and a host PASID belongs to one VM only.
 *
 * PASID 0 is not allocated by default: in scalable mode it is RID_PASID,
 * the PASID of requests without one (§9.4).
 */
import { checkInt, fail } from './errors.js';
import type { FailInjector } from './fail-nth.js';
import type { Pasid } from '../types.js';

/** Largest PASID (20 bits, §3.x PASID width). */
export const PASID_MAX = 0xfffff;

/** A range of PASID numbers, inclusive both ends. */
export interface PasidRange {
  /** First allocatable PASID. */
  readonly first: number;
  /** Last allocatable PASID (inclusive). */
  readonly last: number;
}

function checkRange(r: PasidRange, what: string): PasidRange {
  checkInt(r.first, 0, PASID_MAX, `${what}.first`);
  checkInt(r.last, r.first, PASID_MAX, `${what}.last`);
  return r;
}

/** Says whether a PASID number is taken outside a namespace (e.g. attached as a global PASID). */
export type PasidTaken = (pasid: Pasid) => boolean;

/** A bitmap-free PASID namespace: the numbers in use, with a rotating search hint. */
class Namespace {
  readonly used = new Set<number>();
  private hint: number;

  /**
   * `takenElsewhere` numbers are skipped by allocation and refused (EBUSY)
   * when asked for; `avoided` ones are only skipped by the search (a number
   * asked for is given).
   */
  constructor(
    readonly range: PasidRange, private readonly injector: FailInjector, private readonly name: string,
    private readonly takenElsewhere: PasidTaken = () => false, private readonly avoided: PasidTaken = () => false,
  ) {
    this.hint = range.first;
  }

  /** Takes `want`, or the next free number; EEXIST / EBUSY / EINVAL / ENOSPC. */
  take(want: number | undefined, what: string): number {
    const { first, last } = this.range;
    if (want !== undefined) {
      checkInt(want, first, last, what);
      if (this.used.has(want)) fail('EEXIST', `${what}: PASID ${want} is already allocated in ${this.name}`);
      if (this.takenElsewhere(want)) fail('EBUSY', `${what}: PASID ${want} is in use on the device as a global PASID`);
    }
    const p = want ?? this.search();
    this.injector.point(`PASID in ${this.name}`);
    this.used.add(p);
    this.hint = p === last ? first : p + 1;
    return p;
  }

  /** The next number from the hint that is neither allocated nor taken elsewhere; ENOSPC if none. */
  private search(): number {
    const { first, last } = this.range;
    if (this.used.size > last - first) fail('ENOSPC', `pasid: all ${last - first + 1} PASIDs of ${this.name} are in use`);
    let p = this.hint;
    for (let tried = 0; tried <= last - first; tried++) {
      if (!this.used.has(p) && !this.takenElsewhere(p) && !this.avoided(p)) return p;
      p = p === last ? first : p + 1;
    }
    return fail('ENOSPC', `pasid: all ${last - first + 1} PASIDs of ${this.name} are in use`);
  }

  /** Gives `p` back; ENOENT if it is not in use. */
  put(p: number, what: string): void {
    if (!this.used.delete(p)) fail('ENOENT', `${what}: PASID ${String(p)} is not allocated in ${this.name}`);
  }
}

/** An allocation set of the global namespace: the PASIDs one owner holds, under a quota. */
export class PasidSet {
  /** The PASIDs this set holds. */
  readonly pasids = new Set<number>();
  /** False once destroyed. */
  live = true;

  /**
   * A set.
   * @param space The global space it allocates from.
   * @param quota Most PASIDs it may hold.
   * @param owner Who owns it, for errors.
   */
  constructor(readonly space: GlobalPasidSpace, readonly quota: number, readonly owner: string) {}

  /** Allocates a PASID in the global space for this set (`want` picks a number). */
  alloc(want?: number): Pasid {
    return this.space.allocIn(this, want);
  }

  /** Frees one PASID of this set. */
  free(pasid: Pasid): void {
    this.space.freeIn(this, pasid);
  }

  /** Frees every PASID of the set and retires it. */
  destroy(): void {
    this.space.destroySet(this);
  }
}

/** The system-wide PASID namespace (ENQCMD), handed out through quota'd sets. */
export class GlobalPasidSpace {
  private readonly ns: Namespace;
  private readonly sets = new Set<PasidSet>();
  private readonly holder = new Map<number, PasidSet>();

  /**
   * `range` defaults to 1..PASID_MAX (PASID 0 is RID_PASID). `heldByDevice`
   * says whether a bound device holds a number in its own namespace (e.g. a
   * subdevice's default PASID): the space does not pick such a number by
   * itself, so a global PASID it hands out can be attached on that device
   * too (a number asked for by value is still given: per-device namespaces
   * are separate).
   */
  constructor(injector: FailInjector, range: PasidRange = { first: 1, last: PASID_MAX }, heldByDevice?: PasidTaken) {
    this.ns = new Namespace(checkRange(range, 'range'), injector, 'the global PASID space', undefined, heldByDevice);
  }

  /** Number of PASIDs allocated in all sets. */
  get allocated(): number {
    return this.ns.used.size;
  }

  /** Number of live sets. */
  get setCount(): number {
    return this.sets.size;
  }

  /** Creates a set of `quota` PASIDs (1..range size) for `owner` (a label for messages). */
  createSet(quota: number, owner = 'set'): PasidSet {
    const { first, last } = this.ns.range;
    checkInt(quota, 1, last - first + 1, 'quota');
    const set = new PasidSet(this, quota, owner);
    this.sets.add(set);
    return set;
  }

  /** Allocates in `set`: EDQUOT over the set's quota, ENOSPC when the space is full, EEXIST for a taken `want`. */
  allocIn(set: PasidSet, want?: number): Pasid {
    this.checkLive(set);
    if (set.pasids.size >= set.quota) fail('EDQUOT', `set: ${set.owner} already holds its quota of ${set.quota} PASIDs`);
    const p = this.ns.take(want, 'pasid');
    set.pasids.add(p);
    this.holder.set(p, set);
    return p as Pasid;
  }

  /** Frees `pasid` from `set`; ENOENT if the set does not hold it. */
  freeIn(set: PasidSet, pasid: Pasid): void {
    this.checkLive(set);
    if (!set.pasids.has(pasid)) fail('ENOENT', `pasid: ${String(pasid)} is not held by ${set.owner}`);
    this.ns.put(pasid, 'pasid');
    set.pasids.delete(pasid);
    this.holder.delete(pasid);
  }

  /** Tears a set down, freeing all its PASIDs. */
  destroySet(set: PasidSet): void {
    this.checkLive(set);
    for (const p of set.pasids) {
      this.ns.put(p, 'pasid');
      this.holder.delete(p);
    }
    set.pasids.clear();
    set.live = false;
    this.sets.delete(set);
  }

  /** The set holding `pasid`, or undefined. */
  ownerOf(pasid: Pasid): PasidSet | undefined {
    return this.holder.get(pasid);
  }

  private checkLive(set: PasidSet): void {
    if (!set.live || !this.sets.has(set)) fail('ENOENT', `set: ${set.owner} is not a live set of this space`);
  }
}

/** A per-device PASID namespace (SMMUv3-style): numbers are only unique on one device. */
export class DevicePasidSpace {
  private readonly ns: Namespace;

  /**
   * A device's own PASID space; PASID 0 is not handed out.
   * @param bits The device's PASID width (PCIe PASID capability, 1..20).
   * @param attachedGlobal Numbers the device is attached at as global PASIDs (never handed out).
   */
  constructor(injector: FailInjector, readonly bits: number, name = 'the device PASID space', attachedGlobal?: PasidTaken) {
    checkInt(bits, 1, 20, 'bits');
    this.ns = new Namespace({ first: 1, last: (1 << bits) - 1 }, injector, name, attachedGlobal);
  }

  /** True when `pasid` is allocated in this space. */
  has(pasid: Pasid): boolean {
    return this.ns.used.has(pasid);
  }

  /** Number of PASIDs allocated on the device. */
  get allocated(): number {
    return this.ns.used.size;
  }

  /** Allocates a PASID on the device (`want` picks a number). */
  alloc(want?: number): Pasid {
    return this.ns.take(want, 'pasid') as Pasid;
  }

  /** Frees a PASID of the device; ENOENT if not allocated. */
  free(pasid: Pasid): void {
    this.ns.put(pasid, 'pasid');
  }

  /** Frees every PASID (device reset / unbind). */
  clear(): void {
    this.ns.used.clear();
  }
}

/** Which VM owns which host PASID; shared by every VM's GuestPasidTable. */
export type HostPasidOwners = Map<number, string>;

/**
 * A VM's gPASID -> hPASID table. Rejects a guest PASID mapped twice (EEXIST),
 * a host PASID already mapped by this VM under another guest PASID (EEXIST)
 * and a host PASID that another VM owns (EBUSY).
 */
export class GuestPasidTable {
  private readonly g2h = new Map<number, number>();
  private readonly h2g = new Map<number, number>();

  /**
   * An empty table.
   * @param vm The VM whose guest PASIDs it maps.
   * @param owners Host PASID -> owning VM, shared by the platform.
   */
  constructor(readonly vm: string, private readonly owners: HostPasidOwners) {}

  /** Number of mappings. */
  get size(): number {
    return this.g2h.size;
  }

  /** Maps guest PASID `g` to host PASID `h`. */
  map(g: number, h: number): void {
    checkInt(g, 0, PASID_MAX, 'gpasid');
    checkInt(h, 0, PASID_MAX, 'hpasid');
    const old = this.g2h.get(g);
    if (old !== undefined) fail('EEXIST', `gpasid: ${g} is already mapped to host PASID ${old}`);
    const owner = this.owners.get(h);
    if (owner !== undefined && owner !== this.vm) fail('EBUSY', `hpasid: ${h} belongs to VM ${owner}`);
    const other = this.h2g.get(h);
    if (other !== undefined) fail('EEXIST', `hpasid: ${h} is already the host PASID of guest PASID ${other}`);
    this.g2h.set(g, h);
    this.h2g.set(h, g);
    this.owners.set(h, this.vm);
  }

  /** Removes guest PASID `g`'s mapping; ENOENT if none. Returns the host PASID it had. */
  unmap(g: number): number {
    const h = this.g2h.get(g);
    if (h === undefined) fail('ENOENT', `gpasid: ${String(g)} is not mapped`);
    this.g2h.delete(g);
    this.h2g.delete(h);
    this.owners.delete(h);
    return h;
  }

  /** The host PASID of guest PASID `g`, or undefined. */
  hostOf(g: number): number | undefined {
    return this.g2h.get(g);
  }

  /** The guest PASID of host PASID `h`, or undefined. */
  guestOf(h: number): number | undefined {
    return this.h2g.get(h);
  }

  /** Drops every mapping (VM teardown). */
  clear(): void {
    for (const h of this.h2g.keys()) this.owners.delete(h);
    this.g2h.clear();
    this.h2g.clear();
  }
}
