/**
 * The `viommu` command line. Commands are rows of a table
 * `{ name, usage, describe, run }`; `main` picks the row and runs it.
 * Other commands (bench, fuzz, trace) add rows to `COMMANDS`.
 */
import { readFile } from 'node:fs/promises';
import { benchCommand } from './bench.js'; // bench row added by H4 (issue 9)
import { runDemo } from './demo.js';
import { runInfo } from './info.js';
import { formatReplay, replayScenario } from './replay.js';

/** One CLI command. `run` gets the arguments after the command name and returns the exit code. */
export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly describe: string;
  run(args: string[], io: CliIo): Promise<number>;
}

/** Where commands print. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** A closed pipe (`viommu info | head`) ends the output quietly instead of crashing. */
function quietOnClosedPipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

async function replayCommand(args: string[], io: CliIo): Promise<number> {
  const verbose = args.includes('--verbose');
  const files = args.filter((a) => a !== '--verbose');
  if (files.length !== 1) {
    io.err('usage: viommu replay <scenario.json> [--verbose]\n');
    return 2;
  }
  const file = files[0]!;
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    io.err(`viommu replay: ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  try {
    const log = verbose ? (m: string) => io.err(`vtd: ${m}\n`) : undefined;
    io.out(formatReplay(await replayScenario(doc, { log })));
    return 0;
  } catch (err) {
    io.err(`viommu replay: ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/** The command table. */
export const COMMANDS: Command[] = [
  {
    name: 'replay', usage: 'replay <scenario.json> [--verbose]',
    describe: 'run a viommu-scenario/1 file and print the viommu-replay/1 observations',
    run: replayCommand,
  },
  {
    name: 'info', usage: 'info [--profile NAME] [--legacy] [--aw 39|48|57] [--cm] [--first-stage]',
    describe: 'print a profile\'s register layout and CAP/ECAP decoded',
    run: runInfo,
  },
  {
    name: 'demo', usage: 'demo',
    describe: 'build a small guest address space, translate, fault, invalidate, print cache statistics',
    run: runDemo,
  },
  benchCommand,
];

function help(io: CliIo): void {
  io.out('usage: viommu <command> [args]\n\n');
  for (const c of COMMANDS) io.out(`  ${c.usage.padEnd(48)} ${c.describe}\n`);
}

/** Entry point: `argv` as in `process.argv` (node, script, command, args...). Returns the exit code. */
export async function main(argv: string[], io: CliIo = stdio): Promise<number> {
  if (io === stdio) quietOnClosedPipe();
  const [name, ...args] = argv.slice(2);
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    help(io);
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.err(`viommu: unknown command "${name}"\n`);
    help(io);
    return 2;
  }
  return cmd.run(args, io);
}
