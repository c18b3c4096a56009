/**
 * Invariants of an SMMUv3 (IHI 0070) a guest must never break, checked
 * around every step of an SMMU fuzz input through the unit's public faces
 * only (MMIO reads of its registers, guest RAM; never its internals):
 *
 * - **register**: a 4-byte read fits 32 bits; GERROR reads 0 in its
 *   reserved bits (§6.3.18) and a write to it (read-only) changes nothing;
 * - **gerror**: a GERROR bit changes only by toggling from inactive
 *   (GERROR[n] == GERRORN[n]) to active (§6.3.18: an error already active
 *   is not raised again), never back (only GERRORN acknowledges);
 * - **cmdq**: CONS never passes PROD (it moves from the old CONS towards
 *   PROD, §3.5.1), and while CMDQEN = 1 with no CMDQ_ERR active the queue is
 *   drained after each doorbell (a PROD, CR0 or GERRORN write: this model
 *   consumes commands there, so a command left behind would never complete;
 *   §4.7 CMD_SYNC completes);
 *   each consumed CMD_SYNC with CS = SIG_IRQ and an MSI address in RAM wrote
 *   its MSIData there (§4.7.3), when IDR0.MSI; one aimed at no RAM and no
 *   interrupt doorbell left GERROR.MSI_CMDQ_ABT_ERR active (§3.18.2);
 * - **evtq**: when the SMMU records events it never holds more than
 *   2^LOG2SIZE (PROD - CONS), and PROD moves forward only (§7.2).
 *
 * DMA safety and events are dma-oracle.ts.
 */
import { ARM_MSI_DOORBELLS, type ArmMachine } from '../../host/src/arm-machine.js';
import type { Step } from '../../host/src/scenario/parse.js';
import { GERROR, SMMU_REG as R } from '../../host/src/smmu/spec/registers.js';

/** Register values the oracles compare across a step. */
export interface SmmuRegs {
  readonly cr0: number; readonly cr0ack: number; readonly gbpa: number;
  readonly gerror: number; readonly gerrorn: number;
  readonly cmdqBase: bigint; readonly cmdqProd: number; readonly cmdqCons: number;
  readonly evtqBase: bigint; readonly evtqProd: number; readonly evtqCons: number;
  readonly strtabBase: bigint; readonly strtabCfg: number;
  readonly idr0: number; readonly idr1: number;
}

/** Reads the registers the oracles use (MMIO reads: side-effect free on these registers). */
export function readRegs(m: ArmMachine): SmmuRegs {
  const r4 = (o: number): number => Number(m.smmu.mmioRead(o, 4));
  const r8 = (o: number): bigint => m.smmu.mmioRead(o, 8);
  return {
    cr0: r4(R.CR0), cr0ack: r4(R.CR0ACK), gbpa: r4(R.GBPA), gerror: r4(R.GERROR), gerrorn: r4(R.GERRORN),
    cmdqBase: r8(R.CMDQ_BASE), cmdqProd: r4(R.CMDQ_PROD), cmdqCons: r4(R.CMDQ_CONS),
    evtqBase: r8(R.EVENTQ_BASE), evtqProd: r4(R.EVENTQ_PROD), evtqCons: r4(R.EVENTQ_CONS),
    strtabBase: r8(R.STRTAB_BASE), strtabCfg: r4(R.STRTAB_BASE_CFG), idr0: r4(R.IDR0), idr1: r4(R.IDR1),
  };
}

/** GERROR bits the spec defines (§6.3.18); the rest read 0. */
const GERROR_DEFINED = Object.values(GERROR).reduce((a, b) => a | b, 0);
const CR0_CMDQEN = 1 << 3;
const CR0_EVENTQEN = 1 << 2;
const IDR0_MSI = 1 << 13;
/** CMDQ opcode of CMD_SYNC (§4.7.3). */
const OP_CMD_SYNC = 0x46;

/** A queue's geometry (§6.3.25 / §6.3.26: ADDR 51:5, LOG2SIZE 4:0, capped by IDR1). */
export interface Queue { readonly base: bigint; readonly log2: number; readonly entry: number }

/** The geometry of a queue base register value (LOG2SIZE capped at the IDR1 maximum). */
export function queueOf(baseReg: bigint, maxLog2: number, entry: number): Queue {
  return { base: baseReg & 0x000f_ffff_ffff_ffe0n, log2: Math.min(Number(baseReg & 0x1fn), maxLog2), entry };
}

/** Index + wrap bits of a PROD/CONS value. */
export const wrapPtr = (q: Queue, v: number): number => v & ((2 << q.log2) - 1);
/** Entries from `from` to `to` (wrap arithmetic). */
export const distance = (q: Queue, from: number, to: number): number => (wrapPtr(q, to) - wrapPtr(q, from)) & ((2 << q.log2) - 1);
/** Address of the entry at pointer `p`. */
export const entryAt = (q: Queue, p: number): bigint => q.base + BigInt((p & ((1 << q.log2) - 1)) * q.entry);

/** The command queue of `r` (IDR1.CMDQS 25:21; 16-byte commands). */
export const cmdq = (r: SmmuRegs): Queue => queueOf(r.cmdqBase, (r.idr1 >>> 21) & 0x1f, 16);
/** The event queue of `r` (IDR1.EVENTQS 20:16; 32-byte records). */
export const evtq = (r: SmmuRegs): Queue => queueOf(r.evtqBase, (r.idr1 >>> 16) & 0x1f, 32);

/** Register offsets a step writes (an 8-byte write covers two 4-byte registers). */
function writes(s: Step, offset: number): boolean {
  return s.op === 'mmio.write' && s.offset <= offset && offset < s.offset + s.size;
}

/** The register, GERROR and queue invariants over one step (`before` / `after` its run); a message when broken. */
export function registerViolation(s: Step, before: SmmuRegs, after: SmmuRegs, read?: bigint): string | undefined {
  if (s.op === 'mmio.read' && s.size === 4 && read !== undefined && read > 0xffff_ffffn) return `register: a 4-byte read at 0x${s.offset.toString(16)} returned 0x${read.toString(16)}`;
  if ((after.gerror & ~GERROR_DEFINED) !== 0) return `gerror: GERROR = 0x${after.gerror.toString(16)} sets reserved bits`;
  const changed = before.gerror ^ after.gerror;
  if (changed !== 0) {
    if (writes(s, R.GERROR)) return `gerror: a write to the read-only GERROR changed it 0x${before.gerror.toString(16)} -> 0x${after.gerror.toString(16)}`;
    const ack = writes(s, R.GERRORN) ? after.gerrorn : before.gerrorn;
    const wasActive = (before.gerror ^ ack) & changed;
    if (wasActive) return `gerror: GERROR bits 0x${wasActive.toString(16)} toggled while already active (GERROR 0x${before.gerror.toString(16)} -> 0x${after.gerror.toString(16)}, GERRORN 0x${ack.toString(16)})`;
  }
  return queueViolation(s, before, after);
}

function queueViolation(s: Step, before: SmmuRegs, after: SmmuRegs): string | undefined {
  const reprogrammedCmdq = [R.CMDQ_BASE, R.CMDQ_BASE + 4, R.CMDQ_CONS].some((o) => writes(s, o));
  const q = cmdq(after);
  if (!reprogrammedCmdq && q.log2 === cmdq(before).log2) {
    const outstanding = distance(q, before.cmdqCons, after.cmdqProd);
    const consumed = distance(q, before.cmdqCons, after.cmdqCons);
    if (outstanding <= 1 << q.log2 && consumed > outstanding) {
      return `cmdq: CONS passed PROD (CONS 0x${before.cmdqCons.toString(16)} -> 0x${after.cmdqCons.toString(16)}, PROD 0x${after.cmdqProd.toString(16)})`;
    }
  }
  // After a doorbell (PROD, CR0 or GERRORN written; CMDQ_BASE written while the queue runs is CONSTRAINED UNPREDICTABLE).
  const doorbell = [R.CMDQ_PROD, R.CR0, R.GERRORN].some((o) => writes(s, o));
  const cmdqErr = ((after.gerror ^ after.gerrorn) & GERROR.CMDQ_ERR) !== 0;
  if (doorbell && (after.cr0 & after.cr0ack & CR0_CMDQEN) !== 0 && !cmdqErr && distance(q, after.cmdqCons, after.cmdqProd) !== 0) {
    return `cmdq: CMDQEN = 1, no CMDQ_ERR, yet ${distance(q, after.cmdqCons, after.cmdqProd)} command(s) are left unconsumed (PROD 0x${after.cmdqProd.toString(16)}, CONS 0x${after.cmdqCons.toString(16)})`;
  }
  const reprogrammedEvtq = [R.EVENTQ_BASE, R.EVENTQ_BASE + 4, R.EVENTQ_PROD, R.EVENTQ_CONS, R.CR0].some((o) => writes(s, o));
  const e = evtq(after);
  // Judged only when the SMMU produced during the step, from a consistent queue (the guest may leave CONS or PROD anywhere:
  // with CONS ahead of PROD the SMMU's behaviour is not defined).
  const consistent = distance(e, before.evtqCons, before.evtqProd) <= 1 << e.log2;
  if (!reprogrammedEvtq && consistent && (after.cr0ack & CR0_EVENTQEN) !== 0 && e.log2 === evtq(before).log2 && after.evtqProd !== before.evtqProd) {
    const held = distance(e, after.evtqCons, after.evtqProd);
    if (held > 1 << e.log2) return `evtq: PROD 0x${after.evtqProd.toString(16)} is ${held} entries past CONS 0x${after.evtqCons.toString(16)} (the queue holds ${1 << e.log2})`;
    if (distance(e, before.evtqCons, after.evtqProd) < distance(e, before.evtqCons, before.evtqProd)) return `evtq: PROD moved back 0x${before.evtqProd.toString(16)} -> 0x${after.evtqProd.toString(16)}`;
  }
  return undefined;
}

/** The commands consumed during a step: their two doublewords, read from RAM at their queue slots (undefined outside RAM). */
export function consumedCommands(m: ArmMachine, s: Step, before: SmmuRegs, after: SmmuRegs): bigint[][] {
  if ([R.CMDQ_BASE, R.CMDQ_BASE + 4, R.CMDQ_CONS].some((o) => writes(s, o))) return [];
  const q = cmdq(after);
  const n = distance(q, before.cmdqCons, after.cmdqCons);
  if (n > 1 << q.log2) return [];
  const out: bigint[][] = [];
  for (let i = 0, p = before.cmdqCons; i < n; i++, p = (wrapPtr(q, p) + 1) & ((2 << q.log2) - 1)) {
    const at = entryAt(q, p);
    if (m.ram.contains(at, 16)) out.push([m.ram.readU64(at), m.ram.readU64(at + 8n)]);
  }
  return out;
}

/**
 * CMD_SYNC completion (§4.7.3): each consumed CMD_SYNC with CS = SIG_IRQ and
 * an MSI address in RAM left its MSIData there (the last one per address);
 * one whose address is neither RAM nor an interrupt doorbell
 * (ARM_MSI_DOORBELLS) left GERROR.MSI_CMDQ_ABT_ERR active (§3.18.2).
 */
export function syncViolation(m: ArmMachine, after: SmmuRegs, consumed: readonly bigint[][]): string | undefined {
  if ((after.idr0 & IDR0_MSI) === 0) return undefined;
  const last = new Map<bigint, number>();
  for (const [w0, w1] of consumed) {
    if (Number(w0! & 0xffn) !== OP_CMD_SYNC || Number((w0! >> 12n) & 3n) !== 1) continue;
    const addr = w1! & 0x000f_ffff_ffff_fffcn;
    if (addr !== 0n) last.set(addr, Number(w0! >> 32n));
  }
  const q = cmdq(after);
  // An MSI with neither RAM nor an interrupt doorbell at its address aborts: GERROR.MSI_CMDQ_ABT_ERR active (§3.18.2, §6.3.18).
  const nowhere = [...last.keys()].find((a) => !m.ram.contains(a, 4) && !ARM_MSI_DOORBELLS.some((d) => a >= BigInt(d.base) && a + 4n <= BigInt(d.base + d.size)));
  if (nowhere !== undefined && ((after.gerror ^ after.gerrorn) & GERROR.MSI_CMDQ_ABT_ERR) === 0) {
    return `cmdq: CMD_SYNC (CS = SIG_IRQ, MSI 0x${nowhere.toString(16)}: no RAM or doorbell there) completed, but GERROR.MSI_CMDQ_ABT_ERR is not active`;
  }
  for (const [addr, data] of last) {
    if (!m.ram.contains(addr, 4) || (addr >= q.base && addr < q.base + BigInt(16 << q.log2))) continue; // not memory, or inside the queue (the commands were read back after)
    const got = m.ram.getUint32(Number(addr));
    if (got !== data) return `cmdq: CMD_SYNC (CS = SIG_IRQ, MSI 0x${addr.toString(16)}) completed, but memory there holds 0x${got.toString(16)}, not MSIData 0x${data.toString(16)}`;
  }
  return undefined;
}
