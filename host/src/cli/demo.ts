/**
 * `viommu demo [flow]` (`npm start` runs every flow): the seed flows of the
 * vIOMMU modes end to end, each on a fresh machine, narrating its steps and
 * checking its own result (host/src/flows/). With no flow named, every flow
 * runs and a short throughput figure (batched nested translations through
 * the physical IOMMU core) follows. `--json` prints the same as one JSON
 * document. Exit status 1 when a flow's check fails.
 */
import { Argument, type Command } from 'commander';
import { FLOWS, flowNamed, type Flow } from '../flows/index.js';
import { measureThroughput } from '../flows/throughput.js';
import type { CliCommand, CliIo } from './command.js';

/** What one flow did. */
interface FlowReport {
  readonly name: string;
  readonly summary: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly narration: string[];
  readonly failures: readonly string[];
}

/** Runs one flow; `say` hears each narration line as it comes. */
async function runFlow(flow: Flow, say: (line: string) => void): Promise<FlowReport> {
  const narration: string[] = [];
  const started = performance.now();
  const result = await flow.run({ say: (line) => { narration.push(line); say(line); } });
  const ms = Math.round(performance.now() - started);
  return { name: flow.name, summary: flow.summary, ok: result.ok, ms, narration, failures: result.failures };
}

/** Text output: a header per flow, its narration indented, its verdict. */
async function runText(flows: readonly Flow[], withThroughput: boolean, io: CliIo): Promise<number> {
  const failed: string[] = [];
  for (const flow of flows) {
    io.out(`\n== ${flow.name}: ${flow.summary}\n`);
    const r = await runFlow(flow, (line) => io.out(`  ${line}\n`));
    if (r.ok) io.out(`  -> ${r.name} ok (${r.ms} ms)\n`);
    else io.err(`  -> ${r.name} FAILED (${r.ms} ms): ${r.failures.join('; ')}\n`);
    if (!r.ok) failed.push(r.name);
  }
  if (withThroughput) {
    const t = await measureThroughput();
    io.out(`\nthroughput: ${(t.perSecond / 1e6).toFixed(2)} M nested translations/s (batches of 4096 through the physical IOMMU core, IOTLB warm; ${t.translations} in ~0.5 s${t.failed ? `, ${t.failed} faulted` : ''})\n`);
    io.out(`\n${flows.length - failed.length}/${flows.length} flows ok${failed.length ? `; failed: ${failed.join(', ')}` : ''}\n`);
  }
  return failed.length === 0 ? 0 : 1;
}

/** JSON output: `{ flows: [...], throughput?, ok, failed }`. */
async function runJson(flows: readonly Flow[], withThroughput: boolean, io: CliIo): Promise<number> {
  const reports: FlowReport[] = [];
  for (const flow of flows) reports.push(await runFlow(flow, () => {}));
  const failed = reports.filter((r) => !r.ok).map((r) => r.name);
  const throughput = withThroughput ? await measureThroughput() : undefined;
  io.out(`${JSON.stringify({ flows: reports, ...(throughput ? { throughput } : {}), ok: reports.length - failed.length, failed }, null, 2)}\n`);
  return failed.length === 0 ? 0 : 1;
}

/** The `demo` row of the command table. */
export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'run the seed flows (all, or the one named), each narrated and self-checked, then a throughput figure',
  define: (cmd: Command) => {
    cmd.addArgument(new Argument('[flow]', 'one flow to run (default: all, then the throughput figure)').choices(FLOWS.map((f) => f.name)))
      .option('--json', 'print the flows\' narration, checks and timing as JSON');
  },
  run: async ([name], opts, io) => {
    const flows = name === undefined ? FLOWS : [flowNamed(name as string)!];
    return (opts['json'] ? runJson : runText)(flows, name === undefined, io);
  },
};
