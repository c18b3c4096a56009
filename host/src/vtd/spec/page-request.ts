/**
 * Page request descriptor (VT-d §7.4.1.1 in 3.x, "Page Request Descriptor"),
 * the 256-bit record hardware writes into the page-request queue at PQA + PQT,
 * the page-request queue register fields (§11.4.11), and the PCIe PRG
 * response codes a page-group response descriptor (§6.5.2.9) carries.
 *
 * Constants, the record and its codec only: no state, no policy.
 *
 *   qw0  7:0 Type (1)   8 PP   9 PDP (3.x only)   31:16 RID   51:32 PASID
 *        52 EXE   53 PM   15:10, 63:54 reserved
 *   qw1  0 RD   1 WR   2 LPIG   11:3 PRGI   63:12 ADDR
 *   qw2, qw3  private data (3.x, with PDP); reserved (0) in 4.0+
 */
import type { Iova, Pasid, Sid } from '../../types.js';

/** PCIe PRG response codes (VT-d page group response descriptor, RC field). */
export const PageResponseCode = {
  Success: 0x0,
  InvalidRequest: 0x1,
  ResponseFailure: 0xf,
} as const;
export type PageResponseCode = (typeof PageResponseCode)[keyof typeof PageResponseCode];

/** One page request as a device sends it (§7.4.1.1 page request descriptor fields). */
export interface PageRequest {
  /** Requester id (bus << 8 | devfn). */
  readonly sid: Sid;
  /** PASID, when the request carries one (PASID present). */
  readonly pasid?: Pasid;
  /** Page address (bits 11:0 ignored). */
  readonly addr: Iova;
  /** Read access requested. */
  readonly read: boolean;
  /** Write access requested. */
  readonly write: boolean;
  /** Execute requested (needs the PASID capability's execute permission). */
  readonly exec: boolean;
  /** Privileged-mode requested. */
  readonly priv: boolean;
  /** Page request group index, 9 bits. */
  readonly prgi: number;
  /** Last page in group: the guest answers the group after this one. */
  readonly lpig: boolean;
}

/** Descriptor size in bytes: every slot of the queue is 32 bytes. */
export const PRQ_DESC_SIZE = 32;
/** Type field of a page request descriptor. */
export const PRQ_TYPE_PAGE_REQUEST = 0x01;

/** qw0 / qw1 field positions. */
export const PRQ_DESC = {
  PP: 1n << 8n,
  RID_SHIFT: 16n,
  PASID_SHIFT: 32n,
  EXE: 1n << 52n,
  PM: 1n << 53n,
  RD: 1n << 0n,
  WR: 1n << 1n,
  LPIG: 1n << 2n,
  PRGI_SHIFT: 3n,
  ADDR_MASK: 0xffff_ffff_ffff_f000n,
} as const;

/** Largest page request group index (9 bits). */
export const PRGI_MAX = 0x1ff;
/** Largest PASID (20 bits). */
export const PASID_MAX = 0xf_ffff;

/** Page-request queue registers (§11.4.11.1-4). */
export const PQ = {
  /** PQH / PQT: queue offset in bytes, bits 18:5 (a 32-byte slot index << 5). */
  OFFSET_MASK: 0x7ffe0n,
  /** PQA: base 63:12, size PQS 2:0 (2^PQS 4 KiB pages). */
  BASE_MASK: 0xffff_ffff_ffff_f000n,
  PQS_MASK: 7n,
} as const;

/** Size in bytes of the queue PQA describes: 2^PQS pages of 4 KiB. */
export function queueBytes(pqa: bigint): number {
  return 4096 << Number(pqa & PQ.PQS_MASK);
}

/** Encodes a page request as the four qwords of its descriptor (private data 0, 4.0 layout). */
export function encodePageRequest(r: PageRequest): [bigint, bigint, bigint, bigint] {
  let qw0 = BigInt(PRQ_TYPE_PAGE_REQUEST) | (BigInt(r.sid & 0xffff) << PRQ_DESC.RID_SHIFT);
  if (r.pasid !== undefined) qw0 |= PRQ_DESC.PP | (BigInt(r.pasid & PASID_MAX) << PRQ_DESC.PASID_SHIFT);
  if (r.exec) qw0 |= PRQ_DESC.EXE;
  if (r.priv) qw0 |= PRQ_DESC.PM;
  let qw1 = (r.addr & PRQ_DESC.ADDR_MASK) | (BigInt(r.prgi & PRGI_MAX) << PRQ_DESC.PRGI_SHIFT);
  if (r.read) qw1 |= PRQ_DESC.RD;
  if (r.write) qw1 |= PRQ_DESC.WR;
  if (r.lpig) qw1 |= PRQ_DESC.LPIG;
  return [qw0, qw1, 0n, 0n];
}

/** Decodes the first two qwords of a page request descriptor (the type is not checked). */
export function decodePageRequest(qw0: bigint, qw1: bigint): PageRequest {
  const pp = (qw0 & PRQ_DESC.PP) !== 0n;
  return {
    sid: Number((qw0 >> PRQ_DESC.RID_SHIFT) & 0xffffn),
    pasid: pp ? Number((qw0 >> PRQ_DESC.PASID_SHIFT) & BigInt(PASID_MAX)) : undefined,
    exec: (qw0 & PRQ_DESC.EXE) !== 0n,
    priv: (qw0 & PRQ_DESC.PM) !== 0n,
    read: (qw1 & PRQ_DESC.RD) !== 0n,
    write: (qw1 & PRQ_DESC.WR) !== 0n,
    lpig: (qw1 & PRQ_DESC.LPIG) !== 0n,
    prgi: Number((qw1 >> PRQ_DESC.PRGI_SHIFT) & BigInt(PRGI_MAX)),
    addr: qw1 & PRQ_DESC.ADDR_MASK,
  };
}

/**
 * A stop marker (PCIe PRI "Stop Marker"): LPIG with neither read nor write.
 * It tells software no more requests of that PASID follow; it gets no response.
 */
export function isStopMarker(r: PageRequest): boolean {
  return r.lpig && !r.read && !r.write;
}
