/**
 * Second-stage, first-stage and nested translation of one address, with the
 * spec's fault reasons and permission checks (§3.6 first stage, §3.7 second
 * stage, §3.8 nested; fault conditions §7.1.3): the walks of paging.ts plus
 * the mode-specific mapping from "what went wrong" to a fault code.
 */
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import type { RefCaps } from './config.js';
import { ACC, FR, PERM, QUIRK } from './constants.js';
import { fsWalk, ssWalk, type FsLeaf, type SsParams, type WalkFaultKind } from './paging.js';
import type { Step } from './result.js';

/** A translated address with its page size and permissions. */
export interface Translated {
  readonly addr: bigint;
  readonly pageLg2: number;
  readonly perms: number;
  /** First-stage entries walked (HPA), top first. */
  readonly fsEntries: readonly bigint[];
}

/** Fault codes of a second-stage walk in legacy and scalable mode. */
const SS_CODES: Record<'legacy' | 'scalable', Record<Exclude<WalkFaultKind, 'not-present' | 'non-canonical'>, number>> = {
  legacy: { 'ptr-unreadable': FR.CTX_INVALID, // LCT.4.x: SSPTPTR unreadable
     unreadable: FR.SS_ENTRY_UNREADABLE, reserved: FR.SS_ENTRY_RSVD },
  scalable: { 'ptr-unreadable': FR.SSL_PTR_INVALID, unreadable: FR.SSL_UNREADABLE, reserved: FR.SSL_RSVD },
};

/** The PERM bits permissionFault checks for `access` (none for a translation request). */
function neededPerms(access: number, mode: 'legacy' | 'scalable'): number {
  if (access & ACC.TRANSLATION_REQ) return 0;
  return (access & ACC.WRITE ? PERM.W : 0) | (access & ACC.READ ? PERM.R : 0) | (mode === 'scalable' && access & ACC.EXEC ? PERM.X : 0);
}

/** The requested permissions missing from `perms`, as a fault code, or 0. */
function permissionFault(perms: number, access: number, mode: 'legacy' | 'scalable'): number {
  const legacy = mode === 'legacy';
  if (access & ACC.WRITE && !(perms & PERM.W)) return legacy ? FR.WRITE : FR.SGN_WRITE;
  if (access & ACC.READ && !(perms & PERM.R)) return legacy ? FR.READ : FR.SGN_READ;
  if (!legacy && access & ACC.EXEC && !(perms & PERM.X)) return FR.SGN_EXEC;
  return 0;
}

/**
 * §3.7 second-stage translation of `iova` for a request with `access`.
 * `widthBits` = min(AGAW, MGAW). A translation request (ACC.TRANSLATION_REQ)
 * gets the permissions instead of a permission fault (not-present: none).
 */
export function translateSecondStage(mem: GuestMemoryLike, caps: RefCaps, p: SsParams, iova: bigint, access: number, mode: 'legacy' | 'scalable'): Step<Translated> {
  const agaw = 12 + 9 * p.levels;
  if (iova >> BigInt(Math.min(agaw, caps.mgaw)) !== 0n) {
    if (mode === 'legacy') return { ok: false, fault: FR.ADDR_BEYOND_MGAW }; // LGN.1
    return { ok: false, fault: FR.SGN_BEYOND_AW }; // SGN.5
  }
  const w = ssWalk(mem, caps, p, iova, neededPerms(access, mode), (caps.quirks & QUIRK.SS_PERM_BEFORE_RSVD) !== 0);
  const tr = (access & ACC.TRANSLATION_REQ) !== 0;
  if (!w.ok) {
    if (w.kind === 'denied') return { ok: false, fault: permissionFault(w.perms, access, mode) };
    if (w.kind === 'not-present') {
      if (tr) return { ok: true, value: { addr: 0n, pageLg2: 12 + 9 * w.level, perms: 0, fsEntries: [] } };
      if (mode === 'scalable') return { ok: false, fault: FR.SSL_PERM }; // SSL.2
      return { ok: false, fault: access & ACC.WRITE ? FR.WRITE : FR.READ }; // LGN.2 / LGN.3
    }
    return { ok: false, fault: SS_CODES[mode][w.kind as 'reserved'] };
  }
  if (!tr) {
    const pf = permissionFault(w.perms, access, mode);
    if (pf) return { ok: false, fault: pf };
  }
  return { ok: true, value: { addr: w.addr, pageLg2: w.pageLg2, perms: w.perms, fsEntries: [] } };
}

/** Parameters of a first-stage (or nested) translation from the PASID entry. */
export interface FsTranslateParams {
  readonly ptr: bigint;
  readonly levels: number;
  /** PASID-entry WPE: supervisor writes honour R/W (§9.6). */
  readonly wpe: boolean;
  /** Requester privilege: supervisor. */
  readonly priv: boolean;
  /** Nested: the second stage under the first (PGTT=3). */
  readonly nestedSs?: SsParams;
}

const FS_CODES: Record<WalkFaultKind, number> = {
  'ptr-unreadable': FR.SFL_PTR_UNREADABLE,
  unreadable: FR.SFL_UNREADABLE,
  'not-present': FR.SFL_NOT_PRESENT,
  reserved: FR.SFL_RSVD,
  'non-canonical': FR.SGN_NON_CANONICAL,
};

/** §3.8 nested: the SS translation of a FS table page (read access). */
function nestedTableFetch(mem: GuestMemoryLike, caps: RefCaps, ss: SsParams, gpa: bigint, isTop: boolean, writable: boolean[]): bigint | { fault: number } {
  if (gpa >> BigInt(Math.min(12 + 9 * ss.levels, caps.mgaw)) !== 0n) return { fault: FR.SFL_NESTED_BEYOND }; // SFL.5
  const w = ssWalk(mem, caps, ss, gpa, PERM.R, (caps.quirks & QUIRK.SS_PERM_BEFORE_RSVD) !== 0);
  if (!w.ok) {
    if (w.kind === 'not-present' || w.kind === 'denied') return { fault: isTop ? FR.SFL_NESTED_TOP_READ : FR.SFL_NESTED_READ };
    return { fault: SS_CODES.scalable[w.kind as 'reserved'] };
  }
  if (!(w.perms & PERM.R)) return { fault: isTop ? FR.SFL_NESTED_TOP_READ : FR.SFL_NESTED_READ }; // SFL.6 / SFL.7
  writable.push((w.perms & PERM.W) !== 0);
  return w.addr;
}

/** First-stage permissions of a leaf for a requester (§3.6.1): R always, W per R/W and WPE, X per XD. */
function fsPerms(leaf: FsLeaf, priv: boolean, wpe: boolean): number {
  if (!priv && !leaf.us) return 0;
  const writable = leaf.rw || (priv && !wpe);
  return PERM.R | (writable ? PERM.W : 0) | (leaf.xd ? 0 : PERM.X);
}

/**
 * §3.6 first-stage (PGTT=1) or §3.8 nested (PGTT=3) translation. Sets A on
 * every walked entry and D on the leaf of a write (unless ACC.NO_AD or a
 * translation request), only when the whole translation succeeds.
 */
export function translateFirstStage(mem: GuestMemoryLike, caps: RefCaps, p: FsTranslateParams, iova: bigint, access: number): Step<Translated> {
  const ss = p.nestedSs;
  const tableWritable: boolean[] = []; // nested: SS write permission of each FS table page
  const w = fsWalk(mem, caps, { ptr: p.ptr, levels: p.levels, tableGpaToHpa: ss && ((g, top) => nestedTableFetch(mem, caps, ss, g, top, tableWritable)) }, iova);
  if (!w.ok) return { ok: false, fault: 'fault' in w ? w.fault : FS_CODES[w.kind] };
  const tr = (access & ACC.TRANSLATION_REQ) !== 0;
  let perms = fsPerms(w, p.priv, p.wpe);
  if (!tr) {
    if (!p.priv && !w.us) return { ok: false, fault: FR.SGN_USER }; // SGN.2
    const pf = permissionFault(perms, access, 'scalable');
    if (pf) return { ok: false, fault: pf };
  }
  let out: Translated = { addr: w.addr, pageLg2: w.pageLg2, perms, fsEntries: w.entryAddrs };
  if (ss) {
    const s = translateSecondStage(mem, caps, ss, w.addr, access, 'scalable');
    if (!s.ok) return s;
    perms &= s.value.perms;
    out = { addr: s.value.addr, pageLg2: Math.min(w.pageLg2, s.value.pageLg2), perms, fsEntries: w.entryAddrs };
  }
  if (!tr && !(access & ACC.NO_AD)) {
    const adFault = setAccessedDirty(mem, w.entryAddrs, (access & ACC.WRITE) !== 0, ss ? tableWritable : undefined);
    if (adFault) return { ok: false, fault: adFault };
  }
  return { ok: true, value: out };
}

/**
 * §3.6.2 A/D update: A on every entry, D on the leaf of a write; an entry is
 * written only when a bit changes. Nested: every entry to change must sit in
 * a page the second stage lets us write (else SFL.8, nothing written).
 * Returns a fault code or 0.
 */
function setAccessedDirty(mem: GuestMemoryLike, entries: readonly bigint[], write: boolean, tableWritable?: readonly boolean[]): number {
  const updates: [bigint, bigint][] = [];
  entries.forEach((ea, i) => {
    const e = mem.readU64(ea);
    const want = e | (1n << 5n) | (i === entries.length - 1 && write ? 1n << 6n : 0n);
    if (want !== e) updates.push([ea, want]);
  });
  for (const [ea] of updates) {
    if (tableWritable && !tableWritable[entries.indexOf(ea)]) return FR.SFL_NESTED_WRITE;
  }
  for (const [ea, v] of updates) mem.writeU64(ea, v);
  return 0;
}
