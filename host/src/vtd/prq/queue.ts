/**
 * The page-request queue as hardware drives it (VT-d §7.5 in 3.x, registers
 * §11.4.11): a ring of 32-byte page request descriptors in guest RAM at
 * PQA (2^PQS pages), software-owned head PQH, hardware-owned tail PQT,
 * status PRS (PPR pending, PRO overflow) and the page-request event
 * (PECTL / PEDATA / PEADDR / PEUADDR).
 *
 * Rules (VT-d §7.5):
 * - while PRS.PRO = 1 every request is dropped (no write, no event);
 * - full when PQT + 32 (mod size) == PQH: the request is not written, PRO := 1;
 * - otherwise the descriptor goes to PQA + PQT, PQT advances (wrapping), PPR := 1;
 * - the event is raised only when PPR and PRO were both clear before;
 * - a PRS write that leaves PPR and PRO both clear withdraws a pending event.
 *
 * Guest mistakes (PQH/PQT beyond the queue, PQA outside RAM) are logged;
 * offsets wrap modulo the queue size, and an unwritable queue drops the
 * request. Nothing here throws for guest input.
 */
import type { GuestMemory } from '../../core/guest-memory.js';
import type { EventInterrupts } from '../interrupts.js';
import type { RegisterFile } from '../register-file.js';
import { PQ, PRQ_DESC_SIZE, queueBytes } from '../spec/page-request.js';
import { PRS } from '../spec/registers.js';

/** PRS bits as the 64-bit register file holds them. */
const PPR = BigInt(PRS.PPR);
const PRO = BigInt(PRS.PRO);

/** What the queue did with one descriptor. */
export type EnqueueResult =
  /** Written at the old PQT. */
  | 'queued'
  /** The queue was full: PRO is now set, the descriptor was not written. */
  | 'overflow'
  /** PRO was already set: dropped without a trace in the registers. */
  | 'dropped'
  /** PQA + PQT is not guest RAM: dropped and logged. */
  | 'unwritable';

/** The hardware side of the page-request queue over a unit's registers and guest RAM. */
export class PageRequestQueue {
  /** The queue `regs` (PQH/PQT/PQA/PRS) describe in `mem`, raising page-request events through `events`. */
  constructor(
    private readonly regs: RegisterFile,
    private readonly mem: GuestMemory,
    private readonly events: EventInterrupts,
    private readonly log: (msg: string) => void,
  ) {}

  /** Queue size in bytes (from PQA.PQS). */
  sizeBytes(): number {
    return queueBytes(this.regs.get('PQA'));
  }

  /** Number of descriptors between PQH and PQT (what software has not consumed yet). */
  pendingCount(): number {
    const size = this.sizeBytes();
    const head = this.offset('PQH', size);
    const tail = this.offset('PQT', size);
    return ((tail - head + size) % size) / PRQ_DESC_SIZE;
  }

  /** Appends one descriptor (four qwords) at PQT under the rules above. */
  enqueue(words: readonly bigint[]): EnqueueResult {
    const prs = this.regs.get('PRS');
    if (prs & PRO) return 'dropped';
    const size = this.sizeBytes();
    const head = this.offset('PQH', size);
    const tail = this.offset('PQT', size);
    const next = (tail + PRQ_DESC_SIZE) % size;
    if (next === head) {
      this.setStatus(prs, PRO);
      this.log(`page-request queue full (PQH=PQT+32=0x${head.toString(16)}): PRS.PRO set`);
      return 'overflow';
    }
    const at = (this.regs.get('PQA') & PQ.BASE_MASK) + BigInt(tail);
    if (!this.mem.contains(at, PRQ_DESC_SIZE)) {
      this.log(`page-request queue slot at 0x${at.toString(16)} is outside RAM: request dropped`);
      return 'unwritable';
    }
    words.forEach((w, i) => this.mem.writeU64(at + BigInt(8 * i), w));
    this.regs.set('PQT', BigInt(next));
    this.setStatus(prs, PPR);
    return 'queued';
  }

  /**
   * After a guest PRS write (the register file applied W1C): with PPR and
   * PRO both clear, a pending page-request event is withdrawn (PECTL.IP := 0).
   */
  afterPrsWrite(): void {
    if ((this.regs.get('PRS') & (PPR | PRO)) === 0n) this.events.withdraw('page-request');
  }

  /** After a guest write of PQH, PQT or PQA: logs values the queue cannot use. */
  afterQueueRegWrite(name: 'PQH' | 'PQT' | 'PQA'): void {
    const size = this.sizeBytes();
    if (name === 'PQA') {
      const base = this.regs.get('PQA') & PQ.BASE_MASK;
      if (!this.mem.contains(base, size)) this.log(`PQA: queue 0x${base.toString(16)} (+0x${size.toString(16)}) is not all RAM`);
    }
    for (const reg of ['PQH', 'PQT'] as const) {
      const raw = Number(this.regs.get(reg) & PQ.OFFSET_MASK);
      if (raw >= size) this.log(`${reg}: offset 0x${raw.toString(16)} is beyond the 0x${size.toString(16)}-byte queue (wraps)`);
    }
  }

  /** PQH or PQT as a byte offset inside the queue (wrapped when software wrote one past its end). */
  private offset(reg: 'PQH' | 'PQT', size: number): number {
    return Number(this.regs.get(reg) & PQ.OFFSET_MASK) % size;
  }

  /** Sets a PRS bit; the event fires only if PPR and PRO were both clear (§7.5). */
  private setStatus(prs: bigint, bit: bigint): void {
    this.regs.set('PRS', prs | bit);
    if ((prs & (PPR | PRO)) === 0n) this.events.raise('page-request');
  }
}
