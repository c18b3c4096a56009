/**
 * The VMM's walk of a guest second-stage table (VT-d §9.8, the format §3.6
 * describes): what a shadow builds its host mappings from, and what a
 * faulting DMA's guest-visible reason is computed from.
 *
 * Work is linear in the table entries visited and charged to a `WorkBudget`
 * (one unit per entry examined): a table the guest made huge, or aliased so
 * that one table is reached through many paths (512^4 leaves from 4 pages),
 * stops the walk at the budget instead of running for minutes. Each table is
 * read as one 4 KiB block and its entries decoded as u32 halves; addresses
 * are page numbers (numbers, exact below 2^53), so nothing per entry builds a
 * BigInt.
 *
 * Entries are checked as the unit checks them (§9.8): R = W = 0 is not
 * present; a leaf's rights are those of every entry on its path; reserved
 * bits (bit 62, address bits at or above the host address width, SNP
 * outside a leaf, PS above the 1 GiB level or at a size CAP.SSLPS does not
 * allow, a superpage's low address bits) make the entry and what lies below
 * it unusable, so nothing unverified is ever mapped.
 */
import type { GuestMemory } from '../core/guest-memory.js';
import type { WorkBudget } from './work-budget.js';
import type { Gpa, Iova } from '../types.js';

/** A run of guest leaves: contiguous IOVA pages to contiguous GPA pages with one set of rights. */
export interface SsRun {
  /** First IOVA page number (IOVA >> 12). */
  readonly iova: Iova<number>;
  /** First GPA page number. */
  readonly gpa: Gpa<number>;
  /** Number of 4 KiB pages. */
  readonly pages: number;
  /** PERM bits (hostiommu/ss-table.ts): READ 1, WRITE 2. */
  readonly perms: number;
}

/** What the unit's capabilities say about second-stage entries. */
export interface SsLimits {
  /** Host address width in bits (address bits at or above it are reserved). */
  readonly haw: number;
  /** CAP.SSLPS: bit 0 2 MiB, bit 1 1 GiB leaves allowed. */
  readonly sslps: number;
  /** ECAP.SC: SNP (bit 11) is allowed in leaves. */
  readonly snoopControl: boolean;
}

const PAGE = 4096;
const ENTRIES = 512;
const BIT62_HI = 0x4000_0000;
const PS = 0x80;
const SNP = 0x800;

/** Pages one entry at each level maps (1, 512, 512^2, ...; levels 0-5). */
const SPANS: readonly number[] = [1, 512, 512 ** 2, 512 ** 3, 512 ** 4, 512 ** 5];
const span = (level: number): number => SPANS[level] ?? ENTRIES ** level;

/** The page number of an entry's address field (bits 51:12). */
const addrPage = (lo: number, hi: number): number => (hi & 0xfffff) * 0x10_0000 + (lo >>> 12);

/** Pages below the host address width: an entry's address at or above is reserved (§9.8). */
const hawPages = (limits: SsLimits): number => (limits.haw < 52 ? 2 ** (limits.haw - 12) : Infinity);

/**
 * True when a present entry at `level` has reserved bits set (§9.8);
 * `below` is hawPages(limits), computed once per walk (this runs for every
 * present entry, and a power per call made it most of a walk's time).
 */
function ssReserved(lo: number, hi: number, level: number, limits: SsLimits, below: number): boolean {
  if ((hi & BIT62_HI) !== 0) return true;
  const page = addrPage(lo, hi);
  if (page >= below) return true;
  const leaf = level === 0 || ((lo & PS) !== 0 && level <= 2);
  if ((lo & SNP) !== 0 && (!leaf || !limits.snoopControl)) return true;
  if (level === 0 || (lo & PS) === 0) return false;
  if (level > 2 || ((limits.sslps >> (level - 1)) & 1) === 0) return true;
  return page % span(level) !== 0;
}

/**
 * The 4 KiB table at page `table` as u32 halves, or undefined outside guest
 * RAM: a view of guest RAM, not a copy (the walks write nothing and hold no
 * view past their return; a 4 KiB copy per table was a third of a shadow
 * sync's time and most of its garbage).
 */
function readTable(mem: GuestMemory, table: number): Uint32Array | undefined {
  const gpa = table * PAGE;
  if (mem.offsetAt(gpa, PAGE) < 0) return undefined;
  const bytes = mem.view(gpa, PAGE);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, ENTRIES * 2);
}

/** Collects leaves into runs (a run never spans two leaf tables). */
class RunBuilder {
  readonly runs: SsRun[] = [];
  private cur: { iova: number; gpa: number; pages: number; perms: number } | undefined;

  /** Charges each finished run `perRun` units plus its pages to `budget`, when `perRun` is set. */
  constructor(private readonly budget: WorkBudget, private readonly perRun: number | undefined) {}

  add(iova: number, gpa: number, pages: number, perms: number, mergeable: boolean): void {
    const c = this.cur;
    if (mergeable && c && c.iova + c.pages === iova && c.gpa + c.pages === gpa && c.perms === perms) {
      c.pages += pages;
      return;
    }
    this.flush();
    this.cur = { iova, gpa, pages, perms };
    if (!mergeable) this.flush();
  }

  flush(): void {
    if (!this.cur) return;
    this.runs.push(this.cur);
    if (this.perRun !== undefined) this.budget.left -= this.perRun + this.cur.pages;
    this.cur = undefined;
  }
}

/**
 * The guest's present, valid leaves of the `levels`-level table at page
 * `root` that fall in IOVA pages [from, to), as runs in IOVA order, clipped
 * to the range. With `perRun` each run is also charged that many units plus
 * its pages (what mapping it will cost), so a walk whose result could never
 * be mapped within the budget stops early. Returns undefined when the walk
 * ran out of `budget`.
 */
export function ssRuns(
  mem: GuestMemory, root: number, levels: number, from: number, to: number, limits: SsLimits, budget: WorkBudget,
  perRun?: number,
): SsRun[] | undefined {
  const out = new RunBuilder(budget, perRun);
  const below = hawPages(limits);
  const visit = (table: number, level: number, base: number, rights: number): boolean => {
    const step = span(level);
    const first = Math.max(0, Math.floor((from - base) / step));
    const last = Math.min(ENTRIES - 1, Math.floor((to - 1 - base) / step));
    if (first > last) return true;
    budget.left -= last - first + 1;
    if (budget.left < 0) return false;
    const w = readTable(mem, table);
    if (w === undefined) return true; // LSL.1: nothing below can be used
    for (let i = first; i <= last; i++) {
      const lo = w[2 * i]!;
      const hi = w[2 * i + 1]!;
      const perms = lo & rights & 3;
      if (perms === 0 || ssReserved(lo, hi, level, limits, below)) continue;
      const iova = base + i * step;
      if (level === 0 || (lo & PS) !== 0) {
        const start = Math.max(iova, from);
        const end = Math.min(iova + step, to);
        out.add(start, addrPage(lo, hi) + (start - iova), end - start, perms, level === 0);
      } else if (!visit(addrPage(lo, hi), level - 1, iova, perms)) {
        return false;
      }
    }
    out.flush();
    return budget.left >= 0;
  };
  return visit(root, levels - 1, 0, 3) ? out.runs : undefined;
}

/** Why a guest second-stage walk of one page fails (the unit's fault kinds, asm/assembly/pt/codes.ts). */
export type SsFaultKind = 'top-access' | 'access' | 'not-present' | 'read' | 'write' | 'reserved' | 'width';

/**
 * Walks the guest table for IOVA page `page` as the unit would for a read or
 * `write` request; returns why it faults, or undefined when the guest's
 * tables allow the access (a stale host mapping: report it not present).
 */
export function ssFault(mem: GuestMemory, root: number, levels: number, page: number, write: boolean, limits: SsLimits): SsFaultKind | undefined {
  if (page >= span(levels)) return 'width';
  let table = root;
  for (let level = levels - 1; level >= 0; level--) {
    const w = readTable(mem, table);
    if (w === undefined) return level === levels - 1 ? 'top-access' : 'access';
    const i = Math.floor(page / span(level)) % ENTRIES;
    const lo = w[2 * i]!;
    const hi = w[2 * i + 1]!;
    if ((lo & 3) === 0) return 'not-present';
    if (ssReserved(lo, hi, level, limits, hawPages(limits))) return 'reserved';
    if (write ? (lo & 2) === 0 : (lo & 1) === 0) return write ? 'write' : 'read'; // every level's rights count
    if (level === 0 || (lo & PS) !== 0) return undefined;
    table = addrPage(lo, hi);
  }
  return undefined;
}
