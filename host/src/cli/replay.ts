/**
 * `viommu replay <scenario.json> [--verbose]`: reads the file, runs it with
 * the scenario runner (host/src/scenario/replay.ts) and prints the
 * `viommu-replay/1` output. Only I/O lives here.
 */
import { readFile } from 'node:fs/promises';
import { formatReplay, replayScenario } from '../scenario/replay.js';
import type { CliIo } from './main.js';

/** Runs the replay command; returns the exit code (2 usage, 1 unreadable or unrunnable scenario). */
export async function replayCommand(args: string[], io: CliIo): Promise<number> {
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

/** The runner itself, re-exported for older imports (tests); new code imports host/src/scenario/replay.js. */
export { formatReplay, replayScenario } from '../scenario/replay.js';
