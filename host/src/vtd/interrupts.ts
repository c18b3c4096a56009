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
import { ECTL } from './spec/registers.js';

/** Which event register set an MSI came from. */
export type InterruptSource = 'fault' | 'invalidation' | 'page-request';

/** A message-signalled interrupt as the remapping hardware writes it (§5.1.6: edge, level 0). */
export interface MsiMessage {
  /** The event that sent it. */
  readonly source: InterruptSource;
  /** 64-bit MSI address: xxUADDR << 32 | xxADDR. */
  readonly address: bigint;
  /** MSI data (xxDATA). */
  readonly data: number;
}

/** Receives every interrupt the unit sends; the embedder's hook. */
export type InterruptSink = (msi: MsiMessage) => void;

interface EventRegs {
  ctl: RegName;
  data: RegName;
  addr: RegName;
  uaddr: RegName;
}

const EVENT_REGS: Record<InterruptSource, EventRegs> = {
  fault: { ctl: 'FECTL', data: 'FEDATA', addr: 'FEADDR', uaddr: 'FEUADDR' },
  invalidation: { ctl: 'IECTL', data: 'IEDATA', addr: 'IEADDR', uaddr: 'IEUADDR' },
  'page-request': { ctl: 'PECTL', data: 'PEDATA', addr: 'PEADDR', uaddr: 'PEUADDR' },
};

/** The three event interrupts of one unit over its register file. */
export class EventInterrupts {
  /** Messages sent so far (most recent last), for embedders that poll. */
  readonly sent: MsiMessage[] = [];

  /** Event interrupts over `regs`' xxCTL/xxDATA/xxADDR registers, delivered to `sink`. */
  constructor(private readonly regs: RegisterFile, private readonly sink: InterruptSink = () => {}) {}

  /** Raises the event: sets IP, or sends the MSI at once when unmasked. */
  raise(source: InterruptSource): void {
    const r = EVENT_REGS[source];
    if (!this.regs.has(r.ctl)) return;
    const ctl = this.regs.get(r.ctl);
    if (ctl & BigInt(ECTL.IM)) {
      this.regs.set(r.ctl, ctl | BigInt(ECTL.IP));
    } else {
      this.send(source);
      this.regs.set(r.ctl, ctl & ~BigInt(ECTL.IP));
    }
  }

  /** Withdraws a pending event (software serviced its cause): IP := 0. */
  withdraw(source: InterruptSource): void {
    const r = EVENT_REGS[source];
    if (!this.regs.has(r.ctl)) return;
    this.regs.set(r.ctl, this.regs.get(r.ctl) & ~BigInt(ECTL.IP));
  }

  /** After a write to the control register: unmasking with IP set sends the held message. */
  onControlWrite(source: InterruptSource): void {
    const r = EVENT_REGS[source];
    const ctl = this.regs.get(r.ctl);
    if ((ctl & BigInt(ECTL.IP)) && !(ctl & BigInt(ECTL.IM))) {
      this.send(source);
      this.regs.set(r.ctl, ctl & ~BigInt(ECTL.IP));
    }
  }

  /** True while the event is pending (IP = 1). */
  pending(source: InterruptSource): boolean {
    const r = EVENT_REGS[source];
    return this.regs.has(r.ctl) && (this.regs.get(r.ctl) & BigInt(ECTL.IP)) !== 0n;
  }

  private send(source: InterruptSource): void {
    const r = EVENT_REGS[source];
    const msi: MsiMessage = {
      source,
      address: (this.regs.get(r.uaddr) << 32n) | this.regs.get(r.addr),
      data: Number(this.regs.get(r.data)),
    };
    this.sent.push(msi);
    if (this.sent.length > 1024) this.sent.shift();
    this.sink(msi);
  }
}
