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
import type { GuestMemory } from '../../host/src/core/guest-memory.js';
import type { Step } from '../../host/src/scenario/parse.js';
import { GERROR, SMMU_REG as R } from '../../host/src/smmu/spec/registers.js';

/**
 * Register values the oracles compare across a step, as the guest reads
 * them (u32 dwords; a 64-bit register as its low and high dword). Mutable:
 * the executor refills two of these around every step (no allocation).
 */
export class SmmuRegs {
  cr0 = 0; cr0ack = 0; gbpa = 0; gerror = 0; gerrorn = 0;
  cmdqBaseLo = 0; cmdqBaseHi = 0; cmdqProd = 0; cmdqCons = 0;
  evtqBaseLo = 0; evtqBaseHi = 0; evtqProd = 0; evtqCons = 0;
  strtabBaseLo = 0; strtabBaseHi = 0; strtabCfg = 0;
  idr0 = 0; idr1 = 0;
}

/** Reads the registers the oracles use into `into` (MMIO reads: side-effect free on these registers); returns it. */
export function readRegs(m: ArmMachine, into: SmmuRegs = new SmmuRegs()): SmmuRegs {
  const u = m.smmu;
  into.cr0 = u.read32(R.CR0); into.cr0ack = u.read32(R.CR0ACK); into.gbpa = u.read32(R.GBPA);
  into.gerror = u.read32(R.GERROR); into.gerrorn = u.read32(R.GERRORN);
  into.cmdqBaseLo = u.read64(R.CMDQ_BASE); into.cmdqBaseHi = u.readHigh;
  into.cmdqProd = u.read32(R.CMDQ_PROD); into.cmdqCons = u.read32(R.CMDQ_CONS);
  into.evtqBaseLo = u.read64(R.EVENTQ_BASE); into.evtqBaseHi = u.readHigh;
  into.evtqProd = u.read32(R.EVENTQ_PROD); into.evtqCons = u.read32(R.EVENTQ_CONS);
  into.strtabBaseLo = u.read64(R.STRTAB_BASE); into.strtabBaseHi = u.readHigh;
  into.strtabCfg = u.read32(R.STRTAB_BASE_CFG);
  into.idr0 = u.read32(R.IDR0); into.idr1 = u.read32(R.IDR1);
  return into;
}

/** GERROR bits the spec defines (§6.3.18); the rest read 0. */
const GERROR_DEFINED = Object.values(GERROR).reduce((a, b) => a | b, 0);
const CR0_CMDQEN = 1 << 3;
const CR0_EVENTQEN = 1 << 2;
const IDR0_MSI = 1 << 13;
/** CMDQ opcode of CMD_SYNC (§4.7.3). */
const OP_CMD_SYNC = 0x46;
const TWO_32 = 2 ** 32;

/** Bits 51:lo of a 64-bit value given as its dwords, as a number (exact: below 2^52). */
export const addr51 = (lo: number, hi: number, lowMask: number): number => (hi & 0xf_ffff) * TWO_32 + ((lo & lowMask) >>> 0);

/** A queue's geometry (§6.3.25 / §6.3.26: ADDR 51:5, LOG2SIZE 4:0, capped by IDR1). */
export interface Queue { readonly base: number; readonly log2: number; readonly entry: number }

/** The geometry of a queue base register value (dwords `lo`, `hi`; LOG2SIZE capped at the IDR1 maximum). */
export function queueOf(lo: number, hi: number, maxLog2: number, entry: number): Queue {
  return { base: addr51(lo, hi, 0xffff_ffe0), log2: Math.min(lo & 0x1f, maxLog2), entry };
}

/** Index + wrap bits of a PROD/CONS value. */
export const wrapPtr = (q: Queue, v: number): number => v & ((2 << q.log2) - 1);
/** Entries from `from` to `to` (wrap arithmetic). */
export const distance = (q: Queue, from: number, to: number): number => (wrapPtr(q, to) - wrapPtr(q, from)) & ((2 << q.log2) - 1);
/** Address of the entry at pointer `p`. */
export const entryAt = (q: Queue, p: number): number => q.base + (p & ((1 << q.log2) - 1)) * q.entry;

/** LOG2SIZE of the command queue of `r` (IDR1.CMDQS 25:21 caps it). */
const cmdqLog2 = (r: SmmuRegs): number => Math.min(r.cmdqBaseLo & 0x1f, (r.idr1 >>> 21) & 0x1f);
/** LOG2SIZE of the event queue of `r` (IDR1.EVENTQS 20:16 caps it). */
const evtqLog2 = (r: SmmuRegs): number => Math.min(r.evtqBaseLo & 0x1f, (r.idr1 >>> 16) & 0x1f);
/** The command queue of `r` (16-byte commands). */
export const cmdq = (r: SmmuRegs): Queue => queueOf(r.cmdqBaseLo, r.cmdqBaseHi, (r.idr1 >>> 21) & 0x1f, 16);
/** The event queue of `r` (32-byte records). */
export const evtq = (r: SmmuRegs): Queue => queueOf(r.evtqBaseLo, r.evtqBaseHi, (r.idr1 >>> 16) & 0x1f, 32);

/** True when `s` writes the 4-byte register at `offset` (an 8-byte write covers two 4-byte registers). */
function writes(s: Step, offset: number): boolean {
  return s.op === 'mmio.write' && s.offset <= offset && offset < s.offset + s.size;
}

/** True when `s` writes any of the registers at `offsets`. */
function writesAny(s: Step, offsets: readonly number[]): boolean {
  if (s.op !== 'mmio.write') return false;
  for (const o of offsets) if (s.offset <= o && o < s.offset + s.size) return true;
  return false;
}

/** Writes that reprogram the command queue (CONS and PROD then mean something else). */
const CMDQ_REPROGRAM = [R.CMDQ_BASE, R.CMDQ_BASE + 4, R.CMDQ_CONS];
/** Writes that ring the command queue's doorbell in this model. */
const CMDQ_DOORBELLS = [R.CMDQ_PROD, R.CR0, R.GERRORN];
/** Writes that reprogram the event queue. */
const EVTQ_REPROGRAM = [R.EVENTQ_BASE, R.EVENTQ_BASE + 4, R.EVENTQ_PROD, R.EVENTQ_CONS, R.CR0];

/** The register, GERROR and queue invariants over one step (`before` / `after` its run; `read`: a 4-byte read's value); a message when broken. */
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
  const reprogrammedCmdq = writesAny(s, CMDQ_REPROGRAM);
  const q = cmdq(after);
  if (!reprogrammedCmdq && q.log2 === cmdqLog2(before)) {
    const outstanding = distance(q, before.cmdqCons, after.cmdqProd);
    const consumed = distance(q, before.cmdqCons, after.cmdqCons);
    if (outstanding <= 1 << q.log2 && consumed > outstanding) {
      return `cmdq: CONS passed PROD (CONS 0x${before.cmdqCons.toString(16)} -> 0x${after.cmdqCons.toString(16)}, PROD 0x${after.cmdqProd.toString(16)})`;
    }
  }
  // After a doorbell (PROD, CR0 or GERRORN written; CMDQ_BASE written while the queue runs is CONSTRAINED UNPREDICTABLE).
  const doorbell = writesAny(s, CMDQ_DOORBELLS);
  const cmdqErr = ((after.gerror ^ after.gerrorn) & GERROR.CMDQ_ERR) !== 0;
  if (doorbell && (after.cr0 & after.cr0ack & CR0_CMDQEN) !== 0 && !cmdqErr && distance(q, after.cmdqCons, after.cmdqProd) !== 0) {
    return `cmdq: CMDQEN = 1, no CMDQ_ERR, yet ${distance(q, after.cmdqCons, after.cmdqProd)} command(s) are left unconsumed (PROD 0x${after.cmdqProd.toString(16)}, CONS 0x${after.cmdqCons.toString(16)})`;
  }
  // Judged only when the SMMU produced during the step, from a consistent queue (the guest may leave CONS or PROD anywhere:
  // with CONS ahead of PROD the SMMU's behaviour is not defined).
  if (after.evtqProd === before.evtqProd || (after.cr0ack & CR0_EVENTQEN) === 0 || writesAny(s, EVTQ_REPROGRAM)) return undefined;
  const e = evtq(after);
  const consistent = distance(e, before.evtqCons, before.evtqProd) <= 1 << e.log2;
  if (consistent && e.log2 === evtqLog2(before)) {
    const held = distance(e, after.evtqCons, after.evtqProd);
    if (held > 1 << e.log2) return `evtq: PROD 0x${after.evtqProd.toString(16)} is ${held} entries past CONS 0x${after.evtqCons.toString(16)} (the queue holds ${1 << e.log2})`;
    if (distance(e, before.evtqCons, after.evtqProd) < distance(e, before.evtqCons, before.evtqProd)) return `evtq: PROD moved back 0x${before.evtqProd.toString(16)} -> 0x${after.evtqProd.toString(16)}`;
  }
  return undefined;
}

/**
 * The commands consumed during a step, read from RAM at their queue slots
 * (a command outside RAM is left out): `out` receives four u32 dwords per
 * command (bits 31:0, 63:32, 95:64, 127:96) and is returned.
 */
export function consumedCommands(m: ArmMachine, s: Step, before: SmmuRegs, after: SmmuRegs, out: number[] = []): number[] {
  if (out.length !== 0) out.length = 0; // (setting length is a runtime call: most steps consume nothing)
  if (before.cmdqCons === after.cmdqCons || writesAny(s, CMDQ_REPROGRAM)) return out;
  const q = cmdq(after);
  const n = distance(q, before.cmdqCons, after.cmdqCons);
  if (n > 1 << q.log2) return out;
  const mem = m.ram;
  for (let i = 0, p = before.cmdqCons; i < n; i++, p = (wrapPtr(q, p) + 1) & ((2 << q.log2) - 1)) {
    const at = entryAt(q, p);
    if (mem.offsetAt(at, 16) >= 0) out.push(mem.getUint32(at), mem.getUint32(at + 4), mem.getUint32(at + 8), mem.getUint32(at + 12));
  }
  return out;
}

/** True when [addr, addr + 4) is inside an interrupt doorbell window (ARM_MSI_DOORBELLS). */
const atDoorbell = (addr: number): boolean => ARM_MSI_DOORBELLS.some((d) => addr >= d.base && addr + 4 <= d.base + d.size);
/** True when [addr, addr + len) is guest RAM. */
export const inRam = (mem: GuestMemory, addr: number, len: number): boolean => mem.offsetAt(addr, len) >= 0;

/**
 * CMD_SYNC completion (§4.7.3): each consumed CMD_SYNC with CS = SIG_IRQ and
 * an MSI address in RAM left its MSIData there (the last one per address);
 * one whose address is neither RAM nor an interrupt doorbell
 * (ARM_MSI_DOORBELLS) left GERROR.MSI_CMDQ_ABT_ERR active (§3.18.2).
 * `consumed`: consumedCommands' dwords.
 */
export function syncViolation(m: ArmMachine, after: SmmuRegs, consumed: readonly number[]): string | undefined {
  if ((after.idr0 & IDR0_MSI) === 0 || consumed.length === 0) return undefined;
  let last: Map<number, number> | undefined;
  for (let c = 0; c < consumed.length; c += 4) {
    const w0 = consumed[c]!;
    if ((w0 & 0xff) !== OP_CMD_SYNC || ((w0 >>> 12) & 3) !== 1) continue;
    const addr = addr51(consumed[c + 2]!, consumed[c + 3]!, 0xffff_fffc); // MSIAddress 51:2
    if (addr !== 0) (last ??= new Map()).set(addr, consumed[c + 1]!);
  }
  if (last === undefined) return undefined;
  const mem = m.ram;
  // An MSI with neither RAM nor an interrupt doorbell at its address aborts: GERROR.MSI_CMDQ_ABT_ERR active (§3.18.2, §6.3.18).
  const nowhere = [...last.keys()].find((a) => !inRam(mem, a, 4) && !atDoorbell(a));
  if (nowhere !== undefined && ((after.gerror ^ after.gerrorn) & GERROR.MSI_CMDQ_ABT_ERR) === 0) {
    return `cmdq: CMD_SYNC (CS = SIG_IRQ, MSI 0x${nowhere.toString(16)}: no RAM or doorbell there) completed, but GERROR.MSI_CMDQ_ABT_ERR is not active`;
  }
  const q = cmdq(after);
  for (const [addr, data] of last) {
    if (!inRam(mem, addr, 4) || (addr >= q.base && addr < q.base + (16 << q.log2))) continue; // not memory, or inside the queue (the commands were read back after)
    const got = mem.getUint32(addr);
    if (got !== data) return `cmdq: CMD_SYNC (CS = SIG_IRQ, MSI 0x${addr.toString(16)}) completed, but memory there holds 0x${got.toString(16)}, not MSIData 0x${data.toString(16)}`;
  }
  return undefined;
}
