/**
 * Builders that lay VT-d translation structures out in memory, as a guest
 * driver does in guest RAM (and a host process for its first-stage tables):
 * paging tables (§9.7 first stage, §9.8 second stage), the root and context
 * tables (§9.1-9.4) and the PASID directory and tables (§9.5, §9.6). Every
 * entry is written with the spec layer's encoders (host/src/vtd/spec/),
 * through `GuestMemoryLike`.
 */
import { writeWords, type GuestMemoryLike } from './guest-ram.js';
import { encodeRootEntry, rootEntryAddress } from '../vtd/spec/root-entry.js';
import { contextEntryAddress } from '../vtd/spec/context-entry.js';
import { smContextEntryAddress } from '../vtd/spec/sm-context-entry.js';
import { encodePasidDirEntry, pasidDirEntryAddress, pasidEntryAddress } from '../vtd/spec/pasid-entry.js';
import { fieldMask } from '../vtd/spec/field-codec.js';
import { ptIndex, SS_PTE } from '../vtd/spec/ss-pte.js';
import { PAGE_SIZE, type PageAllocator } from './page-allocator.js';
import { gpa as checkGpa, iova as checkIova, pasid as checkPasid, sid as checkSid, type Gpa, type Iova, type Pasid, type Sid } from '../types.js';

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
   * parent (and in `root`). Default identity; a nested guest uses it when the
   * first-stage tables sit behind a non-identity second stage.
   */
  readonly pointerOf?: (tableGpa: Gpa) => bigint;
}

/** Address bits 51:12 and PS (bit 7): the same positions in both formats (§9.7, §9.8). */
const ADDR_MASK = fieldMask(SS_PTE.ADDR);
const PS_BIT = fieldMask(SS_PTE.PS);

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

  /**
   * A table of `format` whose pages come from `alloc` and are written through
   * `mem`; its top-level page is allocated at once. Throws for a 3-level first stage.
   * @param format Stage and levels; read-only once built.
   */
  constructor(private readonly mem: GuestMemoryLike, private readonly alloc: PageAllocator, readonly format: PageTableFormat, opts: PageTableBuilderOptions = {}) {
    if (format.stage === 'fs' && format.levels === 3) throw new Error('format: first stage has 4 or 5 levels');
    this.nonLeafBits = opts.nonLeafBits ?? 0b111n; // SS: R|W|X; FS: P|R/W|U/S
    this.pointerOf = opts.pointerOf ?? ((g) => g);
    this.rootTable = alloc.alloc();
    this.tableAt.set(this.pointerOf(this.rootTable), this.rootTable);
  }

  /** The value to program as SSPTPTR (context or PASID entry) or FSPTPTR. */
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
  private tableFor(iova: Iova, level: number, create: boolean): bigint | undefined {
    checkIova(iova);
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
  map(iova: Iova, gpa: Gpa, sizeLg2: number, bits: bigint): void {
    checkIova(iova);
    checkGpa(gpa);
    const level = this.leafLevel(sizeLg2);
    const size = 1n << BigInt(sizeLg2);
    if (iova % size !== 0n || gpa % size !== 0n) throw new Error(`map: iova/gpa must be aligned to 2^${sizeLg2}`);
    const table = this.tableFor(iova, level, true)!;
    const ps = level > 0 ? PS_BIT : 0n;
    this.mem.writeU64(table + BigInt(ptIndex(iova, level)) * 8n, (bits & ~ADDR_MASK) | gpa | ps);
  }

  /** Clears the leaf mapping `iova` at `sizeLg2` (no-op if its table is missing). */
  unmap(iova: Iova, sizeLg2: number): void {
    const level = this.leafLevel(sizeLg2);
    const table = this.tableFor(iova, level, false);
    if (table !== undefined) this.mem.writeU64(table + BigInt(ptIndex(iova, level)) * 8n, 0n);
  }

  /** GPA of the entry for `iova` at `level` (0 = leaf table), or undefined if that table does not exist. */
  entryAddress(iova: Iova, level: number): Gpa | undefined {
    if (level < 0 || level >= this.format.levels) throw new Error(`level ${level} out of range`);
    const table = this.tableFor(iova, level, false);
    return table === undefined ? undefined : table + BigInt(ptIndex(iova, level)) * 8n;
  }

  /** Reads the entry for `iova` at `level`, or undefined. */
  readEntry(iova: Iova, level: number): bigint | undefined {
    const ea = this.entryAddress(iova, level);
    return ea === undefined ? undefined : this.mem.readU64(ea);
  }

  /** Overwrites the entry for `iova` at `level` (the table must exist). */
  writeEntry(iova: Iova, level: number, value: bigint): void {
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
  contextEntryAddress(sid: Sid): Gpa {
    checkSid(sid);
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
  setContext(sid: Sid, words: readonly bigint[]): void {
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
  pasidEntryAddress(pasid: Pasid): Gpa {
    checkPasid(pasid);
    const dea = pasidDirEntryAddress(this.directory, pasid);
    let table = this.mem.readU64(dea) & ~0xfffn;
    if (table === 0n) {
      table = this.alloc.alloc();
      this.mem.writeU64(dea, encodePasidDirEntry({ P: true, SMPTBLPTR: table })[0]!);
    }
    return pasidEntryAddress(table, pasid);
  }

  /** Writes the 8-word PASID entry for `pasid`. */
  setPasid(pasid: Pasid, words: readonly bigint[]): void {
    if (words.length !== 8) throw new Error('setPasid: words must have 8 entries');
    writeWords(this.mem, this.pasidEntryAddress(pasid), words);
  }
}
