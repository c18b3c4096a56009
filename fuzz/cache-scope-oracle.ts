/**
 * Caches against the invalidations the guest asked for (VT-d §6.5.1,
 * §6.5.2): right after the unit ran an invalidation, no live entry of its
 * scope may remain in the core's caches (read with the side-effect-free
 * cache dumps, docs/ABI.md). A cached translation that survives a covering
 * invalidation could later be hit although the tables say otherwise.
 *
 * Only scopes the spec states without doubt are checked (over-invalidation
 * is always allowed):
 * - global IOTLB: the IOTLB and the paging-structure caches empty;
 * - domain-selective IOTLB: every entry of the domain, any stage or PASID,
 *   and its paging-structure entries (§6.5.2.3);
 * - page-selective IOTLB: the domain's entries in the range; in scalable
 *   mode also every first-stage or nested entry of the domain and their
 *   paging-structure entries whatever the address and IH (the address is a
 *   second-stage input address, §6.5.2.3); IH=0 also the domain's
 *   second-stage paging-structure entries over the range;
 * - PASID-based IOTLB: the first-stage (and nested) entries of (DID, PASID),
 *   in the range for page-selective, and their paging-structure entries
 *   (page-selective: only with IH=0) (§6.5.2.4);
 * - context-cache global / device (and domain in legacy mode), the PASID
 *   cache (§6.5.2.1, §6.5.2.2).
 */
import {
  decodeContext, decodeIotlb, decodePasid, decodePsc, DUMP_RECORD_BYTES, readDump, type CacheContents, type IotlbEntry, type PscEntry,
} from '../host/src/core/cache-contents.js';
import type { Core } from '../host/src/core/core.js';
import { uncounted } from './coverage.js';
import {
  STAT_COUNT, STAT_CTX_MISSES, STAT_IOTLB_MISSES, STAT_PASID_MISSES, STAT_PSC_MISSES, STAT_WALKS,
} from '../host/src/core/constants.js';
import type { InvalidationEvent } from '../host/src/vtd/cache-invalidation.js';

/** Records per dump call. */
const WINDOW = 256;

/** The four caches a scope names (CacheContents' keys). */
export type CacheName = keyof CacheContents;
const CACHE_NAMES: readonly CacheName[] = ['iotlb', 'context', 'pasid', 'psc'];

/**
 * The core's counters (STAT_* indices, Core.stats names, docs/ABI.md) of which one moves
 * before any entry goes into each cache: a context-cache or PASID-cache fill
 * follows a miss of that cache (asm ctx/legacy.ts, ctx/scalable.ts), an
 * IOTLB fill follows a walk after an IOTLB miss (translate.ts `finish`,
 * fast.ts), a paging-structure fill happens inside a walk (pt/walk.ts). While
 * a cache's counters stand still, a cache seen empty is still empty.
 */
const FILL_COUNTERS: Readonly<Record<CacheName, readonly number[]>> = {
  iotlb: [STAT_IOTLB_MISSES, STAT_WALKS],
  context: [STAT_CTX_MISSES],
  pasid: [STAT_PASID_MISSES],
  psc: [STAT_PSC_MISSES, STAT_WALKS],
};

/** Each core's counters (STAT_* order, docs/ABI.md) as a view, and where they are (`statsPtr`). */
const statViews = new WeakMap<Core, { view: Float64Array; readonly at: number }>();

/**
 * The live counters of `core`, read in place: `Core.stats()` builds an
 * object of every counter per call, and the oracles read the fill counters
 * around most steps (3% of a session's CPU, 10% of the bytes it allocated).
 * The view is made again when memory growth detached it, from the offset
 * `reserveDumpBuffer` asked for at machine construction: calling the
 * `statsPtr` export during an execution would count its probe as the
 * input's coverage.
 */
function counters(core: Core): Float64Array {
  let s = statViews.get(core);
  if (s === undefined) statViews.set(core, (s = statsAt(core)));
  else if (s.view.length === 0) s.view = new Float64Array(core.memory.buffer, s.at, STAT_COUNT);
  return s.view;
}

function statsAt(core: Core): { view: Float64Array; readonly at: number } {
  const at = core.unsafeExports.statsPtr();
  return { view: new Float64Array(core.memory.buffer, at, STAT_COUNT), at };
}

/**
 * The core's caches read lazily, each at most once: an invalidation
 * scope needs one or two of them, and decoding every cache after every
 * invalidation step cost a fifth of the fuzzer's time.
 */
export class LazyCaches implements CacheContents {
  private readonly cache: Partial<Record<CacheName, unknown[]>> = {};

  /**
   * `buf`: a WINDOW-record buffer from `core.bufAlloc` (reserved once per
   * machine: `reserveDumpBuffer`). `empty`: caches the caller knows are
   * empty (no fill since each was last seen empty, `CacheScopeOracle`), whose
   * dumps (a scan of every slot: 4 us for the IOTLB, ~250 us for the
   * context cache's 65536 source ids) are skipped. `probes`: the coverage
   * build's probe map, put back as it was after each dump, so what the
   * oracle reads is never the input's coverage (nor depends on which reads
   * it could skip).
   */
  constructor(private readonly core: Core, private readonly buf: number, empty: readonly CacheName[] = [], private readonly probes?: Uint8Array) {
    for (const k of empty) this.cache[k] = [];
  }

  /** True when cache `k` was read (or known empty) and held nothing. */
  seenEmpty(k: CacheName): boolean {
    return this.cache[k]?.length === 0;
  }

  private read<K extends CacheName>(k: K, dump: (b: number, f: number, m: number) => number, decode: (v: DataView, at: number) => CacheContents[K][number]): CacheContents[K] {
    if (!this.cache[k]) this.cache[k] = uncounted(this.probes, () => readDump(dump, this.core.memory, this.buf, WINDOW, decode));
    return this.cache[k] as CacheContents[K];
  }

  get iotlb(): IotlbEntry[] { return this.read('iotlb', this.core.unsafeExports.iotlbDump, decodeIotlb); }
  get context(): CacheContents['context'] { return this.read('context', this.core.unsafeExports.contextCacheDump, decodeContext); }
  get pasid(): CacheContents['pasid'] { return this.read('pasid', this.core.unsafeExports.pasidCacheDump, decodePasid); }
  get psc(): CacheContents['psc'] { return this.read('psc', this.core.unsafeExports.pscDump, decodePsc); }
}

/**
 * The cache-scope oracle of one execution on one machine: collects the
 * invalidations a step ran, then checks each against the caches (after
 * the step). Knows when a cache is still empty without reading it: at the
 * start of an execution every cache is (a fresh or reset machine), and
 * later when its fill counters (FILL_COUNTERS) have not moved since it was
 * last read empty; most invalidations find the caches empty, and reading
 * them was most of the oracle's cost.
 */
export class CacheScopeOracle {
  private readonly pending: InvalidationEvent[] = [];
  /** Each cache's fill count when it was last known empty (NaN: not known). */
  private readonly emptyAt: Record<CacheName, number>;

  private readonly probes: Uint8Array | undefined;
  private readonly plain: boolean;
  /** Each cache's fill count at the current check (CACHE_NAMES order). */
  private readonly now = [0, 0, 0, 0];

  /**
   * `scalable`: whether the unit is in scalable mode now (scopes differ,
   * §6.5.2.3); `probes`: the coverage build's probe map (LazyCaches);
   * `plain`: never trust the counters, read every cache a scope needs (a
   * test compares both ways).
   */
  constructor(private readonly core: Core, private readonly buf: number, private readonly scalable: () => boolean, opts: { probes?: Uint8Array; plain?: boolean } = {}) {
    this.probes = opts.probes;
    this.plain = opts.plain ?? false;
    const c = counters(core);
    this.emptyAt = { iotlb: fills(c, 'iotlb'), context: fills(c, 'context'), pasid: fills(c, 'pasid'), psc: fills(c, 'psc') };
  }

  /** The unit ran invalidation `e` during the current step. */
  invalidated(e: InvalidationEvent): void {
    this.pending.push(e);
  }

  /** Checks the current step's invalidations; the first violation as a message. */
  check(): string | undefined {
    if (this.pending.length === 0) return undefined;
    const c = counters(this.core);
    const now = this.now;
    const empty: CacheName[] = [];
    for (let i = 0; i < CACHE_NAMES.length; i++) {
      const k = CACHE_NAMES[i]!;
      now[i] = fills(c, k);
      if (!this.plain && now[i] === this.emptyAt[k]) empty.push(k);
    }
    const caches = new LazyCaches(this.core, this.buf, empty, this.probes);
    let v: string | undefined;
    const scalable = this.scalable();
    for (const e of this.pending) if ((v = scopeViolation(e, caches, scalable))) break;
    this.pending.length = 0;
    for (let i = 0; i < CACHE_NAMES.length; i++) if (caches.seenEmpty(CACHE_NAMES[i]!)) this.emptyAt[CACHE_NAMES[i]!] = now[i]!;
    return v;
  }
}

/** Every counter FILL_COUNTERS names, once. */
const ALL_FILL_COUNTERS: readonly number[] = [...new Set(Object.values(FILL_COUNTERS).flat())];

/** The sum of every cache's fill counters: it moves whenever any cache may have been filled. */
export function cacheFills(core: Core): number {
  const c = counters(core);
  let n = 0;
  for (const i of ALL_FILL_COUNTERS) n += c[i]!;
  return n;
}

/** The sum of cache `k`'s fill counters in `c` (counters). */
function fills(c: Float64Array, k: CacheName): number {
  let n = 0;
  for (const i of FILL_COUNTERS[k]) n += c[i]!;
  return n;
}

/** Reserves the dump buffer LazyCaches reads through, and finds the counters (at machine construction, never during an execution). */
export function reserveDumpBuffer(core: Core): number {
  counters(core);
  return core.bufAlloc(WINDOW * DUMP_RECORD_BYTES);
}

/** Source-id bits a device-selective context invalidation ignores, per function mask (§6.5.2.1 FM). */
const FM_MASK = [0, 0b100, 0b110, 0b111];

/** The first surviving entry of the invalidation's scope, as a message; undefined when none survived. */
export function scopeViolation(inv: InvalidationEvent, c: CacheContents, scalable: boolean): string | undefined {
  const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));
  const left = (what: string, e: unknown): string => `${json(inv)} left ${what} ${json(e)}`;
  const iotlb = (match: (e: IotlbEntry) => boolean): string | undefined => {
    const e = c.iotlb.find(match);
    return e ? left('IOTLB entry', e) : undefined;
  };
  const psc = (match: (e: PscEntry) => boolean): string | undefined => {
    const e = c.psc.find(match);
    return e ? left('paging-structure entry', e) : undefined;
  };
  switch (inv.kind) {
    case 'iotlbGlobal':
      return iotlb(() => true) ?? psc(() => true);
    case 'iotlbDomain':
      return iotlb((e) => e.did === inv.did) ?? psc((e) => e.did === inv.did);
    case 'iotlbPage': {
      const [lo, hi] = range(inv.addr, inv.am);
      const fs = (first: boolean): boolean => scalable && first; // §6.5.2.3: not matched by a second-stage address
      return iotlb((e) => e.did === inv.did && (fs(e.firstStage) || overlaps(e.iova, e.pageLg2, lo, hi))) ??
        psc((e) => e.did === inv.did && (fs(e.stage === 'first') || (inv.ih === 0 && overlaps(e.iova, pscLg2(e), lo, hi))));
    }
    case 'pasidIotlb':
      return iotlb((e) => e.did === inv.did && e.pasid === inv.pasid && e.firstStage) ??
        psc((e) => e.did === inv.did && e.pasid === inv.pasid && e.stage === 'first');
    case 'pasidIotlbPage': {
      const [lo, hi] = range(inv.addr, inv.am);
      return iotlb((e) => e.did === inv.did && e.pasid === inv.pasid && e.firstStage && overlaps(e.iova, e.pageLg2, lo, hi)) ??
        psc((e) => inv.ih === 0 && e.did === inv.did && e.pasid === inv.pasid && e.stage === 'first' && overlaps(e.iova, pscLg2(e), lo, hi));
    }
    case 'contextGlobal':
      return c.context.length ? left('context entry', c.context[0]) : undefined;
    case 'contextDomain': {
      const e = scalable ? undefined : c.context.find((x) => x.did === inv.did);
      return e ? left('context entry', e) : undefined;
    }
    case 'contextDevice': {
      const mask = ~FM_MASK[inv.fm & 3]!;
      const e = c.context.find((x) => (x.sid & mask) === (inv.sid & mask));
      return e ? left('context entry', e) : undefined;
    }
    case 'pasidCache': {
      const g = inv.granularity;
      const e = c.pasid.find((x) => g === 3 || (x.did === inv.did && (g === 0 || x.pasid === inv.pasid)));
      return e ? left('PASID-cache entry', e) : undefined;
    }
  }
}

/** [first, last] input addresses of 2^am pages at `addr` (aligned down), §6.5.2.3 AM. */
function range(addr: bigint, am: number): [bigint, bigint] {
  const size = 1n << BigInt(12 + Math.min(am, 52));
  const lo = addr & ~(size - 1n);
  return [lo, lo + size - 1n];
}

/** Whether [base, base + 2^lg2) meets [lo, hi]. */
function overlaps(base: bigint, lg2: number, lo: bigint, hi: bigint): boolean {
  return base <= hi && lo <= base + (1n << BigInt(lg2)) - 1n;
}

/** log2 of the input range a paging-structure entry covers (§6.2.4). */
const pscLg2 = (e: PscEntry): number => 12 + 9 * e.level;
