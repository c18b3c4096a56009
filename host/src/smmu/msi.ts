/**
 * Where an MSI the SMMU generates lands (IHI 0070 §3.18.2 "Message Signaled
 * Interrupts"): one rule for every source (CMD_SYNC completion, event queue,
 * PRI queue, global errors). An MSI is a 32-bit write of the configured data
 * to the configured address (*_IRQ_CFG0.ADDR bits 51:2, §6.3.20 / §6.3.32 /
 * §6.3.36, or CMD_SYNC.MSIAddress, §4.7.3); it is a plain write on the
 * system's address map, so:
 * - an address in guest RAM is a memory write (software may poll it: Linux's
 *   CMD_SYNC completion writes into its own command queue);
 * - an address in one of the interrupt controller's doorbell windows (on
 *   `virt`: GICD_SETSPI_NSR, the GICv2m frame, the GICv3 ITS' GITS_TRANSLATER
 *   page) is an interrupt the embedder receives;
 * - any other address has no target in this model (unassigned space, or a
 *   device's registers, which an SMMU write does not reach here): the write
 *   aborts, and the source's SMMU_GERROR.MSI_*_ABT_ERR becomes active
 *   (§6.3.18).
 * An address of 0 is no MSI at all (the wired interrupt, when there is one),
 * and an SMMU without SMMU_IDR0.MSI uses its wired interrupts only; the
 * unit decides those before asking `msiRoute`.
 */
import type { GuestMemory } from '../core/guest-memory.js';
import { GERROR } from './spec/registers.js';
import type { Gpa } from '../types.js';

/** The SMMU's interrupt sources (each has its own MSI configuration and abort bit). */
export type SmmuIrqSource = 'eventq' | 'priq' | 'cmd-sync' | 'gerror';

/** The SMMU_GERROR bit an aborted MSI of each source activates (§6.3.18). */
export const MSI_ABORT_ERR: Readonly<Record<SmmuIrqSource, number>> = {
  'cmd-sync': GERROR.MSI_CMDQ_ABT_ERR,
  eventq: GERROR.MSI_EVENTQ_ABT_ERR,
  priq: GERROR.MSI_PRIQ_ABT_ERR,
  gerror: GERROR.MSI_GERROR_ABT_ERR,
};

/** A window of physical addresses whose writes are interrupt messages (an interrupt controller's doorbell registers). */
export interface MsiDoorbell {
  /** First address (a number below 2^52). */
  readonly base: Gpa<number>;
  /** Bytes (at least 4). */
  readonly size: number;
}

/** What an MSI write is: a write into guest RAM, an interrupt at a doorbell, or an aborted write. */
export type MsiRoute = 'memory' | 'doorbell' | 'abort';

/**
 * The route of a 32-bit MSI write to `addr` (non-zero, 4-byte aligned)
 * given guest RAM `mem` and the interrupt controller's `doorbells`. RAM is
 * looked up first: a doorbell window never hides RAM.
 */
export function msiRoute(addr: Gpa<number>, mem: GuestMemory, doorbells: readonly MsiDoorbell[]): MsiRoute {
  if (mem.offsetAt(addr, 4) >= 0) return 'memory';
  for (const d of doorbells) if (addr >= d.base && addr + 4 <= d.base + d.size) return 'doorbell';
  return 'abort';
}

/** Largest MSI address + 1 (ADDR is bits 51:2). */
const ADDR_LIMIT = 2 ** 52;

/**
 * `list` checked as doorbell windows: an Error naming `what[i]` for a window
 * that is not integers inside the 52-bit address space with at least 4 bytes.
 */
export function checkDoorbells(list: unknown, what: string): readonly MsiDoorbell[] {
  if (!Array.isArray(list)) throw new Error(`${what}: ${String(list)} is not an array of { base, size } windows`);
  return list.map((d: unknown, i) => {
    const w = d as Partial<MsiDoorbell> | null;
    const at = `${what}[${i}]`;
    if (typeof w !== 'object' || w === null) throw new Error(`${at}: not a { base, size } window`);
    const { base, size } = w;
    if (!Number.isSafeInteger(base) || base! < 0 || base! >= ADDR_LIMIT) throw new Error(`${at}.base: ${String(base)} is not an address below 2^52`);
    if (!Number.isSafeInteger(size) || size! < 4 || base! + size! > ADDR_LIMIT) throw new Error(`${at}.size: ${String(size)} is not a byte count of 4 or more inside 2^52`);
    return { base: base!, size: size! };
  });
}
