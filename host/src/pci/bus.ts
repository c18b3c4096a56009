/**
 * The PCI hierarchy: bus 0 (the root complex's bus) with endpoints and
 * PCI-to-PCI bridges (root ports), each bridge leading to a secondary bus
 * with more functions. Configuration requests are routed by the bridges'
 * Secondary/Subordinate Bus Number registers (PCI-to-PCI Bridge spec §3.2.5),
 * memory requests by their memory windows (§3.2.5.8) and the endpoints' BARs.
 *
 * Requester ids are those firmware enumerated with (bus << 8 | devfn, fixed
 * when the function is attached): a guest renumbering a bridge changes where
 * configuration requests go, not the ids already captured by the devices.
 *
 * Memory decode goes through a sorted index of the BAR ranges (bar-index.ts),
 * rebuilt lazily when a command register, BAR or bridge window changes, so a
 * lookup costs O(log n) in the number of BARs, not a walk over every function.
 */
import { formatBdf, type Sid, type Gpa, type Iova, type Pasid } from '../types.js';
import type { PageGroupResponse } from '../vtd/prq/page-request.js';
import { BarIndex, type BarRange } from './bar-index.js';
import { CFG, type ConfigSpace } from './config-space.js';

/** A device-TLB invalidation request as it reaches an ATS device (VT-d §6.5.2.5-6). */
export interface DeviceTlbInvalidation {
  /** PASID of a PASID-based invalidation; absent for requests without PASID. */
  readonly pasid?: Pasid;
  /** First byte of the range (aligned to 2^sizeLg2). */
  readonly addr: Iova;
  /** log2 of the range size (12 = one page, 64 = everything). */
  readonly sizeLg2: number;
  /** Global: also the global (G) translations of every PASID. */
  readonly global: boolean;
}

/** A function on the bus. */
export interface PciFunction {
  /** Requester id (bus << 8 | dev << 3 | fn). */
  readonly sid: Sid | number;
  /** The function's configuration space. */
  readonly config: ConfigSpace;
  /** MMIO read at `offset` of BAR `bar` (index into `config.bars`, default 0), size 1, 2, 4 or 8. */
  barRead(offset: number, size: number, bar?: number): bigint;
  /** MMIO write at `offset` of BAR `bar` (default 0), size 1, 2, 4 or 8. */
  barWrite(offset: number, size: number, value: bigint, bar?: number): void;
  /** ATS devices: a device-TLB invalidation request; 'timeout' when the device does not answer. */
  deviceTlbInvalidate?(req: DeviceTlbInvalidation): 'done' | 'timeout';
  /** PRI devices: a page-group response routed back by requester id. */
  pageGroupResponse?(resp: PageGroupResponse): void;
  /** Back to power-on state. */
  reset?(): void;
}

/** A function that leads to a secondary bus (bridge.ts). */
export interface PciBridgeLike extends PciFunction {
  /** Functions on the secondary bus by devfn. */
  readonly segment: Map<number, PciFunction>;
}

/** Slots the chipset owns on bus 0 (host bridge 00, LPC/ISA bridge 1F). */
export const RESERVED_SLOTS: readonly number[] = [0x00, 0x1f];

const isBridge = (fn: PciFunction): fn is PciBridgeLike => 'segment' in fn;

/** The PCI hierarchy below the root complex. */
export class PciBus {
  private readonly root = new Map<number, PciFunction>();
  private readonly bySid = new Map<number, PciFunction>();
  /** Memory decode of the whole hierarchy; valid unless `indexStale`. */
  readonly bars = new BarIndex();
  private indexStale = true;

  /**
   * Adds a function. Bus 0 functions go on the root bus (slots 00 and 1F
   * belong to the chipset unless `chipset`); others behind the bridge whose
   * secondary bus number is theirs. Throws naming `sid` when that fails.
   */
  attach(fn: PciFunction, chipset = false): void {
    const bus = fn.sid >> 8;
    const devfn = fn.sid & 0xff;
    if (this.bySid.has(fn.sid)) throw new Error(`sid: ${formatBdf(fn.sid)} is already in use`);
    let segment = this.root;
    if (bus === 0) {
      if (!chipset && RESERVED_SLOTS.includes(devfn >> 3)) throw new Error(`sid: slot ${formatBdf(fn.sid)} belongs to the chipset`);
    } else {
      const bridge = [...this.bySid.values()].find((b) => isBridge(b) && b.config.read(CFG.SECONDARY_BUS, 1) === bus);
      if (!bridge || !isBridge(bridge)) throw new Error(`sid: no bridge leads to bus ${bus} for ${formatBdf(fn.sid)}`);
      segment = bridge.segment;
    }
    segment.set(devfn, fn);
    this.bySid.set(fn.sid, fn);
    fn.config.onDecodeChange = () => { this.indexStale = true; };
    this.indexStale = true;
  }

  /** The function with that requester id, if any. */
  get(sid: Sid): PciFunction | undefined {
    return this.bySid.get(sid);
  }

  /** The function with that requester id (the IOMMU routes invalidations and responses with it). */
  deviceBySid(sid: Sid): PciFunction | undefined {
    return this.bySid.get(sid);
  }

  /** Every function, in requester-id order. */
  list(): PciFunction[] {
    return [...this.bySid.values()].sort((a, b) => a.sid - b.sid);
  }

  /** The function a configuration request for bus/devfn (`sid`) reaches, routed through the bridges. */
  route(sid: Sid): PciFunction | undefined {
    const bus = sid >> 8;
    const devfn = sid & 0xff;
    let segment = this.root;
    for (let depth = 0; depth < 256; depth++) {
      if (depth === 0 && bus === 0) return segment.get(devfn);
      const next = [...segment.values()].find((f) => isBridge(f) && inRange(f.config, bus));
      if (!next || !isBridge(next)) return undefined;
      if (next.config.read(CFG.SECONDARY_BUS, 1) === bus) return next.segment.get(devfn);
      segment = next.segment;
    }
    return undefined;
  }

  /** Config read; an absent function reads all-ones (master abort). */
  configRead(sid: Sid, offset: number, size: number): number {
    const fn = this.route(sid);
    return fn ? fn.config.read(offset, size) : size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
  }

  /** Config write; ignored for an absent function. */
  configWrite(sid: Sid, offset: number, size: number, value: number): void {
    this.route(sid)?.config.write(offset, size, value);
  }

  /** The function and BAR decoding memory address `addr` (through enabled bridge windows). */
  decode(addr: Gpa): { fn: PciFunction; bar: number; offset: number } | undefined {
    if (addr >= MAX_INDEXED) return decodeIn(this.root, addr);
    const i = this.barAt(Number(addr));
    return i < 0 ? undefined : { fn: this.bars.fn(i), bar: this.bars.bar(i), offset: this.bars.offset(i, Number(addr)) };
  }

  /**
   * Index into `bars` of the interval decoding `addr` (a number below 2^53),
   * or -1: the allocation-free form of `decode`.
   */
  barAt(addr: Gpa<number>): number {
    if (this.indexStale) {
      this.bars.rebuild(decodeRanges(this.root, 0, MAX_INDEXED_NUMBER));
      this.indexStale = false;
    }
    return this.bars.find(addr);
  }
}

/** Addresses from 2^53 on are decoded by walking the hierarchy (numbers are exact below it). */
const MAX_INDEXED = 1n << 53n;
const MAX_INDEXED_NUMBER = 2 ** 53;

/** Decoding BAR ranges of `segment` in `decodeIn` order, clipped to [lo, hi) (the windows of the bridges above). */
function decodeRanges(segment: Map<number, PciFunction>, lo: number, hi: number, out: BarRange[] = []): BarRange[] {
  for (const fn of segment.values()) {
    if (isBridge(fn)) {
      const w = bridgeWindow(fn.config);
      if (fn.config.memoryEnabled() && w) decodeRanges(fn.segment, Math.max(lo, Number(w.base)), Math.min(hi, Number(w.limit) + 1), out);
      continue;
    }
    if (!fn.config.memoryEnabled()) continue;
    fn.config.bars.forEach((b, bar) => {
      const base = fn.config.barBase(bar);
      if (base === 0n || base >= MAX_INDEXED) return;
      const start = Number(base);
      const end = Math.min(start + b.spec.size, hi);
      if (Math.max(start, lo) < end) out.push({ start: Math.max(start, lo), end, fn, bar, base: start });
    });
  }
  return out;
}

function inRange(cfg: ConfigSpace, bus: number): boolean {
  return bus >= cfg.read(CFG.SECONDARY_BUS, 1) && bus <= cfg.read(CFG.SUBORDINATE_BUS, 1);
}

/** Memory window [base, limit] of a bridge (1 MiB granular, §3.2.5.8), or undefined when closed. */
export function bridgeWindow(cfg: ConfigSpace): { base: bigint; limit: bigint } | undefined {
  const base = BigInt(cfg.read(CFG.MEMORY_BASE, 2) & 0xfff0) << 16n;
  const limit = (BigInt(cfg.read(CFG.MEMORY_LIMIT, 2) & 0xfff0) << 16n) | 0xf_ffffn;
  return limit > base ? { base, limit } : undefined;
}

function decodeIn(segment: Map<number, PciFunction>, addr: bigint): { fn: PciFunction; bar: number; offset: number } | undefined {
  for (const fn of segment.values()) {
    if (isBridge(fn)) {
      const w = bridgeWindow(fn.config);
      if (fn.config.memoryEnabled() && w && addr >= w.base && addr <= w.limit) {
        const hit = decodeIn(fn.segment, addr);
        if (hit) return hit;
      }
      continue;
    }
    const hit = fn.config.decode(addr);
    if (hit) return { fn, ...hit };
  }
  return undefined;
}
