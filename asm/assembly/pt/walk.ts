// The page walker: one loop shape, two formats (second stage, VT-d format,
// spec/ss-pte.ts; first stage, x86 format, spec/fs-pte.ts), and nesting (every first-stage table
// fetch and the first-stage output go through a second-stage walk).
// Paging-structure caches (cache/psc.ts) let a walk start below the top.
// The caller fills the walk environment (`env*`) from the context/PASID
// entry, checks the input address width, then calls ssWalk or fsWalk.
// Faults are return values (the spec's reason, via pt/codes.ts).

import { ACC_EXEC, ACC_NO_AD, ACC_TRANSLATION_REQ, ACC_WRITE, QUIRK_FS_AD_IF_A_CLEAR, QUIRK_NO_PSC, QUIRK_SS_PERM_BEFORE_RSVD, STAT_PTE_READS, STAT_WALKS } from '../abi/layout';
import { quirk } from '../cfg';
import { ramOffset } from '../mem/ram';
import { bump } from '../stats';
import { pscInsert, pscLookup, pscPerms, pscTable } from '../cache/psc';
import { levelPageLg2, ptIndex, SS_ADDR_MASK, SS_R, SS_W, SS_X, ssIsLeaf, ssReserved } from '../spec/ss-pte';
import { FS_A, FS_ADDR_MASK, FS_D, FS_P, FS_RW, FS_US, FS_XD, fsIsLeaf, fsLeafFrame, fsReserved } from '../spec/fs-pte';
import { awBits, awLevels } from '../spec/context-entry';
import { FR_NEST_AD_WRITE, FR_NEST_FS_ADDR, FR_NEST_READ, FR_NEST_TOP_READ } from '../spec/fault-reasons';
import { CODES_FS, faultCode, K_ACCESS, K_EXEC, K_NP_READ, K_NP_WRITE, K_READ, K_RSVD, K_TOP_ACCESS, K_USER, K_WIDTH, K_WRITE } from './codes';

/** Permission bit: read. */
export const P_R: u32 = 1;
/** Permission bit: write. */
export const P_W: u32 = 2;
/** Permission bit: execute. */
export const P_X: u32 = 4;
/** Permission bit (first stage): user-accessible at every level. In IOTLB
 *  entries the same bit means "the leaf's Dirty flag is set" (P_DIRTY). */
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
/** Permission bit (first stage, nested): the current table page is
 *  writable through the second stage (A/D updates allowed). */
const P_TW: u32 = 16;
/** PSC format tag: second stage. */
const PSC_SS: u32 = 0;
/** The paging-structure caches' format tag of second-stage entries. */
export const PSC_SS_FORMAT: u32 = PSC_SS;
/** First byte of the interrupt address range (§3.15). */
export const INTR_START: u64 = 0xfee0_0000;
/** Last byte of the interrupt address range (§3.15). */
export const INTR_LAST: u64 = 0xfeef_ffff;
/** PSC format tag: first stage. */
const PSC_FS: u32 = 1;

// ---- walk environment (set by the caller before a walk) ----------------------
/** Domain id (PSC tag). */
export let envDid: u32 = 0;
/** PASID tag of first-stage PSC entries. */
export let envPasid: u32 = 0;
/** Host address width (CFG_HAW). */
export let envHaw: u32 = 48;
/** Second stage: top table address. */
export let envSsRoot: u64 = 0;
/** Second stage: top level (levels - 1). */
export let envSsTop: i32 = 0;
/** Second stage: input address width in bits. */
export let envSsBits: u32 = 0;
/** Second stage: fault code set (CODES_*). */
export let envSsCodes: u32 = 0;
/** Second stage: execute permission controlled (SSEE). */
export let envSsee: bool = false;
/** Second stage: CAP.SSLPS. */
export let envSslps: u32 = 0;
/** Second stage: SNP policy (SNP_* of spec/ss-pte.ts). */
export let envSnp: u32 = 0;
/** First stage: top table address. */
export let envFsRoot: u64 = 0;
/** First stage: top level (3 or 4). */
export let envFsTop: i32 = 3;
/** First stage: CAP.FS1GP. */
export let envFs1gp: bool = true;
/** First stage: table fetches and output go through the second stage. */
export let envNested: bool = false;
/** First stage: the request is a user request (U/S checked). */
export let envUser: bool = true;
/** First stage: WPE (supervisor writes honour R/W). */
export let envWpe: bool = false;

/** Set the walk environment's common part. */
export function envSetCommon(did: u32, pasid: u32, haw: u32): void {
  envDid = did; envPasid = pasid; envHaw = haw;
}
/** Set the second-stage part of the walk environment. */
export function envSetSs(root: u64, aw: u32, codes: u32, ssee: bool, sslps: u32, snp: u32): void {
  envSsRoot = root; envSsTop = awLevels(aw) - 1; envSsBits = awBits(aw);
  envSsCodes = codes; envSsee = ssee; envSslps = sslps; envSnp = snp;
}
/** Set the first-stage part of the walk environment. */
export function envSetFs(root: u64, top: i32, fs1gp: bool, nested: bool, user: bool, wpe: bool): void {
  envFsRoot = root; envFsTop = top; envFs1gp = fs1gp; envNested = nested; envUser = user; envWpe = wpe;
}

// ---- walk results ---------------------------------------------------------------
/** Output page address of the last successful walk. */
export let wFrame: u64 = 0;
/** Page size log2 of the last successful walk. */
export let wLg2: u32 = 12;
/** Permissions (P_*) of the last successful walk (0 for a not-present
 *  answer to a translation request). */
export let wPerms: u32 = 0;
/** Whether the last successful walk's leaf has D set (always for second stage). */
export let wDirty: bool = false;

/** The RAM offset of the 8-byte table entry at `addr` (-1 outside RAM),
 *  counted as a PTE read; every walker format reads entries through it. */
// @ts-ignore: decorator
@inline export function readEntry(addr: u64): i64 {
  const off = ramOffset(addr, 8);
  bump(STAT_PTE_READS);
  return off;
}

/** Second-stage walk of `iova` (already checked against envSsBits).
 *  Returns 0 (wFrame/wLg2/wPerms set) or a fault reason. */
export function ssWalk(iova: u64, access: u32): u32 {
  bump(STAT_WALKS);
  const codes = envSsCodes;
  const tr = (access & ACC_TRANSLATION_REQ) != 0;
  const write = (access & ACC_WRITE) != 0;
  const usePsc = !quirk(QUIRK_NO_PSC);
  const permFirst = quirk(QUIRK_SS_PERM_BEFORE_RSVD);
  let level = envSsTop;
  let table = envSsRoot;
  let perms: u32 = P_R | P_W | P_X;
  if (usePsc) {
    for (let l: i32 = 1; l <= envSsTop; l++) {
      if (pscLookup(PSC_SS, envDid, 0, l, iova)) { table = pscTable; perms = pscPerms; level = l - 1; break; }
    }
    // The cached entries above `level` were checked for their own request's
    // access, not this one's: check their combined rights now, as a full walk
    // would have at the level that lacks them (fuzz finding
    // psc-read-only-entry-allows-write).
    if (level < envSsTop && !tr) {
      if (((write ? P_W : P_R) & ~perms) != 0) return faultCode(codes, write ? K_WRITE : K_READ);
      if ((access & ACC_EXEC) != 0) {
        if (envSsee) {
          if ((perms & P_X) == 0) return faultCode(codes, K_EXEC);
        }
      }
    }
  }
  while (true) {
    const off = readEntry(table + (<u64>ptIndex(iova, level) << 3));
    if (off < 0) return faultCode(codes, level == envSsTop ? K_TOP_ACCESS : K_ACCESS);
    const pte = load<u64>(<usize>off);
    let entryPerms = <u32>(pte & (SS_R | SS_W));
    if (envSsee) entryPerms |= <u32>(pte & SS_X);
    else if (entryPerms != 0) entryPerms |= P_X;
    if (entryPerms == 0) {
      if (tr) { wPerms = 0; wLg2 = levelPageLg2(level); wFrame = 0; return 0; }
      return faultCode(codes, write ? K_NP_WRITE : K_NP_READ);
    }
    // A present entry's reserved bits before its permissions (§7.1.3), or after them (quirk).
    if (!permFirst) {
      if (ssReserved(pte, level, envHaw, envSslps, envSnp)) return faultCode(codes, K_RSVD);
    }
    if (!tr) {
      // (Nested ifs rather than && chains: V8 branches instead of
      // materialising partial results.)
      if (((write ? P_W : P_R) & ~entryPerms) != 0) return faultCode(codes, write ? K_WRITE : K_READ);
      if ((access & ACC_EXEC) != 0) {
        if (envSsee) {
          if ((entryPerms & P_X) == 0) return faultCode(codes, K_EXEC);
        }
      }
    }
    if (permFirst) {
      if (ssReserved(pte, level, envHaw, envSslps, envSnp)) return faultCode(codes, K_RSVD);
    }
    perms &= entryPerms;
    if (ssIsLeaf(pte, level)) {
      wLg2 = levelPageLg2(level);
      wFrame = pte & SS_ADDR_MASK & ~((<u64>1 << wLg2) - 1);
      wPerms = perms;
      wDirty = true;
      return 0;
    }
    table = pte & SS_ADDR_MASK;
    if (usePsc) pscInsert(PSC_SS, envDid, 0, level, iova, table, perms);
    level--;
  }
}

// Second-stage translation of a first-stage table address (nested).
// Returns 0 and sets nestAddr/nestPerms, or a fault reason.
let nestAddr: u64 = 0;
let nestPerms: u32 = 0;
function nestTable(gpa: u64, top: bool): u32 {
  if ((gpa >> envSsBits) != 0) return FR_NEST_FS_ADDR;
  const fr = ssWalk(gpa, 0);
  if (fr != 0) {
    const k = fr == faultCode(envSsCodes, K_NP_READ) || fr == faultCode(envSsCodes, K_READ);
    return k ? (top ? FR_NEST_TOP_READ : FR_NEST_READ) : fr;
  }
  nestAddr = wFrame | (gpa & ((<u64>1 << wLg2) - 1));
  nestPerms = wPerms;
  return 0;
}

// Set A (and D) on a first-stage entry at host offset `off` per the profile.
// Returns false when the update is needed but the table page is not
// writable through the second stage (nested).
function fsSetAd(off: usize, pte: u64, leaf: bool, write: bool, tableWritable: bool): bool {
  let want: u64 = 0;
  if (quirk(QUIRK_FS_AD_IF_A_CLEAR)) {
    if ((pte & FS_A) == 0) want = leaf && write ? FS_A | FS_D : FS_A;
  } else {
    if ((pte & FS_A) == 0) want = FS_A;
    if (leaf && write && (pte & FS_D) == 0) want |= FS_A | FS_D;
  }
  if (want == 0) return true;
  if (!tableWritable) return false;
  store<u64>(off, pte | want);
  return true;
}

/** First-stage walk of `iova` (canonical check already done). Returns 0
 *  (wFrame/wLg2/wPerms set, wFrame a guest-physical address before the
 *  nested output translation) or a fault reason. Tables are read at host
 *  addresses: when nested, each table pointer is translated through the
 *  second stage first (its write permission gates A/D updates). */
export function fsWalk(iova: u64, access: u32): u32 {
  bump(STAT_WALKS);
  const tr = (access & ACC_TRANSLATION_REQ) != 0;
  const write = (access & ACC_WRITE) != 0;
  const setAd = (access & (ACC_NO_AD | ACC_TRANSLATION_REQ)) == 0;
  const qemuOrder = quirk(QUIRK_FS_AD_IF_A_CLEAR);
  const usePsc = !quirk(QUIRK_NO_PSC);
  let level = envFsTop;
  let table = envFsRoot;
  let perms: u32 = P_R | P_W | P_X | P_U | P_TW;
  let found = false;
  if (usePsc) {
    for (let l: i32 = 1; l <= envFsTop; l++) {
      if (pscLookup(PSC_FS, envDid, envPasid, l, iova)) { table = pscTable; perms = pscPerms; level = l - 1; found = true; break; }
    }
  }
  if (!found && envNested) {
    const nfr = nestTable(table, true);
    if (nfr != 0) return nfr;
    table = nestAddr;
    if ((nestPerms & P_W) == 0) perms &= ~P_TW;
  }
  while (true) {
    const off = readEntry(table + (<u64>ptIndex(iova, level) << 3));
    if (off < 0) return faultCode(CODES_FS, level == envFsTop ? K_TOP_ACCESS : K_ACCESS);
    const pte = load<u64>(<usize>off);
    if ((pte & FS_P) == 0) {
      if (tr) { wPerms = 0; wLg2 = levelPageLg2(level); wFrame = 0; return 0; }
      return faultCode(CODES_FS, write ? K_NP_WRITE : K_NP_READ);
    }
    if (qemuOrder && !tr) {
      if (envUser && (pte & FS_US) == 0) return faultCode(CODES_FS, K_USER);
      if (write && (pte & FS_RW) == 0) return faultCode(CODES_FS, K_WRITE);
    }
    if (fsReserved(pte, level, envHaw, envFs1gp)) return faultCode(CODES_FS, K_RSVD);
    if ((pte & FS_RW) == 0) perms &= ~P_W;
    if ((pte & FS_US) == 0) perms &= ~P_U;
    if ((pte & FS_XD) != 0) perms &= ~P_X;
    const leaf = fsIsLeaf(pte, level);
    if (leaf && !tr) {
      const fr = fsPermFault(perms, access);
      if (fr != 0) return fr;
    }
    if (setAd && !fsSetAd(<usize>off, pte, leaf, write, (perms & P_TW) != 0)) return FR_NEST_AD_WRITE;
    if (leaf) {
      wLg2 = levelPageLg2(level);
      wFrame = fsLeafFrame(pte, wLg2);
      wPerms = fsEffectivePerms(perms);
      wDirty = (load<u64>(<usize>off) & FS_D) != 0;
      return 0;
    }
    table = pte & FS_ADDR_MASK;
    perms |= P_TW;
    if (envNested) {
      const nfr = nestTable(table, false);
      if (nfr != 0) return nfr;
      table = nestAddr;
      if ((nestPerms & P_W) == 0) perms &= ~P_TW;
    }
    if (usePsc) pscInsert(PSC_FS, envDid, envPasid, level, iova, table, perms);
    level--;
  }
}


// The permissions a request sees: supervisor requests ignore U/S, and with
// WPE=0 may write read-only pages.
function fsEffectivePerms(perms: u32): u32 {
  let p = perms & (P_R | P_W | P_X);
  if (envUser) return (perms & P_U) != 0 ? p : 0;
  if (!envWpe) p |= P_W;
  return p;
}

// Spec order of the first-stage permission checks: U/S, write, execute.
function fsPermFault(perms: u32, access: u32): u32 {
  if (envUser && (perms & P_U) == 0) return faultCode(CODES_FS, K_USER);
  const eff = fsEffectivePerms(perms);
  if ((access & ACC_WRITE) != 0 && (eff & P_W) == 0) return faultCode(CODES_FS, K_WRITE);
  if ((access & ACC_EXEC) != 0 && (eff & P_X) == 0) return faultCode(CODES_FS, K_EXEC);
  return 0;
}

/** The width fault of the current second-stage code set. */
export function ssWidthFault(): u32 { return faultCode(envSsCodes, K_WIDTH); }
