/**
 * Event records (IHI 0070 §7.3) as values: what the unit saw, and the four
 * doublewords the event queue receives.
 */
import { put } from './spec/bits.js';
import { EVT_FIELD as F } from './spec/events.js';
import type { Gpa, Iova, Pasid, Sid } from '../types.js';

/** One event, before it is written to the event queue. */
export interface SmmuEvent {
  /** EVT.* number. */
  readonly type: number;
  /** StreamID. */
  readonly sid: Sid;
  /** SubstreamID when the transaction had one (SSV = 1). */
  readonly ssid?: Pasid;
  /** Input address of the transaction (translation faults, F_TRANSL_FORBIDDEN, F_UUT). */
  readonly addr?: Iova;
  /** Read (RnW = 1) or write. */
  readonly read?: boolean;
  /** Privileged (PnU = 1). */
  readonly priv?: boolean;
  /** Instruction fetch (InD = 1). */
  readonly exec?: boolean;
  /** Stage-2 fault (S2 = 1). */
  readonly s2?: boolean;
  /** CLASS (EVT_CLASS). */
  readonly cls?: number;
  /** IPA of a stage-2 fault. */
  readonly ipa?: bigint;
  /** FetchAddr of F_STE_FETCH / F_CD_FETCH / F_WALK_EABT. */
  readonly fetchAddr?: Gpa;
}

/** The event's record: four little-endian doublewords. */
export function encodeEvent(e: SmmuEvent): bigint[] {
  const w = [0n, 0n, 0n, 0n];
  put(w, F.type, e.type);
  put(w, F.SID, e.sid);
  if (e.ssid !== undefined) {
    put(w, F.SSV, 1);
    put(w, F.SSID, e.ssid);
  }
  if (e.priv) put(w, F.PnU, 1);
  if (e.exec) put(w, F.InD, 1);
  if (e.read) put(w, F.RnW, 1);
  if (e.s2) put(w, F.S2, 1);
  if (e.cls !== undefined) put(w, F.CLASS, e.cls);
  if (e.addr !== undefined) w[2] = BigInt.asUintN(64, e.addr);
  if (e.ipa !== undefined) w[3] = e.ipa & 0x000f_ffff_ffff_f000n;
  if (e.fetchAddr !== undefined) w[3] = e.fetchAddr & 0x000f_ffff_ffff_fff8n;
  return w;
}
