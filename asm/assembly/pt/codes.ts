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

const CODES = memory.data<u8>([
  // TOP  ACC   NPR   NPW   RD    WR    EX    USR   RSVD  WIDTH
  0x03, 0x07, 0x06, 0x05, 0x06, 0x05, 0x06, 0x06, 0x0c, 0x04, // SS legacy (LCT.4, LSL.1, LGN.3/2, LSL.2, LGN.1)
  0x7b, 0x78, 0x79, 0x79, 0x86, 0x85, 0x82, 0x81, 0x7a, 0x84, // SS scalable (SSL.4/1/2, SGN.7/6/3, SSL.3, SGN.5)
  0x73, 0x70, 0x71, 0x71, 0x86, 0x85, 0x82, 0x81, 0x72, 0x80, // FS (SFL.4/1/2, SGN.7/6/3/2, SFL.3, SGN.1)
]);

/** The fault reason for failure `kind` under code set `set`. */
// @ts-ignore: decorator
@inline export function faultCode(set: u32, kind: u32): u32 {
  return <u32>load<u8>(CODES + set * KINDS + kind);
}
