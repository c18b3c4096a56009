/**
 * Replays recorded scenarios with the model and reports where they disagree
 * with what QEMU recorded: the first differing observation of each file and
 * the agreement rate. Used by the differential mode (differential.ts) and to
 * check a freshly recorded family before committing it.
 *
 * Usage: node dist/tools/qemu-record/compare.js <dir|file.scenario.json>...
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { replayScenario } from '../../host/src/scenario/replay.js';

/** One observation as the replay and the recording lay it out. */
export interface Obs { step: number; op: string; value?: string; data?: string }

/** Where a replay first departs from a recording (undefined: they agree). */
export interface Disagreement {
  /** Index in the observation arrays. */
  readonly index: number;
  /** Step of the first differing observation (or of the shorter array's end). */
  readonly step: number;
  readonly qemu?: Obs;
  readonly model?: Obs;
}

/** The first observation where `model` departs from `qemu`, or undefined when equal. */
export function firstDifference(qemu: readonly Obs[], model: readonly Obs[]): Disagreement | undefined {
  const n = Math.max(qemu.length, model.length);
  for (let i = 0; i < n; i++) {
    if (JSON.stringify(qemu[i]) !== JSON.stringify(model[i])) {
      return { index: i, step: (qemu[i] ?? model[i])!.step, qemu: qemu[i], model: model[i] };
    }
  }
  return undefined;
}

/** Replays `scenario` and compares with the recorded observations. A replay error is a disagreement at step -1. */
export async function compareOne(scenario: unknown, recorded: readonly Obs[]): Promise<Disagreement | undefined> {
  try {
    const out = await replayScenario(scenario);
    return firstDifference(recorded, out.observations as Obs[]);
  } catch (e) {
    return { index: -1, step: -1, model: { step: -1, op: 'error', value: (e as Error).message } };
  }
}

/** Every `*.scenario.json` under the given files and directories. */
export function scenarioFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) => statSync(p).isDirectory()
    ? readdirSync(p).filter((f) => f.endsWith('.scenario.json')).sort().map((f) => join(p, f))
    : p.endsWith('.scenario.json') ? [p] : []);
}

async function main(argv: string[]): Promise<number> {
  const files = scenarioFiles(argv);
  let agree = 0;
  for (const f of files) {
    const scenario = JSON.parse(readFileSync(f, 'utf8'));
    const expected = JSON.parse(readFileSync(f.replace('.scenario.json', '.expected.json'), 'utf8'));
    const d = await compareOne(scenario, expected.observations);
    if (!d) { agree++; continue; }
    const step = scenario.steps[d.step];
    console.log(`DIFF ${f} step ${d.step} ${JSON.stringify(step)}\n  qemu  ${JSON.stringify(d.qemu)}\n  model ${JSON.stringify(d.model)}`);
  }
  console.log(`${agree}/${files.length} agree (${files.length ? ((100 * agree) / files.length).toFixed(1) : '0'}%)`);
  return 0;
}

if (process.argv[1]?.endsWith('compare.js')) {
  main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(String(e)); process.exitCode = 1; });
}
