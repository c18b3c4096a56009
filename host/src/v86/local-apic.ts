/**
 * Delivering the remapping unit's interrupt messages to v86's local APIC.
 *
 * The unit signals its events (fault, invalidation completion, page request)
 * as MSIs (VT-d §5.1.6): a dword write of FEDATA to FEADDR, which names a
 * local APIC (Intel SDM vol. 3 §11.11: address 0xFEExxxxx, destination ID in
 * bits 19:12; data bits 7:0 vector, 10:8 delivery mode, 15 trigger mode).
 * v86 has no MSI path and one CPU. Its local APIC state lives in its wasm
 * memory at `cpu.get_apic_addr()` (src/rust/cpu/apic.rs, layout pinned there
 * by `offset_of` asserts: IRR at 32-bit word 16, TMR at word 32). Accepting a
 * fixed edge interrupt is what apic.rs `deliver` does: set the vector's IRR
 * bit unless it is set already, clear its TMR bit. v86's CPU loop then takes
 * it like any other interrupt (`handle_irqs`); `stop_idling` wakes a halted
 * CPU so it does so at once.
 */
import type { MsiMessage } from '../vtd/interrupts.js';
import type { V86Cpu } from './v86-types.js';

/** 32-bit word of the IRR in apic.rs `Apic`. */
const IRR_WORD = 16;
/** 32-bit word of the TMR in apic.rs `Apic`. */
const TMR_WORD = 32;
/** MSI address window of the local APICs (0xFEE00000-0xFEEFFFFF). */
const MSI_ADDRESS_MASK = 0xfff0_0000n;
const MSI_ADDRESS_BASE = 0xfee0_0000n;
/** Delivery modes the CPU accepts as a vectored interrupt: fixed (000) and lowest priority (001). */
const VECTORED_MODES = new Set([0, 1]);

/** What happened to a message. */
export type MsiOutcome = 'delivered' | 'already-pending' | 'rejected';

/** Counters of the messages the unit sent to the CPU. */
export interface MsiCounters {
  /** Messages that set an IRR bit. */
  delivered: number;
  /** Messages whose vector was already pending (merged, as the APIC does). */
  merged: number;
  /** Messages the APIC cannot take (address outside 0xFEExxxxx, NMI/SMI/INIT modes, vector < 16). */
  rejected: number;
}

/** Delivers MSIs to v86's one local APIC; keeps counters. */
export class V86LocalApic {
  /** Counters since attach. */
  readonly counters: MsiCounters = { delivered: 0, merged: 0, rejected: 0 };

  constructor(private readonly cpu: V86Cpu, private readonly log: (msg: string) => void) {}

  /** Delivers one message; never throws for a message the guest programmed badly. */
  deliver(msi: MsiMessage): MsiOutcome {
    const data = msi.data >>> 0;
    const vector = data & 0xff;
    const mode = (data >>> 8) & 7;
    if ((msi.address & MSI_ADDRESS_MASK) !== MSI_ADDRESS_BASE || !VECTORED_MODES.has(mode) || vector < 16) {
      this.counters.rejected++;
      this.log(`v86: ${msi.source} interrupt address 0x${msi.address.toString(16)} data 0x${data.toString(16)} not deliverable to the local APIC`);
      return 'rejected';
    }
    const words = new Uint32Array(this.cpu.wasm_memory.buffer, this.cpu.get_apic_addr(), TMR_WORD + 8);
    const word = vector >>> 5;
    const bit = 1 << (vector & 31);
    if (words[IRR_WORD + word]! & bit) {
      this.counters.merged++;
      return 'already-pending';
    }
    words[IRR_WORD + word]! |= bit;
    words[TMR_WORD + word]! &= ~bit;
    this.counters.delivered++;
    this.cpu.stop_idling();
    return 'delivered';
  }
}
