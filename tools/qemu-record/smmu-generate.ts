/**
 * Records the SMMUv3 families (smmu-families.ts) on the QEMU of each of
 * their profiles, writing `<dir>/<name>.scenario.json` and
 * `<dir>/<name>.expected.json`, and reports for each recording whether the
 * model replays it identically (the first differing observation if not).
 * A scenario QEMU cannot run is skipped and reported.
 *
 * Usage: node dist/tools/qemu-record/smmu-generate.js <dir> [seedsPerFamily] [family...]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replayScenario } from '../../host/src/scenario/replay.js';
import { formatReplay } from './record.js';
import { SMMU_FAMILIES } from './smmu-families.js';
import { recordSmmu, type SmmuScenario } from './smmu-recorder.js';

/** Lays a scenario out one step per line (generate-corpus.ts runs on import, so it is not imported). */
function formatSteps(s: SmmuScenario): string {
  const { steps, ...head } = s;
  return `${JSON.stringify(head, null, 2).replace(/\n}$/, '')},\n  "steps": [\n${steps.map((st) => `    ${JSON.stringify(st)}`).join(',\n')}\n  ]\n}\n`;
}

interface Obs { step: number; op: string; value?: string; data?: string }

/** The first observation where the model differs from QEMU, or undefined. */
async function firstDifference(s: SmmuScenario, expected: Obs[]): Promise<string | undefined> {
  const all: string[] = [];
  let got: Obs[];
  try {
    got = (await replayScenario(s)).observations as Obs[];
  } catch (e) {
    return `model error: ${String(e)}`;
  }
  for (let i = 0; i < Math.max(got.length, expected.length); i++) {
    if (JSON.stringify(got[i]) !== JSON.stringify(expected[i])) {
      const st = s.steps[expected[i]?.step ?? got[i]?.step ?? 0];
      all.push(`step ${expected[i]?.step ?? got[i]?.step} ${JSON.stringify(st)}: qemu ${JSON.stringify(expected[i])} model ${JSON.stringify(got[i])}`);
      if (!process.env.SMMU_DIFF_ALL) break;
    }
  }
  return all.length ? all.join('\n    ') : undefined;
}

async function main(argv: string[]): Promise<number> {
  const dir = argv[0];
  if (!dir) { console.error('usage: smmu-generate <dir> [seedsPerFamily] [family...]'); return 2; }
  const seeds = Number(argv[1] ?? 4);
  const names = argv.length > 2 ? argv.slice(2) : Object.keys(SMMU_FAMILIES);
  mkdirSync(dir, { recursive: true });
  let ok = 0;
  let same = 0;
  for (const name of names) {
    const f = SMMU_FAMILIES[name];
    if (!f) { console.error(`unknown family '${name}'`); return 2; }
    for (const profile of f.profiles) {
      for (let seed = 1; seed <= seeds; seed++) {
        const s = f.family(profile, seed) as SmmuScenario;
        let obs: Obs[];
        try {
          obs = await recordSmmu(s);
        } catch (e) {
          console.error(`${s.name}: not recorded: ${String(e)}`);
          continue;
        }
        writeFileSync(join(dir, `${s.name}.scenario.json`), formatSteps(s));
        writeFileSync(join(dir, `${s.name}.expected.json`), formatReplay(s.name, obs));
        ok++;
        const diff = await firstDifference(s, obs);
        if (diff) console.log(`${s.name}: DIFFERS ${diff}`);
        else same++;
      }
    }
  }
  console.log(`${ok} scenarios recorded in ${dir}; the model replays ${same} identically`);
  return 0;
}

main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(String(e)); process.exitCode = 1; });
