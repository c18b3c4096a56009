/**
 * The checks a page request passes where it enters the remapping hardware
 * (VT-d §7.4.1 in 3.x; fault conditions RTA.3, SRT.x, SCT.x of the
 * scalable-mode fault table of VT-d §7.1.3; preconditions of §7.5). A request that fails is
 * a non-recoverable fault: it is recorded in the fault recording registers
 * and never reaches the page-request queue.
 *
 * - TTM = 00 (legacy root table): 0x32; TTM reserved / abort-DMA: 0x30.
 * - scalable root entry: unreadable 0x38, LP/UP = 0 0x39.
 * - scalable context entry: unreadable 0x40, P = 0 0x41, request with PASID
 *   and PASIDE = 0 0x45, PASID beyond the PASID directory (PDTS) 0x46,
 *   PRE = 0 0x47 (qualified: suppressed when the context entry's FPD = 1).
 *
 * The entries are read from guest RAM at the root table SRTP latched, as an
 * uncached walk; the PASID entry and the page tables are not consulted (the
 * page request is how software learns about their state).
 */
import type { GuestMemory } from '../../core/guest-memory.js';
import * as K from '../../core/constants.js';
import { TTM } from '../spec/registers.js';
import type { PageRequest } from '../spec/page-request.js';
import type { Sid } from '../../types.js';

/** Fault reason RTA.3: page request while the root table is in legacy mode (TTM = 00). */
export const FR_PRQ_LEGACY_MODE = 0x32;
/** Fault reason SCT.8: page request from a device whose context entry has PRE = 0. */
export const FR_PRQ_NOT_ENABLED = 0x47;

/** The unit state the checks need. */
export interface AdmissionEnv {
  readonly mem: GuestMemory;
  /** The root table SRTP latched: address (bits 63:12) and TTM. */
  readonly rootTable: bigint;
  readonly ttm: number;
}

/** A refused request: the fault reason and whether an FPD suppresses its record. */
export interface AdmissionFault {
  readonly reason: number;
  readonly suppressed: boolean;
}

const P = 1n;
const CTX_FPD = 1n << 1n;
const CTX_PASIDE = 1n << 3n;
const CTX_PRE = 1n << 4n;
const ADDR = 0xffff_ffff_ffff_f000n;

const fault = (reason: number, suppressed = false): AdmissionFault => ({ reason, suppressed });

/** Reads a qword of guest RAM, or undefined when it is not RAM (the "cannot access" faults). */
function readQword(mem: GuestMemory, gpa: bigint): bigint | undefined {
  return mem.contains(gpa, 8) ? mem.readU64(gpa) : undefined;
}

/** Guest-physical address of the scalable context entry of `sid`, or the root-level fault. */
export function contextEntryAddress(env: AdmissionEnv, sid: Sid): bigint | AdmissionFault {
  const bus = sid >> 8;
  const devfn = sid & 0xff;
  // §9.2: the lower context table serves devfn 0x00-0x7F, the upper one 0x80-0xFF.
  const root = readQword(env.mem, (env.rootTable & ADDR) + BigInt(bus * 16 + (devfn >= 0x80 ? 8 : 0)));
  if (root === undefined) return fault(K.FR_SM_ROOT_ACCESS);
  if (!(root & P)) return fault(K.FR_SM_ROOT_NP);
  return (root & ADDR) + BigInt((devfn & 0x7f) * 32);
}

/** The scalable context entry's qword 0 for `sid`, or the root- or context-access fault. */
function contextQword0(env: AdmissionEnv, sid: number): bigint | AdmissionFault {
  const at = contextEntryAddress(env, sid);
  if (typeof at !== 'bigint') return at;
  return readQword(env.mem, at) ?? fault(K.FR_SM_CTX_ACCESS);
}

/** Checks one page request; returns undefined when it may be queued, else the fault. */
export function admitPageRequest(env: AdmissionEnv, req: PageRequest): AdmissionFault | undefined {
  if (env.ttm === TTM.LEGACY) return fault(FR_PRQ_LEGACY_MODE);
  if (env.ttm !== TTM.SCALABLE) return fault(K.FR_SM_RTADDR_INV);
  const ctx = contextQword0(env, req.sid);
  if (typeof ctx !== 'bigint') return ctx;
  if (!(ctx & P)) return fault(K.FR_SM_CTX_NP);
  if (req.pasid !== undefined) {
    if (!(ctx & CTX_PASIDE)) return fault(K.FR_SM_PASIDE);
    // §9.4: the PASID directory has 2^(PDTS+7) entries, indexed by PASID[19:6].
    const pdts = Number((ctx >> 9n) & 7n);
    if (req.pasid >> 6 >= 1 << (pdts + 7)) return fault(K.FR_SM_PDTS);
  }
  if (!(ctx & CTX_PRE)) return fault(FR_PRQ_NOT_ENABLED, (ctx & CTX_FPD) !== 0n);
  return undefined;
}
