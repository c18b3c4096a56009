/**
 * Caches against the invalidations the guest asked for (VT-d §6.5.1,
 * §6.5.2): right after the unit ran an invalidation, no live entry of its
 * scope may remain in the core's caches (read with the side-effect-free
 * cache dumps, docs/ABI.md). A cached translation that survives a covering
 * invalidation could later be hit although the tables say otherwise.
 *
 * Only scopes the spec states without doubt are checked: global IOTLB
 * (IOTLB and paging-structure caches empty), domain- and page-selective
 * IOTLB for second-stage entries, PASID-based IOTLB for first-stage
 * entries, context-cache global / device (and domain in legacy mode), and
 * the PASID cache. Over-invalidation is always allowed.
 */
import {
  decodeContext, decodeIotlb, decodePasid, decodePsc, DUMP_RECORD_BYTES, readDump, type CacheContents, type IotlbEntry,
} from '../host/src/core/cache-contents.js';
import type { Core } from '../host/src/core/core.js';
import type { InvalidationEvent } from '../host/src/vtd/cache-invalidation.js';

/** Records per dump call. */
const WINDOW = 256;

/**
 * The core's caches read lazily, each at most once: an invalidation
 * scope needs one or two of them, and decoding every cache after every
 * invalidation step cost a fifth of the fuzzer's time.
 */
export class LazyCaches implements CacheContents {
  private readonly cache: Partial<Record<keyof CacheContents, unknown[]>> = {};

  /**
   * `buf`: a WINDOW-record buffer from `core.bufAlloc` (reserved once per
   * machine: `reserveDumpBuffer`). `contextEmpty`: the caller knows the
   * context cache is empty (no context-cache miss, hence no fill, since it
   * was last seen empty), so its dump (a scan of all 65536 source ids,
   * ~0.2 ms) is skipped.
   */
  constructor(private readonly core: Core, private readonly buf: number, contextEmpty = false) {
    if (contextEmpty) this.cache.context = [];
  }

  /** True when the context cache was read (not known empty) and held nothing. */
  get contextSeenEmpty(): boolean {
    return this.cache.context?.length === 0;
  }

  private read<K extends keyof CacheContents>(k: K, dump: (b: number, f: number, m: number) => number, decode: (v: DataView, at: number) => CacheContents[K][number]): CacheContents[K] {
    this.cache[k] ??= readDump(dump, this.core.memory, this.buf, WINDOW, decode);
    return this.cache[k] as CacheContents[K];
  }

  get iotlb(): IotlbEntry[] { return this.read('iotlb', this.core.unsafeExports.iotlbDump, decodeIotlb); }
  get context(): CacheContents['context'] { return this.read('context', this.core.unsafeExports.contextCacheDump, decodeContext); }
  get pasid(): CacheContents['pasid'] { return this.read('pasid', this.core.unsafeExports.pasidCacheDump, decodePasid); }
  get psc(): CacheContents['psc'] { return this.read('psc', this.core.unsafeExports.pscDump, decodePsc); }
}

/** Reserves the dump buffer LazyCaches reads through (at machine construction, never during an execution). */
export function reserveDumpBuffer(core: Core): number {
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
  switch (inv.kind) {
    case 'iotlbGlobal':
      return iotlb(() => true) ?? (c.psc.length ? left('paging-structure entry', c.psc[0]) : undefined);
    case 'iotlbDomain':
      return iotlb((e) => e.did === inv.did && (!scalable || !e.firstStage));
    case 'iotlbPage': {
      const [lo, hi] = range(inv.addr, inv.am);
      return iotlb((e) => e.did === inv.did && (!scalable || !e.firstStage) && overlaps(e, lo, hi));
    }
    case 'pasidIotlb':
      return iotlb((e) => e.did === inv.did && e.pasid === inv.pasid && e.firstStage);
    case 'pasidIotlbPage': {
      const [lo, hi] = range(inv.addr, inv.am);
      return iotlb((e) => e.did === inv.did && e.pasid === inv.pasid && e.firstStage && overlaps(e, lo, hi));
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

function overlaps(e: IotlbEntry, lo: bigint, hi: bigint): boolean {
  const last = e.iova + (1n << BigInt(e.pageLg2)) - 1n;
  return e.iova <= hi && lo <= last;
}
