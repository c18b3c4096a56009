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
import type { DmaResult } from '../pci/dma-port.js';
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

/**
 * A unit's ATS side: its answers to Translation Requests and Translated
 * transactions (checked arguments: an Error names a bad one), and the ATS
 * Invalidate Requests of CMD_ATC_INV with the failure a CMD_SYNC reports.
 */
export class SmmuAts {
  /** An ATC invalidation since the last CMD_SYNC did not complete (§3.9.1.4). */
  private failed = false;

  /** The ATS side of the unit `h` shows. */
  constructor(private readonly h: AtsHost) {}

  /** The completion of ATS Translation Request `r` (§3.9.1.2). */
  translate(r: AtsRequest): AtsCompletion {
    streamId(r.sid);
    if (r.ssid !== undefined) checkPasid(r.ssid, 'ssid');
    checkIova(r.iova);
    return translationRequest(this.h, r);
  }

  /** Whether a Translated transaction of `len` (1..2^32-1) bytes at `addr` from `sid` may pass (§3.9.1.3); no data moves. */
  translated(sid: Sid, addr: Hpa, len: number, write: boolean): DmaResult {
    streamId(sid);
    if (!Number.isInteger(len) || len < 1 || len > 0xffff_ffff) throw new Error(`len: ${String(len)} is not a byte count (1..2^32-1)`);
    return checkTranslated(this.h, sid, checkHpa(addr, 'addr'), len, write);
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

/** An ATS Translation Request (PCIe ATS, AT = 01b) as it reaches the SMMU. */
export interface AtsRequest {
  readonly sid: Sid;
  /** SubstreamID: the PASID of the TLP prefix, if any. */
  readonly ssid: Pasid | undefined;
  /** The untranslated address (its page is translated). */
  readonly iova: Iova;
  /** Write access requested (NW = 0). */
  readonly write: boolean;
  /** Privileged and execute, from the PASID prefix (false without one). */
  readonly priv: boolean;
  readonly exec: boolean;
}

/** The answer to a Translation Request. */
export type AtsCompletion =
  /** Success: the page at `iova` (2^lg2 bytes, aligned) is at `addr`; `perms` are R 1, W 2, X 4 (0: nothing granted). */
  | { readonly status: 'success'; readonly iova: Iova; readonly addr: Hpa; readonly lg2: number; readonly perms: number }
  /** Unsupported Request or Completer Abort; `event` the event the request met (0: none), `recorded` whether it went to the event queue. */
  | { readonly status: 'ur' | 'ca'; readonly event: number; readonly recorded: boolean };

/** Smallest Translation Unit: the smallest granule (§3.9.1), 4 KiB in every profile here. */
const STU_LG2 = 12;
/** Faults a Translation Request answers with Success, R = W = 0 (§3.9.1.2). */
const NOT_PRESENT: ReadonlySet<number> = new Set([EVT.F_TRANSLATION, EVT.F_ADDR_SIZE, EVT.F_ACCESS, EVT.F_PERMISSION]);

const refused = (status: 'ur' | 'ca', event: number, recorded = false): AtsCompletion => ({ status, event, recorded });

/** F_BAD_ATS_TREQ (§7.3.6): the request's address, SubstreamID and requested access; UR. */
function badRequest(h: AtsHost, r: AtsRequest): AtsCompletion {
  const ev: SmmuEvent = { type: EVT.F_BAD_ATS_TREQ, sid: r.sid, ssid: r.ssid, addr: r.iova & ~0xfffn, read: !r.write, priv: r.priv, exec: r.exec };
  return refused('ur', ev.type, h.record(ev));
}

/** §3.9.1.2: the answer to Translation Request `r`. */
export function translationRequest(h: AtsHost, r: AtsRequest): AtsCompletion {
  if (!h.caps.ats) return refused('ur', 0); // an SMMU without ATS: an unsupported request
  if (!h.enabled()) return badRequest(h, r);
  const ste = h.ste(r.sid);
  if ('type' in ste) return refused('ca', ste.type);
  if (ste.config === STE_CONFIG.ABORT) return refused('ur', 0);
  // Config 0b100 acts as EATS = 0b00 (decodeEats); split-stage 0b10 is ILLEGAL here (NS1ATS = 1).
  if (ste.eats !== EATS.TRANS) return badRequest(h, r);
  const s = h.stream(r.sid, r.ssid);
  if ('event' in s) return NOT_PRESENT.has(s.event.type) ? nothingGranted(r.iova) : refused('ca', s.event.type);
  const page = r.iova & ~0xfffn;
  const priv = r.priv ? K.ACC_PRIV : 0;
  let st = h.arm.translate(s.setupOff, page, K.ACC_READ | priv);
  // A page that cannot be read may still be writable (a write-only translation: R = 0, W = 1).
  if (st === EVT.F_PERMISSION && r.write) st = h.arm.translate(s.setupOff, page, K.ACC_WRITE | priv);
  if (st !== 0) return NOT_PRESENT.has(st) ? nothingGranted(r.iova) : refused('ca', st);
  const out = h.out;
  let perms = out[K.OUT_PERMS]! & (K.ACC_READ | (r.write ? K.ACC_WRITE : 0) | (r.exec ? K.ACC_EXEC : 0));
  if ((perms & K.ACC_READ) === 0) perms &= ~K.ACC_EXEC; // execute-only cannot be expressed (§13.7)
  const lg2 = out[K.OUT_PAGE_LG2]!;
  const mask = ~((1n << BigInt(lg2)) - 1n);
  const addr = (BigInt(out[K.OUT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_ADDR_LO]!);
  return { status: 'success', iova: r.iova & mask, addr: addr & mask, lg2, perms };
}

/** Success, R = W = 0, one STU at the request's address. */
function nothingGranted(iova: Iova): AtsCompletion {
  return { status: 'success', iova: iova & ~((1n << BigInt(STU_LG2)) - 1n), addr: 0n, lg2: STU_LG2, perms: 0 };
}

/**
 * §3.9.1.3: whether a Translated transaction of `len` bytes at `addr` from
 * StreamID `sid` may pass into the system: `{ ok: true }`, or the abort
 * (`reason` the event number, 0 for an abort without one).
 */
export function checkTranslated(h: AtsHost, sid: Sid, addr: Hpa, len: number, write: boolean): DmaResult {
  const forbidden = (): DmaResult => {
    // InputAddr of a Translated transaction is a PA (§7.3: VA, IPA or PA by scenario).
    const ev: SmmuEvent = { type: EVT.F_TRANSL_FORBIDDEN, sid, addr: BigInt(addr), read: !write };
    return { ok: false, reason: ev.type, recorded: h.record(ev), addr };
  };
  if (!h.caps.ats) return { ok: false, reason: 0, recorded: false, addr }; // no ATS: no Translated traffic
  if (!h.enabled()) return forbidden();
  // §3.9.1.1: bits above the OAS abort the transaction, without an event (the IMPLEMENTATION DEFINED choice made here).
  if ((addr + BigInt(len) - 1n) >> BigInt(oasBits(h.caps.oas, h.caps.oas)) !== 0n) return { ok: false, reason: 0, recorded: false, addr };
  if (!h.atsCheck()) return { ok: true };
  const ste = h.ste(sid);
  if ('type' in ste || ste.config === STE_CONFIG.ABORT) return { ok: false, reason: 0, recorded: false, addr };
  return ste.eats === EATS.TRANS ? { ok: true } : forbidden();
}
