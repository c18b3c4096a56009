// The VT-d formats of the walker (plug-ins of pt/walk.ts's one loop) and
// their entry points: second stage (VT-d format, §9.8, spec/ss-pte.ts) and
// first stage (x86 format, §9.7, spec/fs-pte.ts), nested first stage over
// second stage (§3.8: every first-stage table fetch goes through a
// second-stage walk; the first-stage output is the caller's, translate.ts).
// The caller fills the walk environment (`env*`) from the context/PASID
// entry, checks the input address width, then calls ssWalk or fsWalk.
// Faults are the spec's reasons (§7.1.3), via pt/codes.ts.

import { ACC_EXEC, ACC_NO_AD, ACC_TRANSLATION_REQ, ACC_WRITE, QUIRK_FS_AD_IF_A_CLEAR, QUIRK_NO_PSC, QUIRK_SS_PERM_BEFORE_RSVD } from '../abi/layout';
import { quirk } from '../cfg';
import { levelPageLg2, ptIndex, SS_ADDR_MASK, SS_R, SS_W, SS_X, ssIsLeaf, ssReserved } from '../spec/ss-pte';
import { FS_A, FS_ADDR_MASK, FS_D, FS_P, FS_RW, FS_US, FS_XD, fsIsLeaf, fsReserved } from '../spec/fs-pte';
import { awBits, awLevels } from '../spec/context-entry';
import { FR_NEST_AD_WRITE, FR_NEST_FS_ADDR, FR_NEST_READ, FR_NEST_TOP_READ } from '../spec/fault-reasons';
import { CODES_FS, faultCode, K_ACCESS, K_EXEC, K_NP_READ, K_NP_WRITE, K_READ, K_RSVD, K_TOP_ACCESS, K_USER, K_WIDTH, K_WRITE } from './codes';
import { NOT_PRESENT, P_R, P_U, P_W, P_X, PSC_VTD_FS, PSC_VTD_SS, walk, wPerms } from './walk';

/** Permission bit (first stage, nested): the current table page is
 *  writable through the second stage (A/D updates allowed). */
const P_TW: u32 = 16;

// Per-walk flags (`flags(access)` of the formats below).
/** Second stage: permissions before reserved bits (QUIRK_SS_PERM_BEFORE_RSVD). */
const FL_PERM_FIRST: u32 = 1;
/** First stage: QEMU's A/D order and early U/S, R/W checks (QUIRK_FS_AD_IF_A_CLEAR). */
const FL_QEMU_ORDER: u32 = 2;
/** First stage: the request sets A/D (no ACC_NO_AD, not a translation request). */
const FL_SET_AD: u32 = 4;

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

/** Second-stage walk of `iova` (already checked against envSsBits).
 *  Returns 0 (w* of pt/walk.ts set) or a fault reason. */
export function ssWalk(iova: u64, access: u32): u32 {
  return walk<VtdSecondStage>(iova, access);
}

/** First-stage walk of `iova` (canonical check already done). Returns 0
 *  (w* set, wFrame a guest-physical address before the nested output
 *  translation) or a fault reason. When nested, each table pointer is
 *  translated through the second stage first (its write permission gates
 *  A/D updates). */
export function fsWalk(iova: u64, access: u32): u32 {
  return walk<VtdFirstStage>(iova, access);
}

/** The width fault of the current second-stage code set. */
export function ssWidthFault(): u32 { return faultCode(envSsCodes, K_WIDTH); }

// A second-stage entry's rights: R and W, X with SSEE, else X with either.
// @ts-ignore: decorator
@inline function ssEntryPerms(pte: u64): u32 {
  let p = <u32>(pte & (SS_R | SS_W));
  if (envSsee) p |= <u32>(pte & SS_X);
  else if (p != 0) p |= P_X;
  return p;
}

// The request's right missing from `perms` (second stage: checked at every
// level, §3.6), as a fault reason, or 0. (Nested ifs rather than && chains:
// V8 branches instead of materialising partial results.)
// @ts-ignore: decorator
@inline function ssPermFault(perms: u32, access: u32): u32 {
  const write = (access & ACC_WRITE) != 0;
  if (((write ? P_W : P_R) & ~perms) != 0) return faultCode(envSsCodes, write ? K_WRITE : K_READ);
  if ((access & ACC_EXEC) != 0) {
    if (envSsee) {
      if ((perms & P_X) == 0) return faultCode(envSsCodes, K_EXEC);
    }
  }
  return 0;
}

/** The second-stage format (§9.8): R/W(/X) at every level, no A/D. */
@unmanaged @final class VtdSecondStage {
  @inline flags(access: u32): u32 { return quirk(QUIRK_SS_PERM_BEFORE_RSVD) ? FL_PERM_FIRST : 0; }
  @inline top(): i32 { return envSsTop; }
  @inline root(): u64 { return envSsRoot; }
  @inline allPerms(): u32 { return P_R | P_W | P_X; }
  @inline pscOn(): bool { return !quirk(QUIRK_NO_PSC); }
  @inline pscFormat(): u32 { return PSC_VTD_SS; }
  @inline pscDid(): u32 { return envDid; }
  @inline pscTag(): u32 { return 0; }
  // The cached entries above were checked for their own request's access,
  // not this one's: check their combined rights now, as a full walk would
  // have at the level that lacks them (fuzz finding psc-read-only-entry-allows-write).
  @inline resume(perms: u32, access: u32, fl: u32): u32 {
    return (access & ACC_TRANSLATION_REQ) != 0 ? 0 : ssPermFault(perms, access);
  }
  @inline enter(table: u64, ia: u64): u32 { return 0; }
  @inline nested(): bool { return false; }
  @inline nestTable(ipa: u64, top: bool, descIpa: u64): u32 { return 0; }
  @inline nestPerms(perms: u32): u32 { return perms; }
  @inline index(ia: u64, level: i32, top: bool): u64 { return <u64>ptIndex(ia, level); }
  @inline fetchFault(top: bool, entry: u64): u32 { return faultCode(envSsCodes, top ? K_TOP_ACCESS : K_ACCESS); }
  // Not present (R = W = 0, and X = 0 with SSEE: §9.8, EPT's rule), then a present entry's reserved bits before its
  // permissions (§7.1.3), or after them (FL_PERM_FIRST).
  @inline check(ia: u64, pte: u64, level: i32, access: u32, fl: u32): u32 {
    const ep = ssEntryPerms(pte);
    const tr = (access & ACC_TRANSLATION_REQ) != 0;
    if (ep == 0) {
      if (tr) return NOT_PRESENT;
      return faultCode(envSsCodes, (access & ACC_WRITE) != 0 ? K_NP_WRITE : K_NP_READ);
    }
    const permFirst = (fl & FL_PERM_FIRST) != 0;
    if (!permFirst) {
      if (ssReserved(pte, level, envHaw, envSslps, envSnp)) return faultCode(envSsCodes, K_RSVD);
    }
    if (!tr) {
      const pfr = ssPermFault(ep, access);
      if (pfr != 0) return pfr;
    }
    if (permFirst) {
      if (ssReserved(pte, level, envHaw, envSslps, envSnp)) return faultCode(envSsCodes, K_RSVD);
    }
    return 0;
  }
  @inline isLeaf(pte: u64, level: i32): bool { return ssIsLeaf(pte, level); }
  @inline limit(pte: u64, leaf: bool, perms: u32, fl: u32): u32 { return perms & ssEntryPerms(pte); }
  @inline visit(ia: u64, off: usize, pte: u64, leaf: bool, perms: u32, access: u32, fl: u32): u32 { return 0; }
  @inline outAddr(pte: u64): u64 { return pte & SS_ADDR_MASK; }
  @inline pageLg2(level: i32): u32 { return levelPageLg2(level); }
  @inline tablePerms(perms: u32): u32 { return perms; }
  @inline grant(perms: u32, fl: u32): u32 { return perms; }
  @inline dirty(off: usize): bool { return true; }
}

// Set A (and D) on a first-stage entry at host offset `off` per the profile.
// Returns false when the update is needed but the table page is not
// writable through the second stage (nested).
function fsSetAd(off: usize, pte: u64, leaf: bool, write: bool, tableWritable: bool, qemuOrder: bool): bool {
  let want: u64 = 0;
  if (qemuOrder) {
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

/** The first-stage format (§9.7): P, R/W, U/S, XD accumulated down the
 *  walk, A/D set as it goes (§3.6.2), nested through the second stage. */
@unmanaged @final class VtdFirstStage {
  @inline flags(access: u32): u32 {
    return (quirk(QUIRK_FS_AD_IF_A_CLEAR) ? FL_QEMU_ORDER : 0) | ((access & (ACC_NO_AD | ACC_TRANSLATION_REQ)) == 0 ? FL_SET_AD : 0);
  }
  @inline top(): i32 { return envFsTop; }
  @inline root(): u64 { return envFsRoot; }
  @inline allPerms(): u32 { return P_R | P_W | P_X | P_U | P_TW; }
  @inline pscOn(): bool { return !quirk(QUIRK_NO_PSC); }
  @inline pscFormat(): u32 { return PSC_VTD_FS; }
  @inline pscDid(): u32 { return envDid; }
  @inline pscTag(): u32 { return envPasid; }
  @inline resume(perms: u32, access: u32, fl: u32): u32 { return 0; }
  @inline enter(table: u64, ia: u64): u32 { return 0; }
  @inline nested(): bool { return envNested; }
  // A first-stage table address (a GPA) through the second stage; a read
  // fault there is the nested-read reason (§7.1.3 SFL/SGN nested codes).
  @inline nestTable(ipa: u64, top: bool, descIpa: u64): u32 {
    if ((ipa >> envSsBits) != 0) return FR_NEST_FS_ADDR;
    const fr = ssWalk(ipa, 0);
    if (fr == 0) return 0;
    const k = fr == faultCode(envSsCodes, K_NP_READ) || fr == faultCode(envSsCodes, K_READ);
    return k ? (top ? FR_NEST_TOP_READ : FR_NEST_READ) : fr;
  }
  @inline nestPerms(perms: u32): u32 { return (wPerms & P_W) == 0 ? perms & ~P_TW : perms; }
  @inline index(ia: u64, level: i32, top: bool): u64 { return <u64>ptIndex(ia, level); }
  @inline fetchFault(top: bool, entry: u64): u32 { return faultCode(CODES_FS, top ? K_TOP_ACCESS : K_ACCESS); }
  @inline check(ia: u64, pte: u64, level: i32, access: u32, fl: u32): u32 {
    const tr = (access & ACC_TRANSLATION_REQ) != 0;
    const write = (access & ACC_WRITE) != 0;
    if ((pte & FS_P) == 0) {
      if (tr) return NOT_PRESENT;
      return faultCode(CODES_FS, write ? K_NP_WRITE : K_NP_READ);
    }
    if ((fl & FL_QEMU_ORDER) != 0 && !tr) {
      if (envUser && (pte & FS_US) == 0) return faultCode(CODES_FS, K_USER);
      if (write && (pte & FS_RW) == 0) return faultCode(CODES_FS, K_WRITE);
    }
    if (fsReserved(pte, level, envHaw, envFs1gp)) return faultCode(CODES_FS, K_RSVD);
    return 0;
  }
  @inline isLeaf(pte: u64, level: i32): bool { return fsIsLeaf(pte, level); }
  @inline limit(pte: u64, leaf: bool, perms: u32, fl: u32): u32 {
    if ((pte & FS_RW) == 0) perms &= ~P_W;
    if ((pte & FS_US) == 0) perms &= ~P_U;
    if ((pte & FS_XD) != 0) perms &= ~P_X;
    return perms;
  }
  // A leaf's permissions (not for translation requests), then A/D.
  @inline visit(ia: u64, off: usize, pte: u64, leaf: bool, perms: u32, access: u32, fl: u32): u32 {
    if (leaf && (access & ACC_TRANSLATION_REQ) == 0) {
      const fr = fsPermFault(perms, access);
      if (fr != 0) return fr;
    }
    if ((fl & FL_SET_AD) != 0) {
      if (!fsSetAd(off, pte, leaf, (access & ACC_WRITE) != 0, (perms & P_TW) != 0, (fl & FL_QEMU_ORDER) != 0)) return FR_NEST_AD_WRITE;
    }
    return 0;
  }
  @inline outAddr(pte: u64): u64 { return pte & FS_ADDR_MASK; }
  @inline pageLg2(level: i32): u32 { return levelPageLg2(level); }
  @inline tablePerms(perms: u32): u32 { return perms | P_TW; }
  @inline grant(perms: u32, fl: u32): u32 { return fsEffectivePerms(perms); }
  @inline dirty(off: usize): bool { return (load<u64>(off) & FS_D) != 0; }
}
