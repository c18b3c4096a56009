/**
 * Page-table and scalable-mode structure encoders for the bench's guest
 * images (VT-d spec §9.2 SM root entry, §9.4 SM context entry, §9.5 PASID
 * directory entry, §9.6 PASID table entry, §9.7 first-stage and §9.8
 * second-stage paging entries). Only what the workloads need: present,
 * read/write mappings with A/D preset, so no implementation has to write
 * back during a timed loop.
 */
import { GuestImage, PAGE_SIZE } from './guest-image.js';

/** Paging format of a table: VT-d second stage (§9.8) or x86 first stage (§9.7). */
export type PtFormat = 'ss' | 'fs';

/** §9.8 second-stage entry bits. */
export const SS_R = 1, SS_W = 2, SS_PS = 0x80, SS_A = 0x100, SS_D = 0x200;
/** §9.7 first-stage entry bits. */
export const FS_P = 1, FS_RW = 2, FS_US = 4, FS_A = 0x20, FS_D = 0x40, FS_PS = 0x80;


const TWO_POW_32 = 4294967296;

/** Flags of a non-leaf entry that grants everything below it. */
function tableFlags(format: PtFormat): number {
  return format === 'ss' ? SS_R | SS_W : FS_P | FS_RW | FS_US | FS_A;
}

/** Flags of a read/write leaf entry with A/D already set. */
function leafFlags(format: PtFormat, pageLg2: number): number {
  const ps = pageLg2 > 12 ? (format === 'ss' ? SS_PS : FS_PS) : 0;
  return format === 'ss' ? SS_R | SS_W | ps : FS_P | FS_RW | FS_US | FS_A | FS_D | ps;
}

/** Index of `iova` in a level-`level` table (level 0 = leaf table; glossary). */
export function levelIndex(iova: number, level: number): number {
  return Math.floor(iova / 2 ** (12 + 9 * level)) % 512;
}

/** Builds one paging hierarchy (3/4/5 levels) in a GuestImage. */
export class PageTableBuilder {
  /** GPA of the top-level table (what SSPTPTR/FSPTPTR points to). */
  readonly root: number;
  /** Number of page-table pages allocated so far, root included. */
  tablePages = 1;

  constructor(private readonly image: GuestImage, readonly format: PtFormat, readonly levels: number) {
    if (levels < 3 || levels > 5) throw new Error(`levels must be 3, 4 or 5, got ${levels}`);
    this.root = image.allocPages(1);
  }

  /** Maps the page at `iova` (aligned to `pageLg2`: 12, 21 or 30) to `gpa`. */
  map(iova: number, gpa: number, pageLg2: 12 | 21 | 30): void {
    const leafLevel = (pageLg2 - 12) / 9;
    if (iova % 2 ** pageLg2 !== 0 || gpa % 2 ** pageLg2 !== 0) throw new Error(`iova/gpa must be aligned to 2^${pageLg2}: ${iova}, ${gpa}`);
    if (iova >= 2 ** (12 + 9 * this.levels)) throw new Error(`iova ${iova} is beyond a ${this.levels}-level table`);
    let table = this.root;
    for (let level = this.levels - 1; level > leafLevel; level--) {
      const slot = table + levelIndex(iova, level) * 8;
      const entry = this.image.readU64(slot);
      if (entry === 0) {
        const next = this.image.allocPages(1);
        this.tablePages++;
        this.image.writeU64(slot, next + tableFlags(this.format));
        table = next;
      } else {
        table = entry - (entry % PAGE_SIZE);
      }
    }
    this.image.writeU64(table + levelIndex(iova, leafLevel) * 8, gpa + leafFlags(this.format, pageLg2));
  }
}

/** One PASID table entry to encode (§9.6). */
export interface PasidEntrySpec {
  pasid: number;
  /** §9.6 PGTT (`PGTT` of the spec layer). */
  pgtt: number;
  did: number;
  /** Second-stage root and levels (PGTT 2 and 3). */
  ssRoot?: number;
  ssLevels?: number;
  /** First-stage root and levels (PGTT 1 and 3). */
  fsRoot?: number;
  fsLevels?: number;
}

/** One device's scalable-mode context (§9.4) with its PASID entries. */
export interface DeviceSpec {
  sid: number;
  ridPasid: number;
  pasids: PasidEntrySpec[];
}

/** Writes a §9.6 PASID table entry at `slot`. */
function writePasidEntry(image: GuestImage, slot: number, e: PasidEntrySpec): void {
  const aw = e.ssLevels !== undefined ? e.ssLevels - 2 : 0; // §3: levels = AW + 2
  image.writeU64(slot, (e.ssRoot ?? 0) + e.pgtt * 64 + aw * 4 + 1);
  image.writeU64(slot + 8, e.did); // qw1 79:64 DID
  const fspm = e.fsLevels === 5 ? 1 : 0; // qw2 131:130 FSPM
  image.writeU64(slot + 16, (e.fsRoot ?? 0) + fspm * 4);
}

/**
 * Builds a scalable-mode root table (§9.2) for `devices` and returns its GPA
 * (the RTADDR value with TTM = 01). Each device gets a 128-entry PASID
 * directory (PDTS = 0) and the PASID tables its entries need.
 */
export function buildScalableRoot(image: GuestImage, devices: DeviceSpec[]): number {
  const root = image.allocPages(1);
  const lowerCtx = new Map<number, number>();
  const upperCtx = new Map<number, number>();
  for (const dev of devices) {
    const bus = dev.sid >>> 8, devfn = dev.sid & 0xff;
    const tables = devfn < 0x80 ? lowerCtx : upperCtx;
    let ctx = tables.get(bus);
    if (ctx === undefined) {
      ctx = image.allocPages(1);
      tables.set(bus, ctx);
      image.writeU64(root + bus * 16 + (devfn < 0x80 ? 0 : 8), ctx + 1); // LP/UP + LCTP/UCTP
    }
    const dir = image.allocPages(1);
    const ctxSlot = ctx + (devfn & 0x7f) * 32;
    image.writeU64(ctxSlot, dir + 8 + 1); // P, PASIDE (requests with PASID allowed), PDTS = 0, PASIDDIRPTR
    image.writeU64(ctxSlot + 8, dev.ridPasid);
    const pasidTables = new Map<number, number>();
    for (const e of dev.pasids) {
      const dirIndex = e.pasid >>> 6;
      let table = pasidTables.get(dirIndex);
      if (table === undefined) {
        table = image.allocPages(1);
        pasidTables.set(dirIndex, table);
        image.writeU64(dir + dirIndex * 8, table + 1);
      }
      writePasidEntry(image, table + (e.pasid & 63) * 64, e);
    }
  }
  return root;
}

/** Splits a number below 2^53 into (hi, lo) u32 halves for the core's ABI. */
export function splitU64(value: number): [hi: number, lo: number] {
  return [Math.floor(value / TWO_POW_32) >>> 0, value % TWO_POW_32 >>> 0];
}
