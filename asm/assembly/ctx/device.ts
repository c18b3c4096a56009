// What the root -> context (-> PASID) lookup found for a request: the
// device's translation setup, as plain module state the translate step reads.
// Also the latched root-table pointer and enable state (RTADDR/GSTS.TES).
// dcSave/dcRestore move a scalable-mode setup to and from the decoded-setup
// cache (cache/setup-cache.ts).

import { CFG_MGAW } from '../abi/layout';
import { cfg } from '../cfg';
import { bucketOf } from '../cache/gen';
import { iotlbKeyMix, PRIV_FLAG } from '../cache/iotlb';
import { awBits } from '../spec/context-entry';
import { scEpoch, scFlags, scDid, scEff, scFsRoot, scFsTop, scSsAw, scSsRoot, scStore, SF_FPD, SF_KIND_MASK, SF_LEGACY, SF_PRE, SF_PRIV, SF_SSEE, SF_WPE } from '../cache/setup-cache';

/** Translation kind: second stage only (legacy TT=00/01, PGTT=010). */
export const XK_SS: u32 = 0;
/** Translation kind: first stage only (PGTT=001). */
export const XK_FS: u32 = 1;
/** Translation kind: nested (PGTT=011). */
export const XK_NESTED: u32 = 2;
/** Translation kind: pass-through (TT=10, PGTT=100). */
export const XK_PT: u32 = 3;

/** Root-table address latched by SRTP (RTADDR 63:12). */
export let rootAddr: u64 = 0;
/** Translation table mode latched by SRTP (RTADDR 11:10). */
export let rootTtm: u32 = 0;
/** GSTS.TES. */
export let teOn: bool = false;

/** Latch a root-table pointer (SRTP). */
export function rootSet(addr: u64, ttm: u32): void {
  rootAddr = addr & 0xffff_ffff_ffff_f000;
  rootTtm = ttm & 3;
}
/** Set GSTS.TES. */
export function teSet(on: bool): void { teOn = on; }

/** Kind of translation (XK_*). */
export let dcKind: u32 = XK_SS;
/** Domain id. */
export let dcDid: u32 = 0;
/** An FPD was set on the path so far (context, PASID dir, PASID entry). */
export let dcFpd: bool = false;
/** PASID tag for caches and fault records (PASID_NONE in legacy mode). */
export let dcPasid: u32 = 0;
/** The request carried a PASID. */
export let dcHasPasid: bool = false;
/** Page requests enabled (scalable context PRE). */
export let dcPre: bool = false;
/** Second-stage table pointer and AW encoding. */
export let dcSsRoot: u64 = 0;
/** Second-stage AW encoding (1..3). */
export let dcSsAw: u32 = 0;
/** Second-stage execute enable (SSEE). */
export let dcSsee: bool = false;
/** First-stage table pointer. */
export let dcFsRoot: u64 = 0;
/** First-stage top level (3 = 4-level, 4 = 5-level). */
export let dcFsTop: i32 = 3;
/** The request is privileged (supervisor). */
export let dcPriv: bool = false;
/** PASID-entry WPE. */
export let dcWpe: bool = false;

// The decoded-setup entry the fields above were last loaded from (0: set
// by a lookup) and the setup-cache epoch then. Every lookup starts with
// dcReset; a stored setup only changes with the epoch.
let dcOwner: usize = 0;
let dcOwnerEpoch: u32 = 0;

/** Reset the per-request result before a lookup. */
export function dcReset(hasPasid: bool, pasid: u32): void {
  dcOwner = 0;
  dcFpd = false;
  dcHasPasid = hasPasid;
  dcPasid = pasid;
  dcPre = false;
  dcSsee = false;
  dcPriv = false;
  dcWpe = false;
}

/** Note an FPD bit seen on the path. */
export function dcNoteFpd(fpd: bool): void { if (fpd) dcFpd = true; }

/** Record a second-stage setup. */
export function dcSetSs(did: u32, root: u64, aw: u32, ssee: bool): void {
  dcKind = XK_SS; dcDid = did; dcSsRoot = root; dcSsAw = aw; dcSsee = ssee;
}
/** Record a first-stage setup (nested keeps the second-stage fields). */
export function dcSetFs(kind: u32, did: u32, root: u64, top: i32, priv: bool, wpe: bool): void {
  dcKind = kind; dcDid = did; dcFsRoot = root; dcFsTop = top; dcPriv = priv; dcWpe = wpe;
}
/** Record a pass-through setup. */
export function dcSetPt(did: u32): void { dcKind = XK_PT; dcDid = did; }
/** Record the scalable context's page-request enable. */
export function dcSetPre(pre: bool): void { dcPre = pre; }
/** Record the effective PASID. */
export function dcSetPasid(pasid: u32): void { dcPasid = pasid; }

/** Store the current setup (after a successful lookup) for (sid, pasid,
 *  access class); `legacy`: a legacy-mode (context-entry) setup. */
export function dcSave(sid: u32, pasid: u32, access: u32, legacy: bool): void {
  const flags = dcKind | (dcFpd ? SF_FPD : 0) | (dcPre ? SF_PRE : 0) | (dcSsee ? SF_SSEE : 0) |
    (dcPriv ? SF_PRIV : 0) | (dcWpe ? SF_WPE : 0) | (legacy ? SF_LEGACY : 0);
  const fs = dcKind == XK_FS || dcKind == XK_NESTED;
  const tag = fs && dcPriv ? dcPasid | PRIV_FLAG : dcPasid;
  const ssBits = awBits(dcSsAw);
  const width = fs ? (dcFsTop == 4 ? 57 : 48) : ssBits < cfg(CFG_MGAW) ? ssBits : cfg(CFG_MGAW);
  const bucket = bucketOf(dcDid, dcPasid);
  scStore(sid, pasid, access, flags, dcDid, dcPasid, dcSsRoot, dcSsAw, dcFsRoot, dcFsTop, tag, bucket, iotlbKeyMix(bucket), width, fs);
}

/** Load the setup of decoded-setup cache entry `e` (instead of dcReset
 *  and a lookup); `hasPasid`: the request carries a PASID. */
// @ts-ignore: decorator
@inline export function dcRestore(e: usize, hasPasid: bool): void {
  // Still loaded from this entry (same slot, same epoch: same content;
  // hasPasid is part of the entry's key)?
  if ((<u32>(e == dcOwner) & <u32>(dcOwnerEpoch == scEpoch())) != 0) return;
  dcLoad(e, hasPasid);
}

// dcRestore when the fields are not loaded from `e` yet.
function dcLoad(e: usize, hasPasid: bool): void {
  dcOwner = e;
  dcOwnerEpoch = scEpoch();
  const f = scFlags(e);
  dcHasPasid = hasPasid;
  dcKind = f & SF_KIND_MASK;
  dcDid = scDid(e);
  dcPasid = scEff(e);
  dcFpd = (f & SF_FPD) != 0;
  dcPre = (f & SF_PRE) != 0;
  dcSsee = (f & SF_SSEE) != 0;
  dcPriv = (f & SF_PRIV) != 0;
  dcWpe = (f & SF_WPE) != 0;
  dcSsRoot = scSsRoot(e);
  dcSsAw = scSsAw(e);
  dcFsRoot = scFsRoot(e);
  dcFsTop = scFsTop(e);
}
