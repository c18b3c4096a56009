/**
 * Circular queue arithmetic of the command and event queues (IHI 0070 §3.5
 * "Command and Event queues"): a queue of 2^log2size entries at ADDR; the
 * PROD and CONS registers hold an index in bits log2size-1:0 and a wrap
 * flag in bit log2size. Empty: indexes and wraps equal; full: indexes
 * equal, wraps differ. Pure functions over register values, on numbers
 * (addresses are below 2^52, exact in a double).
 */
import { QUEUE_LOG2SIZE_MASK } from './spec/registers.js';

/** A queue's geometry from its *_BASE register, LOG2SIZE capped at the unit's maximum (§6.3.25). */
export interface QueueGeometry {
  /** ADDR (bits 51:5) as a number. */
  readonly base: number;
  readonly log2size: number;
  readonly entryBytes: number;
}

/** ADDR bits 31:5 of the low dword of a *_BASE register. */
const ADDR_LO_MASK = 0xffff_ffe0;
/** ADDR bits 51:32, in the high dword. */
const ADDR_HI_MASK = 0xf_ffff;

/** Geometry of a queue from its base register's dwords `lo` and `hi`. */
export function geometry(lo: number, hi: number, maxLog2: number, entryBytes: number): QueueGeometry {
  const base = (hi & ADDR_HI_MASK) * 2 ** 32 + ((lo & ADDR_LO_MASK) >>> 0);
  return { base, log2size: Math.min(lo & QUEUE_LOG2SIZE_MASK, maxLog2), entryBytes };
}

/** The index+wrap bits of a PROD/CONS value (bits log2size:0). */
export function ptr(q: QueueGeometry, reg: number): number {
  return reg & ((2 << q.log2size) - 1);
}

/** True when the queue holds no entry. */
export function isEmpty(q: QueueGeometry, prod: number, cons: number): boolean {
  return ptr(q, prod) === ptr(q, cons);
}

/** True when the queue holds 2^log2size entries. */
export function isFull(q: QueueGeometry, prod: number, cons: number): boolean {
  const p = ptr(q, prod);
  const c = ptr(q, cons);
  return (p ^ c) === (1 << q.log2size);
}

/** The pointer after `p` (index + 1, wrap toggles at the end). */
export function next(q: QueueGeometry, p: number): number {
  return (ptr(q, p) + 1) & ((2 << q.log2size) - 1);
}

/** Address of the entry at pointer `p`. */
export function entryAddr(q: QueueGeometry, p: number): number {
  return q.base + (p & ((1 << q.log2size) - 1)) * q.entryBytes;
}
