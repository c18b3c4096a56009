/**
 * One table-driven description of every translation format the model has,
 * and a builder that lays out root/context/PASID structures plus a page
 * table for it in guest RAM. Level tests and property tests share it.
 *
 * Formats: legacy second stage 3/4/5 levels; scalable second stage 3/4/5;
 * scalable first stage 4/5; nested (first stage 4/5 over second stage 4);
 * pass-through (legacy TT=10, scalable PGTT=100).
 */
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import type { PageAllocator } from '../../../host/src/tables/page-allocator.js';
import { ContextTableBuilder, PageTableBuilder, PasidTableBuilder } from '../../../host/src/tables/table-builders.js';
import { awForLevels, encodeContextEntry, TT } from '../../../host/src/vtd/spec/context-entry.js';
import { encodeFsPte } from '../../../host/src/vtd/spec/fs-pte.js';
import { encodePasidEntry, PGTT } from '../../../host/src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';
import type { RefRoot } from '../reference/config.js';
import { ACC, FR } from '../reference/constants.js';

/** Fault codes a format reports for each walk condition. */
export interface WalkCodes {
  /** Entry not present (legacy SS: the access type's permission fault for a read). */
  readonly notPresent: number;
  readonly reserved: number;
  /** A lower table not in RAM. */
  readonly unreadable: number;
  /** The top-level table (the table pointer) not in RAM. */
  readonly topUnreadable: number;
  readonly write: number;
  /** Input address beyond the width (SS) or not canonical (FS). */
  readonly width: number;
}

/** One translation format. */
export interface Format {
  readonly name: string;
  readonly mode: 'legacy' | 'scalable';
  readonly kind: 'ss' | 'fs' | 'nested' | 'pt';
  /** Levels of the page table the tests edit (the FS table for nested). */
  readonly levels: 3 | 4 | 5;
  readonly codes: WalkCodes;
}

const LEGACY: WalkCodes = { notPresent: FR.READ, reserved: FR.SS_ENTRY_RSVD, unreadable: FR.SS_ENTRY_UNREADABLE, topUnreadable: FR.CTX_INVALID, write: FR.WRITE, width: FR.ADDR_BEYOND_MGAW };
const SM_SS: WalkCodes = { notPresent: FR.SSL_PERM, reserved: FR.SSL_RSVD, unreadable: FR.SSL_UNREADABLE, topUnreadable: FR.SSL_PTR_INVALID, write: FR.SGN_WRITE, width: FR.SGN_BEYOND_AW };
const SM_FS: WalkCodes = { notPresent: FR.SFL_NOT_PRESENT, reserved: FR.SFL_RSVD, unreadable: FR.SFL_UNREADABLE, topUnreadable: FR.SFL_PTR_UNREADABLE, write: FR.SGN_WRITE, width: FR.SGN_NON_CANONICAL };

/** Every paging format (pass-through formats are separate: they have no table). */
export const FORMATS: readonly Format[] = [
  { name: 'legacy-ss3', mode: 'legacy', kind: 'ss', levels: 3, codes: LEGACY },
  { name: 'legacy-ss4', mode: 'legacy', kind: 'ss', levels: 4, codes: LEGACY },
  { name: 'legacy-ss5', mode: 'legacy', kind: 'ss', levels: 5, codes: LEGACY },
  { name: 'sm-ss3', mode: 'scalable', kind: 'ss', levels: 3, codes: SM_SS },
  { name: 'sm-ss4', mode: 'scalable', kind: 'ss', levels: 4, codes: SM_SS },
  { name: 'sm-ss5', mode: 'scalable', kind: 'ss', levels: 5, codes: SM_SS },
  { name: 'sm-fs4', mode: 'scalable', kind: 'fs', levels: 4, codes: SM_FS },
  { name: 'sm-fs5', mode: 'scalable', kind: 'fs', levels: 5, codes: SM_FS },
  { name: 'sm-nested4', mode: 'scalable', kind: 'nested', levels: 4, codes: SM_FS },
  { name: 'sm-nested5', mode: 'scalable', kind: 'nested', levels: 5, codes: SM_FS },
];

/** Pass-through formats. */
export const PT_FORMATS: readonly Format[] = [
  { name: 'legacy-pt', mode: 'legacy', kind: 'pt', levels: 4, codes: LEGACY },
  { name: 'sm-pt', mode: 'scalable', kind: 'pt', levels: 4, codes: SM_SS },
];

/** The requester every fixture uses: bus 1, device 2, function 3. */
export const SID = 0x0113;
/** The PASID of first-stage / nested requests (requests with PASID). */
export const PASID = 0x45;
/** DID every fixture programs. */
export const DID = 7;

/** A laid-out format: what a test needs to translate and to edit tables. */
export interface Fixture {
  readonly format: Format;
  readonly root: RefRoot;
  /** The table the tests edit (SS table, or the FS table for fs/nested); undefined for pass-through. */
  readonly table?: PageTableBuilder;
  /** Nested only: the second-stage table under the first stage. */
  readonly nestedSs?: PageTableBuilder;
  /** Access bits to add to every request of this format (PASID for fs/nested). */
  readonly baseAccess: number;
  /** Leaf bits: read-only, read-write (and for FS supervisor-only). */
  readonly leaf: { readonly ro: bigint; readonly rw: bigint; readonly wo?: bigint; readonly supervisor?: bigint };
  /** GPA of the context entry (for edits). */
  readonly contextEntry: bigint;
  /** GPA of the PASID entry (scalable) for edits. */
  readonly pasidEntry?: bigint;
}

/** Number of SS levels under a nested first stage. */
const NESTED_SS_LEVELS = 4;

/**
 * Lays out `format` in `mem` with pages from `alloc`: root table, context
 * (and PASID) structures, an empty page table. Nested: the second stage maps
 * GPA [0, 4 GiB) identity with 1 GiB pages, so FS tables and outputs are GPAs.
 */
export function buildFixture(mem: GuestMemoryLike, alloc: PageAllocator, format: Format): Fixture {
  const ctx = new ContextTableBuilder(mem, alloc, format.mode);
  const root: RefRoot = { rta: ctx.rootTable, ttm: format.mode === 'legacy' ? 0 : 1, enabled: true };
  const ssLevels = format.kind === 'nested' ? NESTED_SS_LEVELS : format.levels;
  const stage = format.kind === 'fs' || format.kind === 'nested' ? 'fs' : 'ss';
  const table = format.kind === 'pt' ? undefined : new PageTableBuilder(mem, alloc, { stage, levels: format.levels });
  let nestedSs: PageTableBuilder | undefined;
  if (format.kind === 'nested') {
    nestedSs = new PageTableBuilder(mem, alloc, { stage: 'ss', levels: NESTED_SS_LEVELS });
    for (let g = 0n; g < 4n; g++) nestedSs.map(g << 30n, g << 30n, 30, encodeSsPte({ R: true, W: true, X: true }));
  }
  const contextEntry = ctx.contextEntryAddress(SID);
  let pasidEntry: bigint | undefined;
  if (format.mode === 'legacy') {
    const tt = format.kind === 'pt' ? TT.PASS_THROUGH : TT.UNTRANSLATED;
    ctx.setContext(SID, encodeContextEntry({ P: true, TT: tt, SSPTPTR: table?.rootPointer ?? 0n, AW: awForLevels(ssLevels), DID }));
  } else {
    const pasids = new PasidTableBuilder(mem, alloc, 0);
    ctx.setContext(SID, encodeSmContextEntry({ P: true, PASIDE: true, PASIDDIRPTR: pasids.directory, RID_PASID: 0 }));
    const pgtt = { ss: PGTT.SECOND_STAGE, fs: PGTT.FIRST_STAGE, nested: PGTT.NESTED, pt: PGTT.PASS_THROUGH }[format.kind];
    const fsLevels = stage === 'fs' ? format.levels : 4;
    const ssPtr = format.kind === 'nested' ? nestedSs!.rootPointer : stage === 'ss' ? table?.rootPointer ?? 0n : 0n;
    const words = encodePasidEntry({
      P: true, PGTT: pgtt, AW: awForLevels(ssLevels), SSPTPTR: ssPtr, DID,
      FSPTPTR: stage === 'fs' ? table!.rootPointer : 0n, FSPM: fsLevels - 4, SRE: true, ERE: true,
    });
    const pasid = format.kind === 'fs' || format.kind === 'nested' ? PASID : 0;
    pasids.setPasid(pasid, words);
    pasidEntry = pasids.pasidEntryAddress(pasid);
  }
  const fsLeaf = stage === 'fs';
  return {
    format, root, table, nestedSs, contextEntry, pasidEntry,
    baseAccess: fsLeaf ? ACC.PASID : 0,
    leaf: fsLeaf
      ? { ro: encodeFsPte({ P: true, US: true }), rw: encodeFsPte({ P: true, RW: true, US: true }), supervisor: encodeFsPte({ P: true, RW: true }) }
      : { ro: encodeSsPte({ R: true }), rw: encodeSsPte({ R: true, W: true }), wo: encodeSsPte({ W: true }) },
  };
}

/** The request PASID of a fixture (only meaningful with ACC.PASID). */
export const fixturePasid = (f: Fixture): number => (f.baseAccess & ACC.PASID ? PASID : 0);

/** Input-address width of a format: SS 30+9*AW bits; FS 48/57 (lower canonical half). */
export function inputWidthBits(f: Format): number {
  if (f.kind === 'fs' || f.kind === 'nested') return f.levels === 4 ? 47 : 56;
  return 12 + 9 * f.levels;
}
