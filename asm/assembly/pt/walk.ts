// The page walker: the one level loop of the core, for every table format.
// A format is a plug-in: a stateless class (VT-d second stage and first
// stage in pt/vtd-walk.ts; AArch64 stage 1 and stage 2 in pt/arm-walk.ts)
// whose @inline methods answer the loop's questions — where the tables
// start, how an input address indexes a table, what a descriptor means
// (present/valid, reserved bits, leaf or table, output address, the rights
// it grants), which checks a leaf needs (permissions, Access flag, A/D
// updates) and how each failure is named (VT-d fault reasons, §7.1.3; SMMU
// event numbers, IHI 0070 §7.3). `walk<F>` is generic over the format and
// inlined into each format's entry point, so every format gets its own
// specialised copy of this loop at compile time: no per-level dispatch.
//
// The loop: paging-structure caches (cache/psc.ts) let a walk start below
// the top; at each level read the entry (readEntry), let the format check
// it, accumulate its rights, stop at a leaf (results in w*) or go down to
// the next table. Nesting is the loop's too: when the format says its table
// addresses are guest-physical (VT-d first stage over second stage, §3.8;
// Arm stage 1 over stage 2, IHI 0070 §3.3.2), every table address, the top
// one included, goes through the format's stage-2 walk (`nestTable`) before
// it is read or cached. Levels count up from the leaf (asm/GLOSSARY.md).
// Faults are return values; 0 is success.

import { ACC_TRANSLATION_REQ, STAT_PTE_READS, STAT_WALKS } from '../abi/layout';
import { ramOffset } from '../mem/ram';
import { bump } from '../stats';
import { pscInsert, pscLookup, pscPerms, pscTable } from '../cache/psc';

/** Permission bit: read. */
export const P_R: u32 = 1;
/** Permission bit: write. */
export const P_W: u32 = 2;
/** Permission bit: execute. */
export const P_X: u32 = 4;
/** Permission bit (VT-d first stage): user-accessible at every level. In
 *  IOTLB entries the same bit means "the leaf's Dirty flag is set" (P_DIRTY). */
export const P_U: u32 = 8;
/** IOTLB-entry bit: writes may hit without a walk (second stage, or a
 *  first-stage leaf whose D is already set). */
export const P_DIRTY: u32 = 8;
/** IOTLB-entry bit: the page overlaps the interrupt address range
 *  0xFEE00000-0xFEEFFFFF, so a hit needs the interrupt-range check. */
export const P_NEAR_INTR: u32 = 32;
/** IOTLB-entry bit: the page does not overlap the interrupt range (the
 *  fast path's test: a bit it needs, like R or W). */
export const P_FAR: u32 = 64;
/** First byte of the interrupt address range (VT-d §3.15). */
export const INTR_START: u64 = 0xfee0_0000;
/** Last byte of the interrupt address range (VT-d §3.15). */
export const INTR_LAST: u64 = 0xfeef_ffff;

/** Paging-structure cache format tag: VT-d second stage. */
export const PSC_VTD_SS: u32 = 0;
/** Paging-structure cache format tag: VT-d first stage. */
export const PSC_VTD_FS: u32 = 1;
/** Paging-structure cache format tag: AArch64 stage 1. */
export const PSC_ARM_S1: u32 = 2;
/** Paging-structure cache format tag: AArch64 stage 2. */
export const PSC_ARM_S2: u32 = 3;

/** What a format's `check` returns for a not-present entry when the request
 *  is a translation request (VT-d §4.2.3: answered, not faulted). */
export const NOT_PRESENT: u32 = 0xffff_ffff;

// ---- walk results ---------------------------------------------------------------
/** Output page address of the last successful walk. */
export let wFrame: u64 = 0;
/** Page size log2 of the last successful walk. */
export let wLg2: u32 = 12;
/** Permissions (P_R | P_W | P_X) the last successful walk grants the request
 *  (0 for a not-present answer to a translation request). */
export let wPerms: u32 = 0;
/** Whether the last successful walk's leaf has its Dirty flag set (always
 *  for formats without one). */
export let wDirty: bool = false;

/** The RAM offset of the 8-byte table entry at `addr` (-1 outside RAM),
 *  counted as a PTE read; the walk loop reads every entry through it. */
// @ts-ignore: decorator
@inline export function readEntry(addr: u64): i64 {
  const off = ramOffset(addr, 8);
  bump(STAT_PTE_READS);
  return off;
}

/** Walk `ia` in format F (input range checked by the caller). Returns 0
 *  (w* set) or the format's fault. The format's contract, every method
 *  @inline (`fl` is `flags(access)`, computed once per walk):
 *  - `top(): i32`, `root(): u64`, `allPerms(): u32`, `flags(access): u32`
 *  - `pscOn(): bool`, `pscFormat()`, `pscDid()`, `pscTag(): u32`
 *  - `resume(perms, access, fl): u32`: checks of the rights cached above
 *    the level a paging-structure cache hit resumes at
 *  - `enter(table, ia): u32`: checks of the top table's address
 *  - `nested(): bool`, `nestTable(ipa, top, descIpa): u32` (a stage-2
 *    walk of table address `ipa`, results in w*, its fault named for this
 *    format; `descIpa` the descriptor the walk wants), `nestPerms(perms):
 *    u32` (the rights after it)
 *  - `index(ia, level, top): u64`, `fetchFault(top, entryAddr): u32`
 *  - `check(ia, pte, level, access, fl): u32`: a read entry's validity,
 *    reserved bits and per-level checks (0, a fault, or NOT_PRESENT)
 *  - `isLeaf(pte, level)`, `limit(pte, leaf, perms, fl): u32`
 *  - `visit(ia, off, pte, leaf, perms, access, fl): u32`: leaf checks and
 *    A/D updates after the rights are accumulated
 *  - `outAddr(pte): u64`, `pageLg2(level): u32`, `tablePerms(perms): u32`,
 *    `grant(perms, fl): u32`, `dirty(off): bool` */
// @ts-ignore: decorator
@inline export function walk<F>(ia: u64, access: u32): u32 {
  const f = changetype<F>(0);
  bump(STAT_WALKS);
  const fl = f.flags(access);
  const usePsc = f.pscOn();
  const top = f.top();
  let level = usePsc ? cachedLevel<F>(f, ia, top) : top;
  let table = f.root();
  let perms = f.allPerms();
  if (f.nested()) { nestIpa = 0; nestSpan = 63; }
  if (level < top) {
    table = pscTable;
    perms = pscPerms;
    const rfr = f.resume(perms, access, fl);
    if (rfr != 0) return rfr;
  } else {
    const efr = f.enter(table, ia);
    if (efr != 0) return efr;
    if (f.nested()) {
      table = nestedTable<F>(f, table, true, table + (f.index(ia, level, true) << 3));
      if (table == NO_ADDR) return nestFault;
      perms = f.nestPerms(perms);
    }
  }
  while (true) {
    const atTop = level == top;
    const at = f.index(ia, level, atTop) << 3;
    let entry = table + at;
    if (f.nested()) {
      entry = nestedEntry<F>(f, entry, at, atTop);
      if (entry == NO_ADDR) return nestFault;
    }
    const off = readEntry(entry);
    if (off < 0) return f.fetchFault(atTop, entry);
    const pte = load<u64>(<usize>off);
    const cfr = f.check(ia, pte, level, access, fl);
    if (cfr != 0) {
      if (cfr == NOT_PRESENT) { wPerms = 0; wLg2 = f.pageLg2(level); wFrame = 0; return 0; }
      return cfr;
    }
    const leaf = f.isLeaf(pte, level);
    perms = f.limit(pte, leaf, perms, fl);
    const vfr = f.visit(ia, <usize>off, pte, leaf, perms, access, fl);
    if (vfr != 0) return vfr;
    if (leaf) {
      const lg2 = f.pageLg2(level);
      wLg2 = lg2;
      wFrame = f.outAddr(pte) & ~((<u64>1 << lg2) - 1);
      wPerms = f.grant(perms, fl);
      wDirty = f.dirty(<usize>off);
      return 0;
    }
    table = f.outAddr(pte);
    perms = f.tablePerms(perms);
    if (f.nested()) {
      table = nestedTable<F>(f, table, false, table + (f.index(ia, level - 1, false) << 3));
      if (table == NO_ADDR) return nestFault;
      perms = f.nestPerms(perms);
    }
    if (usePsc) pscInsert(f.pscFormat(), f.pscDid(), f.pscTag(), level, ia, table, perms);
    level--;
  }
}

// The level a paging-structure cache entry lets the walk of `ia` resume at
// (`top` when none; else the next table and the rights so far are in
// pscTable / pscPerms): the lowest cached level wins.
// @ts-ignore: decorator
@inline function cachedLevel<F>(f: F, ia: u64, top: i32): i32 {
  for (let l: i32 = 1; l <= top; l++) {
    if (pscLookup(f.pscFormat(), f.pscDid(), f.pscTag(), l, ia)) return l - 1;
  }
  return top;
}

// ---- nesting (the walk in progress) ----------------------------------------------
// The IPA of the current table and the log2 of the stage-2 page it starts
// in; the fault when a nested step returns NO_ADDR. A walk resumed from a
// paging-structure cache entry never needs them: those tables are 4 KiB
// (VT-d; Arm 4 KiB granule only), inside one stage-2 page.
let nestIpa: u64 = 0;
let nestSpan: u32 = 63;
let nestFault: u32 = 0;
/** What a nested step returns when stage 2 faulted (the fault in nestFault). */
const NO_ADDR: u64 = 0xffff_ffff_ffff_ffff;

// Table address `ipa` (a stage-2 input) through the format's stage 2: the
// address to read the table at, or NO_ADDR.
// @ts-ignore: decorator
@inline function nestedTable<F>(f: F, ipa: u64, top: bool, descIpa: u64): u64 {
  const fr = f.nestTable(ipa, top, descIpa);
  if (fr != 0) { nestFault = fr; return NO_ADDR; }
  nestIpa = ipa;
  nestSpan = wLg2;
  return wFrame | (ipa & ((<u64>1 << wLg2) - 1));
}

// The address to read the descriptor `at` bytes into the current table at:
// `entry` when the descriptor is in the stage-2 page the table starts in;
// in a table larger than that page (a 64 KiB stage-1 granule over 4 KiB
// stage-2 pages), the descriptor's own IPA through stage 2 (Arm ARM
// pseudocode AArch64.TranslationTableWalk: each stage-1 descriptor address
// goes through AArch64.SecondStageWalk). NO_ADDR on a stage-2 fault.
// @ts-ignore: decorator
@inline function nestedEntry<F>(f: F, entry: u64, at: u64, top: bool): u64 {
  const ipa = nestIpa + at;
  if ((ipa >> nestSpan) == (nestIpa >> nestSpan)) return entry;
  const fr = f.nestTable(ipa, top, ipa);
  if (fr != 0) { nestFault = fr; return NO_ADDR; }
  return wFrame | (ipa & ((<u64>1 << wLg2) - 1));
}

/** Nesting, the output step (VT-d §3.8, IHI 0070 §3.3.2): after the stage-1
 *  walk of an address (its page `s1Lg2`, rights `s1Perms`) and the stage-2
 *  walk of its output `ipa` (w*), the combined answer into w*: the smaller
 *  page, both stages' rights. */
export function joinStages(ipa: u64, s1Lg2: u32, s1Perms: u32): void {
  const lg2 = wLg2 < s1Lg2 ? wLg2 : s1Lg2;
  const out = wFrame | (ipa & ((<u64>1 << wLg2) - 1));
  wLg2 = lg2;
  wFrame = out & ~((<u64>1 << lg2) - 1);
  wPerms &= s1Perms;
}
