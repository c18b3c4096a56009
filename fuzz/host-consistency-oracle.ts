/**
 * Host page tables against the host's address spaces, and against the guest
 * (issue 19: "a consistency check after each step, host page tables vs
 * IOAS"). For a VMM-backed machine (host/src/vmm) two properties must hold:
 *
 * 1. **Every paging HWPT translates exactly what its IOAS maps.** The host
 *    second-stage table (VT-d §9.8 entries the physical IOMMU walks) is read
 *    as hardware reads it, leaf by leaf, and its leaves, merged into runs,
 *    must equal the IOAS's areas (IOVA -> HPA, permissions): no page the
 *    IOAS unmapped still reachable, no area missing, no other address.
 * 2. **What the guest invalidated is gone from the host side** (shadow
 *    mode). Right after the VMM handled a guest IOTLB invalidation (§6.5.2.3:
 *    global, domain-selective, page-selective, PASID-based), every host
 *    mapping of a shadowed guest domain inside that scope must be one the
 *    guest's second-stage tables allow now: same guest-physical page (as the
 *    host address of it) and no right the guest withholds at any level. A
 *    blocked domain has no host mapping at all. Host mappings outside the
 *    scope may be stale (caching mode: a guest that did not invalidate keeps
 *    them, as an IOTLB would).
 *
 * The guest walk here is deliberately plain (present bits, rights ANDed over
 * the levels, PS leaves at levels 1-2, address bits 51:12) and ignores
 * reserved-bit and width faults: it can only allow *more* than the guest's
 * unit does, so it never calls a correct host mapping wrong, while a host
 * mapping it does not allow is certainly one the guest withdrew.
 */
import type { GuestMemory } from '../host/src/core/guest-memory.js';
import type { HostIommu } from '../host/src/hostiommu/host-iommu.js';
import type { HwptPaging } from '../host/src/hostiommu/hwpt.js';
import type { Ioas } from '../host/src/hostiommu/ioas.js';
import type { PhysicalHost } from '../host/src/vmm/physical-host.js';
import type { InvalidationEvent } from '../host/src/vtd/cache-invalidation.js';
import type { ShadowDomain } from '../host/src/vmm/shadow-domains.js';
import type { VirtualMachine } from '../host/src/vmm/virtual-machine.js';
import { ShadowMode } from '../host/src/vmm/shadow.js';
import { watchRamWrites } from './machine-pool.js';

const PAGE = 4096;
const ENTRIES = 512;
const PS = 0x80;

/** A run of 4 KiB pages: contiguous IOVA pages to contiguous host pages, one set of rights (1 read, 2 write). */
interface PageRun {
  iova: number;
  hpa: number;
  pages: number;
  perms: number;
}

const hex = (page: number): string => `0x${(BigInt(page) * 4096n).toString(16)}`;
const runText = (r: PageRun | undefined): string => (r ? `[${hex(r.iova)}, +${r.pages} pages) -> ${hex(r.hpa)} perms ${r.perms}` : 'nothing');
/** Pages one entry at `level` maps (level 0: the leaf table). */
const span = (level: number): number => ENTRIES ** level;
/** The page number in an entry's address field (bits 51:12). */
const addrPage = (lo: number, hi: number): number => (hi & 0xfffff) * 0x10_0000 + (lo >>> 12);

/**
 * The 4 KiB table at page `table` as u32 halves, or undefined outside `mem`:
 * a view, not a copy (the walk changes no memory; copies were 57% of the
 * fuzzer's ArrayBuffer bytes, and external memory drives V8's full collections).
 */
function readTable(mem: GuestMemory, table: number): Uint32Array | undefined {
  const at = table * PAGE;
  if (!mem.contains(BigInt(at), PAGE)) return undefined;
  const bytes = mem.view(at, PAGE);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, ENTRIES * 2);
}

/** Appends a run, merging it into the last one when contiguous in IOVA and HPA with the same rights. */
function push(out: PageRun[], r: PageRun): void {
  const last = out[out.length - 1];
  if (last && last.iova + last.pages === r.iova && last.hpa + last.pages === r.hpa && last.perms === r.perms) last.pages += r.pages;
  else out.push({ ...r });
}

/**
 * Every leaf of the host second-stage table at page `root` (`levels` levels)
 * as merged runs in IOVA order. A table page outside host memory is a
 * message (the physical IOMMU would fault on a mapping the IOAS may hold).
 */
function hostTableRuns(mem: GuestMemory, root: number, levels: number): PageRun[] | string {
  const out: PageRun[] = [];
  const visit = (table: number, level: number, base: number): string | undefined => {
    const w = readTable(mem, table);
    if (w === undefined) return `table page ${hex(table)} (level ${level}) is outside host memory`;
    for (let i = 0; i < ENTRIES; i++) {
      const lo = w[2 * i]!;
      if ((lo & 3) === 0) continue;
      const hi = w[2 * i + 1]!;
      const iova = base + i * span(level);
      if (level === 0 || (lo & PS) !== 0) push(out, { iova, hpa: addrPage(lo, hi), pages: span(level), perms: lo & 3 });
      else {
        const bad = visit(addrPage(lo, hi), level - 1, iova);
        if (bad) return bad;
      }
    }
    return undefined;
  };
  return visit(root, levels - 1, 0) ?? out;
}

/** The runs of each IOAS met, with its version then (Ioas.version): rebuilt only when the areas changed. */
const runsOf = new WeakMap<Ioas, { readonly version: number; readonly runs: readonly PageRun[] }>();

/** The IOAS areas behind `h` as merged runs in IOVA order (shared and never modified: callers only read them). */
function ioasRuns(h: HwptPaging): readonly PageRun[] {
  const known = runsOf.get(h.ioas);
  if (known?.version === h.ioas.version) return known.runs;
  const areas = [...h.ioas.mappings].sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
  const out: PageRun[] = [];
  for (const a of areas) push(out, { iova: Number(a.iova / 4096n), hpa: Number(a.hpa / 4096n), pages: Number(a.len / 4096n), perms: a.perms & 3 });
  runsOf.set(h.ioas, { version: h.ioas.version, runs: out });
  return out;
}

/** The open host contexts of each tracked physical host (trackHostContexts). */
const liveContexts = new WeakMap<PhysicalHost, Set<HostIommu>>();

/** Host memory writes outside the VM's RAM (every host table write, ss-table.ts) counted per tracked host: a table is read again only after one. */
const tableWrites = new WeakMap<PhysicalHost, { n: number }>();

/** What an HWPT was last found consistent with: its root, the host's table-write count, its IOAS's runs. */
interface Checked { readonly root: bigint; readonly writes: number; readonly runs: readonly PageRun[] }
const lastChecked = new WeakMap<HwptPaging, Checked>();

/**
 * Counts the JavaScript writes to `host`'s memory that are not inside its
 * VM's RAM (the host tables are written only so: ss-table.ts through
 * HostPages' memory, which is `host.mem`), through the pool's write watch.
 * Writes the physical core makes (A/D bits) change no bit the check reads.
 */
function countTableWrites(host: PhysicalHost): void {
  const count = { n: 0 };
  const ram = [Number(host.hpaOf(0n)), Number(host.hpaOf(0n) + host.guestRam.size)] as const;
  watchRamWrites(host.mem, (at, len) => {
    if (!(at >= ram[0] && at + len <= ram[1])) count.n++;
  });
  tableWrites.set(host, count);
}

/**
 * Makes the host-tables oracle check every context `host`'s platform
 * creates from now on, not only the VM's own: the group path
 * (shadow-spaces.ts) keeps each guest domain in a VFIO container that is a
 * context of its own. Wraps the platform instance's createContext /
 * dropContext (no change to the platform).
 */
export function trackHostContexts(host: PhysicalHost): void {
  const live = new Set<HostIommu>();
  const p = host.platform;
  const create = p.createContext.bind(p);
  const drop = p.dropContext.bind(p);
  p.createContext = (...a) => {
    const ctx = create(...a);
    live.add(ctx);
    return ctx;
  };
  p.dropContext = (ctx) => {
    live.delete(ctx);
    drop(ctx);
  };
  liveContexts.set(host, live);
  countTableWrites(host);
}

/**
 * Property 1 for every paging HWPT of the VM's host context (and of every
 * other open context of its host, when tracked: the group path's
 * containers): its table's leaves equal its IOAS's areas. Returns the
 * first difference, if any.
 */
export function hostTablesVsIoas(vm: VirtualMachine): string | undefined {
  for (const ctx of liveContexts.get(vm.host) ?? [vm.ctx]) {
    const bad = contextTablesVsIoas(vm, ctx);
    if (bad) return ctx === vm.ctx ? bad : `${bad} (context ${ctx.owner})`;
  }
  return undefined;
}

/**
 * Property 1 for the paging HWPTs of `ctx`. An HWPT found consistent is
 * read again only when its IOAS's runs or its root changed, or the host's
 * tables were written since (countTableWrites): the VM's GPA -> HPA domain
 * (thousands of leaves) was re-read after every step and cost a quarter of
 * a VM execution.
 */
function contextTablesVsIoas(vm: VirtualMachine, ctx: HostIommu): string | undefined {
  const writes = tableWrites.get(vm.host)?.n ?? NaN; // untracked: never skipped (NaN equals nothing)
  for (const h of ctx.objectsOf<HwptPaging>('hwpt-paging')) {
    const last = lastChecked.get(h);
    const want = ioasRuns(h); // rebuilt only when the IOAS changed
    if (last && last.writes === writes && last.root === h.table.root && (last.runs === want || sameRuns(last.runs, want))) continue;
    const table = hostTableRuns(vm.host.mem, Number(h.table.root / 4096n), h.table.levels);
    if (typeof table === 'string') return `host table vs IOAS: HWPT ${h.id}: ${table}`;
    const n = Math.max(table.length, want.length);
    for (let i = 0; i < n; i++) {
      if (sameRun(table[i], want[i])) continue;
      return `host table vs IOAS: HWPT ${h.id} (IOAS ${h.ioas.id}) translates ${runText(table[i])} where its IOAS maps ${runText(want[i])}`;
    }
    lastChecked.set(h, { root: h.table.root, writes, runs: want });
  }
  return undefined;
}

const sameRun = (t: PageRun | undefined, w: PageRun | undefined): boolean =>
  t !== undefined && w !== undefined && t.iova === w.iova && t.hpa === w.hpa && t.pages === w.pages && t.perms === w.perms;
const sameRuns = (a: readonly PageRun[], b: readonly PageRun[]): boolean => a.length === b.length && a.every((r, i) => sameRun(r, b[i]));

/** The guest's translation of IOVA page `page`: its leaf (GPA page of `page`, pages left in the leaf) and rights; undefined if none. */
function guestLeaf(mem: GuestMemory, d: ShadowDomain, page: number): { gpa: number; left: number; perms: number } | undefined {
  if (page >= span(d.levels)) return undefined;
  let table = d.root;
  let rights = 3;
  for (let level = d.levels - 1; level >= 0; level--) {
    const w = readTable(mem, table);
    if (w === undefined) return undefined;
    const i = Math.floor(page / span(level)) % ENTRIES;
    const lo = w[2 * i]!;
    const hi = w[2 * i + 1]!;
    rights &= lo & 3;
    if (rights === 0) return undefined;
    if (level === 0 || ((lo & PS) !== 0 && level <= 2)) {
      const off = page % span(level);
      return { gpa: addrPage(lo, hi) - (addrPage(lo, hi) % span(level)) + off, left: span(level) - off, perms: rights };
    }
    table = addrPage(lo, hi);
  }
  return undefined;
}

/** Shadow domains and IOVA page ranges [from, to) an invalidation names (§6.5.2.3); empty for other kinds. */
function scopeOf(shadow: ShadowMode, e: InvalidationEvent): { d: ShadowDomain; from: number; to: number }[] {
  const all = (d: ShadowDomain | undefined) => (d ? [{ d, from: 0, to: Infinity }] : []);
  switch (e.kind) {
    case 'iotlbGlobal': return [...shadow.domains.values()].flatMap(all);
    case 'iotlbDomain':
    case 'pasidIotlb': return all(shadow.domains.get(e.did));
    case 'iotlbPage': {
      const d = shadow.domains.get(e.did);
      const lg2 = Math.min(e.am, 52);
      const from = Number((e.addr >> 12n) & ~((1n << BigInt(lg2)) - 1n));
      return d ? [{ d, from, to: from + 2 ** lg2 }] : [];
    }
    default: return [];
  }
}

/**
 * Property 2, right after the VMM handled `e`: every host mapping of a
 * shadow domain in the invalidation's scope is allowed by the guest's tables
 * now (shadow mode; undefined for other modes and scopes).
 */
export function shadowScopeViolation(vm: VirtualMachine, e: InvalidationEvent): string | undefined {
  const shadow = vm.modeHandler;
  if (!(shadow instanceof ShadowMode)) return undefined;
  const base = Number(vm.host.hpaOf(0n) / 4096n);
  for (const { d, from, to } of scopeOf(shadow, e)) {
    for (const hwpt of d.space.hwpts()) { // none on the group path: the container is not an object of the VM's context
      const v = hwptViolation(vm, e, d, hwpt, from, to, base);
      if (v) return v;
    }
  }
  return undefined;
}

/** `, the <path> side` when the devices bound to `hwpt` come by one subsystem (a domain of a VM with VFIO and vDPA devices has an HWPT per subsystem). */
function sideOf(vm: VirtualMachine, hwpt: number): string {
  const mirror = vm.modeHandler as ShadowMode;
  const paths = new Set([...mirror.bindings.values()].filter((b) => b.hwpt === hwpt).map((b) => b.dev.hostPath));
  return paths.size === 1 ? `, the ${[...paths][0]} side` : '';
}

/** Property 2 for one host HWPT following shadow domain `d` (every subsystem's, when devices of several follow it). */
function hwptViolation(vm: VirtualMachine, e: InvalidationEvent, d: ShadowDomain, hwpt: number, from: number, to: number, base: number): string | undefined {
  const h = vm.ctx.objectsOf<HwptPaging>('hwpt-paging').find((x) => x.id === hwpt);
  if (!h) return `host vs guest: guest domain ${d.did}'s HWPT ${hwpt} is gone while the domain is shadowed`;
  const at = `after the guest's ${e.kind} invalidation, guest domain ${d.did}`;
  for (const r of ioasRuns(h)) {
    if (d.blocked) return `host vs guest: ${at} is blocked but the host still maps ${runText(r)} (HWPT ${hwpt}${sideOf(vm, hwpt)})`;
    const end = Math.min(r.iova + r.pages, to);
    for (let p = Math.max(r.iova, from); p < end;) {
      const g = guestLeaf(vm.machine.ram, d, p);
      const hpa = r.hpa + (p - r.iova);
      if (!g || g.gpa + base !== hpa || (r.perms & ~g.perms) !== 0) {
        const guest = g ? `${hex(g.gpa)} perms ${g.perms}` : 'nothing';
        return `host vs guest: ${at}: the host maps IOVA ${hex(p)} -> ${hex(hpa)} perms ${r.perms}, the guest's tables ${guest} (HWPT ${hwpt}${sideOf(vm, hwpt)})`;
      }
      p += Math.min(g.left, end - p);
    }
  }
  return undefined;
}
