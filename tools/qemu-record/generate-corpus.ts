/**
 * Builds scenarios from every family in `families.ts` and records each on QEMU,
 * writing `<dir>/<name>.scenario.json` and `<dir>/<name>.expected.json`.
 * A scenario that QEMU cannot run (it aborts on some guest errors) is skipped
 * and reported: only what the reference really produced becomes golden.
 *
 * Usage: node dist/tools/qemu-record/generate-corpus.js <dir> [seedsPerFamily] [family...]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAMILIES } from './families.js';
import { FS_FAMILIES } from './fs-families.js';
import { REGISTER_FAMILIES } from './register-families.js';
import { SEQUENCE_FAMILIES } from './sequence-families.js';
import { FINDINGS_FAMILIES } from './findings-families.js';
import { IR_FAMILIES } from './ir-families.js';
import { IOTLB_SET_FAMILIES } from './iotlb-set-families.js';
import { DESC_ERROR_FAMILIES } from './desc-error-families.js';
import { LEGACY_CHECK_FAMILIES } from './legacy-check-families.js';
import { FAULT_EVENT_FAMILIES } from './fault-event-families.js';
import { PASID_INVAL_FAMILIES, PASID_INVAL_FS_FAMILIES } from './pasid-inval-families.js';
import { DOMAIN_SWITCH_FAMILIES, DOMAIN_SWITCH_FS_FAMILIES } from './domain-switch-families.js';
import { formatReplay, record } from './record.js';
import { onQemu10Scenario } from './scenario-builder.js';
import { formatScenarioDoc as formatScenario } from '../../fuzz/input.js';


/** The 7.2 families again under the `qemu-10.0` profile (same steps, the other reference). */
function onQemu10(families: Record<string, (seed: number) => object>): Record<string, (seed: number) => object> {
  const out: Record<string, (seed: number) => object> = {};
  for (const [name, family] of Object.entries(families)) {
    out[`${name}-10`] = (seed) => onQemu10Scenario(family(seed));
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const dir = argv[0];
  if (!dir) { console.error('usage: generate-corpus <dir> [seedsPerFamily] [family...]'); return 2; }
  const seeds = Number(argv[1] ?? 4);
  const both = { ...SEQUENCE_FAMILIES, ...FINDINGS_FAMILIES, ...IR_FAMILIES, ...DOMAIN_SWITCH_FAMILIES, ...IOTLB_SET_FAMILIES, ...DESC_ERROR_FAMILIES, ...PASID_INVAL_FAMILIES,
    ...LEGACY_CHECK_FAMILIES, ...FAULT_EVENT_FAMILIES };
  const all = {
    ...FAMILIES, ...FS_FAMILIES, ...DOMAIN_SWITCH_FS_FAMILIES, ...PASID_INVAL_FS_FAMILIES, ...REGISTER_FAMILIES, ...both,
    ...onQemu10({ ...FAMILIES, 'register-pokes': REGISTER_FAMILIES['register-pokes'], ...both }),
  };
  const names = argv.length > 2 ? argv.slice(2) : Object.keys(all);
  mkdirSync(dir, { recursive: true });
  let ok = 0;
  for (const name of names) {
    const family = all[name];
    if (!family) { console.error(`unknown family '${name}'`); return 2; }
    for (let seed = 1; seed <= seeds; seed++) {
      const s = family(seed) as { name: string; steps: unknown[] };
      try {
        const obs = await record(s as never);
        writeFileSync(join(dir, `${s.name}.scenario.json`), formatScenario(s));
        writeFileSync(join(dir, `${s.name}.expected.json`), formatReplay(s.name, obs));
        ok++;
      } catch (e) {
        console.error(`${s.name}: not recorded: ${String(e)}`);
      }
    }
  }
  console.log(`${ok} scenarios recorded in ${dir}`);
  return 0;
}

main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { console.error(String(e)); process.exitCode = 1; });
