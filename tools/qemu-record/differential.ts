/**
 * Differential mode: random guest programs (random-program.ts) recorded on
 * both QEMUs and replayed with the model; disagreements are kept and can be
 * minimised to the few steps that still show them, so the next behaviour the
 * `qemu-*` profiles miss is found here rather than by a user.
 *
 *   node dist/tools/qemu-record/differential.js random <dir> <count> [firstSeed]
 *     records seeds firstSeed..firstSeed+count-1 on QEMU 7.2 and 10.0 into
 *     <dir> (rand-<seed>, rand-10-<seed>), replays each and prints the
 *     agreement rate; disagreeing pairs are listed with their first difference.
 *   node dist/tools/qemu-record/differential.js minimise <file.scenario.json> [out.scenario.json]
 *     removes steps (delta debugging) while QEMU and the model still disagree,
 *     writing the smallest scenario and its recording.
 *   node dist/tools/qemu-record/differential.js recheck <dir>
 *     records every scenario in <dir> again and compares with its .expected.json
 *     (the recorder and the reference are still what the corpus says).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { compareOne, scenarioFiles, type Disagreement, type Obs } from './compare.js';
import { randomProgram } from './random-program.js';
import { formatReplay, record } from './record.js';
import { formatScenarioDoc as formatScenario } from '../../fuzz/input.js';

type Scenario = { name: string; steps: object[] } & Record<string, unknown>;

/** Records `s` and compares the model with it; undefined when QEMU could not run it. */
async function judge(s: Scenario): Promise<{ obs: Obs[]; diff?: Disagreement } | undefined> {
  let obs: Obs[];
  try {
    obs = await record(s as never) as Obs[];
  } catch {
    return undefined;
  }
  return { obs, diff: await compareOne(s, obs) };
}

function save(dir: string, s: Scenario, obs: Obs[]): void {
  writeFileSync(join(dir, `${s.name}.scenario.json`), formatScenario(s));
  writeFileSync(join(dir, `${s.name}.expected.json`), formatReplay(s.name, obs as never));
}

function describe(s: Scenario, d: Disagreement): string {
  return `${s.name}: step ${d.step} ${JSON.stringify(s.steps[d.step] ?? null)}\n  qemu  ${JSON.stringify(d.qemu)}\n  model ${JSON.stringify(d.model)}`;
}

async function random(dir: string, count: number, first: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const tally = { 'qemu-7.2': [0, 0], 'qemu-10.0': [0, 0] } as Record<string, [number, number]>;
  for (let seed = first; seed < first + count; seed++) {
    for (const profile of ['qemu-7.2', 'qemu-10.0'] as const) {
      const s = randomProgram(seed, profile) as Scenario;
      const r = await judge(s);
      if (!r) { console.log(`${s.name}: QEMU could not run it`); continue; }
      save(dir, s, r.obs);
      tally[profile]![1]++;
      if (r.diff) console.log(`DIFF ${describe(s, r.diff)}`);
      else tally[profile]![0]++;
    }
  }
  let agree = 0;
  let all = 0;
  for (const [p, [a, n]] of Object.entries(tally)) {
    console.log(`${p}: ${a}/${n} agree (${n ? ((100 * a) / n).toFixed(1) : '-'}%)`);
    agree += a;
    all += n;
  }
  console.log(`all: ${agree}/${all} agree (${all ? ((100 * agree) / all).toFixed(1) : '-'}%)`);
}

/** Delta debugging (ddmin) over the steps: the smallest scenario that still disagrees. */
async function minimise(file: string, out: string): Promise<void> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Scenario;
  let steps = s.steps;
  const still = async (cand: object[]) => (await judge({ ...s, steps: cand }))?.diff !== undefined;
  if (!(await still(steps))) { console.log('QEMU and the model agree on it: nothing to minimise'); return; }
  let parts = 2;
  while (steps.length >= 2) {
    const size = Math.ceil(steps.length / parts);
    let reduced = false;
    for (let at = 0; at < steps.length; at += size) {
      const cand = [...steps.slice(0, at), ...steps.slice(at + size)];
      if (await still(cand)) {
        steps = cand;
        parts = Math.max(parts - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (parts >= steps.length) break;
      parts = Math.min(steps.length, parts * 2);
    }
  }
  const min = { ...s, name: basename(out).replace('.scenario.json', ''), steps };
  const r = (await judge(min))!;
  mkdirSync(dirname(out), { recursive: true });
  save(dirname(out), min, r.obs);
  console.log(`${s.steps.length} -> ${steps.length} steps\n${describe(min, r.diff!)}`);
}

async function recheck(dir: string): Promise<void> {
  let same = 0;
  const files = scenarioFiles([dir]);
  for (const f of files) {
    const s = JSON.parse(readFileSync(f, 'utf8')) as Scenario;
    const expected = JSON.parse(readFileSync(f.replace('.scenario.json', '.expected.json'), 'utf8'));
    try {
      const obs = await record(s as never);
      if (JSON.stringify(obs) === JSON.stringify(expected.observations)) same++;
      else console.log(`MISMATCH ${f}`);
    } catch (e) {
      console.log(`ERROR ${f}: ${String(e)}`);
    }
  }
  console.log(`recheck: ${same}/${files.length} recordings reproduce`);
}

async function main(argv: string[]): Promise<number> {
  const [cmd, a, b, c] = argv;
  if (cmd === 'random' && a && b) await random(a, Number(b), Number(c ?? 1));
  else if (cmd === 'minimise' && a) await minimise(a, b ?? a.replace('.scenario.json', '-min.scenario.json'));
  else if (cmd === 'recheck' && a) await recheck(a);
  else {
    console.error('usage: differential random <dir> <count> [firstSeed] | minimise <file> [out] | recheck <dir>');
    return 2;
  }
  return 0;
}

main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(String(e)); process.exitCode = 1; });
