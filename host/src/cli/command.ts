/**
 * What a `viommu` command is (a row of the command table in main.ts) and
 * how commands print and report errors. Its own module so the command
 * modules and main.ts do not import each other.
 */
import type { Command } from 'commander';

/** Where commands print. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** One CLI command: a row of the command table. */
export interface CliCommand {
  readonly name: string;
  /** One line for `viommu --help`. */
  readonly summary: string;
  /** Declares the command's arguments and options on its commander command. */
  define(cmd: Command): void;
  /** Runs with the parsed positional arguments and options; returns the exit code. */
  run(args: readonly unknown[], opts: Record<string, unknown>, io: CliIo): Promise<number>;
}

/** A bad argument found while running (exit status 2, printed like commander's own errors). */
export class UsageError extends Error {}

/** Prints an error the way every command does: `viommu: error: <message>`. */
export function printError(io: CliIo, message: string): void {
  io.err(`viommu: error: ${message}\n`);
}
