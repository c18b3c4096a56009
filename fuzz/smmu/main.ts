/**
 * Command line of the SMMUv3 fuzzer (campaign.ts):
 * `node dist/fuzz/smmu/main.js [--time SEC] [--runs N] [--seed N] [--out DIR]`.
 * Exit status 0 when nothing was found, 1 with findings, 2 on bad usage.
 */
import { parseArgs } from 'node:util';
import { loadFuzzModule } from '../execute.js';
import { runSmmuCampaign } from './campaign.js';

const { values } = parseArgs({ options: { time: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } } });
const num = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${what}: ${v} is not a non-negative integer`);
    process.exit(2);
  }
  return n;
};
const time = num(values.time, 'time');
const runs = num(values.runs, 'runs');
const { module } = loadFuzzModule((l) => console.error(l));
const stats = await runSmmuCampaign({ module, timeSec: time ?? (runs === undefined ? 60 : undefined), runs, seed: num(values.seed, 'seed'), out: values.out, log: (l) => console.log(l) });
console.log(`smmu fuzz: ${stats.execs} execs in ${stats.seconds.toFixed(1)} s (${(stats.execs / stats.seconds).toFixed(1)}/s), seeds ${stats.seedsRun}, core probes ${stats.coreProbes}, outcomes ${stats.outcomes}, DMAs judged ${stats.dmaJudged}, corpus ${stats.corpus}, findings ${stats.bugs.length}`);
console.log(`operators: ${JSON.stringify(stats.operators)}`);
process.exit(stats.bugs.length ? 1 : 0);
