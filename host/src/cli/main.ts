/**
 * The `viommu` command line. Commands are rows of a table
 * `{ name, usage, describe, run }`; `main` picks the row and runs it.
 * Other commands (bench, fuzz, trace) add rows to `COMMANDS`.
 */
import { benchCommand } from './bench.js'; // bench row added by H4 (issue 9)
import { runDemo } from './demo.js';
import { runInfo } from './info.js';
import { replayCommand } from './replay.js';

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
    name: 'demo', usage: 'demo [flow]',
    describe: 'run the seed flows (all, or the one named), each narrated and self-checked, then a throughput figure',
    run: runDemo,
  },
  benchCommand,
  { name: 'fuzz', usage: 'fuzz --time SEC [--seed N] [--workers K] [--out DIR]', describe: 'coverage-guided fuzzing; findings as replayable scenarios (fuzz/README.md)', run: async (a, io) => (await import('./fuzz.js')).runFuzz(a, io) },
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
