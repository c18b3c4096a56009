/**
 * `viommu bench`: translation / invalidation throughput of the wasm core
 * against a native C baseline, a plain-JS baseline and a QEMU-policy model
 * (bench/). Checks its output paths (and, for plots, the optional vega
 * packages) before the run, shows a progress bar while it runs and a table
 * at the end. Exit status 1 when a target could not be measured (no wasm
 * core, no C compiler without `--no-native`), saying why.
 */
import { Option, type Command } from 'commander';
import type { BenchResult } from '../../../bench/report/schema.js';
import { printError, UsageError, type CliCommand, type CliIo } from './command.js';
import { unwritable } from './values.js';

/** The options `bench` takes (commander's names). */
interface BenchOpts {
  quick?: boolean;
  json?: string;
  svg?: string;
  report?: string;
  native: boolean;
  progress: boolean;
}

/** Refuses output paths that cannot be written, before anything runs. */
function checkOutputs(o: BenchOpts): void {
  for (const [flag, path] of [['--json', o.json], ['--svg', o.svg], ['--report', o.report]] as const) {
    const why = path === undefined ? undefined : unwritable(path);
    if (why) throw new UsageError(`option '${flag}': cannot write ${path}: ${why}`);
  }
}

/** The targets a run could not measure, each with the reason and what to do. */
export function missingTargets(r: BenchResult, nativeWanted: boolean): string[] {
  const missing: string[] = [];
  if (r.meta.coreMissing) missing.push(`wasm core: ${r.meta.coreMissing} (npm run build)`);
  if (nativeWanted && r.meta.native.startsWith('skipped: ')) {
    missing.push(`native C baseline (the "native" column is empty): ${r.meta.native.slice(9)}; install a C compiler (gcc or clang, or set CC) or pass --no-native`);
  }
  for (const t of r.targets) if (t.measured === null && t.note?.startsWith('not measured')) missing.push(`${t.id}: ${t.note}`);
  for (const line of r.probes.lines) if (line.includes('not measured')) missing.push(line);
  return missing;
}

/** A progress callback: a bar on a terminal, lines otherwise, nothing with --no-progress. */
async function progress(o: BenchOpts, io: CliIo): Promise<{ update(done: number, total: number, step: string): void; stop(): void }> {
  if (!o.progress) return { update: () => {}, stop: () => {} };
  if (!process.stderr.isTTY) return { update: (d, t, s) => io.err(`[${d}/${t}] ${s}\n`), stop: () => {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar({ format: 'bench [{bar}] {value}/{total} {step}', stream: process.stderr }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total, step) => {
      if (!started) bar.start(total, 0, { step });
      started = true;
      bar.update(done, { step });
    },
    stop: () => bar.stop(),
  };
}

async function runBenchCommand(o: BenchOpts, io: CliIo): Promise<number> {
  checkOutputs(o);
  if (o.svg || o.report) {
    const { loadPlotting } = await import('../../../bench/report/plots.js');
    try {
      await loadPlotting();
    } catch (err) {
      printError(io, (err as Error).message);
      return 1;
    }
  }
  const { runBench } = await import('../../../bench/run.js');
  const { formatTable } = await import('../../../bench/report/format.js');
  const { writeOutputs } = await import('../../../bench/report/write.js');
  const bar = await progress(o, io);
  const result = await runBench({ quick: o.quick, noNative: !o.native, onProgress: bar.update });
  bar.stop();
  io.out(`${formatTable(result)}\n`);
  for (const path of await writeOutputs(result, { json: o.json, svg: o.svg, markdown: o.report })) io.err(`wrote ${path}\n`);
  const missing = missingTargets(result, o.native);
  for (const m of missing) printError(io, `not measured: ${m}`);
  return missing.length === 0 ? 0 : 1;
}

/** The `bench` row of the command table. */
export const benchCommand: CliCommand = {
  name: 'bench',
  summary: 'translation/invalidation throughput vs native C, plain JS and a QEMU-policy model (docs/BENCH.md)',
  define: (cmd: Command) => {
    cmd.option('--quick', 'smaller sizes (a few seconds)')
      .addOption(new Option('--json <file>', 'write the result as JSON'))
      .addOption(new Option('--svg <file>', 'write every plot into one SVG (needs the optional packages vega, vega-lite)'))
      .addOption(new Option('--report <file>', 'write the markdown report, plots in a folder beside it (needs vega, vega-lite)'))
      .option('--no-native', 'skip the native C baseline')
      .option('--no-progress', 'no progress output');
  },
  run: (_args, opts, io) => runBenchCommand(opts as unknown as BenchOpts, io),
};
