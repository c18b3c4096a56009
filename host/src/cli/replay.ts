/**
 * `viommu replay <scenario.json> [--verbose]`: reads the file, runs it with
 * the scenario runner (host/src/scenario/replay.ts) and prints the
 * `viommu-replay/1` output (JSON). Only I/O lives here.
 */
import { readFile } from 'node:fs/promises';
import { formatReplay, replayScenario } from '../scenario/replay.js';
import { printError, type CliCommand } from './command.js';

/** The `replay` row of the command table: exit 1 for an unreadable or unrunnable scenario. */
export const replayCommand: CliCommand = {
  name: 'replay',
  summary: 'run a viommu-scenario/1 file and print the viommu-replay/1 observations (JSON)',
  define: (cmd) => {
    cmd.argument('<scenario.json>', 'the scenario (format: firmware-tests/golden/FORMAT.md)')
      .option('--verbose', 'log the guest\'s programming errors to stderr');
  },
  run: async ([file], opts, io) => {
    const name = file as string;
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(name, 'utf8'));
    } catch (err) {
      printError(io, `${name}: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
    try {
      const log = opts['verbose'] ? (m: string) => io.err(`vtd: ${m}\n`) : undefined;
      io.out(formatReplay(await replayScenario(doc, { log })));
      return 0;
    } catch (err) {
      printError(io, `${name}: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  },
};
