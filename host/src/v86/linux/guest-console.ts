/**
 * The host side of the Linux fixture's serial protocol
 * (tools/linux-fixture/rootfs): the guest prints "@@viommu-guest ready" when
 * its console loop runs; the host types `vg <command> [args]` and the guest
 * answers with lines between "@@begin <command>" and
 * "@@end <command> <exit status>". Kernel messages stay off the console after
 * "ready" (`dmesg -n 1`), so what arrives between the markers is the command's.
 * A line "@@t <name>" is a time mark: the console notes when it arrived (host
 * wall clock and, when given a CPU clock, host CPU time), so the host can time
 * a part of a command without the guest's own clock or the command's forks.
 */

/** The serial port of an emulator as the console needs it (v86's `V86`). */
export interface SerialPort {
  /** v86: 'serial0-output-byte' delivers each byte the guest writes to COM1. */
  add_listener(event: 'serial0-output-byte', fn: (byte: number) => void): void;
  /** Types `text` into COM1. */
  serial0_send(text: string): void;
}

/** A time mark ("@@t <name>") and when it arrived, in host milliseconds. */
export interface TimeMark {
  /** The mark's name. */
  readonly name: string;
  /** `performance.now()`. */
  readonly wallMs: number;
  /** The console's CPU clock (NaN without one). */
  readonly cpuMs: number;
}

/** One command's answer. */
export interface GuestAnswer {
  /** Lines between the markers. */
  readonly lines: string[];
  /** The command's exit status. */
  readonly status: number;
  /** The time marks ("@@t <name>" lines) the command printed, in order. */
  readonly marks: readonly TimeMark[];
}

/** The marker the fixture's /init prints when it takes commands. */
export const READY_MARKER = '@@viommu-guest ready';
/** Most characters of console output kept (older output is dropped). */
const MAX_LOG = 1 << 20;
/** What starts a time-mark line. */
const MARK = '@@t ';

/** Waits on the guest's serial output. */
export class GuestConsole {
  private text = '';
  /** Characters dropped from the front of `text` (positions stay absolute). */
  private dropped = 0;
  private waiters: { test: (t: string) => boolean; done: () => void }[] = [];
  /** Where the line being received starts in `text`. */
  private lineStart = 0;
  private marks: TimeMark[] = [];

  /** `cpuMs`: the host's CPU clock in ms (Node: from `process.cpuUsage()`), for time marks. */
  constructor(private readonly port: SerialPort, private readonly cpuMs: () => number = () => NaN) {
    port.add_listener('serial0-output-byte', (b) => this.onByte(b));
  }

  /** Everything the guest printed so far (the last MiB). */
  get log(): string {
    return this.text;
  }

  /** Resolves when the output contains `marker`; rejects after `timeoutMs`. */
  waitFor(marker: string, timeoutMs: number): Promise<void> {
    return this.until((t) => t.includes(marker), timeoutMs, `"${marker}"`);
  }

  /** Types `vg <args>` and returns its answer; rejects after `timeoutMs` without one. */
  async run(args: string, timeoutMs = 60_000): Promise<GuestAnswer> {
    const name = args.split(' ')[0]!;
    const start = this.dropped + this.text.length;
    const since = (): string => this.text.slice(Math.max(0, start - this.dropped));
    const end = new RegExp(`^@@end ${name} (\\d+)\\r?$`, 'm');
    this.marks = [];
    this.port.serial0_send(`vg ${args}\n`);
    await this.until(() => end.test(since()), timeoutMs, `the answer to "vg ${args}"`);
    const out = since();
    const lines = out.slice(out.indexOf(`@@begin ${name}`)).split('\n').map((l) => l.replace(/\r$/, ''));
    const last = lines.findIndex((l) => end.test(l));
    return { lines: lines.slice(1, last), status: Number(end.exec(lines[last]!)![1]), marks: this.marks };
  }

  private until(test: (t: string) => boolean, timeoutMs: number, what: string): Promise<void> {
    if (test(this.text)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { test, done: () => { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`guest: no ${what} within ${timeoutMs} ms; console ends with:\n${this.text.slice(-2000)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  private onByte(b: number): void {
    this.text += String.fromCharCode(b);
    if (b !== 10) return;
    if (this.text.startsWith(MARK, this.lineStart)) {
      const name = this.text.slice(this.lineStart + MARK.length).trim();
      this.marks.push({ name, wallMs: performance.now(), cpuMs: this.cpuMs() });
    }
    if (this.text.length > MAX_LOG) {
      this.dropped += this.text.length - MAX_LOG / 2;
      this.text = this.text.slice(-MAX_LOG / 2);
    }
    this.lineStart = this.text.length;
    const ready = this.waiters.filter((w) => w.test(this.text));
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.done();
  }
}
