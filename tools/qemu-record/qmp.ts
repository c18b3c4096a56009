/**
 * A QMP connection to the recorder's QEMU, for what the qtest protocol cannot
 * read: the local APICs' pending interrupts. qtest's `readl 0xfee00200` has
 * no current CPU (the APIC answers 0), and `irq_intercept_in` sees only
 * interrupt lines, never an MSI; the monitor's `info lapic <id>` prints the
 * APIC's IRR (as `IRR\t 49 66(level)`, or `(none)`), the state a guest reads
 * at 0xFEE00200-0xFEE00270.
 */
import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

/** One QMP session over a unix socket (`-qmp unix:PATH,server=on,wait=off`). */
export class Qmp {
  private readonly replies: string[] = [];
  private readonly waiters: ((line: string) => void)[] = [];

  private constructor(private readonly sock: Socket) {
    createInterface({ input: sock }).on('line', (line) => {
      if (line.includes('"event"')) return; // asynchronous events are not answers
      const w = this.waiters.shift();
      if (w) w(line); else this.replies.push(line);
    });
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string): Promise<Qmp> {
    const sock = createConnection(path);
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const qmp = new Qmp(sock);
    await qmp.next(); // {"QMP": {...}}
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  /** Runs a QMP command; returns its `return` value (throws on an `error` answer). */
  async execute(command: string, args?: object): Promise<unknown> {
    this.sock.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    const reply = JSON.parse(await this.next()) as { return?: unknown; error?: { desc: string } };
    if (reply.error) throw new Error(`QMP ${command}: ${reply.error.desc}`);
    return reply.return;
  }

  /** A human-monitor command's text output. */
  async hmp(commandLine: string): Promise<string> {
    return String(await this.execute('human-monitor-command', { 'command-line': commandLine }));
  }

  /** Closes the connection. */
  close(): void {
    this.sock.destroy();
  }

  private next(): Promise<string> {
    const line = this.replies.shift();
    return line !== undefined ? Promise.resolve(line) : new Promise((r) => this.waiters.push(r));
  }
}

/** The `apic.irr` observation from `info lapic` output: IRR vectors, and those marked level-triggered. */
export function irrOf(text: string): { vectors: number[]; level: number[] } {
  const line = text.split('\n').find((l) => l.startsWith('IRR'));
  if (!line) throw new Error(`no IRR line in 'info lapic' output: ${JSON.stringify(text.slice(0, 200))}`);
  const vectors: number[] = [];
  const level: number[] = [];
  for (const m of line.slice(3).matchAll(/(\d+)(\(level\))?/g)) {
    vectors.push(Number(m[1]));
    if (m[2]) level.push(Number(m[1]));
  }
  return { vectors, level };
}
