// Which fault reason each walk failure gets, per code set (dispatch by
// table). Legacy second stage: §7.1.3 LSL/LGN codes; scalable second stage:
// SSL/SGN codes; first stage: SFL/SGN codes (VT-d §7.1.3).

/** Code set: legacy second-stage codes (also QEMU's scalable SS walk). */
export const CODES_SS_LEGACY: u32 = 0;
/** Code set: scalable-mode second-stage codes. */
export const CODES_SS_SM: u32 = 1;
/** Code set: scalable-mode first-stage codes. */
export const CODES_FS: u32 = 2;

/** The top-level table cannot be read (bad table pointer). */
export const K_TOP_ACCESS: u32 = 0;
/** A lower-level entry cannot be read. */
export const K_ACCESS: u32 = 1;
/** Not present, read request. */
export const K_NP_READ: u32 = 2;
/** Not present, write request. */
export const K_NP_WRITE: u32 = 3;
/** Read without read permission. */
export const K_READ: u32 = 4;
/** Write without write permission. */
export const K_WRITE: u32 = 5;
/** Execute without execute permission. */
export const K_EXEC: u32 = 6;
/** User request to a supervisor-only page. */
export const K_USER: u32 = 7;
/** Reserved bits set. */
export const K_RSVD: u32 = 8;
/** Input address beyond the address width. */
export const K_WIDTH: u32 = 9;
const KINDS: u32 = 10;

import { heapAlloc } from '../mem/heap';

let CODES: usize = 0;

// One row of the table: the code of each failure kind (K_* order) in `set`.
function row(set: u32, top: u32, acc: u32, npr: u32, npw: u32, rd: u32, wr: u32, ex: u32, usr: u32, rsvd: u32, width: u32): void {
  const r = CODES + set * KINDS;
  store<u8>(r + K_TOP_ACCESS, <u8>top);
  store<u8>(r + K_ACCESS, <u8>acc);
  store<u8>(r + K_NP_READ, <u8>npr);
  store<u8>(r + K_NP_WRITE, <u8>npw);
  store<u8>(r + K_READ, <u8>rd);
  store<u8>(r + K_WRITE, <u8>wr);
  store<u8>(r + K_EXEC, <u8>ex);
  store<u8>(r + K_USER, <u8>usr);
  store<u8>(r + K_RSVD, <u8>rsvd);
  store<u8>(r + K_WIDTH, <u8>width);
}

/** Fill the table (once, at instantiation; the core has no static data).
 *  Returns false when the state region cannot hold it. */
export function codesInit(): bool {
  CODES = heapAlloc(3 * KINDS, 64);
  if (CODES == 0) return false;
  //   set              TOP   ACC   NPR   NPW   RD    WR    EX    USR   RSVD  WIDTH
  row(CODES_SS_LEGACY, 0x03, 0x07, 0x06, 0x05, 0x06, 0x05, 0x06, 0x06, 0x0c, 0x04); // LCT.4, LSL.1, LGN.3/2, LSL.2, LGN.1
  row(CODES_SS_SM,     0x7b, 0x78, 0x79, 0x79, 0x86, 0x85, 0x82, 0x81, 0x7a, 0x84); // SSL.4/1/2, SGN.7/6/3, SSL.3, SGN.5
  row(CODES_FS,        0x73, 0x70, 0x71, 0x71, 0x86, 0x85, 0x82, 0x81, 0x72, 0x80); // SFL.4/1/2, SGN.7/6/3/2, SFL.3, SGN.1
  return true;
}

/** The fault reason for failure `kind` under code set `set`. */
// @ts-ignore: decorator
@inline export function faultCode(set: u32, kind: u32): u32 {
  return <u32>load<u8>(CODES + set * KINDS + kind);
}
