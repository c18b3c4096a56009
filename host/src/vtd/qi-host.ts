/**
 * The contract between the VT-d register file (vtd-unit.ts) and the queued
 * invalidation engine (qi/invalidation-queue.ts, §6.5.2).
 *
 * The register file routes writes of IQA, IQT, IQH and ICS and the GCMD.QIE
 * command to the queue; the queue calls back through this interface for
 * everything it needs from the rest of the unit: the core's invalidation
 * primitives, guest memory (descriptors, wait status writes), the raw
 * register storage, and the fault-event / invalidation-event interrupt rules.
 */
import type { CacheInvalidation } from './cache-invalidation.js';
import type { Profile } from './profiles.js';
import type { RegisterFile } from './register-file.js';
import type { Gpa } from '../types.js';

/** Guest RAM as the queue uses it, by number (a `GuestMemory` is one). */
export interface QueueMemory {
  /** Where [gpa, gpa + len) lies in the memory, or -1 when it is not inside one RAM region. */
  offsetAt(gpa: Gpa<number>, len: number): number;
  /** A live view of [gpa, gpa + len) (inside one RAM region); empty once memory growth detached it. */
  view(gpa: Gpa<number>, len: number): Uint8Array;
  /** Writes a little-endian u32 at `gpa` (inside RAM). */
  setUint32(gpa: Gpa<number>, v: number): void;
}

/** What the invalidation queue may use of the VT-d unit it belongs to. */
export interface QiHost {
  /** The core's cache invalidation primitives (`inv*`). */
  core: CacheInvalidation;
  /** Guest RAM: descriptor fetches and wait-descriptor status writes. */
  mem: QueueMemory;
  /** The capability profile (CAP/ECAP values, reference-model quirks). */
  profile: Profile;
  /** Raw register storage: `get(name)` / `set(name, value)`, no masks, no side effects. */
  regs: RegisterFile;
  /** True when the latched root-table mode (RTADDR.TTM at the last SRTP) is scalable (01). */
  scalableMode(): boolean;
  /** Sets an FSTS error bit and applies the fault-event rule (FECTL.IP, MSI), §7.3 / §11.4.7. */
  setFaultStatus(bit: 'IQE' | 'ICE' | 'ITE'): void;
  /** Sets ICS.IWC and applies the invalidation-event rule (IECTL.IP, MSI), §6.5.2.8. */
  invalidationEvent(): void;
  /** Forwards a (PASID-based) device-TLB invalidation to the ATS device with that SID. */
  deviceTlbInvalidate(req: {
    sid: number;
    pfsid: number;
    pasid?: number;
    addr: bigint;
    sizeLg2: number;
    global: boolean;
  }): 'done' | 'timeout';
  /** Interrupt-entry cache invalidation (descriptor type 4): every entry, or 2^im entries around `index`. */
  invalidateInterruptEntries(scope: { index: number; im: number } | 'all'): void;
  /** Routes a page-group response (descriptor type 9) to the requesting device. */
  pageGroupResponse(resp: { rid: number; pasid?: number; prgi: number; code: number; lpig: boolean }): void;
  /** Logs a guest programming error or notable event (never throws). */
  log(msg: string): void;
  /**
   * A model bug caught while serving the guest (a handler threw): logged,
   * and reported on the unit's internal-error channel, never as a guest
   * programming error (never throws).
   */
  internalError(where: string, err: unknown): void;
}
