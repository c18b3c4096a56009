/**
 * Reference page walks, straight from the spec, with no caches:
 * second stage (§9.8, §3.7; 3/4/5 levels, 2 MiB / 1 GiB leaves) and first
 * stage (§9.7, §3.6; x86 4/5-level paging, canonical check, U/S, XD, A/D).
 *
 * The walks report *what* went wrong as an outcome kind, not a fault code:
 * the caller maps kinds to the legacy, scalable or nested fault reasons,
 * because the same condition has different codes in each (§7.1.3).
 */
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import { aboveHawMask, type RefCaps } from './config.js';
import { PERM } from './constants.js';

/** Reads a u64 of guest RAM, or undefined when it is not RAM ("cannot access"). */
export function readQ(mem: GuestMemoryLike, gpa: bigint): bigint | undefined {
  try {
    return mem.readU64(gpa);
  } catch {
    return undefined;
  }
}

/** Bits `hi:lo` set. */
export const bitRange = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
const ADDR_51_12 = bitRange(51, 12);

/** Why a walk stopped without a translation. */
export type WalkFaultKind =
  | 'ptr-unreadable' // the top-level table (from the *PTPTR) is not RAM
  | 'unreadable' // a lower-level entry is not RAM
  | 'not-present' // SS: R=W=0 (and X=0 with SSEE); FS: P=0
  | 'reserved' // reserved bit set in a present entry
  | 'non-canonical'; // FS input address not canonical

/** A completed walk: the leaf and the permissions accumulated over all levels. */
export interface WalkLeaf {
  readonly ok: true;
  /** Output address of the requested byte. */
  readonly addr: bigint;
  readonly pageLg2: number;
  /** SS: R/W/X (X per SSEE rule); FS: raw accumulated bits, see FsLeaf. */
  readonly perms: number;
  /** GPAs (in RAM) of every entry read, top level first. */
  readonly entryAddrs: bigint[];
}

/** A walk that stopped. `level` is where (0 = leaf table). */
export interface WalkStop {
  readonly ok: false;
  readonly kind: WalkFaultKind;
  readonly level: number;
}

/**
 * A second-stage walk stopped by an entry lacking a requested right
 * (checked level by level, as hardware and QEMU's vtd_iova_to_slpte do).
 * `perms` are that entry's rights (PERM bits, X per the SSEE rule).
 */
export interface SsDenied {
  readonly ok: false;
  readonly kind: 'denied';
  readonly level: number;
  readonly perms: number;
}

/** Parameters of a second-stage walk. */
export interface SsParams {
  /** SSPTPTR / SSPTPTR. */
  readonly ptr: bigint;
  /** 3, 4 or 5. */
  readonly levels: number;
  /** PASID-entry SSEE (§9.6); legacy mode: false. */
  readonly ssee: boolean;
  /** QUIRK.LEGACY_CODES_IN_SM: bit 11 (SNP) is never reserved. */
  readonly snpIgnored?: boolean;
}

/** §9.8 reserved bits of a present second-stage entry at `level`. */
export function ssReservedMask(caps: RefCaps, level: number, isLeaf: boolean, snpIgnored = false): bigint {
  let rsvd = aboveHawMask(caps) | (1n << 62n); // 51:HAW; 62 (TM, reserved since 3.0)
  if (!snpIgnored && (!isLeaf || !caps.sc)) rsvd |= 1n << 11n; // SNP: leaf only, needs ECAP.SC
  if (isLeaf && level > 0) rsvd |= bitRange(12 + 9 * level - 1, 12); // superpage: address low bits
  return rsvd;
}

/** True when a SS entry at `level` may be a superpage leaf (PS=1 allowed). */
function ssLeafAllowed(caps: RefCaps, level: number): boolean {
  return (level === 1 && (caps.sslps & 1) !== 0) || (level === 2 && (caps.sslps & 2) !== 0);
}

/** PERM bits of one second-stage entry (SSEE=0: execute granted). */
function ssEntryPerms(e: bigint, ssee: boolean): number {
  return (e & 1n ? PERM.R : 0) | (e & 2n ? PERM.W : 0) | (!ssee || e & 4n ? PERM.X : 0);
}

/**
 * §3.7 second-stage walk of `iova` (already range-checked by the caller).
 * Permissions are the AND of every level's R/W (and X when SSEE=1; with
 * SSEE=0 the second stage grants execute). An entry is present when R or
 * W is set, or X with SSEE=1 (§9.8: the second-stage format is the EPT
 * format, whose entries are not present only when bits 2:0 are all 0; X
 * is ignored with SSEE=0). Each present entry is checked
 * for its reserved bits, then for the `need`ed rights (PERM bits; 0 for a
 * translation request), before the walk descends (fuzz finding
 * ss-read-permission-before-reserved). `permFirst`
 * (QUIRK.SS_PERM_BEFORE_RSVD): rights before reserved bits, as QEMU does.
 */
export function ssWalk(mem: GuestMemoryLike, caps: RefCaps, p: SsParams, iova: bigint, need = 0, permFirst = false): WalkLeaf | WalkStop | SsDenied {
  let table = p.ptr;
  let r = 1n, w = 1n, x = 1n;
  const entryAddrs: bigint[] = [];
  for (let level = p.levels - 1; level >= 0; level--) {
    const ea = table + ((iova >> BigInt(12 + 9 * level)) & 0x1ffn) * 8n;
    const e = readQ(mem, ea);
    if (e === undefined) return { ok: false, kind: level === p.levels - 1 ? 'ptr-unreadable' : 'unreadable', level };
    entryAddrs.push(ea);
    if ((e & (p.ssee ? 0b111n : 0b11n)) === 0n) return { ok: false, kind: 'not-present', level };
    const entryPerms = ssEntryPerms(e, p.ssee);
    const denied: SsDenied | undefined = (need & ~entryPerms) !== 0 ? { ok: false, kind: 'denied', level, perms: entryPerms } : undefined;
    if (permFirst && denied) return denied;
    const ps = (e >> 7n) & 1n;
    if (ps === 1n && level > 0 && !ssLeafAllowed(caps, level)) return { ok: false, kind: 'reserved', level };
    const isLeaf = level === 0 || ps === 1n;
    if ((e & ssReservedMask(caps, level, isLeaf, p.snpIgnored)) !== 0n) return { ok: false, kind: 'reserved', level };
    if (denied) return denied;
    r &= e & 1n;
    w &= (e >> 1n) & 1n;
    x &= (e >> 2n) & 1n;
    if (isLeaf) {
      const pageLg2 = 12 + 9 * level;
      const offset = iova & ((1n << BigInt(pageLg2)) - 1n);
      const exec = p.ssee ? x : 1n; // SSEE=0: the second stage does not restrict execute
      const perms = (r ? PERM.R : 0) | (w ? PERM.W : 0) | (exec ? PERM.X : 0);
      return { ok: true, addr: (e & ADDR_51_12 & ~((1n << BigInt(pageLg2)) - 1n)) | offset, pageLg2, perms, entryAddrs };
    }
    table = e & ADDR_51_12;
  }
  throw new Error('unreachable: level 0 is always a leaf');
}

/** Parameters of a first-stage walk. */
export interface FsParams {
  /** FSPTPTR. */
  readonly ptr: bigint;
  /** 4 or 5 (FSPM 0 / 1). */
  readonly levels: number;
  /**
   * Nested translation: maps the GPA of a FS table page to the address the
   * entry is read from, or returns a fault code to stop with. Identity
   * (undefined) for PGTT=1.
   */
  readonly tableGpaToHpa?: (gpa: bigint, isTop: boolean) => bigint | { fault: number };
}

/** A completed first-stage walk. */
export interface FsLeaf extends WalkLeaf {
  /** AND of R/W over all levels. */
  readonly rw: boolean;
  /** AND of U/S over all levels. */
  readonly us: boolean;
  /** OR of XD over all levels. */
  readonly xd: boolean;
  /** Entry addresses (HPA) of every level, top first; the last is the leaf. */
  readonly entryAddrs: bigint[];
}

/** §9.7 reserved bits of a present first-stage entry at `level`. */
export function fsReservedMask(caps: RefCaps, level: number, isLeaf: boolean): bigint {
  let rsvd = aboveHawMask(caps);
  if (isLeaf && level > 0) rsvd |= bitRange(12 + 9 * level - 1, 13); // bit 12 is PAT
  return rsvd;
}

function fsLeafAllowed(caps: RefCaps, level: number): boolean {
  return level === 1 || (level === 2 && caps.fs1gp);
}

/** §3.6 canonical check: bits 63:(width-1) all equal (width 48 or 57). */
export function isCanonical(iova: bigint, levels: number): boolean {
  const width = BigInt(12 + 9 * levels);
  const top = iova >> (width - 1n);
  return top === 0n || top === (1n << (64n - width + 1n)) - 1n;
}

/**
 * §3.6 first-stage walk (no permission checks, no A/D: the caller does both).
 * Returns a walk stop, a nested fault `{ fault }`, or the leaf.
 */
export function fsWalk(mem: GuestMemoryLike, caps: RefCaps, p: FsParams, iova: bigint): FsLeaf | WalkStop | { ok: false; fault: number } {
  if (!isCanonical(iova, p.levels)) return { ok: false, kind: 'non-canonical', level: p.levels - 1 };
  let table = p.ptr;
  let rw = true, us = true, xd = false;
  const entryAddrs: bigint[] = [];
  for (let level = p.levels - 1; level >= 0; level--) {
    const isTop = level === p.levels - 1;
    let tableHpa = table;
    if (p.tableGpaToHpa) {
      const t = p.tableGpaToHpa(table, isTop);
      if (typeof t !== 'bigint') return { ok: false, fault: t.fault };
      tableHpa = t;
    }
    const ea = tableHpa + ((iova >> BigInt(12 + 9 * level)) & 0x1ffn) * 8n;
    const e = readQ(mem, ea);
    if (e === undefined) return { ok: false, kind: isTop ? 'ptr-unreadable' : 'unreadable', level };
    entryAddrs.push(ea);
    if ((e & 1n) === 0n) return { ok: false, kind: 'not-present', level };
    const ps = (e >> 7n) & 1n;
    if (ps === 1n && level > 0 && !fsLeafAllowed(caps, level)) return { ok: false, kind: 'reserved', level };
    const isLeaf = level === 0 || ps === 1n;
    if ((e & fsReservedMask(caps, level, isLeaf)) !== 0n) return { ok: false, kind: 'reserved', level };
    rw &&= (e & 2n) !== 0n;
    us &&= (e & 4n) !== 0n;
    xd ||= (e >> 63n) === 1n;
    if (isLeaf) {
      const pageLg2 = 12 + 9 * level;
      const offset = iova & ((1n << BigInt(pageLg2)) - 1n);
      const addr = (e & ADDR_51_12 & ~((1n << BigInt(pageLg2)) - 1n)) | offset;
      return { ok: true, addr, pageLg2, perms: 0, entryAddrs, rw, us, xd };
    }
    table = e & ADDR_51_12;
  }
  throw new Error('unreachable: level 0 is always a leaf');
}
