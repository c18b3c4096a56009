/**
 * Scalable-mode translation (RTADDR.TTM=01, §3.4.3): SM root entry (§9.2)
 * -> SM context entry (§9.4) -> PASID directory entry (§9.5) -> PASID table
 * entry (§9.6) -> by PGTT: first stage, second stage, nested, pass-through.
 * Fault reasons SRT/SCT/SPD/SPT/SFL/SSL/SGN (VT-d §7.1.3, scalable-mode table).
 * FPD (§7.2.1) accumulates along context, PASID-directory and PASID entries.
 */
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import { sagawSupports, type RefCaps } from './config.js';
import { ACC, FR, QUIRK, SOURCE } from './constants.js';
import { bitRange } from './paging.js';
import {
  ALL_PERMS, fault, normalizeAccess, inInterruptRange, pointerAboveHaw, readEntry, success, type RefRequest,
  type RefResult,
} from './result.js';
import type { Step } from './result.js';
import { translateFirstStage, translateSecondStage, type Translated } from './stages.js';

const PTR = bitRange(63, 12);

/** QUIRK.LEGACY_CODES_IN_SM: the legacy code QEMU reports for a SM root/context condition. */
const LEGACY_EQUIVALENT: ReadonlyMap<number, number> = new Map([
  [FR.SRT_UNREADABLE, FR.ROOT_UNREADABLE], [FR.SRT_NOT_PRESENT, FR.ROOT_NOT_PRESENT], [FR.SRT_RSVD, FR.ROOT_RSVD],
  [FR.SCT_UNREADABLE, FR.CTX_UNREADABLE], [FR.SCT_NOT_PRESENT, FR.CTX_NOT_PRESENT], [FR.SCT_RSVD, FR.CTX_RSVD],
]);

/** A root/context-level fault in scalable mode, with the profile's code and qualification. */
function smFault(caps: RefCaps, code: number, fpd: boolean): RefResult {
  const legacy = (caps.quirks & QUIRK.LEGACY_CODES_IN_SM) !== 0;
  const fr = legacy ? LEGACY_EQUIVALENT.get(code) ?? code : code;
  return fault(fr, fpd && !(fr === FR.CTX_RSVD && caps.quirks & QUIRK.RSVD_CTX_UNQUALIFIED));
}

/** What the context and PASID-directory steps hand on. */
interface PasidLookup {
  readonly pasidEntryAddr: bigint;
  readonly pasid: number;
  readonly fpd: boolean;
  readonly priv: boolean;
  readonly exec: boolean;
}

/** §9.2 SM root entry -> the context-table pointer for `devfn`, or a fault. */
function smRootEntry(mem: GuestMemoryLike, caps: RefCaps, rta: bigint, sid: number): bigint | RefResult {
  const re = readEntry(mem, rta + BigInt((sid >> 8) & 0xff) * 16n, 2);
  if (!re) return smFault(caps, FR.SRT_UNREADABLE, false); // SRT.1
  const word = re[(sid & 0xff) >= 0x80 ? 1 : 0]!; // LCTP for devfn 0-0x7F, UCTP above
  if ((word & 1n) === 0n) return smFault(caps, FR.SRT_NOT_PRESENT, false); // SRT.2
  if ((word & (bitRange(11, 1) | pointerAboveHaw(caps))) !== 0n) return smFault(caps, FR.SRT_RSVD, false); // SRT.3
  return word & PTR;
}

/** §9.4 SM context entry and §9.5 PASID directory entry -> the PASID entry address. */
function contextAndDirectory(mem: GuestMemoryLike, caps: RefCaps, ctp: bigint, req: RefRequest): PasidLookup | RefResult {
  const ce = readEntry(mem, ctp + BigInt(req.sid & 0x7f) * 32n, 4);
  if (!ce) return smFault(caps, FR.SCT_UNREADABLE, false); // SCT.1
  let fpd = (ce[0]! & 2n) !== 0n;
  if ((ce[0]! & 1n) === 0n) return smFault(caps, FR.SCT_NOT_PRESENT, fpd); // SCT.2
  const rsvd = [bitRange(8, 5) | pointerAboveHaw(caps), bitRange(63, 21), bitRange(63, 0), bitRange(63, 0)];
  if (ce.some((w, i) => (w & rsvd[i]!) !== 0n)) return smFault(caps, FR.SCT_RSVD, fpd); // SCT.3
  const dte = (ce[0]! & 4n) !== 0n;
  const paside = (ce[0]! & 8n) !== 0n;
  const pre = (ce[0]! & 16n) !== 0n;
  if ((dte && !caps.dt) || (pre && !caps.prs)) return fault(FR.SCT_INVALID, fpd); // SCT.4
  if (req.access & ACC.TRANSLATION_REQ && !dte) return fault(FR.SCT_DTE, fpd); // SCT.5
  const hasPasid = (req.access & ACC.PASID) !== 0;
  if (hasPasid && !paside) return fault(FR.SCT_PASIDE, fpd); // SCT.6
  const pasid = hasPasid ? req.pasid & 0xfffff : Number(ce[1]! & 0xfffffn); // RID_PASID
  const pdts = Number((ce[0]! >> 9n) & 7n);
  if (pasid >> 6 >= 1 << (pdts + 7)) return fault(FR.SCT_PDTS, fpd); // SCT.7
  const de = readEntry(mem, (ce[0]! & PTR) + BigInt(pasid >> 6) * 8n, 1);
  if (!de) return fault(FR.SPD_UNREADABLE, fpd); // SPD.1
  fpd ||= (de[0]! & 2n) !== 0n;
  if ((de[0]! & 1n) === 0n) return fault(FR.SPD_NOT_PRESENT, fpd); // SPD.2
  if ((de[0]! & (bitRange(11, 2) | pointerAboveHaw(caps))) !== 0n) return fault(FR.SPD_RSVD, fpd); // SPD.3
  const priv = hasPasid ? (req.access & ACC.PRIV) !== 0 : (ce[1]! & (1n << 20n)) !== 0n; // RID_PRIV
  const exec = hasPasid && (req.access & ACC.EXEC) !== 0;
  return { pasidEntryAddr: (de[0]! & PTR) + BigInt(pasid & 0x3f) * 64n, pasid, fpd, priv, exec };
}

/** §9.6 fixed reserved bits of a PASID entry, plus the pointers the PGTT uses above HAW. */
function pasidEntryReserved(caps: RefCaps, pgtt: number): bigint[] {
  const usesSs = pgtt === 2 || pgtt === 3;
  const usesFs = pgtt === 1 || pgtt === 3;
  const above = pointerAboveHaw(caps);
  return [
    bitRange(11, 10) | (usesSs ? above : 0n),
    bitRange(22, 16), // 86:80
    bitRange(11, 8) | (usesFs ? above : 0n), // 139:136
    ...new Array<bigint>(5).fill(bitRange(63, 0)),
  ];
}

/** §9.6 PGTT / AW / FSPM validity against the capabilities (SPT.4.x). */
function pasidEntryValid(caps: RefCaps, pgtt: number, aw: number, fspm: number): boolean {
  const supported = [false, caps.fsts, caps.ssts, caps.nest && caps.fsts && caps.ssts, caps.pt, false, false, false][pgtt];
  if (!supported) return false;
  if ((pgtt === 2 || pgtt === 3) && !sagawSupports(caps, aw)) return false;
  if ((pgtt === 1 || pgtt === 3) && !(fspm === 0 || (fspm === 1 && caps.fs5lp))) return false;
  return true;
}

/** Translates a request in scalable mode. */
export function translateScalable(mem: GuestMemoryLike, caps: RefCaps, rta: bigint, req: RefRequest): RefResult {
  const ctp = smRootEntry(mem, caps, rta, req.sid);
  if (typeof ctp !== 'bigint') return ctp;
  const look = contextAndDirectory(mem, caps, ctp, req);
  if ('status' in look) return look;
  const pe = readEntry(mem, look.pasidEntryAddr, 8);
  if (!pe) return fault(FR.SPT_UNREADABLE, look.fpd); // SPT.1
  const fpd = look.fpd || (pe[0]! & 2n) !== 0n;
  if ((pe[0]! & 1n) === 0n) return fault(FR.SPT_NOT_PRESENT, fpd); // SPT.2
  const pgtt = Number((pe[0]! >> 6n) & 7n);
  const rsvd = pasidEntryReserved(caps, pgtt);
  if (pe.some((w, i) => (w & rsvd[i]!) !== 0n)) return fault(FR.SPT_RSVD, fpd); // SPT.3
  const aw = Number((pe[0]! >> 2n) & 7n);
  const fspm = Number((pe[2]! >> 2n) & 3n);
  if (!pasidEntryValid(caps, pgtt, aw, fspm)) return fault(FR.SPT_INVALID, fpd); // SPT.4
  const did = Number(pe[1]! & 0xffffn);
  const usesFs = pgtt === 1 || pgtt === 3;
  if (usesFs && look.exec && (pe[2]! & 2n) === 0n) return fault(FR.SPT_ERE, fpd); // SPT.5
  if (usesFs && look.priv && !(caps.quirks & QUIRK.FS_ALL_USER) && (pe[2]! & 1n) === 0n) return fault(FR.SPT_SRE, fpd); // SPT.6
  if (pgtt === 4) return success(req.iova, 12, ALL_PERMS, did, SOURCE.PASS_THROUGH);
  const access = normalizeAccess(req.access & ~(ACC.EXEC | ACC.PRIV)) | (look.exec ? ACC.EXEC : 0) | (look.priv ? ACC.PRIV : 0);
  const legacyCodes = (caps.quirks & QUIRK.LEGACY_CODES_IN_SM) !== 0;
  const ss = { ptr: pe[0]! & PTR, levels: aw + 2, ssee: (pe[0]! & 32n) !== 0n, snpIgnored: legacyCodes };
  let t: Step<Translated>;
  if (pgtt === 2) t = translateSecondStage(mem, caps, ss, req.iova, access, legacyCodes ? 'legacy' : 'scalable');
  else {
    const priv = look.priv && !(caps.quirks & QUIRK.FS_ALL_USER);
    const fs = { ptr: pe[2]! & PTR, levels: fspm + 4, wpe: (pe[2]! & 16n) !== 0n, priv, nestedSs: pgtt === 3 ? ss : undefined };
    t = translateFirstStage(mem, caps, fs, req.iova, access);
  }
  if (!t.ok) return fault(t.fault, fpd);
  if (!(req.access & ACC.TRANSLATION_REQ) && inInterruptRange(caps, t.value.addr, t.value.pageLg2)) return fault(FR.SGN_INTR_RANGE, fpd); // SGN.8
  return success(t.value.addr, t.value.pageLg2, t.value.perms, did, SOURCE.WALK, t.value.fsEntries);
}
