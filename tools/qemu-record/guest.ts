/**
 * Guest-driver idioms shared by the scenario families that compare the
 * `qemu-*` profiles with QEMU: legacy and scalable-mode structures for
 * several devices (§9.1-9.6), second-stage tables (§9.8), an invalidation
 * queue of either width (§6.5.2) and DMA probes whose result shows which
 * translation a device used. Everything is written as scenario steps
 * (guest memory and MMIO only), so QEMU and the model see the same program.
 */
import { IQA } from '../../host/src/vtd/qi/queue-regs.js';
import { awForLevels, contextEntryAddress, encodeContextEntry } from '../../host/src/vtd/spec/context-entry.js';
import { waitDesc } from '../../host/src/vtd/spec/descriptors.js';
import {
  decodePasidEntry, encodePasidDirEntry, encodePasidEntry, pasidDirEntryAddress, pasidEntryAddress, PGTT, type PasidEntry,
} from '../../host/src/vtd/spec/pasid-entry.js';
import { GRAN, ccmdCommand, iotlbCommand, ivaValue } from '../../host/src/vtd/spec/registers.js';
import { encodeRootEntry } from '../../host/src/vtd/spec/root-entry.js';
import { encodeSmContextEntry, smContextEntryAddress } from '../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSmRootEntry } from '../../host/src/vtd/spec/sm-root-entry.js';
import { PageTree, SS } from './page-tree.js';
import { GCMD, REG, TTM_SCALABLE, type Rng, type ScenarioBuilder } from './scenario-builder.js';

/** Devices on bus 0 (FORMAT.md: slots 00 and 1F are the chipset's). */
export const DEVICES = ['00:03.0', '00:04.0', '00:05.0'] as const;
/** Guest-physical layout used by the families. */
export const GPA = {
  ROOT: 0x100000n, CTX: 0x101000n, QUEUE: 0x180000n, STATUS: 0x190000n,
  /** PASID directories, 64 KiB per device: directory pages, then its PASID table at +32 KiB. */
  PASID: 0x1c0000n,
  /** Page tables are allocated from here upward. */
  TABLES: 0x200000n,
  /** Data pages (patterns) from here. */
  DATA: 0x800000n,
  /** Pages devices write to. */
  SINK: 0xc00000n,
} as const;

/** devfn of `bdf` (`00:DD.F`). */
export function devfn(bdf: string): number {
  return (parseInt(bdf.slice(3, 5), 16) << 3) | parseInt(bdf.slice(6), 10);
}

/** 16 recognisable qwords at `gpa`, tagged with `tag`. */
export function pattern(b: ScenarioBuilder, gpa: bigint, tag: number): void {
  b.memWrite(gpa, Array.from({ length: 16 }, (_, i) => (BigInt(tag) << 24n) | 0xc0de00n | BigInt(i)));
}

/** Context-entry AW field (§9.3) and table levels for a guest address width. */
export function awField(aw: 39 | 48): { field: bigint; levels: number } {
  const levels = aw === 39 ? 3 : 4;
  return { field: BigInt(awForLevels(levels)), levels };
}

/** Legacy root table with one context table for bus 0 (§9.1). */
export function legacyRoot(b: ScenarioBuilder): void {
  b.page(GPA.ROOT).page(GPA.CTX).memWrite(GPA.ROOT, encodeRootEntry({ P: true, CTP: GPA.CTX }));
}

/** The legacy context entry of `bdf` (§9.3): SSPTPTR, TT, AW, DID, FPD. */
export function legacyContext(b: ScenarioBuilder, bdf: string, e: { slpt: bigint; aw: bigint; did: number; tt?: number; fpd?: boolean }): bigint {
  const at = contextEntryAddress(GPA.CTX, devfn(bdf));
  b.memWrite(at, encodeContextEntry({ P: true, FPD: e.fpd ?? false, TT: e.tt ?? 0, SSPTPTR: e.slpt, AW: Number(e.aw), DID: e.did }));
  return at;
}

/** Scalable-mode structures of one device: context entry, PASID directory and table. */
export interface SmDevice {
  readonly bdf: string;
  readonly ctxAt: bigint;
  readonly dir: bigint;
  readonly table: bigint;
}

/** Scalable root table (lower context table for devfn < 128, §9.2). */
export function smRoot(b: ScenarioBuilder): void {
  b.page(GPA.ROOT).page(GPA.CTX).memWrite(GPA.ROOT, encodeSmRootEntry({ LP: true, LCTP: GPA.CTX }));
}

/**
 * The scalable context entry of device number `i` (§9.4) with its own PASID
 * directory (PDTS `pdts`) whose entry for `ridPasid` points to its own PASID
 * table. Returns where each structure is.
 */
export function smDevice(b: ScenarioBuilder, i: number, opts: { ridPasid?: number; pdts?: number; fpd?: boolean } = {}): SmDevice {
  const bdf = DEVICES[i]!;
  const dir = GPA.PASID + BigInt(i) * 0x10000n;
  const table = dir + 0x8000n;
  const rid = opts.ridPasid ?? 0;
  b.page(dir).page(table);
  const ctxAt = smContextEntryAddress(GPA.CTX, devfn(bdf));
  b.memWrite(ctxAt, encodeSmContextEntry({ P: true, FPD: opts.fpd ?? false, PDTS: opts.pdts ?? 0, PASIDDIRPTR: dir, RID_PASID: rid }));
  b.memWrite(pasidDirEntryAddress(dir, rid), encodePasidDirEntry({ P: true, SMPTBLPTR: table }));
  return { bdf, ctxAt, dir, table };
}

/**
 * A PASID entry (§9.6, all 8 qwords) for a second-stage (PGTT=2, the
 * default), pass-through (PGTT=4) or first-stage (PGTT=1, `fsptptr`) translation.
 */
export function pasidEntry(e: { slpt: bigint; aw: bigint; did: number; pgtt?: number; fpd?: boolean; p?: boolean; fsptptr?: bigint }): bigint[] {
  return encodePasidEntry({
    P: e.p !== false, FPD: e.fpd ?? false, AW: Number(e.aw), PGTT: e.pgtt ?? PGTT.SECOND_STAGE, SSPTPTR: e.slpt, DID: e.did,
    FSPTPTR: e.fsptptr ?? 0n,
  });
}

/** qword `q` of PASID entry `good` with the fields `e` changed (a family breaking one field on purpose). */
export function pasidQword(good: readonly bigint[], q: number, e: Partial<PasidEntry>): bigint {
  return encodePasidEntry({ ...decodePasidEntry(good), ...e })[q]!;
}

/** Where the PASID entry of `pasid` lives in device `d`'s table. */
export function pasidEntryAt(d: SmDevice, pasid: number): bigint {
  return pasidEntryAddress(d.table, pasid);
}

/** A second-stage table tree for one address width. */
export function ssTree(b: ScenarioBuilder, base: bigint, aw: 39 | 48): PageTree {
  return new PageTree(b, base, awField(aw).levels);
}

/** SRTP (with TTM=01 for scalable mode), global invalidation by register, TE. */
export function enableTranslation(b: ScenarioBuilder, scalable: boolean): void {
  b.setRootTable(GPA.ROOT | (scalable ? TTM_SCALABLE : 0n)).globalInvalidateRegs().enableTranslation();
}

/** An invalidation queue in guest memory (§6.5.2): 128- or 256-bit descriptors. */
export class Queue {
  private tail = 0n;
  private waits = 0;
  constructor(private readonly b: ScenarioBuilder, readonly wide: boolean) {}

  /** IQA (+DW), IQT=0, GCMD.QIE with the other enables given in `keep`. */
  enable(keep = 0n): this {
    this.b.page(GPA.QUEUE).page(GPA.STATUS);
    this.b.mmioWrite(REG.IQA, 8, GPA.QUEUE | (this.wide ? IQA.DW : 0n)).mmioWrite(REG.IQT, 8, 0);
    this.b.mmioWrite(REG.GCMD, 4, GCMD.QIE | keep).mmioRead(REG.GSTS, 4);
    return this;
  }

  /**
   * Writes the descriptors at the tail and moves IQT past them; reads IQH and
   * FSTS. Each is written at the queue's width: a 256-bit type in a 128-bit
   * queue keeps its first two qwords, a 128-bit one in a 256-bit queue gets
   * two zero qwords.
   */
  submit(descs: bigint[][]): this {
    const size = this.wide ? 32n : 16n;
    for (const d of descs) {
      this.b.memWrite(GPA.QUEUE + this.tail, [...d, 0n, 0n, 0n, 0n].slice(0, this.wide ? 4 : 2));
      this.tail = (this.tail + size) % 4096n;
    }
    this.b.mmioWrite(REG.IQT, 8, this.tail).mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4);
    return this;
  }

  /** A wait descriptor (§6.5.2.8) that writes a fresh value to the status page, and that value read back. */
  waitAndCheck(): this {
    const data = 0x5a00 + ++this.waits;
    this.submit([waitDesc({ sw: true, data, addr: GPA.STATUS })]);
    this.b.memRead(GPA.STATUS, 8);
    return this;
  }

  /** Current tail in bytes. */
  get tailBytes(): bigint { return this.tail; }
}

/** Register-based invalidations (§6.5.1, §11.4.6-8). */
export const REGS = {
  ccGlobal: (b: ScenarioBuilder) => b.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.GLOBAL)),
  ccDomain: (b: ScenarioBuilder, did: number) => b.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.DOMAIN, did)),
  ccDevice: (b: ScenarioBuilder, did: number, sid: number, fm: number) =>
    b.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.DEVICE_OR_PAGE, did, sid, fm)),
  iotlbGlobal: (b: ScenarioBuilder) => b.mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.GLOBAL)),
  iotlbDomain: (b: ScenarioBuilder, did: number) => b.mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.DOMAIN, did)),
  iotlbPage: (b: ScenarioBuilder, did: number, addr: bigint, am: number) =>
    b.mmioWrite(REG.IVA, 8, ivaValue(addr, am)).mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.DEVICE_OR_PAGE, did)),
} as const;

/** Device `bdf`'s sink page: mapped at IOVA = GPA, so identity and translation agree on it. */
export function sinkOf(bdf: string): bigint {
  return GPA.SINK + BigInt(DEVICES.indexOf(bdf as (typeof DEVICES)[number])) * 0x1000n;
}

/**
 * A read probe: the device reads 64 bytes at `iova` into its buffer and
 * writes them to its sink page, which the guest then reads and clears; the
 * fault registers follow when `faults` is set.
 */
export function probe(b: ScenarioBuilder, bdf: string, iova: bigint, faults = true): void {
  const sink = sinkOf(bdf);
  b.memFill(sink, 64, 0).dmaRead(bdf, iova, 64).dmaWrite(bdf, sink, 64).memRead(sink, 64);
  if (faults) b.readFaultState();
}

/** Maps the sink page of each of the first `devices` devices in `t` (IOVA = GPA). */
export function mapSinks(t: PageTree, devices: number, flags = SS.RW): void {
  for (let i = 0; i < devices; i++) t.map(sinkOf(DEVICES[i]!), sinkOf(DEVICES[i]!), flags);
}

/** Second-stage trees of devices that each map the same IOVA to their own data (issue-20/26 families). */
export interface OwnDataTrees {
  readonly trees: PageTree[];
  /** Remaps tree `i`'s leaf for the IOVA to its other data page (and back), without invalidation. */
  flip(i: number): void;
}

/**
 * `count` trees (tables from GPA.TABLES + 64 KiB each) mapping `iova` to the
 * tree's own data page (pattern `tags[0] + i`; its other page: `tags[1] + i`)
 * and the sink pages of `devices` devices.
 */
export function ownDataTrees(b: ScenarioBuilder, count: number, aw: 39 | 48, iova: bigint, devices: number, tags: [number, number]): OwnDataTrees {
  const trees: PageTree[] = [];
  const data = (i: number) => GPA.DATA + BigInt(i) * 0x2000n;
  for (let i = 0; i < count; i++) {
    const t = ssTree(b, GPA.TABLES + BigInt(i) * 0x10000n, aw);
    t.map(iova, data(i), SS.RW);
    mapSinks(t, devices);
    pattern(b, data(i), tags[0] + i);
    pattern(b, data(i) + 0x1000n, tags[1] + i);
    trees.push(t);
  }
  const flipped = new Array<boolean>(count).fill(false);
  return {
    trees,
    flip: (i) => {
      flipped[i] = !flipped[i];
      b.memWrite(trees[i]!.entryAt.get(`${iova}:0`)!, [(data(i) + (flipped[i] ? 0x1000n : 0n)) | SS.RW]);
    },
  };
}

/**
 * Device 0's translation in legacy or scalable mode (RID_PASID 0) through
 * `t`, domain 1; returns its context or PASID entry's address.
 */
export function oneDevice(b: ScenarioBuilder, scalable: boolean, aw: 39 | 48, t: PageTree, fpd = false): bigint {
  const field = awField(aw).field;
  if (!scalable) {
    legacyRoot(b);
    return legacyContext(b, DEVICES[0], { slpt: t.top, aw: field, did: 1, fpd });
  }
  smRoot(b);
  const d = smDevice(b, 0);
  b.memWrite(pasidEntryAt(d, 0), pasidEntry({ slpt: t.top, aw: field, did: 1, fpd }));
  return pasidEntryAt(d, 0);
}

/** The FORMAT.md machine block. */
export function machine(profile: 'qemu-7.2' | 'qemu-10.0', o: { scalable?: boolean; aw?: 39 | 48; cm?: boolean; devices?: number }): object {
  return {
    profile, ram_mib: 256,
    iommu: { scalable_mode: o.scalable ?? false, caching_mode: o.cm ?? false, aw_bits: o.aw ?? 39 },
    devices: DEVICES.slice(0, o.devices ?? 1).map((bdf) => ({ bdf, kind: 'dma-test' })),
  };
}

/** A random pick among `n` devices' bdfs. */
export function someDevice(rng: Rng, n: number): string {
  return DEVICES[rng.int(n)]!;
}
