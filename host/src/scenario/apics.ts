/**
 * The local APICs of a scenario's machine, as far as a scenario observes
 * them (FORMAT.md "Interrupts"): the Interrupt Request Register (IRR) and
 * Trigger Mode Register (TMR) of each processor, which every interrupt the
 * platform delivers lands in. The scenario's processors never run (on the
 * reference they halt with interrupts disabled), so nothing is ever accepted
 * or acknowledged: the IRR only accumulates, and each APIC keeps its reset
 * state (xAPIC mode, APIC id = processor number, logical destination 0).
 *
 * A message is decoded as the Intel SDM (Vol. 3, §11.11 "Message Signalled
 * Interrupts") lays it out, which is also the compatibility format of VT-d
 * §5.1.2.1 and what a remapped interrupt becomes (§5.1.6): address 31:20
 * 0xFEE, 19:12 destination id (x2APIC: bits 31:8 of it in address 63:40),
 * 2 destination mode; data 7:0 vector, 10:8 delivery mode, 14 level, 15
 * trigger mode.
 */
import { isInterruptAddress } from '../vtd/spec/interrupt-remapping.js';
import type { Gpa } from '../types.js';

/** The pending vectors of one APIC (`apic.irr` observation). */
export interface IrrReading {
  /** Vectors whose IRR bit is set, ascending. */
  readonly vectors: number[];
  /** Those of them whose TMR bit is set (level-triggered), ascending. */
  readonly level: number[];
}

/** Delivery modes (SDM §11.11.2) that set an IRR bit on the reference machine: fixed, lowest priority, ExtINT. */
const IRR_MODES: ReadonlySet<number> = new Set([0, 1, 7]);
/** Physical destination that every xAPIC accepts (broadcast). */
const BROADCAST = 0xff;

/** The processors' local APICs of one scenario machine. */
export class ScenarioApics {
  private readonly irr: Uint8Array[];
  private readonly tmr: Uint8Array[];
  /** APICs an interrupt reached since construction or the last `clear` (what `clear` zeroes). */
  private readonly reached = new Set<number>();

  /**
   * `count` processors, APIC ids 0..count-1.
   * @param count Number of processors (local APICs), 1..255.
   */
  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1 || count > 255) throw new Error(`count: ${count} is not an integer in 1..255`);
    this.irr = Array.from({ length: count }, () => new Uint8Array(256));
    this.tmr = Array.from({ length: count }, () => new Uint8Array(256));
  }

  /**
   * An interrupt message written to `address` with `data`. Physical mode
   * selects the APIC whose id is the destination (0xFF: all of them); logical
   * mode matches no APIC (their logical destination registers are still 0).
   * Fixed sets the vector's IRR bit in every selected APIC, lowest priority
   * in the lowest-numbered one; the TMR bit follows the trigger mode. As on
   * the reference machine (QEMU q35, FORMAT.md), ExtINT is latched like
   * fixed, the level bit is not looked at and vectors 0-15 are latched like
   * any other; SMI, NMI and INIT go to the processor (which would leave its
   * halt: scenarios do not send them) and the reserved modes deliver
   * nothing. A write outside 0xFEEx_xxxx is not an interrupt message.
   */
  deliver(address: Gpa, data: number): void {
    if (!isInterruptAddress(address & 0xffff_ffffn)) return;
    const mode = (data >>> 8) & 7;
    const levelTriggered = ((data >>> 15) & 1) === 1;
    if (!IRR_MODES.has(mode)) return;
    const targets = this.destinations(address);
    const chosen = mode === 1 ? targets.slice(0, 1) : targets;
    const vector = data & 0xff;
    for (const id of chosen) {
      this.reached.add(id);
      this.irr[id]![vector] = 1;
      this.tmr[id]![vector] = levelTriggered ? 1 : 0;
    }
  }

  /** Back to the reset state (every IRR and TMR bit clear), as a new instance of the same count starts: zeroes only the APICs an interrupt reached. */
  clear(): void {
    for (const id of this.reached) {
      this.irr[id]!.fill(0);
      this.tmr[id]!.fill(0);
    }
    this.reached.clear();
  }

  /** The IRR of APIC `id` (and which of its vectors are level-triggered). */
  read(id: number): IrrReading {
    if (!Number.isInteger(id) || id < 0 || id >= this.count) throw new Error(`id: ${id} is not an APIC of this machine (0..${this.count - 1})`);
    const vectors: number[] = [];
    const level: number[] = [];
    for (let v = 0; v < 256; v++) {
      if (!this.irr[id]![v]) continue;
      vectors.push(v);
      if (this.tmr[id]![v]) level.push(v);
    }
    return { vectors, level };
  }

  /**
   * APIC ids a message to `address` selects. The processors are in xAPIC
   * mode, which matches its id against destination bits 7:0 (address 19:12);
   * 0xFF is the broadcast only when the message carries no x2APIC upper
   * destination bits (address 63:40 zero, or all ones: 0xFFFFFFFF).
   */
  private destinations(address: bigint): number[] {
    if (((address >> 2n) & 1n) === 1n) return [];
    const dest = Number((address >> 12n) & 0xffn);
    const upper = Number((address >> 40n) & 0xff_ffffn);
    if (dest === BROADCAST) return upper === 0 || upper === 0xff_ffff ? Array.from({ length: this.count }, (_, i) => i) : [];
    return dest < this.count ? [dest] : [];
  }
}
