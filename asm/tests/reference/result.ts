/**
 * Request and result types of the reference model and the small helpers
 * every translation step shares (fault construction with FPD qualification
 * §7.2.1, entry reads, reserved-address masks, the §3.15 interrupt range).
 */
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import { aboveHawMask, type RefCaps } from './config.js';
import { ACC, INTR_RANGE_LAST, INTR_RANGE_START, PERM, QUALIFIED, QUIRK, SOURCE } from './constants.js';
import { bitRange, readQ } from './paging.js';

/** A DMA request as the core's `translate` takes it. */
export interface RefRequest {
  readonly sid: number;
  /** The request's PASID; used only with ACC.PASID. */
  readonly pasid: number;
  readonly iova: bigint;
  /** ACC.* bits. */
  readonly access: number;
}

/** The reference's answer: the fields the core's out-buffer carries. */
export interface RefResult {
  /** 0 or the fault reason. */
  readonly status: number;
  readonly addr: bigint;
  readonly pageLg2: number;
  /** PERM bits. */
  readonly perms: number;
  /** A qualified fault with FPD=1 on the path (FF_SUPPRESSED). */
  readonly suppressed: boolean;
  /** Domain id used (valid on success). */
  readonly did: number;
  readonly source: number;
  /** First-stage entry addresses walked (for A/D comparisons); empty otherwise. */
  readonly fsEntries: readonly bigint[];
}

/** Result of a step that either continues or ends the translation. */
export type Step<T> = { ok: true; value: T } | { ok: false; fault: number };

/** Builds a successful result. */
export function success(addr: bigint, pageLg2: number, perms: number, did: number, source: number, fsEntries: readonly bigint[] = []): RefResult {
  return { status: 0, addr, pageLg2, perms, suppressed: false, did, source, fsEntries };
}

/** Builds a fault result; `fpd` says whether an FPD=1 was seen on the path (§7.2.1). */
export function fault(code: number, fpd: boolean, fsEntries: readonly bigint[] = []): RefResult {
  return { status: code, addr: 0n, pageLg2: 0, perms: 0, suppressed: fpd && QUALIFIED.has(code), did: 0, source: SOURCE.WALK, fsEntries };
}

/** Reads `n` u64 words, or undefined when any is outside RAM. */
export function readEntry(mem: GuestMemoryLike, gpa: bigint, n: number): bigint[] | undefined {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const w = readQ(mem, gpa + BigInt(i) * 8n);
    if (w === undefined) return undefined;
    out.push(w);
  }
  return out;
}

/** Mask of a 64-bit pointer field's bits at or above HAW (reserved, §9.x "above HAW"). */
export function pointerAboveHaw(caps: RefCaps): bigint {
  return bitRange(63, 52) | aboveHawMask(caps);
}

/**
 * §3.15: an output address inside the interrupt range is blocked. With
 * QUIRK.INTR_PAGE_OVERLAP (QEMU) any overlap of the whole page is.
 */
export function inInterruptRange(caps: RefCaps, addr: bigint, pageLg2: number): boolean {
  if (!(caps.quirks & QUIRK.INTR_PAGE_OVERLAP)) return addr >= INTR_RANGE_START && addr <= INTR_RANGE_LAST;
  const start = addr & ~((1n << BigInt(pageLg2)) - 1n);
  return start <= INTR_RANGE_LAST && start + (1n << BigInt(pageLg2)) - 1n >= INTR_RANGE_START;
}

/** Permissions of the identity answer (translation disabled / pass-through). */
export const ALL_PERMS = PERM.R | PERM.W | PERM.X;


/** A request asking neither read nor write is a read (docs/ABI.md ACC_READ). */
export function normalizeAccess(access: number): number {
  return access & (ACC.READ | ACC.WRITE) ? access : access | ACC.READ;
}
