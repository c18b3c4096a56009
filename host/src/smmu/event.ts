/**
 * Event records (IHI 0070 §7.3) as values: what the unit saw, and the four
 * doublewords the event queue receives.
 */
import { put32, putWord, word, type BitField } from './spec/bits.js';
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

/** Sets field `fd` (inside one u32 half) of `out` to `value`; an Error when it does not fit, as `put` gives. */
function set(out: Uint32Array, fd: BitField, value: number): void {
  if (!(Number.isInteger(value) && value >= 0 && value < 2 ** (fd.hi - fd.lo + 1))) throw new Error(`value ${String(value)} does not fit bits ${fd.hi}:${fd.lo}`);
  put32(out, fd, value);
}

/**
 * The event's record as eight little-endian u32 dwords in `out` (doubleword
 * i is dwords 2i and 2i + 1): the event queue's path, without a BigInt per
 * field. `noClass` leaves CLASS 0 (SmmuSwitches.eventClassOnWalkAbortOnly).
 */
export function encodeEventDwords(e: SmmuEvent, out: Uint32Array, noClass = false): Uint32Array {
  out.fill(0);
  set(out, F.type, e.type);
  set(out, F.SID, e.sid);
  if (e.ssid !== undefined) {
    set(out, F.SSV, 1);
    set(out, F.SSID, e.ssid);
  }
  if (e.priv) set(out, F.PnU, 1);
  if (e.exec) set(out, F.InD, 1);
  if (e.read) set(out, F.RnW, 1);
  if (e.s2) set(out, F.S2, 1);
  if (e.cls !== undefined && !noClass) set(out, F.CLASS, e.cls);
  if (e.addr !== undefined) putWord(out, 2, e.addr);
  if (e.ipa !== undefined) putWord(out, 3, e.ipa & 0x000f_ffff_ffff_f000n);
  if (e.fetchAddr !== undefined) putWord(out, 3, e.fetchAddr & 0x000f_ffff_ffff_fff8n);
  return out;
}

/** The event's record: four little-endian doublewords. */
export function encodeEvent(e: SmmuEvent): bigint[] {
  const d = encodeEventDwords(e, new Uint32Array(8));
  return [word(d, 0), word(d, 1), word(d, 2), word(d, 3)];
}
