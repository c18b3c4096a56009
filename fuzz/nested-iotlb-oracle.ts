/**
 * The physical IOMMU's caches against the guest's invalidations (issue 19:
 * "nested mode does not check the physical IOTLB against guest
 * invalidations"). On a VMM-backed machine (host/src/vmm) the guest's
 * translations are cached by the *physical* unit: nested bindings as
 * first-stage-over-second-stage entries of the guest's own first-stage
 * tables (VT-d §6.2.2, §6.2.4), shadow bindings as second-stage entries of
 * the shadow table. Right after the VMM handled a guest IOTLB invalidation
 * (§6.5.2.3 global / domain / page-selective, §6.5.2.4 PASID-based, PASID-
 * or page-selective), every physical IOTLB entry of a guest requester in
 * that invalidation's scope, and every first-stage paging-structure entry
 * when the invalidation does not keep them (IH = 0), must translate as the
 * guest's tables do *now*: same guest-physical page (as its host address),
 * no write right the guest withholds at any level. What the guest withdrew
 * and invalidated must therefore be gone; entries the guest left unchanged
 * may stay (the VMM forwards whole-domain flushes or narrower ones as it
 * likes).
 *
 * The scope follows the guest unit's own (default profile, asm
 * inval/inval.ts): domain- and page-selective IOTLB invalidations cover all
 * PASIDs of the domain (first-stage entries too), PASID-based ones the
 * (DID, PASID) pair. A requester's guest domain, PASID and table root are
 * those the VMM bound (`GuestMirror.bindings`: the guest entries as of the
 * last context / PASID-cache invalidation, which is what the guest unit's
 * own context and PASID caches would hold), never what the guest wrote
 * since without invalidating.
 *
 * Physical cache entries are matched to a requester by their tags: the
 * physical requester id (pRID), the host PASID (RID_PASID, a subdevice's
 * default PASID, or the host PASID of the guest PASID) and the domain id
 * the physical PASID entry holds now (entries of an older attachment
 * cannot be hit). The guest walk is deliberately plain (present and R/W
 * bits, PS leaves at levels 1-2, address bits 51:12, a supervisor request
 * without WPE may write anything) and ignores reserved bits, U/S and
 * widths: it can only allow *more* than the guest's unit, so it never calls
 * a correct entry wrong. Requesters a guest put in one domain with
 * different tables are not judged (`conflictingTags`).
 */
import type { CacheContents, IotlbEntry, PscEntry } from '../host/src/core/cache-contents.js';
import type { GuestMemory } from '../host/src/core/guest-memory.js';
import { RID_PASID } from '../host/src/hostiommu/backend.js';
import type { InvalidationEvent } from '../host/src/vtd/cache-invalidation.js';
import { GuestMirror, type Binding } from '../host/src/vmm/guest-mirror.js';
import type { VirtualMachine } from '../host/src/vmm/virtual-machine.js';

const PAGE_LG2 = 12;
const ADDR = 0x000f_ffff_ffff_f000n;
const PS = 0x80n;

/** A binding's guest tables as the physical unit uses them. */
interface GuestTables {
  readonly stage: 'first' | 'second';
  readonly root: bigint;
  readonly levels: number;
  /** A supervisor request may write read-only pages (first stage, WPE = 0, §3.6.2). */
  readonly supervisorWrites: boolean;
}

/** One requester of the guest in physical-cache terms. */
interface Tagged {
  readonly b: Binding;
  readonly sid: number;
  readonly hpasid: number;
  readonly hdid: number;
  readonly did: number;
  readonly tables: GuestTables;
}

/** What the guest's tables give for `iova`: the guest-physical address and whether a write is allowed; undefined when nothing. */
export interface GuestLeaf {
  readonly gpa: bigint;
  readonly write: boolean;
}

/**
 * Walks the guest's tables for `iova`: to its leaf (`stopLevel` 0), or to
 * the entry at `stopLevel` (> 0) whose next-table address comes back as
 * `gpa` (undefined when a leaf or nothing is there).
 */
export function guestWalk(mem: GuestMemory, t: GuestTables, iova: bigint, supervisor: boolean, stopLevel = 0): GuestLeaf | undefined {
  if (iova >> BigInt(PAGE_LG2 + 9 * t.levels) !== 0n) return undefined;
  let table = t.root & ADDR;
  let write = true;
  for (let level = t.levels - 1; level >= stopLevel; level--) {
    const at = table + ((iova >> BigInt(PAGE_LG2 + 9 * level)) & 0x1ffn) * 8n;
    if (!mem.contains(at, 8)) return undefined;
    const e = mem.readU64(at);
    const present = t.stage === 'first' ? (e & 1n) !== 0n : (e & 3n) !== 0n;
    if (!present) return undefined;
    write &&= (e & 2n) !== 0n;
    const leaf = level === 0 || ((e & PS) !== 0n && level <= 2);
    const next = e & ADDR;
    if (leaf) {
      if (stopLevel > 0) return undefined; // a table was asked for
      const size = 1n << BigInt(PAGE_LG2 + 9 * level);
      return { gpa: (next & ~(size - 1n)) + (iova & (size - 1n)), write: write || (supervisor && t.supervisorWrites) };
    }
    if (level === stopLevel) return { gpa: next, write };
    table = next;
  }
  return undefined;
}

/** The guest tables a binding is served from (nested: its first stage; shadow: its second stage); undefined for others. */
function tablesOf(b: Binding): GuestTables | undefined {
  const w = b.want;
  if (w.kind === 'nested') return { stage: 'first', root: w.fsptptr, levels: w.fsLevels, supervisorWrites: !w.wpe };
  if (w.kind === 'shadow') return { stage: 'second', root: BigInt(w.root) << 12n, levels: w.levels, supervisorWrites: false };
  return undefined;
}

/** Every bound requester of the VM with its physical tags (host PASID, physical DID). */
function taggedRequesters(vm: VirtualMachine, mirror: GuestMirror): Tagged[] {
  const out: Tagged[] = [];
  for (const b of mirror.bindings.values()) {
    const tables = tablesOf(b);
    if (!tables || (b.want.kind !== 'nested' && b.want.kind !== 'shadow')) continue;
    const hpasid = b.gpasid === undefined ? (b.dev.defaultPasid ?? RID_PASID) : vm.ctx.guestPasids.hostOf(b.gpasid);
    if (hpasid === undefined) continue;
    const hdid = vm.host.iommu.didOf(b.dev.prid, hpasid);
    if (hdid === undefined) continue; // not installed (group path placement pending, or refused)
    out.push({ b, sid: b.dev.prid, hpasid, hdid, did: b.want.did, tables });
  }
  return out;
}

/** [first, last] input addresses of 2^am pages at `addr` (aligned down), §6.5.2.3 AM. */
function range(addr: bigint, am: number): [bigint, bigint] {
  const size = 1n << BigInt(PAGE_LG2 + Math.min(am, 52));
  const lo = addr & ~(size - 1n);
  return [lo, lo + size - 1n];
}

/** The invalidation's scope over one requester: undefined when out of scope, else the address range and whether paging-structure entries go too. */
function scopeOver(e: InvalidationEvent, r: Tagged): { lo: bigint; hi: bigint; psc: boolean } | undefined {
  const all = { lo: 0n, hi: (1n << 64n) - 1n, psc: true };
  const entryPasid = r.b.entryPasid;
  switch (e.kind) {
    case 'iotlbGlobal': return all;
    case 'iotlbDomain': return e.did === r.did ? all : undefined;
    case 'pasidIotlb': return e.did === r.did && e.pasid === entryPasid ? all : undefined;
    case 'iotlbPage':
    case 'pasidIotlbPage': {
      if (e.did !== r.did || (e.kind === 'pasidIotlbPage' && e.pasid !== entryPasid)) return undefined;
      const [lo, hi] = range(e.addr, e.am);
      return { lo, hi, psc: !e.ih };
    }
    default: return undefined;
  }
}

/**
 * Requesters whose tag another requester shares with different tables: the
 * guest domain for shadow (second-stage) bindings, domain and PASID for
 * first-stage ones. VT-d §9.3 (context entry DID) requires entries with one
 * domain id to reference one translation structure, because the caches are
 * tagged by domain (§6.2.1): a guest that breaks the rule may be served
 * either table's translation, all within its own memory, so these
 * requesters are not judged (as the dma-unmapped oracle, translation-oracle.ts).
 */
function conflictingTags(rs: readonly Tagged[]): Set<Tagged> {
  const byTag = new Map<string, Tagged[]>();
  for (const r of rs) {
    const tag = r.tables.stage === 'second' ? `${r.did}` : `${r.did}:${r.b.entryPasid ?? '-'}`;
    byTag.set(tag, [...(byTag.get(tag) ?? []), r]);
  }
  const out = new Set<Tagged>();
  for (const group of byTag.values()) {
    const first = group[0]!.tables;
    if (group.some((r) => r.tables.root !== first.root || r.tables.levels !== first.levels)) for (const r of group) out.add(r);
  }
  return out;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** Why physical IOTLB entry `x` of requester `r` disagrees with the guest's tables now; undefined when it agrees. */
function iotlbWrong(vm: VirtualMachine, r: Tagged, x: IotlbEntry): string | undefined {
  if (r.tables.stage === 'first' && !x.firstStage) return 'a second-stage entry where the guest binds a first stage';
  const size = 1n << BigInt(x.pageLg2);
  for (const off of size > 4096n ? [0n, size - 4096n] : [0n]) {
    const g = guestWalk(vm.host.guestRam, r.tables, x.iova + off, x.supervisor);
    if (!g) return `IOVA ${hex(x.iova + off)}: the guest's tables map nothing`;
    const want = vm.host.hpaOf(g.gpa & ~0xfffn);
    if (x.addr + off !== want) return `IOVA ${hex(x.iova + off)}: cached -> ${hex(x.addr + off)}, the guest's tables give GPA ${hex(g.gpa)} (host ${hex(want)})`;
    if ((x.perms & 2) !== 0 && !g.write) return `IOVA ${hex(x.iova + off)}: cached writable, the guest's tables withhold write`;
  }
  return undefined;
}

/** Why first-stage paging-structure entry `p` of requester `r` disagrees with the guest's tables now. */
function pscWrong(vm: VirtualMachine, r: Tagged, p: PscEntry): string | undefined {
  const g = guestWalk(vm.host.guestRam, r.tables, p.iova, true, p.level);
  if (!g) return `level ${p.level} at IOVA ${hex(p.iova)}: the guest's tables have no table there`;
  const want = vm.host.hpaOf(g.gpa);
  return p.table === want ? undefined : `level ${p.level} at IOVA ${hex(p.iova)}: cached next table ${hex(p.table)}, the guest's tables give GPA ${hex(g.gpa)} (host ${hex(want)})`;
}

/**
 * Right after the VMM handled guest invalidation `e`: the first physical
 * cache entry (of `phys`, the physical unit's caches) of a requester in
 * `e`'s scope that the guest's tables do not allow now, as a message;
 * undefined when there is none (or the VM's mode keeps no bindings).
 */
export function physicalCacheViolation(vm: VirtualMachine, e: InvalidationEvent, phys: CacheContents): string | undefined {
  const mirror = vm.modeHandler;
  if (!(mirror instanceof GuestMirror)) return undefined;
  let iotlb: IotlbEntry[] | undefined;
  let psc: PscEntry[] | undefined;
  const requesters = taggedRequesters(vm, mirror);
  const unjudged = conflictingTags(requesters);
  for (const r of requesters) {
    const s = scopeOver(e, r);
    if (!s || unjudged.has(r)) continue;
    // Built only for a violation: this runs after every guest invalidation.
    const at = (): string => `physical caches vs guest: after the guest's ${e.kind} invalidation (DID ${'did' in e ? e.did : '-'}), ${vm.config.mode} requester ${r.b.dev.vrid.toString(16)} ${r.b.gpasid === undefined ? 'RID' : `PASID ${r.b.gpasid}`} (guest domain ${r.did}; pRID ${r.sid.toString(16)}, host PASID ${r.hpasid}, host DID ${r.hdid})`;
    iotlb ??= phys.iotlb;
    for (const x of iotlb) {
      if (x.sid !== r.sid || (x.pasid ?? RID_PASID) !== r.hpasid || x.did !== r.hdid) continue;
      if (x.iova > s.hi || x.iova + (1n << BigInt(x.pageLg2)) - 1n < s.lo) continue;
      const why = iotlbWrong(vm, r, x);
      if (why) return `${at()}: the physical IOTLB keeps ${why}`;
    }
    if (!s.psc || r.tables.stage !== 'first') continue;
    psc ??= phys.psc;
    for (const p of psc) {
      if (p.stage !== 'first' || p.did !== r.hdid || p.pasid !== r.hpasid) continue;
      if (p.iova > s.hi || p.iova + (1n << BigInt(PAGE_LG2 + 9 * p.level)) - 1n < s.lo) continue;
      const why = pscWrong(vm, r, p);
      if (why) return `${at()}: the physical paging-structure cache keeps ${why}`;
    }
  }
  return undefined;
}
