/**
 * The PRI queue (IHI 0070 chapter 8 "Page request queue"): the record the
 * SMMU writes for each incoming PCIe Page Request (PPR), 16 bytes = two
 * doublewords, the SMMU_PRIQ_IRQ_CFG2 fields (§6.3.36), and the CMD_PRI_RESP
 * response values (§4.5.2) with the PCIe PRG Response codes they become
 * (§8.3). Constants, field positions and the record codec only.
 *
 *   dw0  31:0 StreamID   51:32 SubstreamID   58 Priv   59 eXec   60 Read
 *        61 Write   62 Last   63 SSV
 *   dw1  8:0 PRGIndex   63:12 Page address
 */
import { PageResponseCode } from '../../vtd/spec/page-request.js';
import { f, get, getAddr, put32 } from './bits.js';
import type { Iova, Pasid, Sid } from '../../types.js';

/** Bytes per PRI queue entry. */
export const PRIQ_BYTES = 16;

/** PRI queue record fields (chapter 8). */
export const PRIQ = {
  SID: f(0, 31, 0),
  SSID: f(0, 51, 32),
  Priv: f(0, 58),
  Exec: f(0, 59),
  Read: f(0, 60),
  Write: f(0, 61),
  Last: f(0, 62),
  SSV: f(0, 63),
  PRGIndex: f(1, 8, 0),
  Addr: f(1, 63, 12),
  /** The page address in two number-sized parts: bits 31:12 and 63:32 (the write path's BigInt-free form). */
  AddrLo: f(1, 31, 12),
  AddrHi: f(1, 63, 32),
} as const;

/** SMMU_PRIQ_IRQ_CFG2 (§6.3.36): LO bit 31 (interrupt only for Last == 1), SH 5:4, MemAttr 3:0. */
export const PRIQ_IRQ_CFG2 = { LO: 0x8000_0000, WRITABLE: 0x8000_003f } as const;

/**
 * CMD_PRI_RESP.Resp (§4.5.2): 0b00 ResponseFailure (a permanent
 * non-paging error), 0b01 InvalidRequest (page-in failed), 0b10 Success;
 * 0b11 is ILLEGAL. (Linux names 0 and 1 DENY and FAIL.)
 */
export const PRI_RESP = { RESPONSE_FAILURE: 0, INVALID_REQUEST: 1, SUCCESS: 2 } as const;

/** The PCIe PRG Response code (§8.3) of each legal CMD_PRI_RESP.Resp (§4.5.2); undefined (0b11) is ILLEGAL. */
export const PRG_RESPONSE_OF_RESP: readonly (PageResponseCode | undefined)[] = [
  PageResponseCode.ResponseFailure, PageResponseCode.InvalidRequest, PageResponseCode.Success, undefined,
];

/** One PRI queue record's contents. */
export interface PriRecord {
  /** StreamID of the requester. */
  readonly sid: Sid;
  /** SubstreamID when the PPR had a PASID TLP prefix (SSV = 1). */
  readonly ssid?: Pasid;
  /** Page address (bits 11:0 zero). */
  readonly addr: Iova;
  /** Page Request Group Index (9 bits). */
  readonly prgi: number;
  /** Last request of its group (a Stop Marker: Last with R = W = 0 and a PASID). */
  readonly last: boolean;
  /** Read access requested. */
  readonly read: boolean;
  /** Write access requested. */
  readonly write: boolean;
  /** Execute access requested (only with SSV = 1). */
  readonly exec: boolean;
  /** Privileged access requested (only with SSV = 1). */
  readonly priv: boolean;
}

/**
 * Writes record `r` into `w` as four little-endian u32 halves (doubleword
 * i = halves 2i, 2i+1; chapter 8: X and Priv only with SSV = 1), on
 * numbers: the PRI queue's write path allocates nothing for it.
 */
export function encodePriRecord(r: PriRecord, w: Uint32Array): void {
  w.fill(0);
  put32(w, PRIQ.SID, r.sid);
  if (r.ssid !== undefined) {
    put32(w, PRIQ.SSV, 1);
    put32(w, PRIQ.SSID, r.ssid);
    put32(w, PRIQ.Exec, r.exec ? 1 : 0);
    put32(w, PRIQ.Priv, r.priv ? 1 : 0);
  }
  put32(w, PRIQ.Read, r.read ? 1 : 0);
  put32(w, PRIQ.Write, r.write ? 1 : 0);
  put32(w, PRIQ.Last, r.last ? 1 : 0);
  put32(w, PRIQ.PRGIndex, r.prgi);
  put32(w, PRIQ.AddrLo, Number((r.addr >> 12n) & 0xf_ffffn));
  put32(w, PRIQ.AddrHi, Number((r.addr >> 32n) & 0xffff_ffffn));
}

/** Decodes a record's two doublewords (SubstreamID only with SSV = 1: it is UNKNOWN otherwise). */
export function decodePriRecord(w: readonly bigint[]): PriRecord {
  const ssv = get(w, PRIQ.SSV) === 1;
  return {
    sid: get(w, PRIQ.SID), ...(ssv ? { ssid: get(w, PRIQ.SSID) } : {}), addr: getAddr(w, PRIQ.Addr),
    prgi: get(w, PRIQ.PRGIndex), last: get(w, PRIQ.Last) === 1, read: get(w, PRIQ.Read) === 1,
    write: get(w, PRIQ.Write) === 1, exec: get(w, PRIQ.Exec) === 1, priv: get(w, PRIQ.Priv) === 1,
  };
}
