/**
 * `viommu bench`: translation / invalidation throughput of the wasm core
 * against a native C baseline, a plain-JS baseline and a QEMU-policy model
 * (bench/). Shows a progress bar while it runs and a table at the end.
 */
import cliProgress from 'cli-progress';
import { runBench } from '../../../bench/run.js';
import { formatTable } from '../../../bench/report/format.js';
import { writeOutputs } from '../../../bench/report/write.js';
import type { CliIo, Command } from './main.js';

const USAGE = 'bench [--quick] [--json out.json] [--svg out.svg] [--report BENCH.md] [--no-native] [--no-progress]';

interface BenchArgs {
  quick: boolean;
  json?: string;
  svg?: string;
  markdown?: string;
  noNative: boolean;
  progress: boolean;
}

/** Parses the bench arguments; throws an Error naming the bad argument. */
export function parseBenchArgs(args: string[]): BenchArgs {
  const parsed: BenchArgs = { quick: false, noNative: false, progress: true };
  const valueOf = (i: number, flag: string): string => {
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a file name`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--quick') parsed.quick = true;
    else if (a === '--no-native') parsed.noNative = true;
    else if (a === '--no-progress') parsed.progress = false;
    else if (a === '--json') parsed.json = valueOf(i++, a);
    else if (a === '--svg') parsed.svg = valueOf(i++, a);
    else if (a === '--report') parsed.markdown = valueOf(i++, a);
    else throw new Error(`unknown argument ${a}`);
  }
  return parsed;
}

async function runBenchCommand(args: string[], io: CliIo): Promise<number> {
  let opts: BenchArgs;
  try {
    opts = parseBenchArgs(args);
  } catch (err) {
    io.err(`viommu bench: ${(err as Error).message}\nusage: viommu ${USAGE}\n`);
    return 2;
  }
  const bar = opts.progress && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'bench [{bar}] {value}/{total} {step}', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
  let started = false;
  const result = await runBench({
    quick: opts.quick,
    noNative: opts.noNative,
    onProgress: (done, total, step) => {
      if (!bar) return io.err(opts.progress ? `[${done}/${total}] ${step}\n` : '');
      if (!started) { bar.start(total, 0, { step }); started = true; }
      bar.update(done, { step });
    },
  });
  bar?.stop();
  io.out(`${formatTable(result)}\n`);
  for (const path of await writeOutputs(result, { json: opts.json, svg: opts.svg, markdown: opts.markdown })) io.err(`wrote ${path}\n`);
  return 0;
}

/** The `bench` row of the CLI command table. */
export const benchCommand: Command = {
  name: 'bench',
  usage: USAGE,
  describe: 'translation/invalidation throughput vs native C, plain JS and a QEMU-policy model',
  run: runBenchCommand,
};
