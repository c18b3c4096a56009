/**
 * The work descriptor and completion record of the shared work-queue device
 * (this model's own format, in the spirit of DSA's: one 64-byte descriptor,
 * one 32-byte completion record written in the descriptor's PASID).
 *
 * Descriptor, little-endian qwords:
 * - qw0: 19:0 PASID, 31 privileged, 39:32 opcode, 47:40 flags (bit 0 RCR
 *   request completion record, bit 1 RCI request completion interrupt);
 *   30:20 and 63:48 reserved (must be 0)
 * - qw1: completion record address (32-byte aligned)
 * - qw2: source (MEMMOVE, COMPARE) or fill pattern (FILL)
 * - qw3: destination (MEMMOVE, FILL) or second source (COMPARE)
 * - qw4: 31:0 transfer size in bytes (1..1 MiB); 63:32 reserved
 * - qw5-qw7: reserved
 *
 * Completion record: byte 0 status, byte 1 result (COMPARE: 0 equal,
 * 1 different), byte 2 fault reason, bytes 4-7 bytes completed (COMPARE:
 * offset of the first difference), bytes 8-15 fault address.
 */
import type { Iova, Pasid } from '../../types.js';

/** Opcodes. */
export const SWQ_OP = { NOP: 0, MEMMOVE: 1, FILL: 2, COMPARE: 3 } as const;
/** Descriptor flags. */
export const SWQ_FLAG = { RCR: 1, RCI: 2 } as const;
/** Completion status codes. */
export const SWQ_CS = {
  SUCCESS: 0x01, PAGE_FAULT: 0x03, PAGE_REQUEST_FAILED: 0x04, BAD_OPCODE: 0x10, BAD_SIZE: 0x11, RESERVED_SET: 0x12,
} as const;
/** Largest transfer. */
export const SWQ_MAX_SIZE = 1 << 20;
/** Descriptor and completion-record sizes. */
export const DESC_BYTES = 64;
export const COMPLETION_BYTES = 32;

/** A decoded descriptor. */
export interface WorkDescriptor {
  /** PASID the work runs in (from the submitter, as ENQCMD puts it). */
  readonly pasid: Pasid;
  /** Privileged submitter. */
  readonly priv: boolean;
  /** Operation code. */
  readonly op: number;
  /** Descriptor flags. */
  readonly flags: number;
  /** Address of the completion record. */
  readonly completion: bigint;
  /** Source address. */
  readonly src: bigint;
  /** Destination address. */
  readonly dst: bigint;
  /** Transfer size in bytes. */
  readonly size: number;
  /** True when a reserved field is non-zero. */
  readonly reservedSet: boolean;
}

const qw = (b: Uint8Array, i: number): bigint => new DataView(b.buffer, b.byteOffset, b.length).getBigUint64(8 * i, true);

/** Decodes 64 descriptor bytes. */
export function decodeDescriptor(b: Uint8Array): WorkDescriptor {
  const q0 = qw(b, 0);
  const q4 = qw(b, 4);
  const reservedSet = (q0 & 0xffff_0000_7ff0_0000n) !== 0n || q4 >> 32n !== 0n || [5, 6, 7].some((i) => qw(b, i) !== 0n);
  return {
    pasid: Number(q0 & 0xf_ffffn), priv: ((q0 >> 31n) & 1n) === 1n, op: Number((q0 >> 32n) & 0xffn),
    flags: Number((q0 >> 40n) & 0xffn), completion: qw(b, 1), src: qw(b, 2), dst: qw(b, 3),
    size: Number(q4 & 0xffff_ffffn), reservedSet,
  };
}

/** Encodes a descriptor (host-side helper for tests and embedders). */
export function encodeDescriptor(d: Omit<WorkDescriptor, 'reservedSet'>): Uint8Array {
  const b = new Uint8Array(DESC_BYTES);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(d.pasid & 0xf_ffff) | (d.priv ? 1n << 31n : 0n) | (BigInt(d.op & 0xff) << 32n) | (BigInt(d.flags & 0xff) << 40n), true);
  v.setBigUint64(8, d.completion, true);
  v.setBigUint64(16, d.src, true);
  v.setBigUint64(24, d.dst, true);
  v.setBigUint64(32, BigInt(d.size >>> 0), true);
  return b;
}

/** Builds a completion record. */
export function completionRecord(status: number, result: number, reason: number, bytes: number, faultAddr: Iova): Uint8Array {
  const b = new Uint8Array(COMPLETION_BYTES);
  const v = new DataView(b.buffer);
  b[0] = status;
  b[1] = result;
  b[2] = reason;
  v.setUint32(4, bytes >>> 0, true);
  v.setBigUint64(8, faultAddr, true);
  return b;
}
