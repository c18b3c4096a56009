/**
 * GCMD / GSTS (§11.4.4): one-shot commands (SRTP, SFL, WBF, SIRTP) act when
 * written as 1; persistent enables (TE, EAFL, QIE, IRE, CFI) follow the
 * written value, so software copies the other enables from GSTS (§11.4.4.1:
 * "one command per write"). Each command's status appears in GSTS at the
 * same bit position.
 */
import type { Profile } from './profiles.js';
import type { RegisterFile } from './register-file.js';
import { GCMD, GCMD_ONE_SHOT, GCMD_PERSISTENT, ECAP, CAP, REG, RTADDR, TTM } from './spec/registers.js';
import type { Gpa } from '../types.js';

/** What a GCMD command may act on. */
export interface GcmdTarget {
  /** The unit's registers (GSTS is updated here). */
  readonly regs: RegisterFile;
  /** The unit's profile (which commands it implements). */
  readonly profile: Profile;
  /** SRTP: latch RTADDR (address and TTM) and invalidate the translation caches. */
  setRootTable(rtaddr: Gpa): void;
  /** TE: translation on (GSTS.TES=1) or off (identity). */
  setTranslationEnabled(on: boolean): void;
  /** QIE: start or stop the invalidation queue; `false` = refused (GSTS.QIES unchanged). */
  setQueuedInvalidation(on: boolean): boolean;
  /** IRE: interrupt remapping on or off (GSTS.IRES follows, ir/remapper.ts reads it). */
  setInterruptRemapping(on: boolean): void;
  /** SIRTP: latch IRTA (table base, size, EIME) for interrupt remapping. */
  latchInterruptTable(): void;
  /** Logs a guest programming error. */
  log(msg: string): void;
}

interface CommandRow {
  readonly bit: number;
  readonly name: string;
  /** Whether the profile supports it; unsupported commands are logged and ignored. */
  supported(p: Profile): boolean;
  /** Runs the command; for a persistent enable `on` is the new state. `false` = refused. */
  run(t: GcmdTarget, on: boolean): boolean | void;
}

const hasIr = (p: Profile): boolean => (p.ecap & ECAP.IR) !== 0n;

/** Dispatch table of GCMD commands (§11.4.4.1). */
const COMMANDS: readonly CommandRow[] = [
  {
    bit: GCMD.TE, name: 'TE', supported: () => true,
    run: (t, on) => t.setTranslationEnabled(on),
  },
  {
    bit: GCMD.SRTP, name: 'SRTP', supported: () => true,
    run: (t) => t.setRootTable(t.regs.get('RTADDR')),
  },
  // Advanced fault logging (SFL, EAFL) needs CAP.AFL, which no profile advertises.
  { bit: GCMD.SFL, name: 'SFL', supported: (p) => (p.cap & CAP.AFL) !== 0n, run: () => {} },
  { bit: GCMD.EAFL, name: 'EAFL', supported: (p) => (p.cap & CAP.AFL) !== 0n, run: () => {} },
  // Write-buffer flush: nothing is buffered, the flush completes at once (WBFS reads 0).
  { bit: GCMD.WBF, name: 'WBF', supported: () => true, run: () => {} },
  {
    bit: GCMD.QIE, name: 'QIE', supported: (p) => (p.ecap & ECAP.QI) !== 0n,
    run: (t, on) => t.setQueuedInvalidation(on),
  },
  // Interrupt remapping (ir/remapper.ts); CFI is GSTS.CFIS alone, which the remapper reads.
  { bit: GCMD.IRE, name: 'IRE', supported: hasIr, run: (t, on) => t.setInterruptRemapping(on) },
  { bit: GCMD.SIRTP, name: 'SIRTP', supported: hasIr, run: (t) => t.latchInterruptTable() },
  { bit: GCMD.CFI, name: 'CFI', supported: (p) => hasIr(p) && !p.host.noCfi, run: () => {} },
];

/** Status bits that stay set once their one-shot command completed (RTPS, IRTPS). */
const LATCHED_STATUS = GCMD.SRTP | GCMD.SIRTP;

/** The GSTS bits a unit of profile `p` can ever set: the status of each supported persistent or latched command. */
export function gstsBits(p: Profile): number {
  let bits = 0;
  for (const c of COMMANDS) if (c.supported(p) && (c.bit & (GCMD_PERSISTENT | LATCHED_STATUS))) bits |= c.bit;
  return bits >>> 0;
}

/** Applies a GCMD write of `value` (the written dword) to GSTS and the unit. */
export function handleGcmdWrite(t: GcmdTarget, value: number): void {
  // No enable changes and no one-shot command: nothing to do (drivers rewrite the enables often).
  if (((value ^ t.regs.dword(REG.GSTS)) & GCMD_PERSISTENT) === 0 && (value & GCMD_ONE_SHOT) === 0) return;
  for (const c of COMMANDS) {
    const gsts = t.regs.dword(REG.GSTS);
    const set = (value & c.bit) !== 0;
    const persistent = (GCMD_PERSISTENT & c.bit) !== 0;
    if (persistent ? set === ((gsts & c.bit) !== 0) : !set) continue;
    if (!c.supported(t.profile)) {
      t.log(`GCMD.${c.name} ignored: not supported by profile ${t.profile.name}`);
      continue;
    }
    if (c.run(t, set) === false) continue;
    let next = gsts;
    if (persistent) next = set ? gsts | c.bit : gsts & ~c.bit;
    else if (LATCHED_STATUS & c.bit) next = gsts | c.bit;
    t.regs.setDword(REG.GSTS, next >>> 0);
  }
}

/**
 * Translation-table mode SRTP latches from an RTADDR value (§11.4.5), with a log line when it
 * is not usable. An unusable mode is latched as TTM.RESERVED, for which every request faults
 * 0x30 (RTA.1); the `ttmBit10Only` profile switch reads bit 10 alone, as QEMU does.
 */
export function latchedTtm(t: GcmdTarget, rtaddr: Gpa): number {
  const ttm = RTADDR.ttm(rtaddr);
  const smts = (t.profile.ecap & ECAP.SMTS) !== 0n;
  if (t.profile.host.ttmBit10Only) return smts && (ttm & 1) ? TTM.SCALABLE : TTM.LEGACY;
  if (ttm === TTM.SCALABLE && !smts) {
    t.log('RTADDR.TTM=01 without ECAP.SMTS: requests fault 0x30');
    return TTM.RESERVED;
  }
  if (ttm >= TTM.RESERVED) t.log(`RTADDR.TTM=${ttm} is reserved/unsupported: requests fault 0x30`);
  return ttm;
}
