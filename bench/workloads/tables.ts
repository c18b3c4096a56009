/**
 * Page-table and scalable-mode structure encoders for the bench's guest
 * images (VT-d spec §9.2 SM root entry, §9.4 SM context entry, §9.5 PASID
 * directory entry, §9.6 PASID table entry, §9.7 first-stage and §9.8
 * second-stage paging entries). Only what the workloads need: present,
 * read/write mappings with A/D preset, so no implementation has to write
 * back during a timed loop. Bit positions come from the model's spec layer
 * (host/src/vtd/spec), encoded as numbers (`encodeFieldsNumber`): every
 * structure here stays below 2^53.
 */
import { encodeFieldsNumber } from '../../host/src/vtd/spec/field-codec.js';
import { FS_PTE } from '../../host/src/vtd/spec/fs-pte.js';
import { awForLevels } from '../../host/src/vtd/spec/context-entry.js';
import { PASID_DIR_ENTRY, PASID_ENTRY_BYTES, PASID_ENTRY, pasidDirEntryAddress } from '../../host/src/vtd/spec/pasid-entry.js';
import { SM_CONTEXT_ENTRY, smContextEntryAddress } from '../../host/src/vtd/spec/sm-context-entry.js';
import { SM_ROOT_ENTRY, SM_ROOT_ENTRY_BYTES } from '../../host/src/vtd/spec/sm-root-entry.js';
import { SS_PTE } from '../../host/src/vtd/spec/ss-pte.js';
import { GuestImage, PAGE_SIZE } from './guest-image.js';

/** Paging format of a table: VT-d second stage (§9.8) or x86 first stage (§9.7). */
export type PtFormat = 'ss' | 'fs';

const TWO_POW_32 = 4294967296;

/** Flags of a non-leaf entry that grants everything below it, per format. */
const TABLE_FLAGS: Record<PtFormat, number> = {
  ss: encodeFieldsNumber(SS_PTE, { R: true, W: true })[0]!,
  fs: encodeFieldsNumber(FS_PTE, { P: true, RW: true, US: true, A: true })[0]!,
};

/** Flags of a read/write leaf entry with A/D already set, per format: [4 KiB leaf, superpage leaf (PS)]. */
const LEAF_FLAGS: Record<PtFormat, readonly [number, number]> = {
  ss: [false, true].map((PS) => encodeFieldsNumber(SS_PTE, { R: true, W: true, PS })[0]!) as [number, number],
  fs: [false, true].map((PS) => encodeFieldsNumber(FS_PTE, { P: true, RW: true, US: true, A: true, D: true, PS })[0]!) as [number, number],
};

/** Writes the words of an encoded structure at `gpa`. */
function writeWords(image: GuestImage, gpa: number, words: readonly number[]): void {
  words.forEach((w, i) => image.writeU64(gpa + 8 * i, w));
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
        this.image.writeU64(slot, next + TABLE_FLAGS[this.format]);
        table = next;
      } else {
        table = entry - (entry % PAGE_SIZE);
      }
    }
    this.image.writeU64(table + levelIndex(iova, leafLevel) * 8, gpa + LEAF_FLAGS[this.format][pageLg2 > 12 ? 1 : 0]);
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
  writeWords(image, slot, encodeFieldsNumber(PASID_ENTRY, {
    P: true, PGTT: e.pgtt, DID: e.did,
    AW: e.ssLevels !== undefined ? awForLevels(e.ssLevels) : 0, SSPTPTR: e.ssRoot ?? 0,
    FSPM: e.fsLevels === 5 ? 1 : 0, FSPTPTR: e.fsRoot ?? 0, // FSPM 1: 5-level first stage
  }));
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
      // One half of the root entry: LP/LCTP (qw0) or UP/UCTP (qw1); the other half may be in use.
      const half = devfn < 0x80 ? 0 : 1;
      const entry = encodeFieldsNumber(SM_ROOT_ENTRY, half === 0 ? { LP: true, LCTP: ctx } : { UP: true, UCTP: ctx });
      image.writeU64(root + bus * SM_ROOT_ENTRY_BYTES + 8 * half, entry[half]!);
    }
    const dir = image.allocPages(1);
    // PASIDE: requests with PASID allowed; PDTS = 0 (128 directory entries).
    writeWords(image, Number(smContextEntryAddress(BigInt(ctx), devfn)), encodeFieldsNumber(SM_CONTEXT_ENTRY, {
      P: true, PASIDE: true, PDTS: 0, PASIDDIRPTR: dir, RID_PASID: dev.ridPasid,
    }));
    const pasidTables = new Map<number, number>();
    for (const e of dev.pasids) {
      const dirIndex = e.pasid >>> 6;
      let table = pasidTables.get(dirIndex);
      if (table === undefined) {
        table = image.allocPages(1);
        pasidTables.set(dirIndex, table);
        writeWords(image, Number(pasidDirEntryAddress(BigInt(dir), e.pasid)), encodeFieldsNumber(PASID_DIR_ENTRY, { P: true, SMPTBLPTR: table }));
      }
      writePasidEntry(image, table + (e.pasid & 63) * PASID_ENTRY_BYTES, e);
    }
  }
  return root;
}

/** Splits a number below 2^53 into (hi, lo) u32 halves for the core's ABI. */
export function splitU64(value: number): [hi: number, lo: number] {
  return [Math.floor(value / TWO_POW_32) >>> 0, value % TWO_POW_32 >>> 0];
}
