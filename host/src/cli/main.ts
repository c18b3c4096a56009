/**
 * The `viommu` command line, on commander. Commands are rows of a table
 * (`CliCommand`: name, summary, the arguments and options it declares, and
 * its run); `main` builds the program from the rows and runs it. Every
 * command answers `--help`; `viommu --version` prints the package version.
 *
 * Exit status: 0 success, 1 the command ran and failed (findings, a failed
 * flow, an unreadable file, a missing bench target), 2 bad usage (unknown
 * command or option, a bad value: the message names the option).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { packageRoot } from '../core/load-node.js';
import { benchCommand } from './bench.js';
import { printError, UsageError, type CliCommand, type CliIo } from './command.js';
import { demoCommand } from './demo.js';
import { fuzzCommand } from './fuzz.js';
import { infoCommand } from './info.js';
import { linuxCommand } from './linux.js';
import { replayCommand } from './replay.js';

export type { CliCommand, CliIo } from './command.js';

/** The command table. */
export const COMMANDS: readonly CliCommand[] = [replayCommand, infoCommand, demoCommand, benchCommand, fuzzCommand, linuxCommand];

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

/** The package version (package.json). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Builds the program; `result.code` receives the exit code of the command that ran. */
function program(io: CliIo, result: { code: number }): Command {
  const prog = new Command('viommu')
    .description('a virtual Intel VT-d IOMMU: replay scenarios, inspect profiles, run the seed flows, benchmark, fuzz, boot Linux in v86')
    .version(packageVersion(), '-V, --version', 'print the version')
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (text, write) => write(`viommu: ${text}`) })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  for (const row of COMMANDS) {
    const cmd = prog.command(row.name).summary(row.summary).description(row.summary);
    row.define(cmd);
    cmd.action(async (...a: unknown[]) => {
      const self = a[a.length - 1] as Command;
      try {
        result.code = await row.run(self.processedArgs as unknown[], self.opts(), io);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        self.error(`error: ${err.message}`, { exitCode: 2, code: 'viommu.usage' });
      }
    });
  }
  return prog;
}

/** Entry point: `argv` as in `process.argv` (node, script, command, args...). Returns the exit code. */
export async function main(argv: readonly string[], io: CliIo = stdio): Promise<number> {
  if (io === stdio) quietOnClosedPipe();
  const result = { code: 0 };
  try {
    await program(io, result).parseAsync([...argv]);
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.help') return argv.length > 2 ? 0 : 2; // `viommu help` vs a bare `viommu`
      return 2;
    }
    printError(io, err instanceof Error ? err.message : String(err));
    return 1;
  }
}
