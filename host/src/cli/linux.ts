/**
 * `viommu linux [--mode NAME|all] [--reads N] [--passes N] [--json FILE]`: boots the Linux
 * fixture in v86 headless with the unit attached, runs the guest checks
 * (host/src/v86/linux/run.ts) and prints the kernel's DMAR lines, each check,
 * the model's counters and the read / boot times against the same boot
 * without the IOMMU (booted just before, its reads alternating with the
 * IOMMU guest's). Read times are the guest's clock and, beside them, the
 * host CPU the read took (what a loaded machine disturbs least). `--json`
 * writes `{ "runs": [ { "name", "ok", "readMs", "baselineReadMs", ... } ] }`.
 * Exit code 0 when every check of every mode passed.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { LINUX_MODE_NAMES, LINUX_MODES, linuxMode } from '../v86/linux/modes.js';
import { runLinuxMode, type LinuxRun } from '../v86/linux/run.js';
import { Option, type Command } from 'commander';
import { UsageError, type CliCommand, type CliIo } from './command.js';
import { integerIn, oneOf, unwritable } from './values.js';

/** The command's options, parsed. */
export interface LinuxCommandOptions {
  /** Mode names to run. */
  readonly modes: readonly string[];
  /** Timed whole-disk reads per guest (the fastest counts). */
  readonly reads: number;
  /** Passes over the disk in each timed read (averaged). */
  readonly passes: number;
  /** Write the JSON report here. */
  readonly json?: string;
}

/** Runs the modes; returns the exit code. */
export async function runLinuxCommand(o: LinuxCommandOptions, io: CliIo): Promise<number> {
  const { loadCoreModule, loadLinuxFixture, loadV86 } = await import('../v86/linux/fixture-node.js');
  const env = {
    V86: await loadV86(), fixture: await loadLinuxFixture(), core: await loadCoreModule(), reads: o.reads, passes: o.passes,
    md5: (b: Uint8Array) => createHash('md5').update(b).digest('hex'),
    progress: (line: string) => io.err(`${line}\n`),
    cpuMs: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
  };
  const runs: LinuxRun[] = [];
  for (const name of o.modes) {
    const run = await runLinuxMode(linuxMode(name), env, true);
    runs.push(run);
    printRun(run, io);
  }
  printSummary(runs, io);
  if (o.json) await writeFile(o.json, `${JSON.stringify({ runs }, null, 2)}\n`);
  return runs.every((r) => r.ok) ? 0 : 1;
}

/**
 * One row per mode: the whole-disk read and the boot, each by the guest's or
 * the host's wall clock and by host CPU, with the IOMMU, without it, and
 * their ratio (the issue's bound is 1.3).
 */
function printSummary(runs: readonly LinuxRun[], io: CliIo): void {
  const cols = ['read ms', 'base', 'ratio', 'read cpu', 'base', 'ratio', 'boot ms', 'base', 'ratio', 'boot cpu', 'base', 'ratio'];
  io.out(`\n${'mode'.padEnd(12)} ${'ok'.padEnd(4)}${cols.map((c) => c.padStart(9)).join('')}\n`);
  const ms = (v: number | undefined): string => (v ?? NaN).toFixed(0).padStart(9);
  const triple = (a: number | undefined, b: number | undefined): string => `${ms(a)}${ms(b)}${((a ?? NaN) / (b ?? NaN)).toFixed(2).padStart(9)}`;
  for (const r of runs) {
    io.out(`${r.name.padEnd(12)} ${(r.ok ? 'yes' : 'NO').padEnd(4)}${triple(r.readMs, r.baselineReadMs)}${triple(r.readCpuMs, r.baselineReadCpuMs)}`
      + `${triple(r.bootMs, r.baselineBootMs)}${triple(r.bootCpuMs, r.baselineBootCpuMs)}\n`);
  }
}

function printRun(r: LinuxRun, io: CliIo): void {
  io.out(`\n== ${r.name}: ${LINUX_MODES.find((m) => m.name === r.name)!.describe}\n`);
  for (const l of r.dmarLines) io.out(`  ${l}\n`);
  for (const c of r.checks) io.out(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(20)} ${c.detail}\n`);
  const s = r.stats;
  io.out(`  model: ${Object.entries(s.core).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  io.out(`  mmio reads ${s.mmio.reads} writes ${s.mmio.writes} dropped ${s.mmio.dropped}; IDE DMA requests ${s.ide.requests} bytes ${s.ide.bytes} aborted ${s.ide.aborted}; `
    + `interrupts ${s.interrupts.delivered} (merged ${s.interrupts.merged}, rejected ${s.interrupts.rejected})\n`);
  for (const l of r.modelLog) io.out(`  model log: ${l}\n`);
}

/** The CLI row (commander: `define` declares the options, `run` gets them parsed). */
export const linuxCommand: CliCommand = {
  name: 'linux',
  summary: 'boot Linux (intel_iommu=on) in v86 with the unit attached; check DMA, faults, rebinds; time disk reads',
  define: (cmd: Command) => {
    cmd.addOption(new Option('--mode <name>', `a mode to run, repeatable (${LINUX_MODE_NAMES.join(', ')}, all); default all`).argParser(addMode).default([]))
      .addOption(new Option('--reads <n>', 'timed whole-disk reads per guest (the fastest counts)').argParser(integerIn(1, 20)).default(5))
      .addOption(new Option('--passes <n>', 'passes over the disk in each timed read, averaged (a longer window is steadier on a loaded machine)').argParser(integerIn(1, 20)).default(4))
      .option('--json <file>', 'write { "runs": [ { "name", "ok", "readMs", "baselineReadMs", ... } ] }');
  },
  run: async (_args, opts, io) => {
    const json = opts['json'] as string | undefined;
    const why = json === undefined ? undefined : unwritable(json);
    if (why) throw new UsageError(`option '--json <file>': ${json} ${why}`);
    const modes = opts['mode'] as string[];
    return runLinuxCommand({ modes: modes.length ? modes : [...LINUX_MODE_NAMES], reads: opts['reads'] as number, passes: opts['passes'] as number, json }, io);
  },
};

/** commander argParser for a repeatable --mode: `all` adds every mode, duplicates are dropped. */
function addMode(text: string, previous: string[]): string[] {
  const names = text === 'all' ? LINUX_MODE_NAMES : [oneOf(LINUX_MODE_NAMES)(text)];
  return [...new Set([...previous, ...names])];
}
