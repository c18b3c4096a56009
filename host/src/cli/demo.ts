/**
 * `viommu demo [flow]` (`npm start` runs every flow): the seed flows of the
 * vIOMMU modes end to end, each on a fresh machine, narrating its steps and
 * checking its own result (host/src/flows/). With no flow named, every flow
 * runs and a short throughput figure (batched nested translations through
 * the physical IOMMU core) follows. Exit status 1 when a flow's check fails,
 * 2 for an unknown flow name.
 */
import { FLOWS, flowNamed, type Flow } from '../flows/index.js';
import { measureThroughput } from '../flows/throughput.js';
import type { CliIo } from './main.js';

/** Runs one flow with its narration indented under a header; returns whether its checks passed. */
async function runFlow(flow: Flow, io: CliIo): Promise<boolean> {
  io.out(`\n== ${flow.name}: ${flow.summary}\n`);
  const started = performance.now();
  const result = await flow.run({ say: (line) => io.out(`  ${line}\n`) });
  const ms = (performance.now() - started).toFixed(0);
  if (result.ok) io.out(`  -> ${flow.name} ok (${ms} ms)\n`);
  else io.err(`  -> ${flow.name} FAILED (${ms} ms): ${result.failures.join('; ')}\n`);
  return result.ok;
}

/** Runs the named flow, or all of them and the throughput figure. */
export async function runDemo(args: string[], io: CliIo): Promise<number> {
  if (args.length > 1) {
    io.err(`viommu demo: at most one flow name\nusage: viommu demo [${FLOWS.map((f) => f.name).join('|')}]\n`);
    return 2;
  }
  if (args.length === 1) {
    const flow = flowNamed(args[0]!);
    if (!flow) {
      io.err(`viommu demo: unknown flow "${args[0]}" (known: ${FLOWS.map((f) => f.name).join(', ')})\n`);
      return 2;
    }
    return (await runFlow(flow, io)) ? 0 : 1;
  }
  const failed: string[] = [];
  for (const flow of FLOWS) if (!(await runFlow(flow, io))) failed.push(flow.name);
  const t = await measureThroughput();
  io.out(`\nthroughput: ${(t.perSecond / 1e6).toFixed(2)} M nested translations/s (batches of 4096 through the physical IOMMU core, IOTLB warm; ${t.translations} in ~0.5 s${t.failed ? `, ${t.failed} faulted` : ''})\n`);
  io.out(`\n${FLOWS.length - failed.length}/${FLOWS.length} flows ok${failed.length ? `; failed: ${failed.join(', ')}` : ''}\n`);
  return failed.length === 0 ? 0 : 1;
}
