/**
 * Legacy-mode translation (RTADDR.TTM=00, §3.4.2): root entry (§9.1) ->
 * context entry (§9.3) -> second-stage walk or pass-through by TT.
 * Fault reasons LRT.x / LCT.x / LGN.x / LSL.x (VT-d §7.1.3, legacy-mode table).
 */
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import { sagawSupports, type RefCaps } from './config.js';
import { ACC, FR, QUIRK, SOURCE } from './constants.js';
import { bitRange } from './paging.js';
import {
  ALL_PERMS, fault, normalizeAccess, inInterruptRange, pointerAboveHaw, readEntry, success, type RefRequest,
  type RefResult,
} from './result.js';
import { translateSecondStage } from './stages.js';

/** §9.1: reserved bits of a present root entry, per word. */
function rootReserved(caps: RefCaps): [bigint, bigint] {
  return [bitRange(11, 1) | pointerAboveHaw(caps), bitRange(63, 0)];
}

/** §9.3: reserved bits of a present context entry, per word. */
function contextReserved(caps: RefCaps): [bigint, bigint] {
  return [bitRange(11, 4) | pointerAboveHaw(caps), (1n << 7n) | bitRange(63, 24)];
}

/** Reads and checks the root entry for `bus`; the context-table pointer or a fault. */
function rootEntry(mem: GuestMemoryLike, caps: RefCaps, rta: bigint, bus: number): bigint | RefResult {
  const re = readEntry(mem, rta + BigInt(bus) * 16n, 2);
  if (!re) return fault(FR.ROOT_UNREADABLE, false); // LRT.1
  if ((re[0]! & 1n) === 0n) return fault(FR.ROOT_NOT_PRESENT, false); // LRT.2
  const [r0, r1] = rootReserved(caps);
  if ((re[0]! & r0) !== 0n || (re[1]! & r1) !== 0n) return fault(FR.ROOT_RSVD, false); // LRT.3
  return re[0]! & bitRange(63, 12);
}

/**
 * Translates a request without PASID in legacy mode. TT (§9.3): 00
 * untranslated requests through the second stage, translation requests
 * blocked; 01 also translation requests (needs ECAP.DT); 10 pass-through
 * (needs ECAP.PT), translation requests blocked; 11 reserved.
 */
export function translateLegacy(mem: GuestMemoryLike, caps: RefCaps, rta: bigint, req: RefRequest): RefResult {
  const ctp = rootEntry(mem, caps, rta, (req.sid >> 8) & 0xff);
  if (typeof ctp !== 'bigint') return ctp;
  const ce = readEntry(mem, ctp + BigInt(req.sid & 0xff) * 16n, 2);
  if (!ce) return fault(FR.CTX_UNREADABLE, false); // LCT.1
  const fpd = (ce[0]! & 2n) !== 0n; // FPD is honoured even when P=0
  if ((ce[0]! & 1n) === 0n) return fault(FR.CTX_NOT_PRESENT, fpd); // LCT.2
  const [c0, c1] = contextReserved(caps);
  if ((ce[0]! & c0) !== 0n || (ce[1]! & c1) !== 0n) return fault(FR.CTX_RSVD, fpd && !(caps.quirks & QUIRK.RSVD_CTX_UNQUALIFIED)); // LCT.3
  const tt = Number((ce[0]! >> 2n) & 3n);
  const aw = Number(ce[1]! & 7n);
  const did = Number((ce[1]! >> 8n) & 0xffffn);
  const translationReq = (req.access & ACC.TRANSLATION_REQ) !== 0;
  if (tt === 3 || (tt === 1 && !caps.dt) || (tt === 2 && !caps.pt)) return fault(FR.CTX_INVALID, fpd); // LCT.4
  if (tt === 2) {
    if (translationReq) return fault(FR.TT_BLOCKED, fpd); // LCT.5
    return success(req.iova, 12, ALL_PERMS, did, SOURCE.PASS_THROUGH);
  }
  if (!sagawSupports(caps, aw)) return fault(FR.CTX_INVALID, fpd); // LCT.4: AW not in SAGAW
  if (tt === 0 && translationReq) return fault(FR.TT_BLOCKED, fpd); // LCT.5
  const ss = { ptr: ce[0]! & bitRange(63, 12), levels: aw + 2, ssee: false };
  const t = translateSecondStage(mem, caps, ss, req.iova, normalizeAccess(req.access), 'legacy');
  if (!t.ok) return fault(t.fault, fpd);
  if (!translationReq && inInterruptRange(caps, t.value.addr, t.value.pageLg2)) return fault(FR.INTR_RANGE, fpd); // LGN.4
  return success(t.value.addr, t.value.pageLg2, t.value.perms, did, SOURCE.WALK);
}
