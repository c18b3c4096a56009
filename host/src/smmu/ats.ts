/**
 * PCIe ATS on the SMMUv3 front end (IHI 0070 §3.9.1): the answers to ATS
 * Translation Requests (§3.9.1.2) and the checks of ATS Translated
 * transactions (§3.9.1.3), as functions of what the unit shows them
 * (`AtsHost`). The unit offers full ATS only (SMMU_IDR0.NS1ATS = 1: an STE
 * with EATS = 0b10 is ILLEGAL, config.ts) and no DPT, and does not record
 * configuration errors of ATS requests (no SMMU_CR2.REC_CFG_ATS).
 *
 * A Translation Request gets:
 * - UR and F_BAD_ATS_TREQ (§7.3.6) with SMMUEN = 0, STE.Config = 0b100 or
 *   an effective STE.EATS of 0b00; UR without an event for Config = 0b000;
 * - CA, no event, for a configuration error (C_BAD_STREAMID, F_STE_FETCH,
 *   C_BAD_STE, C_BAD_SUBSTREAMID, F_STREAM_DISABLED, F_CD_FETCH, C_BAD_CD,
 *   F_WALK_EABT): the event number is returned unrecorded;
 * - Success with R = W = 0 and the STU size (4 KiB) for a Translation,
 *   Access or Address size fault at either stage (a stage-2 fault of a CD
 *   fetch included), and for a Permission fault of a page that grants
 *   nothing requested; nothing is recorded (the device may use PRI);
 * - Success with the translation otherwise: the output page, its size, and
 *   of R (always requested), W (requested unless NW) and X (with a PASID)
 *   those the tables grant (§13.7; X only with R).
 *
 * An SMMU without ATS (SMMU_IDR0.ATS = 0) answers UR and aborts Translated
 * transactions, recording nothing.
 *
 * A Translated transaction passes with SMMUEN = 1 and ATSCHK = 0 (only its
 * address is checked, §3.9.1.1: beyond the OAS it aborts, no event). With
 * ATSCHK = 1 its STE decides: invalid or ILLEGAL, or Config = 0b000,
 * aborts with no event; Config = 0b100 or effective EATS = 0b00 aborts
 * with F_TRANSL_FORBIDDEN (§7.3.8). With SMMUEN = 0 it aborts with
 * F_TRANSL_FORBIDDEN.
 */
import * as K from '../core/constants.js';
import { AtsCompletion, type DmaResult } from '../pci/dma-port.js';
import type { DecodedSte } from './config.js';
import type { SmmuCore } from './core-abi.js';
import type { SmmuEvent } from './event.js';
import type { SmmuCaps } from './profiles.js';
import { EVT } from './spec/events.js';
import { oasBits } from './spec/registers.js';
import { EATS, STE_CONFIG } from './spec/ste.js';
import { hpa as checkHpa, iova as checkIova, pasid as checkPasid, streamId, type Hpa, type Iova, type Pasid, type Sid } from '../types.js';

/** What the ATS paths read of the unit. */
export interface AtsHost {
  readonly caps: SmmuCaps;
  readonly arm: SmmuCore;
  /** The core's out-buffer (results of `arm.translate`). */
  readonly out: Uint32Array;
  /** SMMU_CR0.SMMUEN. */
  enabled(): boolean;
  /** SMMU_CR0.ATSCHK. */
  atsCheck(): boolean;
  /** The (cached) STE of `sid`, or its configuration event. */
  ste(sid: Sid): DecodedSte | SmmuEvent;
  /** The (cached) configuration of (sid, ssid) as a core setup record, or its configuration event. */
  stream(sid: Sid, ssid: Pasid | undefined): { readonly setupOff: number } | { readonly event: SmmuEvent };
  /** Writes an event record; false when it was lost. */
  record(ev: SmmuEvent): boolean;
  /** Hears each guest programming error. */
  log(msg: string): void;
  /** Sends an ATS Invalidate Request to the device at `sid`; false when it did not answer (none: every one completes). */
  readonly atcInvalidate?: (sid: Sid, ssid: Pasid | undefined, addr: Iova, sizeLg2: number, global: boolean) => boolean;
}

/** An ATS Translation Request (PCIe ATS, AT = 01b) as it reaches the SMMU (the BigInt form). */
export interface AtsRequest {
  /** The requester's StreamID. */
  readonly sid: Sid;
  /** SubstreamID: the PASID of the TLP prefix, if any. */
  readonly ssid: Pasid | undefined;
  /** The untranslated address (its page is translated). */
  readonly iova: Iova;
  /** Write access requested (NW = 0). */
  readonly write: boolean;
  /** Privileged, from the PASID prefix (false without one). */
  readonly priv: boolean;
  /** Execute, from the PASID prefix (false without one). */
  readonly exec: boolean;
}

/** The answer to a Translation Request (the BigInt form). */
export type AtsAnswer =
  /** Success: the page at `iova` (2^lg2 bytes, aligned) is at `addr`; `perms` are R 1, W 2, X 4 (0: nothing granted). */
  | { readonly status: 'success'; readonly iova: Iova; readonly addr: Hpa; readonly lg2: number; readonly perms: number }
  /** Unsupported Request or Completer Abort; `event` the event the request met (0: none), `recorded` whether it went to the event queue. */
  | { readonly status: 'ur' | 'ca'; readonly event: number; readonly recorded: boolean };

/**
 * The number codes of the ATS paths (no allocation): SUCCESS (a Translation
 * Request's completion is filled in; a Translated transaction passes), or
 * UR / CA / ABORT ORed with the event number met (0: none) and RECORDED
 * when its record reached the event queue.
 */
export const ATS_CODE = { SUCCESS: 0, UR: 0x100, CA: 0x200, ABORT: 0x300, KIND: 0x300, RECORDED: 0x400, EVENT: 0xff } as const;

/** Smallest Translation Unit: the smallest granule (§3.9.1), 4 KiB in every profile here. */
const STU_LG2 = 12;
const TWO_32 = 2 ** 32;
/** Faults a Translation Request answers with Success, R = W = 0 (§3.9.1.2). */
const NOT_PRESENT: ReadonlySet<number> = new Set([EVT.F_TRANSLATION, EVT.F_ADDR_SIZE, EVT.F_ACCESS, EVT.F_PERMISSION]);

/** The u64 `hi`:`lo` as a bigint (event records). */
const big = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/** Records `ev`; `kind` with the event number and RECORDED when it reached the queue. */
function withEvent(h: AtsHost, kind: number, ev: SmmuEvent): number {
  return kind | ev.type | (h.record(ev) ? ATS_CODE.RECORDED : 0);
}

/** UR with F_BAD_ATS_TREQ (§7.3.6): the request's page, SubstreamID and requested access. */
function badRequest(h: AtsHost, sid: Sid, ssid: Pasid | undefined, hi: number, pageLo: number, write: boolean, priv: boolean, exec: boolean): number {
  return withEvent(h, ATS_CODE.UR, { type: EVT.F_BAD_ATS_TREQ, sid, ssid, addr: big(hi, pageLo), read: !write, priv, exec });
}

/** Success, R = W = 0, one STU at the request's page. */
function nothingGranted(c: AtsCompletion, hi: number, pageLo: number, priv: boolean): number {
  c.set(hi, pageLo, 0, 0, STU_LG2, 0, priv);
  return ATS_CODE.SUCCESS;
}

/** Abort with F_TRANSL_FORBIDDEN (§7.3.8); InputAddr is the transaction's PA (§7.3: VA, IPA or PA by scenario). */
function forbidden(h: AtsHost, sid: Sid, hi: number, lo: number, write: boolean): number {
  return withEvent(h, ATS_CODE.ABORT, { type: EVT.F_TRANSL_FORBIDDEN, sid, addr: big(hi, lo), read: !write });
}

/**
 * §3.9.1.2: the answer to a Translation Request from `sid` (SubstreamID
 * `ssid`) for the page of `hi`:`lo`, with write requested (`write`, NW = 0),
 * privileged and execute (`priv`, `exec`, from a PASID prefix): SUCCESS
 * with `c` filled in, or UR / CA with the event met (ATS_CODE).
 */
export function translationRequest(h: AtsHost, sid: Sid, ssid: Pasid | undefined, hi: number, lo: number, write: boolean, priv: boolean, exec: boolean, c: AtsCompletion): number {
  if (!h.caps.ats) return ATS_CODE.UR; // an SMMU without ATS: an unsupported request
  const pageLo = (lo & ~0xfff) >>> 0;
  if (!h.enabled()) return badRequest(h, sid, ssid, hi, pageLo, write, priv, exec);
  const ste = h.ste(sid);
  if ('type' in ste) return ATS_CODE.CA | ste.type;
  if (ste.config === STE_CONFIG.ABORT) return ATS_CODE.UR;
  // Config 0b100 acts as EATS = 0b00 (decodeEats); split-stage 0b10 is ILLEGAL here (NS1ATS = 1).
  if (ste.eats !== EATS.TRANS) return badRequest(h, sid, ssid, hi, pageLo, write, priv, exec);
  const s = h.stream(sid, ssid);
  if ('event' in s) return NOT_PRESENT.has(s.event.type) ? nothingGranted(c, hi, pageLo, priv) : ATS_CODE.CA | s.event.type;
  const p = priv ? K.ACC_PRIV : 0;
  let st = h.arm.translateHalves(s.setupOff, hi, pageLo, K.ACC_READ | p);
  // A page that cannot be read may still be writable (a write-only translation: R = 0, W = 1).
  if (st === EVT.F_PERMISSION && write) st = h.arm.translateHalves(s.setupOff, hi, pageLo, K.ACC_WRITE | p);
  if (st !== 0) return NOT_PRESENT.has(st) ? nothingGranted(c, hi, pageLo, priv) : ATS_CODE.CA | st;
  const out = h.out;
  let perms = out[K.OUT_PERMS]! & (K.ACC_READ | (write ? K.ACC_WRITE : 0) | (exec ? K.ACC_EXEC : 0));
  if ((perms & K.ACC_READ) === 0) perms &= ~K.ACC_EXEC; // execute-only cannot be expressed (§13.7)
  c.set(hi, pageLo, out[K.OUT_ADDR_HI]!, out[K.OUT_ADDR_LO]!, out[K.OUT_PAGE_LG2]!, perms, priv);
  return ATS_CODE.SUCCESS;
}

/**
 * §3.9.1.3: whether a Translated transaction of `len` (>= 1) bytes at
 * `hi`:`lo` from StreamID `sid` may pass into the system: SUCCESS, or
 * ABORT with the event met (ATS_CODE).
 */
export function checkTranslated(h: AtsHost, sid: Sid, hi: number, lo: number, len: number, write: boolean): number {
  if (!h.caps.ats) return ATS_CODE.ABORT; // no ATS: no Translated traffic
  if (!h.enabled()) return forbidden(h, sid, hi, lo, write);
  // §3.9.1.1: bits above the OAS abort the transaction, without an event (the IMPLEMENTATION DEFINED choice made here).
  // (Inexact above 2^53, but then beyond every OAS anyway.)
  if (hi * TWO_32 + lo + len - 1 >= 2 ** oasBits(h.caps.oas, h.caps.oas)) return ATS_CODE.ABORT;
  if (!h.atsCheck()) return ATS_CODE.SUCCESS;
  const ste = h.ste(sid);
  if ('type' in ste || ste.config === STE_CONFIG.ABORT) return ATS_CODE.ABORT;
  return ste.eats === EATS.TRANS ? ATS_CODE.SUCCESS : forbidden(h, sid, hi, lo, write);
}

/**
 * A unit's ATS side: its answers to Translation Requests and Translated
 * transactions — the number forms the DMA port calls (`request`,
 * `translatedCode`: no BigInt, no allocation on success) and BigInt forms
 * over them (`translate`, `translated`; an Error names a bad argument) —
 * and the ATS Invalidate Requests of CMD_ATC_INV with the failure a
 * CMD_SYNC reports.
 */
export class SmmuAts {
  /** An ATC invalidation since the last CMD_SYNC did not complete (§3.9.1.4). */
  private failed = false;
  private readonly scratch = new AtsCompletion();

  /** The ATS side of the unit `h` shows. */
  constructor(private readonly h: AtsHost) {}

  /**
   * A Translation Request for the page of `hi`:`lo` (u32 halves; the
   * caller checked its StreamID and SubstreamID): ATS_CODE, with `c` filled
   * in on SUCCESS.
   */
  request(sid: Sid, ssid: Pasid | undefined, hi: number, lo: number, write: boolean, priv: boolean, exec: boolean, c: AtsCompletion): number {
    return translationRequest(this.h, sid, ssid, hi, lo, write, priv, exec, c);
  }

  /** A Translated transaction of `len` (>= 1) bytes at `hi`:`lo` (u32 halves): ATS_CODE (SUCCESS: it passes). */
  translatedCode(sid: Sid, hi: number, lo: number, len: number, write: boolean): number {
    return checkTranslated(this.h, sid, hi, lo, len, write);
  }

  /** The answer to ATS Translation Request `r` (§3.9.1.2). */
  translate(r: AtsRequest): AtsAnswer {
    streamId(r.sid);
    if (r.ssid !== undefined) checkPasid(r.ssid, 'ssid');
    const iova = checkIova(r.iova);
    const code = this.request(r.sid, r.ssid, Number(iova >> 32n), Number(iova & 0xffff_ffffn), r.write, r.priv, r.exec, this.scratch);
    if (code === ATS_CODE.SUCCESS) {
      const c = this.scratch;
      return { status: 'success', iova: c.iova, addr: c.addr, lg2: c.sizeLg2, perms: c.perms };
    }
    return { status: (code & ATS_CODE.KIND) === ATS_CODE.CA ? 'ca' : 'ur', event: code & ATS_CODE.EVENT, recorded: (code & ATS_CODE.RECORDED) !== 0 };
  }

  /** Whether a Translated transaction of `len` (1..2^32-1) bytes at `addr` from `sid` may pass (§3.9.1.3); no data moves. */
  translated(sid: Sid, addr: Hpa, len: number, write: boolean): DmaResult {
    streamId(sid);
    if (!Number.isInteger(len) || len < 1 || len > 0xffff_ffff) throw new Error(`len: ${String(len)} is not a byte count (1..2^32-1)`);
    const a = checkHpa(addr, 'addr');
    const code = this.translatedCode(sid, Number(a >> 32n), Number(a & 0xffff_ffffn), len, write);
    return code === ATS_CODE.SUCCESS ? { ok: true } : { ok: false, reason: code & ATS_CODE.EVENT, recorded: (code & ATS_CODE.RECORDED) !== 0, addr: a };
  }

  /** CMD_ATC_INV (§4.5.1): IGNORED while SMMUEN = 0; a device that does not answer fails the next CMD_SYNC. */
  invalidate(sid: Sid, ssid: Pasid | undefined, addr: Iova, lg2: number, global: boolean): void {
    if (!this.h.enabled() || !this.h.atcInvalidate || this.h.atcInvalidate(sid, ssid, addr, lg2, global)) return;
    this.failed = true;
    this.h.log(`smmu: ATC invalidation of StreamID 0x${sid.toString(16)} did not complete`);
  }

  /** At a CMD_SYNC: whether it fails with CERROR_ATC_INV_SYNC (reported once: a retried CMD_SYNC completes). */
  syncFails(): boolean {
    const f = this.failed;
    this.failed = false;
    return f;
  }

  /** Back to reset: no invalidation pending. */
  reset(): void {
    this.failed = false;
  }
}
