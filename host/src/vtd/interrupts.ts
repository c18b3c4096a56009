/**
 * Event interrupts of the remapping hardware (§7.3 fault event, §6.5.2.8
 * invalidation event, §7.5 page-request event): each has a control register
 * (IM mask, IP pending) and data / address / upper-address registers.
 *
 * Rule shared by all three: when hardware raises the event, IP is set; if IM
 * is clear the MSI is sent at once and IP cleared; if IM is set the message
 * is held (IP stays 1) until software clears IM, which sends it. Clearing the
 * condition that caused it while IP is still set withdraws it (IP := 0).
 */
import type { RegisterFile } from './register-file.js';
import type { RegName } from './register-table.js';
import { ECTL, REG } from './spec/registers.js';
import type { Gpa } from '../types.js';

/** Which event register set an MSI came from. */
export type InterruptSource = 'fault' | 'invalidation' | 'page-request';

/** A message-signalled interrupt as the remapping hardware writes it (§5.1.6: edge, level 0). */
export interface MsiMessage {
  /** The event that sent it. */
  readonly source: InterruptSource;
  /** 64-bit MSI address: xxUADDR << 32 | xxADDR. */
  readonly address: Gpa;
  /** MSI data (xxDATA). */
  readonly data: number;
}

/** Receives every interrupt the unit sends; the embedder's hook. */
export type InterruptSink = (msi: MsiMessage) => void;

/** Byte offsets of one event's registers (§11.4.7.2-5, §11.4.9.5-8, §11.4.11.5-8). */
interface EventRegs {
  ctl: number;
  data: number;
  addr: number;
  uaddr: number;
}

const EVENT_REGS: Record<InterruptSource, EventRegs> = {
  fault: { ctl: REG.FECTL, data: REG.FEDATA, addr: REG.FEADDR, uaddr: REG.FEUADDR },
  invalidation: { ctl: REG.IECTL, data: REG.IEDATA, addr: REG.IEADDR, uaddr: REG.IEUADDR },
  'page-request': { ctl: REG.PECTL, data: REG.PEDATA, addr: REG.PEADDR, uaddr: REG.PEUADDR },
};

/** Control register of each event, by name (profiles without the page-request registers lack PECTL). */
const CONTROL_NAMES: Record<InterruptSource, RegName> = { fault: 'FECTL', invalidation: 'IECTL', 'page-request': 'PECTL' };

/** The three event interrupts of one unit over its register file. */
export class EventInterrupts {
  /** Messages sent so far (most recent last), for embedders that poll. */
  readonly sent: MsiMessage[] = [];
  /** Which events the profile's register block has. */
  private readonly present: Record<InterruptSource, boolean>;

  /** Event interrupts over `regs`' xxCTL/xxDATA/xxADDR registers, delivered to `sink`. */
  constructor(private readonly regs: RegisterFile, private readonly sink: InterruptSink = () => {}) {
    this.present = {
      fault: regs.has(CONTROL_NAMES.fault), invalidation: regs.has(CONTROL_NAMES.invalidation),
      'page-request': regs.has(CONTROL_NAMES['page-request']),
    };
  }

  /** Raises the event: sets IP, or sends the MSI at once when unmasked. */
  raise(source: InterruptSource): void {
    if (!this.present[source]) return;
    const at = EVENT_REGS[source].ctl;
    const ctl = this.regs.dword(at);
    if (ctl & ECTL.IM) {
      this.regs.setDword(at, (ctl | ECTL.IP) >>> 0);
    } else {
      this.send(source);
      this.regs.setDword(at, (ctl & ~ECTL.IP) >>> 0);
    }
  }

  /** Withdraws a pending event (software serviced its cause): IP := 0. */
  withdraw(source: InterruptSource): void {
    if (!this.present[source]) return;
    const at = EVENT_REGS[source].ctl;
    this.regs.setDword(at, (this.regs.dword(at) & ~ECTL.IP) >>> 0);
  }

  /** After a write to the control register: unmasking with IP set sends the held message. */
  onControlWrite(source: InterruptSource): void {
    const at = EVENT_REGS[source].ctl;
    const ctl = this.regs.dword(at);
    if ((ctl & ECTL.IP) && !(ctl & ECTL.IM)) {
      this.send(source);
      this.regs.setDword(at, (ctl & ~ECTL.IP) >>> 0);
    }
  }

  /** True while the event is pending (IP = 1). */
  pending(source: InterruptSource): boolean {
    return this.present[source] && (this.regs.dword(EVENT_REGS[source].ctl) & ECTL.IP) !== 0;
  }

  private send(source: InterruptSource): void {
    const r = EVENT_REGS[source];
    const msi: MsiMessage = {
      source,
      address: (BigInt(this.regs.dword(r.uaddr)) << 32n) | BigInt(this.regs.dword(r.addr)),
      data: this.regs.dword(r.data),
    };
    this.sent.push(msi);
    if (this.sent.length > 1024) this.sent.shift();
    this.sink(msi);
  }
}
