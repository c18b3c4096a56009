/**
 * Records a `viommu-scenario/1` file on a real QEMU (q35 + intel-iommu + edu) through
 * QEMU's qtest protocol and prints the `viommu-replay/1` observations it produced.
 *
 * This is how the project grows its differential test corpus: Debian 12 ships QEMU
 * 7.2.22, the version the `qemu-7.2` profile reproduces, so new scenarios can be
 * recorded on the reference and committed under `firmware-tests/golden/recorded/`.
 * Nothing in `npm test` runs QEMU; the recorded files are data.
 *
 * Usage: node dist/tools/qemu-record/record.js <scenario.json> [--qemu PATH]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Qmp, irrOf } from './qmp.js';

/** Base address of the VT-d register block on q35 (QEMU's Q35_HOST_BRIDGE_IOMMU_ADDR). */
const VTD_BASE = 0xfed90000n;
/** Where this recorder places each edu device's 1 MiB BAR0 (inside q35's PCI hole). */
const EDU_BAR_BASE = 0xe0000000n;
/** edu's DMA buffer address in its own address space (hw/misc/edu.c DMA_START). */
const EDU_DMA_START = 0x40000n;
/** edu register offsets and command bits (hw/misc/edu.c); `raise` raises its interrupt (MSI when enabled). */
const EDU = { raise: 0x60n, src: 0x80n, dst: 0x88n, cnt: 0x90n, cmd: 0x98n, run: 1n, toPci: 2n } as const;
/** PCI configuration offsets (PCI 3.0 §6.7, §6.8.1): capability pointer, MSI capability id and fields. */
const PCI = { capPtr: 0x34, msiId: 0x05, msiControl: 2, msiAddrLo: 4, msiAddrHi: 8, msiData: 0xc } as const;
/** How long to wait for edu's DMA (its timer fires after 100 ms of virtual time). */
const DMA_TIMEOUT_MS = 5000;

interface Step { op: string; [k: string]: unknown }
interface Scenario {
  name: string;
  machine: {
    profile: string; ram_mib: number; cpus?: number;
    iommu: { scalable_mode: boolean; caching_mode: boolean; aw_bits: number; first_stage?: boolean };
    devices: { bdf: string; kind: string }[];
  };
  steps: Step[];
}
/** One observation of a recording (viommu-replay/1). */
export interface Observation { step: number; op: string; value?: string; data?: string; vectors?: number[]; level?: number[] }

/**
 * Runs the guest-memory step `st` (step `i`: mem.write, mem.fill, mem.read)
 * over qtest, pushing what it reads to `obs`; false for any other op. Both
 * recorders (VT-d and SMMUv3) share it.
 */
export async function memoryStep(q: Qtest, st: Record<string, unknown>, i: number, obs: Observation[]): Promise<boolean> {
  const num = (k: string) => BigInt(st[k] as string | number);
  switch (st.op) {
    case 'mem.write': {
      const bytes = (st.u64 as string[]).map((w) => BigInt(w).toString(16).padStart(16, '0')
        .match(/../g)!.reverse().join('')).join('');
      await q.cmd(`write ${hex(num('gpa'))} ${bytes.length / 2} 0x${bytes}`);
      return true;
    }
    case 'mem.fill': await q.cmd(`memset ${hex(num('gpa'))} ${String(st.len)} ${hex(num('byte'))}`); return true;
    case 'mem.read': {
      const data = await q.cmd(`read ${hex(num('gpa'))} ${String(st.len)}`);
      obs.push({ step: i, op: st.op, data: data.replace(/^0x/, '').toLowerCase() });
      return true;
    }
    default: return false;
  }
}

/** A qtest connection: one command line out, one `OK ...` line back. */
export class Qtest {
  private lines: string[] = [];
  private waiters: { ok: (line: string) => void; fail: (e: Error) => void }[] = [];
  private closed = false;
  constructor(private readonly proc: ReturnType<typeof spawn>) {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      if (line.startsWith('IRQ')) return; // asynchronous interrupt notices are not answers
      const w = this.waiters.shift();
      if (w) w.ok(line); else this.lines.push(line);
    });
    // QEMU ended (an assertion on a guest mistake aborts it): no answer will come.
    rl.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w.fail(new Error('QEMU exited before answering'));
    });
  }
  /** Sends one command and returns the text after `OK` (throws on `FAIL`/`ERR`, or when QEMU has exited). */
  async cmd(text: string): Promise<string> {
    if (this.closed && !this.lines.length) throw new Error(`QEMU exited before '${text}'`);
    this.proc.stdin!.write(`${text}\n`);
    const line = this.lines.shift() ?? await new Promise<string>((ok, fail) => this.waiters.push({ ok, fail }));
    if (!line.startsWith('OK')) throw new Error(`qtest '${text}' answered '${line}'`);
    return line.slice(2).trim();
  }
}

function hex(v: bigint): string { return `0x${v.toString(16)}`; }

function parseBdf(bdf: string): { dev: number; fn: number } {
  const m = /^00:([0-9a-fA-F]{2})\.([0-7])$/.exec(bdf);
  if (!m) throw new Error(`bad bdf '${bdf}'`);
  return { dev: parseInt(m[1], 16), fn: parseInt(m[2], 10) };
}

/**
 * Virtual time jumps to the next timer while the CPU halts, so edu's 100 ms DMA
 * timer fires at once (README.md); `VIOMMU_RECORD_ICOUNT=0` records in real time.
 */
const ICOUNT = process.env.VIOMMU_RECORD_ICOUNT === '0' ? [] : ['-icount', 'shift=0,sleep=off'];

function qemuArgs(s: Scenario, qmpSocket: string): string[] {
  const io = s.machine.iommu;
  const opts = ['intremap=on', 'x-buggy-eim=on', `aw-bits=${io.aw_bits}`,
    `caching-mode=${io.caching_mode ? 'on' : 'off'}`, `x-scalable-mode=${io.scalable_mode ? 'on' : 'off'}`];
  if (io.first_stage) opts.push('x-flts=on');
  const args = ['-machine', 'q35', '-bios', haltFirmware(), '-qtest', 'stdio', '-qtest-log', '/dev/null', '-display', 'none',
    ...ICOUNT, '-nodefaults', '-m', String(s.machine.ram_mib), '-smp', String(s.machine.cpus ?? 1),
    '-qmp', `unix:${qmpSocket},server=on,wait=off`, '-device', `intel-iommu,${opts.join(',')}`];
  for (const d of s.machine.devices) {
    const { dev, fn } = parseBdf(d.bdf);
    args.push('-device', `edu,addr=${dev.toString(16).padStart(2, '0')}.${fn}`);
  }
  return args;
}

/** Configuration mechanism #1 address of `reg` of `bdf` (0xCF8). */
function cfgAddress(bdf: string, reg: number): number {
  const { dev, fn } = parseBdf(bdf);
  return (0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
}

/** Assigns BAR0 and enables memory space + bus mastering through config mechanism #1. */
async function setupEdu(q: Qtest, index: number, bdf: string): Promise<bigint> {
  const cfg = (reg: number) => cfgAddress(bdf, reg);
  const bar = EDU_BAR_BASE + BigInt(index) * 0x100000n;
  await q.cmd(`outl 0xcf8 ${hex(BigInt(cfg(0x10)))}`);
  await q.cmd(`outl 0xcfc ${hex(bar)}`);
  await q.cmd(`outl 0xcf8 ${hex(BigInt(cfg(0x04)))}`);
  await q.cmd('outw 0xcfc 0x6');
  return bar;
}

/**
 * The `msi` step on edu: program its MSI capability (found through the
 * capability list) with the address, the 16-bit data and MSI Enable, then
 * raise its interrupt (register 0x60), which edu sends as that MSI.
 */
async function sendMsi(q: Qtest, bar: bigint, bdf: string, address: bigint, data: bigint): Promise<void> {
  const readCfg = async (reg: number, size: 1 | 4): Promise<number> => {
    await q.cmd(`outl 0xcf8 ${hex(BigInt(cfgAddress(bdf, reg)))}`);
    return Number(BigInt(await q.cmd(size === 1 ? `inb ${hex(0xcfcn + BigInt(reg & 3))}` : 'inl 0xcfc')));
  };
  const writeCfg = async (reg: number, cmd: 'outw' | 'outl', v: bigint): Promise<void> => {
    await q.cmd(`outl 0xcf8 ${hex(BigInt(cfgAddress(bdf, reg)))}`);
    await q.cmd(`${cmd} ${hex(0xcfcn + BigInt(reg & 3))} ${hex(v)}`);
  };
  let cap = await readCfg(PCI.capPtr, 1);
  for (let n = 0; cap !== 0 && n < 48 && await readCfg(cap, 1) !== PCI.msiId; n++) cap = await readCfg(cap + 1, 1);
  if (cap === 0) throw new Error(`edu at ${bdf} has no MSI capability`);
  await writeCfg(cap + PCI.msiAddrLo, 'outl', address & 0xffffffffn);
  await writeCfg(cap + PCI.msiAddrHi, 'outl', address >> 32n);
  await writeCfg(cap + PCI.msiData, 'outw', data);
  await writeCfg(cap + PCI.msiControl, 'outw', 1n);
  await q.cmd(`writel ${hex(bar + EDU.raise)} 0x1`);
}

async function mmioRead(q: Qtest, off: bigint, size: number): Promise<bigint> {
  if (size === 4) return BigInt(await q.cmd(`readl ${hex(VTD_BASE + off)}`));
  if (off % 8n === 4n) { // two dword accesses, low first (FORMAT.md)
    const lo = BigInt(await q.cmd(`readl ${hex(VTD_BASE + off)}`));
    const hi = BigInt(await q.cmd(`readl ${hex(VTD_BASE + off + 4n)}`));
    return (hi << 32n) | lo;
  }
  return BigInt(await q.cmd(`readq ${hex(VTD_BASE + off)}`));
}

async function mmioWrite(q: Qtest, off: bigint, size: number, v: bigint): Promise<void> {
  if (size === 4) { await q.cmd(`writel ${hex(VTD_BASE + off)} ${hex(v & 0xffffffffn)}`); return; }
  if (off % 8n === 4n) {
    await q.cmd(`writel ${hex(VTD_BASE + off)} ${hex(v & 0xffffffffn)}`);
    await q.cmd(`writel ${hex(VTD_BASE + off + 4n)} ${hex(v >> 32n)}`);
    return;
  }
  await q.cmd(`writeq ${hex(VTD_BASE + off)} ${hex(v)}`);
}

async function dma(q: Qtest, bar: bigint, iova: bigint, len: number, toRam: boolean): Promise<void> {
  await q.cmd(`writeq ${hex(bar + EDU.src)} ${hex(toRam ? EDU_DMA_START : iova)}`);
  await q.cmd(`writeq ${hex(bar + EDU.dst)} ${hex(toRam ? iova : EDU_DMA_START)}`);
  await q.cmd(`writeq ${hex(bar + EDU.cnt)} ${hex(BigInt(len))}`);
  await q.cmd(`writeq ${hex(bar + EDU.cmd)} ${hex(EDU.run | (toRam ? EDU.toPci : 0n))}`);
  // Debian's QEMU has no qtest accelerator (no clock_step): the VM runs a firmware that
  // only halts, so virtual time passes in real time; poll until edu clears its RUN bit.
  const deadline = Date.now() + DMA_TIMEOUT_MS;
  while (BigInt(await q.cmd(`readq ${hex(bar + EDU.cmd)}`)) & EDU.run) {
    if (Date.now() > deadline) throw new Error('edu DMA did not complete');
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * A 64 KiB firmware image whose reset vector is `cli; hlt; jmp $-1`: the CPU halts at
 * once, so nothing but the scenario touches RAM or PCI configuration.
 */
function haltFirmware(): string {
  const image = new Uint8Array(65536);
  image.set([0xfa, 0xf4, 0xeb, 0xfd], 65536 - 16);
  const file = join(mkdtempSync(join(tmpdir(), 'viommu-qemu-')), 'halt.bin');
  writeFileSync(file, image);
  return file;
}

/**
 * The QEMU binary for a profile: `$QEMU_7_2` / `$QEMU_10_0`, else Debian 12's
 * `qemu-system-x86_64` (7.2.22) and `qemu10-system-x86_64` (a wrapper around QEMU 10.0
 * in a Debian 13 chroot; see README.md).
 */
export function qemuFor(profile: string): string {
  if (profile === 'qemu-7.2') return process.env.QEMU_7_2 ?? 'qemu-system-x86_64';
  if (profile === 'qemu-10.0') return process.env.QEMU_10_0 ?? 'qemu10-system-x86_64';
  throw new Error(`no reference QEMU for profile '${profile}'`);
}

/** Runs every step of `s` on QEMU and returns the observations. */
export async function record(s: Scenario, qemu = qemuFor(s.machine.profile)): Promise<Observation[]> {
  const qmpSocket = join(mkdtempSync(join(tmpdir(), 'viommu-qmp-')), 'qmp.sock');
  const proc = spawn(qemu, qemuArgs(s, qmpSocket), { stdio: ['pipe', 'pipe', 'inherit'] });
  const q = new Qtest(proc);
  let qmp: Qmp | undefined;
  const bars = new Map<string, bigint>();
  const barOf = (i: number, bdf: unknown): bigint => {
    const bar = bars.get(bdf as string);
    if (bar === undefined) throw new Error(`step ${i}: no device at ${String(bdf)}`);
    return bar;
  };
  try {
    for (const [i, d] of s.machine.devices.entries()) bars.set(d.bdf, await setupEdu(q, i, d.bdf));
    const obs: Observation[] = [];
    for (const [i, st] of s.steps.entries()) {
      const num = (k: string) => BigInt(st[k] as string | number);
      if (await memoryStep(q, st, i, obs)) continue;
      switch (st.op) {
        case 'mmio.write': await mmioWrite(q, num('offset'), Number(st.size), num('value')); break;
        case 'mmio.read':
          obs.push({ step: i, op: st.op, value: hex(await mmioRead(q, num('offset'), Number(st.size))) });
          break;
        case 'dma.read': case 'dma.write':
          await dma(q, barOf(i, st.bdf), num('iova'), Number(st.len), st.op === 'dma.write');
          break;
        case 'msi': await sendMsi(q, barOf(i, st.bdf), st.bdf as string, num('address'), num('data')); break;
        case 'apic.irr': {
          qmp ??= await Qmp.connect(qmpSocket);
          const text = await qmp.hmp(`info lapic ${Number(st.apic)}`);
          obs.push({ step: i, op: st.op, ...irrOf(text) });
          break;
        }
        default: throw new Error(`step ${i}: unknown op '${st.op}'`);
      }
    }
    return obs;
  } finally {
    qmp?.close();
    proc.stdin!.end();
    proc.kill();
    rmSync(dirname(qmpSocket), { recursive: true, force: true });
  }
}

/** Formats observations the way the shared `.expected.json` files are laid out. */
export function formatReplay(name: string, obs: Observation[]): string {
  const rows = obs.map((o) => `    ${JSON.stringify(o)}`).join(',\n');
  return `{\n  "format": "viommu-replay/1",\n  "scenario": ${JSON.stringify(name)},\n  "observations": [\n${rows}\n  ]\n}\n`;
}

/**
 * The command line of a recorder (`<tool> <scenario.json> [--qemu PATH]`):
 * records the file's scenario with `rec` and prints the observations as an
 * `.expected.json`; sets the exit code (2 usage, 1 failure).
 */
export function runRecorderCli<S extends { name: string }>(tool: string, argv: string[], rec: (s: S, qemu?: string) => Promise<Observation[]>): void {
  const run = async (): Promise<number> => {
    const file = argv[0];
    if (!file) { console.error(`usage: ${tool} <scenario.json> [--qemu PATH]`); return 2; }
    const qi = argv.indexOf('--qemu');
    const s = JSON.parse(readFileSync(file, 'utf8')) as S;
    process.stdout.write(formatReplay(s.name, await rec(s, qi > 0 ? argv[qi + 1] : undefined)));
    return 0;
  };
  run().then((c) => { process.exitCode = c; }, (e) => { console.error(String(e)); process.exitCode = 1; });
}

if (process.argv[1]?.endsWith('record.js')) runRecorderCli<Scenario>('record', process.argv.slice(2), record);
