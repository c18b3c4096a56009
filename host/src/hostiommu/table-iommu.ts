/**
 * The emulated physical IOMMU under the host object model: real VT-d
 * scalable-mode structures in host memory (§9.2 root table, §9.4 context
 * entries, §9.5 PASID directory, §9.6 PASID entries) whose PASID entries
 * point at HWPT second-stage tables (PGTT=2) or nest a guest first stage
 * over them (PGTT=3). A wasm core whose root table is `rootTable` (TTM=01)
 * then translates device DMA through them; cache invalidations go to the
 * core's primitives through `CoreCaches` (the `Core` class satisfies it).
 *
 * Per-device structures are freed when a device's last PASID entry is
 * cleared, so `pages.allocated` returns to its baseline (leak checks).
 */
import { fail } from './errors.js';
import { PAGE, type HostPages } from './host-pages.js';
import { RID_PASID, type DomainProgram, type PhysicalIommu } from './backend.js';
import { encodePasidDirEntry, encodePasidEntry, pasidDirEntryAddress, pasidEntryAddress, PGTT } from '../vtd/spec/pasid-entry.js';
import { encodeSmContextEntry, smContextEntryAddress } from '../vtd/spec/sm-context-entry.js';
import type { Did, Iova, Pasid, Sid } from '../types.js';

/** The cache-invalidation primitives the physical IOMMU uses (docs/ABI.md; `Core` has them). */
export interface CoreCaches {
  /** Device-selective context-cache invalidation. */
  invContextDevice(did: Did, sid: Sid, fm: number): void;
  /** PASID-cache invalidation at `granularity`. */
  invPasidCache(granularity: number, did: Did, pasid: Pasid): void;
  /** Every IOTLB entry of (did, pasid). */
  invPasidIotlb(did: Did, pasid: Pasid): void;
  /** 2^am pages of (did, pasid) at `addr`. */
  invPasidIotlbPage(did: Did, pasid: Pasid, addr: Iova, am: number, ih: number | boolean): void;
  /** Every IOTLB entry of domain `did`. */
  invIotlbDomain(did: Did): void;
  /** 2^am pages of domain `did` at `addr`. */
  invIotlbPage(did: Did, addr: Iova, am: number, ih: number | boolean): void;
}

/** Options of TableIommu. */
export interface TableIommuOptions {
  /** Second-stage levels of new domains (default 4, 48-bit). */
  readonly ssLevels?: 3 | 4 | 5;
  /** Largest second-stage leaf (default 2 MiB). */
  readonly maxLeafLg2?: 12 | 21 | 30;
  /** PASID width the directories cover (default 20: PDTS 7, 32 pages per device). */
  readonly pasidBits?: number;
  /** Called by drainPageRequests (the page-request queue of the unit drains). */
  readonly onDrain?: (sid: Sid) => void;
}

/** Per-device structures: the PASID directory and its PASID tables. */
interface DeviceTables { readonly dir: bigint; readonly dirPages: number; readonly tables: Map<number, { page: bigint; used: number }>; readonly entries: Map<number, number> }

/** Largest am (log2 pages) a page-selective invalidation uses before a domain-wide one. */
const MAX_AM = 18;

/** The smallest (base, am) block of 2^am pages covering `[addr, addr + len)`, or undefined past MAX_AM. */
export function coveringBlock(addr: Iova, len: bigint): { base: bigint; am: number } | undefined {
  const first = addr / PAGE;
  const last = (addr + (len > 0n ? len : 1n) - 1n) / PAGE;
  for (let am = 0; am <= MAX_AM; am++) {
    if (first >> BigInt(am) === last >> BigInt(am)) return { base: (first >> BigInt(am)) << BigInt(am + 12), am };
  }
  return undefined;
}

/** VT-d scalable-mode tables in host memory, programmed per (sid, PASID). */
export class TableIommu implements PhysicalIommu {
  /** Root table (RTADDR with TTM = 01, scalable). */
  readonly rootTable: bigint;
  readonly ssLevels: 3 | 4 | 5;
  readonly maxLeafLg2: 12 | 21 | 30;
  private readonly pasidBits: number;
  private readonly contextTables = new Map<number, { page: bigint; used: number }>(); // key: bus << 1 | upper
  private readonly devices = new Map<number, DeviceTables>();

  /**
   * A physical IOMMU with tables in `pages` and the core's caches.
   * @param pages Host pages for its tables.
   */
  constructor(readonly pages: HostPages, private readonly caches: CoreCaches, private readonly opts: TableIommuOptions = {}) {
    this.ssLevels = opts.ssLevels ?? 4;
    this.maxLeafLg2 = opts.maxLeafLg2 ?? 21;
    this.pasidBits = opts.pasidBits ?? 20;
    if (!Number.isInteger(this.pasidBits) || this.pasidBits < 6 || this.pasidBits > 20) throw new Error(`pasidBits: ${String(opts.pasidBits)} is not 6..20`);
    this.rootTable = pages.alloc('root table');
  }

  /** The DID in (sid, pasid)'s PASID entry, or undefined when not present. */
  didOf(sid: Sid, pasid: Pasid): number | undefined {
    return this.devices.get(sid)?.entries.get(pasid);
  }

  install(sid: Sid, pasid: Pasid, program: DomainProgram): void {
    if (program.kind === 'smmu-nested') fail('EOPNOTSUPP', 'program: a VT-d IOMMU takes no SMMUv3 STE');
    if (pasid >= 2 ** this.pasidBits) fail('EINVAL', `pasid: ${pasid} is beyond the ${this.pasidBits}-bit PASID directory`);
    const dev = this.deviceTables(sid);
    const ptable = this.pasidTable(sid, dev, pasid);
    const ea = pasidEntryAddress(ptable.page, pasid);
    const words = encodePasidEntry(program.kind === 'paging'
      ? { P: true, AW: program.levels - 2, PGTT: PGTT.SECOND_STAGE, SSPTPTR: program.ssptptr, DID: program.did }
      : {
        P: true, AW: program.levels - 2, PGTT: PGTT.NESTED, SSPTPTR: program.ssptptr, DID: program.did,
        FSPTPTR: program.fsptptr, FSPM: program.fsLevels === 5 ? 1 : 0, SRE: program.sre, WPE: program.wpe,
      });
    for (let i = words.length - 1; i >= 0; i--) this.pages.mem.writeU64(ea + BigInt(i) * 8n, words[i]!); // qw0 (P) last
    const old = dev.entries.get(pasid);
    if (old === undefined) ptable.used++;
    else this.flushPasid(old, pasid);
    dev.entries.set(pasid, program.did);
  }

  remove(sid: Sid, pasid: Pasid): void {
    const dev = this.devices.get(sid);
    const did = dev?.entries.get(pasid);
    if (dev === undefined || did === undefined) return;
    const ptable = dev.tables.get(pasid >> 6)!;
    this.pages.mem.fill(pasidEntryAddress(ptable.page, pasid), 64, 0);
    dev.entries.delete(pasid);
    this.flushPasid(did, pasid);
    if (--ptable.used === 0) {
      this.pages.mem.writeU64(pasidDirEntryAddress(dev.dir, pasid), 0n);
      this.pages.free(ptable.page);
      dev.tables.delete(pasid >> 6);
    }
    if (dev.entries.size === 0) this.dropDevice(sid, dev, did);
  }

  flushSecondStage(did: Did, iova: Iova, len: bigint): void {
    const block = coveringBlock(iova, len);
    if (block === undefined) this.caches.invIotlbDomain(did);
    else this.caches.invIotlbPage(did, block.base, block.am, 0);
  }

  flushFirstStage(did: Did, pasid: Pasid, addr: Iova, npages: bigint, leafOnly: boolean): void {
    const block = npages === 0n ? undefined : coveringBlock(addr, npages * PAGE);
    if (block === undefined) this.caches.invPasidIotlb(did, pasid);
    else this.caches.invPasidIotlbPage(did, pasid, block.base, block.am, leafOnly);
  }

  drainPageRequests(sid: Sid): void {
    this.opts.onDrain?.(sid);
  }

  /** The device's PASID directory and context entry, created on first use (all-or-nothing). */
  private deviceTables(sid: number): DeviceTables {
    const have = this.devices.get(sid);
    if (have) return have;
    const ctx = this.contextTable(sid);
    const dirPages = Math.max(1, 2 ** (this.pasidBits - 6) * 8 / Number(PAGE));
    let dir: bigint;
    try {
      dir = this.pages.allocRun(dirPages, 'PASID directory');
    } catch (e) {
      this.releaseContextTable(sid, ctx);
      throw e;
    }
    const pdts = Math.max(0, this.pasidBits - 13); // 2^(PDTS+7) directory entries, §9.4
    // PRE: recoverable faults become page requests (FF_RECOVERABLE) routed to the HWPT's fault queue, §9.4.
    const words = encodeSmContextEntry({ P: true, PASIDE: true, PRE: true, PDTS: pdts, PASIDDIRPTR: dir, RID_PASID: RID_PASID });
    const ea = smContextEntryAddress(ctx.page, sid & 0xff);
    for (let i = words.length - 1; i >= 0; i--) this.pages.mem.writeU64(ea + BigInt(i) * 8n, words[i]!);
    ctx.used++;
    const dev: DeviceTables = { dir, dirPages, tables: new Map(), entries: new Map() };
    this.devices.set(sid, dev);
    return dev;
  }

  /** The context table holding `sid`'s entry (§9.2: lower half devfn < 0x80, upper half the rest). */
  private contextTable(sid: number): { page: bigint; used: number } {
    const key = ((sid >> 8) << 1) | ((sid & 0x80) >> 7);
    const have = this.contextTables.get(key);
    if (have) return have;
    const page = this.pages.alloc('context table');
    this.pages.mem.writeU64(this.rootTable + BigInt(sid >> 8) * 16n + ((sid & 0x80) ? 8n : 0n), page | 1n); // LP/UP + LCTP/UCTP
    const ct = { page, used: 0 };
    this.contextTables.set(key, ct);
    return ct;
  }

  private releaseContextTable(sid: number, ct: { page: bigint; used: number }): void {
    if (ct.used > 0) return;
    this.pages.mem.writeU64(this.rootTable + BigInt(sid >> 8) * 16n + ((sid & 0x80) ? 8n : 0n), 0n);
    this.pages.free(ct.page);
    this.contextTables.delete(((sid >> 8) << 1) | ((sid & 0x80) >> 7));
  }

  /** The PASID table holding `pasid` of the device, created on first use. */
  private pasidTable(sid: number, dev: DeviceTables, pasid: number): { page: bigint; used: number } {
    const have = dev.tables.get(pasid >> 6);
    if (have) return have;
    let page: bigint;
    try {
      page = this.pages.alloc('PASID table');
    } catch (e) {
      if (dev.entries.size === 0) this.dropDevice(sid, dev, undefined);
      throw e;
    }
    this.pages.mem.writeU64(pasidDirEntryAddress(dev.dir, pasid), encodePasidDirEntry({ P: true, SMPTBLPTR: page })[0]!);
    const t = { page, used: 0 };
    dev.tables.set(pasid >> 6, t);
    return t;
  }

  /** Clears the device's context entry and frees its directory (and the context table when empty). */
  private dropDevice(sid: number, dev: DeviceTables, lastDid: number | undefined): void {
    const key = ((sid >> 8) << 1) | ((sid & 0x80) >> 7);
    const ct = this.contextTables.get(key)!;
    this.pages.mem.fill(smContextEntryAddress(ct.page, sid & 0xff), 32, 0);
    this.caches.invContextDevice(lastDid ?? 0, sid, 0);
    for (let i = 0; i < dev.dirPages; i++) this.pages.free(dev.dir + BigInt(i) * PAGE);
    this.devices.delete(sid);
    ct.used--;
    this.releaseContextTable(sid, ct);
  }

  /** A PASID entry changed: PASID cache (PASID-selective) then PASID-based IOTLB of the old DID (§6.5.2.x order). */
  private flushPasid(did: number, pasid: number): void {
    this.caches.invPasidCache(1, did, pasid);
    this.caches.invPasidIotlb(did, pasid);
  }
}
