/**
 * Event queue records (IHI 0070 §7.3, 32 bytes = four doublewords): the
 * event numbers and where each record type keeps its fields. Doubleword 0:
 * type 7:0, SSV 11, SubstreamID 31:12, StreamID 63:32. Translation faults
 * (§7.3.12-§7.3.15) add doubleword 1 (STAG 15:0, Stall 31, PnU 33, InD 34,
 * RnW 35, NSIPA 38, S2 39, CLASS 41:40), doubleword 2 (input address) and
 * doubleword 3 (IPA 51:12 for stage-2 faults, fetch address 51:3 for
 * F_STE_FETCH / F_CD_FETCH / F_WALK_EABT).
 */
import { f } from './bits.js';

/** Bytes per event record. */
export const EVT_BYTES = 32;

/** Event type numbers (§7.3). */
export const EVT = {
  F_UUT: 0x01, C_BAD_STREAMID: 0x02, F_STE_FETCH: 0x03, C_BAD_STE: 0x04, F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06, F_TRANSL_FORBIDDEN: 0x07, C_BAD_SUBSTREAMID: 0x08, F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a, F_WALK_EABT: 0x0b, F_TRANSLATION: 0x10, F_ADDR_SIZE: 0x11, F_ACCESS: 0x12,
  F_PERMISSION: 0x13, F_TLB_CONFLICT: 0x20, F_CFG_CONFLICT: 0x21, E_PAGE_REQUEST: 0x24, F_VMS_FETCH: 0x25,
} as const;

/** Names by event number, for logs and tools. */
export const EVT_NAME: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(EVT).map(([k, v]) => [v, k]));

/** Event record fields. */
export const EVT_FIELD = {
  type: f(0, 7, 0),
  SSV: f(0, 11),
  SSID: f(0, 31, 12),
  SID: f(0, 63, 32),
  STAG: f(1, 15, 0),
  Stall: f(1, 31),
  PnU: f(1, 33),
  InD: f(1, 34),
  RnW: f(1, 35),
  NSIPA: f(1, 38),
  S2: f(1, 39),
  CLASS: f(1, 41, 40),
  InputAddr: f(2, 63, 0),
  IPA: f(3, 51, 12),
  FetchAddr: f(3, 51, 3),
} as const;

/** CLASS of a translation fault (§7.3.12): which access of the walk faulted. */
export const EVT_CLASS = { CD: 0, TT: 1, IN: 2 } as const;
