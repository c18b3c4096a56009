/**
 * Encoders and decoders for the VT-d translation structures (spec chapter 9),
 * with the spec's field names, plus builders that lay them out in guest RAM.
 *
 * A structure is a list of 64-bit words (`bigint`, qw0 at the lowest
 * address). Each layout below is a table of fields: `word`, bit range
 * `hi:lo` inside that word, and a kind: `flag` (boolean), `uint` (number),
 * `addr` (bigint kept in place, i.e. the address itself, low bits zero) or
 * `rsvd` (reserved: not a field; used by `reservedMask`).
 *
 * Pure functions only; the builders at the end write through `GuestMemoryLike`.
 */
import { PAGE_SIZE, type GuestMemoryLike, type PageAllocator } from './page-allocator.js';

export { PAGE_SIZE, PageAllocator, ArrayGuestMemory, type GuestMemoryLike } from './page-allocator.js';

// ---------------------------------------------------------------------------
// Generic field codec

/** One field of a structure layout. */
export interface FieldSpec {
  readonly word: number;
  readonly hi: number;
  readonly lo: number;
  readonly kind: 'flag' | 'uint' | 'addr' | 'rsvd';
}

/** A structure layout: field name -> position. */
export type Layout = Readonly<Record<string, FieldSpec>>;

type ValueOf<F extends FieldSpec> = F['kind'] extends 'flag' ? boolean : F['kind'] extends 'uint' ? number : bigint;
type FieldNames<L extends Layout> = { [K in keyof L]: L[K]['kind'] extends 'rsvd' ? never : K }[keyof L];

/** The decoded form of a layout: one property per non-reserved field. */
export type Fields<L extends Layout> = { [K in FieldNames<L>]: ValueOf<L[K]> };

function fieldMask(f: FieldSpec): bigint {
  return ((1n << BigInt(f.hi - f.lo + 1)) - 1n) << BigInt(f.lo);
}

/** Number of 64-bit words a layout spans. */
export function layoutWords(layout: Layout): number {
  return Math.max(...Object.values(layout).map((f) => f.word)) + 1;
}

/**
 * Encodes `fields` (missing ones are 0) into `words` u64 words. Throws an
 * `Error` naming the field when a value does not fit its bit range.
 */
export function encodeFields<L extends Layout>(layout: L, fields: Partial<Fields<L>>, words = layoutWords(layout)): bigint[] {
  const out = new Array<bigint>(words).fill(0n);
  for (const [name, value] of Object.entries(fields) as [string, boolean | number | bigint | undefined][]) {
    const f = layout[name];
    if (f === undefined || f.kind === 'rsvd') throw new Error(`unknown field '${name}'`);
    if (value === undefined) continue;
    const mask = fieldMask(f);
    let bits: bigint;
    if (f.kind === 'flag') bits = value ? 1n << BigInt(f.lo) : 0n;
    else if (f.kind === 'addr') bits = BigInt(value);
    else bits = BigInt(value) << BigInt(f.lo);
    if (bits < 0n || (bits & ~mask) !== 0n) throw new Error(`field '${name}' value ${String(value)} does not fit bits ${f.hi}:${f.lo}`);
    out[f.word] = out[f.word]! | bits;
  }
  return out;
}

/** Decodes every non-reserved field of `layout` from `words`. */
export function decodeFields<L extends Layout>(layout: L, words: readonly bigint[]): Fields<L> {
  const out: Record<string, boolean | number | bigint> = {};
  for (const [name, f] of Object.entries(layout)) {
    if (f.kind === 'rsvd') continue;
    const raw = (words[f.word] ?? 0n) & fieldMask(f);
    if (f.kind === 'flag') out[name] = raw !== 0n;
    else if (f.kind === 'addr') out[name] = raw;
    else out[name] = Number(raw >> BigInt(f.lo));
  }
  return out as Fields<L>;
}

/** Per-word mask of the layout's fixed reserved bits (`rsvd` fields). */
export function reservedMask(layout: Layout): bigint[] {
  const out = new Array<bigint>(layoutWords(layout)).fill(0n);
  for (const f of Object.values(layout)) if (f.kind === 'rsvd') out[f.word] = out[f.word]! | fieldMask(f);
  return out;
}

const flag = (word: number, bit: number) => ({ word, hi: bit, lo: bit, kind: 'flag' as const });
const uint = (word: number, hi: number, lo: number) => ({ word, hi, lo, kind: 'uint' as const });
const addr = (word: number, hi: number, lo: number) => ({ word, hi, lo, kind: 'addr' as const });
const rsvd = (word: number, hi: number, lo: number) => ({ word, hi, lo, kind: 'rsvd' as const });

// ---------------------------------------------------------------------------
// Root and context entries

/** §9.1 legacy root entry (128-bit; root table of 256, index = bus). */
export const ROOT_ENTRY = {
  P: flag(0, 0),
  rsvd0: rsvd(0, 11, 1),
  CTP: addr(0, 63, 12),
  rsvd1: rsvd(1, 63, 0),
} as const satisfies Layout;
/** Decoded §9.1 root entry. */
export type RootEntry = Fields<typeof ROOT_ENTRY>;

/** §9.2 scalable-mode root entry: lower (devfn < 0x80) and upper context tables. */
export const SM_ROOT_ENTRY = {
  LP: flag(0, 0),
  rsvd0: rsvd(0, 11, 1),
  LCTP: addr(0, 63, 12),
  UP: flag(1, 0),
  rsvd1: rsvd(1, 11, 1),
  UCTP: addr(1, 63, 12),
} as const satisfies Layout;
/** Decoded §9.2 scalable-mode root entry. */
export type SmRootEntry = Fields<typeof SM_ROOT_ENTRY>;

/** §9.3 legacy context entry (128-bit; table of 256, index = devfn). */
export const CONTEXT_ENTRY = {
  P: flag(0, 0),
  FPD: flag(0, 1),
  TT: uint(0, 3, 2),
  rsvd0: rsvd(0, 11, 4),
  SLPTPTR: addr(0, 63, 12),
  AW: uint(1, 2, 0),
  AVAIL: uint(1, 6, 3),
  rsvd1: rsvd(1, 7, 7),
  DID: uint(1, 23, 8),
  rsvd2: rsvd(1, 63, 24),
} as const satisfies Layout;
/** Decoded §9.3 context entry. */
export type ContextEntry = Fields<typeof CONTEXT_ENTRY>;

/** §9.3 TT values. */
export const TT = { UNTRANSLATED: 0, DEVICE_TLB: 1, PASS_THROUGH: 2 } as const;

/** §9.4 scalable-mode context entry (256-bit; 128 per table, index = devfn & 0x7F). */
export const SM_CONTEXT_ENTRY = {
  P: flag(0, 0),
  FPD: flag(0, 1),
  DTE: flag(0, 2),
  PASIDE: flag(0, 3),
  PRE: flag(0, 4),
  rsvd0: rsvd(0, 8, 5),
  PDTS: uint(0, 11, 9),
  PASIDDIRPTR: addr(0, 63, 12),
  RID_PASID: uint(1, 19, 0),
  RID_PRIV: flag(1, 20),
  rsvd1: rsvd(1, 63, 21),
  rsvd2: rsvd(2, 63, 0),
  rsvd3: rsvd(3, 63, 0),
} as const satisfies Layout;
/** Decoded §9.4 scalable-mode context entry. */
export type SmContextEntry = Fields<typeof SM_CONTEXT_ENTRY>;

/** §9.5 PASID directory entry (64-bit; index = PASID[19:6]). */
export const PASID_DIR_ENTRY = {
  P: flag(0, 0),
  FPD: flag(0, 1),
  rsvd0: rsvd(0, 11, 2),
  SMPTBLPTR: addr(0, 63, 12),
} as const satisfies Layout;
/** Decoded §9.5 PASID directory entry. */
export type PasidDirEntry = Fields<typeof PASID_DIR_ENTRY>;

/**
 * §9.6 scalable-mode PASID table entry (512-bit; 64 per table, index =
 * PASID[5:0]). Bit numbers in comments are absolute (qw1 bit 0 = bit 64).
 */
export const PASID_ENTRY = {
  P: flag(0, 0),
  FPD: flag(0, 1),
  AW: uint(0, 4, 2),
  SSEE: flag(0, 5),
  PGTT: uint(0, 8, 6),
  SSADE: flag(0, 9),
  rsvd0: rsvd(0, 11, 10),
  SSPTPTR: addr(0, 63, 12),
  DID: uint(1, 15, 0), // 79:64
  rsvd1: rsvd(1, 22, 16), // 86:80
  PWSNP: flag(1, 23), // 87
  PGSNP: flag(1, 24), // 88
  CD: flag(1, 25), // 89
  EMTE: flag(1, 26), // 90
  EMT: uint(1, 29, 27), // 93:91
  PWT: flag(1, 30), // 94
  PCD: flag(1, 31), // 95
  PAT: uint(1, 63, 32), // 127:96
  SRE: flag(2, 0), // 128
  ERE: flag(2, 1), // 129
  FSPM: uint(2, 3, 2), // 131:130
  WPE: flag(2, 4), // 132
  NXE: flag(2, 5), // 133 (3.x)
  SMEP: flag(2, 6), // 134 (3.x)
  EAFE: flag(2, 7), // 135
  rsvd2: rsvd(2, 11, 8), // 139:136
  FSPTPTR: addr(2, 63, 12), // 191:140
  rsvd3: rsvd(3, 63, 0),
  rsvd4: rsvd(4, 63, 0),
  rsvd5: rsvd(5, 63, 0),
  rsvd6: rsvd(6, 63, 0),
  rsvd7: rsvd(7, 63, 0),
} as const satisfies Layout;
/** Decoded §9.6 PASID table entry. */
export type PasidEntry = Fields<typeof PASID_ENTRY>;

/** §9.6 PGTT values. */
export const PGTT = { FIRST_STAGE: 1, SECOND_STAGE: 2, NESTED: 3, PASS_THROUGH: 4 } as const;

/** Encodes a §9.1 root entry (2 words). */
export const encodeRootEntry = (e: Partial<RootEntry>): bigint[] => encodeFields(ROOT_ENTRY, e);
/** Decodes a §9.1 root entry. */
export const decodeRootEntry = (w: readonly bigint[]): RootEntry => decodeFields(ROOT_ENTRY, w);
/** Encodes a §9.2 scalable-mode root entry (2 words). */
export const encodeSmRootEntry = (e: Partial<SmRootEntry>): bigint[] => encodeFields(SM_ROOT_ENTRY, e);
/** Decodes a §9.2 scalable-mode root entry. */
export const decodeSmRootEntry = (w: readonly bigint[]): SmRootEntry => decodeFields(SM_ROOT_ENTRY, w);
/** Encodes a §9.3 context entry (2 words). */
export const encodeContextEntry = (e: Partial<ContextEntry>): bigint[] => encodeFields(CONTEXT_ENTRY, e);
/** Decodes a §9.3 context entry. */
export const decodeContextEntry = (w: readonly bigint[]): ContextEntry => decodeFields(CONTEXT_ENTRY, w);
/** Encodes a §9.4 scalable-mode context entry (4 words). */
export const encodeSmContextEntry = (e: Partial<SmContextEntry>): bigint[] => encodeFields(SM_CONTEXT_ENTRY, e);
/** Decodes a §9.4 scalable-mode context entry. */
export const decodeSmContextEntry = (w: readonly bigint[]): SmContextEntry => decodeFields(SM_CONTEXT_ENTRY, w);
/** Encodes a §9.5 PASID directory entry (1 word). */
export const encodePasidDirEntry = (e: Partial<PasidDirEntry>): bigint[] => encodeFields(PASID_DIR_ENTRY, e);
/** Decodes a §9.5 PASID directory entry. */
export const decodePasidDirEntry = (w: readonly bigint[]): PasidDirEntry => decodeFields(PASID_DIR_ENTRY, w);
/** Encodes a §9.6 PASID table entry (8 words). */
export const encodePasidEntry = (e: Partial<PasidEntry>): bigint[] => encodeFields(PASID_ENTRY, e);
/** Decodes a §9.6 PASID table entry. */
export const decodePasidEntry = (w: readonly bigint[]): PasidEntry => decodeFields(PASID_ENTRY, w);

// ---------------------------------------------------------------------------
// Paging entries

/**
 * §9.8 second-stage paging entry (all levels). Leaf-only fields (EMT, IPAT,
 * D, SNP, TM) are reserved or ignored in non-leaf entries; see the reference
 * model for the per-level reserved bits. ADDR holds bits 51:12; a 2 MiB /
 * 1 GiB leaf keeps bits 20:12 / 29:12 zero.
 */
export const SS_PTE = {
  R: flag(0, 0),
  W: flag(0, 1),
  X: flag(0, 2),
  EMT: uint(0, 5, 3),
  IPAT: flag(0, 6),
  PS: flag(0, 7),
  A: flag(0, 8),
  D: flag(0, 9),
  SNP: flag(0, 11),
  ADDR: addr(0, 51, 12),
  TM: flag(0, 62),
} as const satisfies Layout;
/** Decoded §9.8 second-stage entry. */
export type SsPte = Fields<typeof SS_PTE>;

/**
 * §9.7 first-stage paging entry (x86 format, all levels). In a 2 MiB / 1 GiB
 * leaf bit 12 is PAT and the address starts at bit 21 / 30 (`PAT_LARGE`);
 * in a 4 KiB leaf bit 7 is PAT (it shares the bit with PS).
 */
export const FS_PTE = {
  P: flag(0, 0),
  RW: flag(0, 1),
  US: flag(0, 2),
  PWT: flag(0, 3),
  PCD: flag(0, 4),
  A: flag(0, 5),
  D: flag(0, 6),
  PS: flag(0, 7),
  G: flag(0, 8),
  EA: flag(0, 10),
  ADDR: addr(0, 51, 12),
  XD: flag(0, 63),
} as const satisfies Layout;
/** Decoded §9.7 first-stage entry. */
export type FsPte = Fields<typeof FS_PTE>;

/** Bit 12 of a first-stage 2 MiB / 1 GiB leaf: PAT (§9.7). */
export const FS_PAT_LARGE = 1n << 12n;

/** Encodes a §9.8 second-stage entry (one word). */
export const encodeSsPte = (e: Partial<SsPte>): bigint => encodeFields(SS_PTE, e)[0]!;
/** Decodes a §9.8 second-stage entry. */
export const decodeSsPte = (w: bigint): SsPte => decodeFields(SS_PTE, [w]);
/** Encodes a §9.7 first-stage entry (one word). */
export const encodeFsPte = (e: Partial<FsPte>): bigint => encodeFields(FS_PTE, e)[0]!;
/** Decodes a §9.7 first-stage entry. */
export const decodeFsPte = (w: bigint): FsPte => decodeFields(FS_PTE, [w]);

// ---------------------------------------------------------------------------
// Addresses of entries (§9 table indexing; level 0 is the leaf table)

/** §9.1 root entry address: RTA + bus * 16. */
export const rootEntryAddress = (rta: bigint, bus: number): bigint => rta + BigInt(bus & 0xff) * 16n;
/** §9.3 legacy context entry address: CTP + devfn * 16. */
export const contextEntryAddress = (ctp: bigint, devfn: number): bigint => ctp + BigInt(devfn & 0xff) * 16n;
/** §9.4 scalable context entry address: (L/U)CTP + (devfn & 0x7F) * 32. */
export const smContextEntryAddress = (ctp: bigint, devfn: number): bigint => ctp + BigInt(devfn & 0x7f) * 32n;
/** §9.5 PASID directory entry address: PASIDDIRPTR + PASID[19:6] * 8. */
export const pasidDirEntryAddress = (dir: bigint, pasid: number): bigint => dir + BigInt(pasid >>> 6) * 8n;
/** §9.6 PASID table entry address: SMPTBLPTR + PASID[5:0] * 64. */
export const pasidEntryAddress = (table: bigint, pasid: number): bigint => table + BigInt(pasid & 0x3f) * 64n;
/** Index into the paging table at `level` (0 = leaf): iova bits 12+9*level+8 : 12+9*level. */
export const ptIndex = (iova: bigint, level: number): number => Number((iova >> BigInt(12 + 9 * level)) & 0x1ffn);
/** log2 of the region one entry at `level` maps (12, 21, 30, 39, 48). */
export const levelPageLg2 = (level: number): number => 12 + 9 * level;
/** §3 / §9.3 AW encoding for a number of second-stage levels (3 -> 1, 4 -> 2, 5 -> 3). */
export const awForLevels = (levels: number): number => levels - 2;
/** §3 address width in bits of an AW value (30 + 9 * AW). */
export const agawBits = (aw: number): number => 30 + 9 * aw;

/** Reads `words` consecutive u64 words from `gpa`. */
export function readWords(mem: GuestMemoryLike, gpa: bigint, words: number): bigint[] {
  return Array.from({ length: words }, (_, i) => mem.readU64(gpa + BigInt(i) * 8n));
}

/** Writes consecutive u64 words from `gpa`. */
export function writeWords(mem: GuestMemoryLike, gpa: bigint, words: readonly bigint[]): void {
  words.forEach((w, i) => mem.writeU64(gpa + BigInt(i) * 8n, w));
}

// ---------------------------------------------------------------------------
// Builders

/** A paging format the builder can lay out. */
export interface PageTableFormat {
  /** 'ss' = §9.8 second stage, 'fs' = §9.7 first stage. */
  readonly stage: 'ss' | 'fs';
  /** Number of levels: SS 3/4/5, FS 4/5. */
  readonly levels: 3 | 4 | 5;
}

/** Options for `PageTableBuilder`. */
export interface PageTableBuilderOptions {
  /** Bits written into new non-leaf entries besides the address (default: SS R|W|X, FS P|RW|US). */
  readonly nonLeafBits?: bigint;
  /**
   * Maps the GPA where a table page lives to the pointer value stored in its
   * parent (and in `root`). Default identity; nested tests use it when the
   * first-stage tables sit behind a non-identity second stage.
   */
  readonly pointerOf?: (tableGpa: bigint) => bigint;
}

const ADDR_MASK = ((1n << 52n) - 1n) & ~(PAGE_SIZE - 1n);
const PS_BIT = 1n << 7n;

/**
 * Builds a second-stage (3/4/5-level) or first-stage (4/5-level) page table
 * in guest RAM. `map` allocates intermediate tables; leaves are 4 KiB, 2 MiB
 * (sizeLg2 21) or 1 GiB (sizeLg2 30). Levels are numbered as in the glossary:
 * 0 is the leaf table, `levels - 1` the top.
 */
export class PageTableBuilder {
  /** GPA of the top-level table page. */
  readonly rootTable: bigint;
  private readonly nonLeafBits: bigint;
  private readonly pointerOf: (gpa: bigint) => bigint;
  private readonly tableAt = new Map<bigint, bigint>(); // pointer value -> table GPA

  constructor(private readonly mem: GuestMemoryLike, private readonly alloc: PageAllocator, readonly format: PageTableFormat, opts: PageTableBuilderOptions = {}) {
    if (format.stage === 'fs' && format.levels === 3) throw new Error('format: first stage has 4 or 5 levels');
    this.nonLeafBits = opts.nonLeafBits ?? 0b111n; // SS: R|W|X; FS: P|R/W|U/S
    this.pointerOf = opts.pointerOf ?? ((g) => g);
    this.rootTable = alloc.alloc();
    this.tableAt.set(this.pointerOf(this.rootTable), this.rootTable);
  }

  /** The value to program as SLPTPTR / SSPTPTR / FSPTPTR. */
  get rootPointer(): bigint {
    return this.pointerOf(this.rootTable);
  }

  /** Highest level a leaf of `sizeLg2` sits at; throws for other sizes. */
  private leafLevel(sizeLg2: number): number {
    const level = (sizeLg2 - 12) / 9;
    if (![0, 1, 2].includes(level) || level > this.format.levels - 1) throw new Error(`sizeLg2 ${sizeLg2} is not a leaf size of this format`);
    return level;
  }

  private isPresent(e: bigint): boolean {
    return this.format.stage === 'ss' ? (e & 0b11n) !== 0n : (e & 1n) !== 0n;
  }

  /** GPA of the table at `level` on the walk of `iova`, allocating missing tables if `create`. */
  private tableFor(iova: bigint, level: number, create: boolean): bigint | undefined {
    let table = this.rootTable;
    for (let l = this.format.levels - 1; l > level; l--) {
      const ea = table + BigInt(ptIndex(iova, l)) * 8n;
      const e = this.mem.readU64(ea);
      if (this.isPresent(e) && (e & PS_BIT) === 0n) {
        const next = this.tableAt.get(e & ADDR_MASK);
        if (next === undefined) return undefined; // points somewhere this builder did not allocate
        table = next;
        continue;
      }
      if (!create) return undefined;
      const fresh = this.alloc.alloc();
      const ptr = this.pointerOf(fresh);
      this.tableAt.set(ptr, fresh);
      this.mem.writeU64(ea, ptr | this.nonLeafBits);
      table = fresh;
    }
    return table;
  }

  /**
   * Maps `[iova, iova + 2^sizeLg2)` to `gpa` with leaf `bits` (e.g.
   * `encodeSsPte({ R: true, W: true })`); PS is added for superpages.
   * Overwrites an existing leaf (or a non-leaf entry: its table is leaked).
   */
  map(iova: bigint, gpa: bigint, sizeLg2: number, bits: bigint): void {
    const level = this.leafLevel(sizeLg2);
    const size = 1n << BigInt(sizeLg2);
    if (iova % size !== 0n || gpa % size !== 0n) throw new Error(`map: iova/gpa must be aligned to 2^${sizeLg2}`);
    const table = this.tableFor(iova, level, true)!;
    const ps = level > 0 ? PS_BIT : 0n;
    this.mem.writeU64(table + BigInt(ptIndex(iova, level)) * 8n, (bits & ~ADDR_MASK) | gpa | ps);
  }

  /** Clears the leaf mapping `iova` at `sizeLg2` (no-op if its table is missing). */
  unmap(iova: bigint, sizeLg2: number): void {
    const level = this.leafLevel(sizeLg2);
    const table = this.tableFor(iova, level, false);
    if (table !== undefined) this.mem.writeU64(table + BigInt(ptIndex(iova, level)) * 8n, 0n);
  }

  /** GPA of the entry for `iova` at `level` (0 = leaf table), or undefined if that table does not exist. */
  entryAddress(iova: bigint, level: number): bigint | undefined {
    if (level < 0 || level >= this.format.levels) throw new Error(`level ${level} out of range`);
    const table = this.tableFor(iova, level, false);
    return table === undefined ? undefined : table + BigInt(ptIndex(iova, level)) * 8n;
  }

  /** Reads the entry for `iova` at `level`, or undefined. */
  readEntry(iova: bigint, level: number): bigint | undefined {
    const ea = this.entryAddress(iova, level);
    return ea === undefined ? undefined : this.mem.readU64(ea);
  }

  /** Overwrites the entry for `iova` at `level` (the table must exist). */
  writeEntry(iova: bigint, level: number, value: bigint): void {
    const ea = this.entryAddress(iova, level);
    if (ea === undefined) throw new Error(`writeEntry: no table at level ${level} for iova 0x${iova.toString(16)}`);
    this.mem.writeU64(ea, value);
  }
}

/**
 * Builds the root table and context tables (legacy §9.1/§9.3 or scalable
 * §9.2/§9.4) in guest RAM; context tables are allocated on first use.
 */
export class ContextTableBuilder {
  /** GPA of the root table (program it into RTADDR). */
  readonly rootTable: bigint;

  constructor(private readonly mem: GuestMemoryLike, private readonly alloc: PageAllocator, readonly mode: 'legacy' | 'scalable') {
    this.rootTable = alloc.alloc();
  }

  /** GPA of the context entry for `sid` (allocating its context table). */
  contextEntryAddress(sid: number): bigint {
    const bus = (sid >>> 8) & 0xff;
    const devfn = sid & 0xff;
    const rea = rootEntryAddress(this.rootTable, bus);
    if (this.mode === 'legacy') {
      let ctp = this.mem.readU64(rea) & ~0xfffn;
      if (ctp === 0n) {
        ctp = this.alloc.alloc();
        writeWords(this.mem, rea, encodeRootEntry({ P: true, CTP: ctp }));
      }
      return contextEntryAddress(ctp, devfn);
    }
    const wordAddr = rea + (devfn >= 0x80 ? 8n : 0n); // §9.2 LCTP in qw0, UCTP in qw1
    let ctp = this.mem.readU64(wordAddr) & ~0xfffn;
    if (ctp === 0n) {
      ctp = this.alloc.alloc();
      this.mem.writeU64(wordAddr, ctp | 1n); // LP / UP
    }
    return smContextEntryAddress(ctp, devfn);
  }

  /** Writes a context entry (2 words legacy, 4 words scalable) for `sid`. */
  setContext(sid: number, words: readonly bigint[]): void {
    const want = this.mode === 'legacy' ? 2 : 4;
    if (words.length !== want) throw new Error(`setContext: words must have ${want} entries in ${this.mode} mode`);
    writeWords(this.mem, this.contextEntryAddress(sid), words);
  }
}

/**
 * Builds a PASID directory (§9.5) with PASID tables (§9.6) allocated on
 * first use. `pdts` sizes the directory as in the context entry: 2^(PDTS+7)
 * entries (PDTS 0..7 means 128 .. 16384 entries).
 */
export class PasidTableBuilder {
  /** GPA of the PASID directory (program it into PASIDDIRPTR). */
  readonly directory: bigint;

  constructor(private readonly mem: GuestMemoryLike, private readonly alloc: PageAllocator, readonly pdts = 0) {
    const entries = 1 << (pdts + 7);
    this.directory = alloc.allocContiguous(Math.max(1, (entries * 8) / 4096));
  }

  /** GPA of the PASID table entry for `pasid` (allocating its PASID table). */
  pasidEntryAddress(pasid: number): bigint {
    const dea = pasidDirEntryAddress(this.directory, pasid);
    let table = this.mem.readU64(dea) & ~0xfffn;
    if (table === 0n) {
      table = this.alloc.alloc();
      this.mem.writeU64(dea, encodePasidDirEntry({ P: true, SMPTBLPTR: table })[0]!);
    }
    return pasidEntryAddress(table, pasid);
  }

  /** Writes the 8-word PASID entry for `pasid`. */
  setPasid(pasid: number, words: readonly bigint[]): void {
    if (words.length !== 8) throw new Error('setPasid: words must have 8 entries');
    writeWords(this.mem, this.pasidEntryAddress(pasid), words);
  }
}
