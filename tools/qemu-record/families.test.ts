/**
 * The recorded corpus is what the families generate: for every family
 * (families.ts, fs-families.ts, register-families.ts, sequence-families.ts,
 * findings-families.ts, ir-families.ts, domain-switch-families.ts,
 * iotlb-set-families.ts, desc-error-families.ts, pasid-inval-families.ts,
 * legacy-check-families.ts, fault-event-families.ts) each committed
 * `gen-<family>[-10]-<seed>.scenario.json` equals the family's output for
 * that seed, so a recording can always be regenerated and re-recorded
 * (`generate-corpus.js`, `differential.js recheck`), and a change to the
 * encoders the families use (the spec layer, host/src/vtd/spec) cannot
 * silently change what is recorded. No QEMU runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatScenarioDoc } from '../../fuzz/input.js';
import { DOMAIN_SWITCH_FAMILIES, DOMAIN_SWITCH_FS_FAMILIES } from './domain-switch-families.js';
import { DESC_ERROR_FAMILIES } from './desc-error-families.js';
import { FAMILIES } from './families.js';
import { FAULT_EVENT_FAMILIES } from './fault-event-families.js';
import { LEGACY_CHECK_FAMILIES } from './legacy-check-families.js';
import { IOTLB_SET_FAMILIES } from './iotlb-set-families.js';
import { PASID_INVAL_FAMILIES, PASID_INVAL_FS_FAMILIES } from './pasid-inval-families.js';
import { FINDINGS_FAMILIES } from './findings-families.js';
import { FS_FAMILIES } from './fs-families.js';
import { IR_FAMILIES } from './ir-families.js';
import { REGISTER_FAMILIES } from './register-families.js';
import { onQemu10Scenario } from './scenario-builder.js';
import { SEQUENCE_FAMILIES } from './sequence-families.js';

const RECORDED = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden/recorded');
/** Seeds looked for: the corpus records 4-20 per family. */
const SEEDS = 20;

describe('recorded scenarios are what their families generate', () => {
  const all = { ...FAMILIES, ...FS_FAMILIES, ...REGISTER_FAMILIES, ...SEQUENCE_FAMILIES, ...FINDINGS_FAMILIES, ...IR_FAMILIES,
    ...DOMAIN_SWITCH_FAMILIES, ...DOMAIN_SWITCH_FS_FAMILIES, ...IOTLB_SET_FAMILIES,
    ...DESC_ERROR_FAMILIES, ...PASID_INVAL_FAMILIES, ...PASID_INVAL_FS_FAMILIES, ...LEGACY_CHECK_FAMILIES,
    ...FAULT_EVENT_FAMILIES };
  for (const [family, make] of Object.entries(all)) {
    it(family, () => {
      let found = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        for (const doc of [make(seed), onQemu10Scenario(make(seed))] as { name: string }[]) {
          const file = join(RECORDED, `${doc.name}.scenario.json`);
          if (!existsSync(file)) continue;
          found++;
          expect(readFileSync(file, 'utf8'), doc.name).toBe(formatScenarioDoc(doc));
        }
      }
      expect(found, `recordings of ${family}`).toBeGreaterThanOrEqual(4);
    });
  }
});
