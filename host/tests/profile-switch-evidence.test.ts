/**
 * Every profile switch is needed by a QEMU recording: for each switch of the
 * `qemu-*` profiles (core QUIRK_*, HostQuirks, QiBehaviour fields; the table
 * in docs/PROFILES.md) the named recorded scenario replays exactly with the
 * switch as the profile sets it (replay-golden.test.ts) and differs from the
 * recording when only that switch takes the spec's value. So no switch is
 * dead, and docs/PROFILES.md names real evidence.
 *
 * With `PROFILE_SWITCH_DISCOVER=1` it instead replays every recording of the
 * switch's profiles with the switch at the spec's value and prints the names
 * that differ (how the table's evidence column was found).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import type { HostQuirks, Profile } from '../src/vtd/profiles.js';
import type { QiBehaviour } from '../src/vtd/qi/qi-behaviour.js';

/** The one switch a replay runs with at the spec's value (set per case). */
const off = vi.hoisted(() => ({ core: '', host: '', qi: '' }));

vi.mock('../src/vtd/profiles.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../src/vtd/profiles.js')>();
  return {
    ...mod,
    createProfile: (name: string, o?: object): Profile => {
      const p = mod.createProfile(name, o);
      return {
        ...p,
        coreQuirks: p.coreQuirks.filter((q) => q !== off.core),
        host: off.host ? { ...p.host, [off.host]: false } : p.host,
      };
    },
  };
});

vi.mock('../src/vtd/qi/qi-behaviour.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../src/vtd/qi/qi-behaviour.js')>();
  return {
    ...mod,
    qiBehaviourFor: (name: string): QiBehaviour => {
      const b = mod.qiBehaviourFor(name);
      const k = off.qi as keyof QiBehaviour;
      return k ? { ...b, [k]: mod.SPEC_BEHAVIOUR[k] } : b;
    },
  };
});

const { replayScenario } = await import('../src/cli/replay.js');

const RECORDED = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden/recorded');

/** A switch and the recordings that need it (docs/PROFILES.md "evidence"). */
interface SwitchCase {
  readonly kind: 'core' | 'host' | 'qi';
  readonly name: string;
  /** Profiles that set it. */
  readonly profiles: readonly string[];
  /** Recorded scenarios (file stem) that differ from QEMU with the switch at the spec's value. */
  readonly evidence: readonly string[];
}

const BOTH = ['qemu-7.2', 'qemu-10.0'];
const V72 = ['qemu-7.2'];
const V10 = ['qemu-10.0'];

/** Filled from the discovery run; `[]` marks a switch no recording shows (docs/PROFILES.md says why). */
const SWITCHES: readonly SwitchCase[] = [
  { kind: 'core', name: 'IOTLB_BEFORE_CONTEXT', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'NO_PASID_CACHE', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'LEGACY_CODES_IN_SM', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'FS_ALL_USER', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'FS_AD_IF_A_CLEAR', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'PT_STICKY', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'NO_FAULT_ON_CACHED_PERM', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'QEMU_FAULT_PV', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'INTR_PAGE_OVERLAP', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'RSVD_CTX_UNQUALIFIED', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'NO_PSC', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'NO_PDIR_FPD', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'PSI_ALIAS', profiles: V72, evidence: [] },
  { kind: 'core', name: 'FS_AS_SS', profiles: V72, evidence: [] },
  { kind: 'core', name: 'PASID_FAULTS_0X58', profiles: V72, evidence: [] },
  { kind: 'host', name: 'qemuFaultEventRule', profiles: BOTH, evidence: [] },
  { kind: 'host', name: 'ccmdDomainAsGlobal', profiles: BOTH, evidence: [] },
  { kind: 'host', name: 'noCfi', profiles: BOTH, evidence: [] },
  { kind: 'host', name: 'ignoreRegInvalWhileQi', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'resumeOnErrorClear', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'recordIqercd', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'deviceErrors', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'iqaReadBack', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'baseMaskedToAw', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'disableNeedsIdleAfterWait', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'knownTypes', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'noopTypes', profiles: V72, evidence: [] },
  { kind: 'qi', name: 'needSmtsTypes', profiles: V10, evidence: [] },
  { kind: 'qi', name: 'wideOnlyTypes', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'upperHalfReserved', profiles: V72, evidence: [] },
  { kind: 'qi', name: 'capabilityChecks', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'waitNeedsSwOrIf', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'ccDomainAsGlobal', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'devTlbPfsidReserved', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'iecUnchecked', profiles: V72, evidence: [] },
  { kind: 'qi', name: 'pasidCacheUnchecked', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'psiFirstStageAsDomain', profiles: V10, evidence: [] },
];

interface Recording { stem: string; profile: string; scenario: unknown; expected: unknown }

function recordings(): Recording[] {
  return readdirSync(RECORDED).filter((f) => f.endsWith('.scenario.json')).sort().map((f) => {
    const scenario = JSON.parse(readFileSync(join(RECORDED, f), 'utf8'));
    const expected = JSON.parse(readFileSync(join(RECORDED, f.replace('.scenario.json', '.expected.json')), 'utf8'));
    return { stem: f.replace('.scenario.json', ''), profile: scenario.machine.profile, scenario, expected: expected.observations };
  });
}

/** Replays with `s` at the spec's value; true when the observations differ from QEMU's (or the replay fails). */
async function differsWithout(s: SwitchCase, r: Recording): Promise<boolean> {
  off.core = s.kind === 'core' ? s.name : '';
  off.host = s.kind === 'host' ? s.name : '';
  off.qi = s.kind === 'qi' ? s.name : '';
  try {
    const out = await replayScenario(r.scenario);
    return JSON.stringify(out.observations) !== JSON.stringify(r.expected);
  } catch {
    return true;
  } finally {
    off.core = off.host = off.qi = '';
  }
}

const all = recordings();
const discover = process.env['PROFILE_SWITCH_DISCOVER'] === '1';

describe.runIf(discover)('discovery: recordings that need each switch', () => {
  for (const s of SWITCHES) {
    it(`${s.kind} ${s.name}`, async () => {
      const hits: string[] = [];
      for (const r of all.filter((x) => s.profiles.includes(x.profile))) if (await differsWithout(s, r)) hits.push(r.stem);
      console.log(`EVIDENCE ${s.kind} ${s.name}: ${hits.join(' ')}`);
    }, 600_000);
  }
});

describe.skipIf(discover)('each qemu profile switch is needed by a recording', () => {
  for (const s of SWITCHES.filter((x) => x.evidence.length > 0)) {
    it(`${s.kind} ${s.name}: ${s.evidence.join(', ')}`, async () => {
      for (const stem of s.evidence) {
        const r = all.find((x) => x.stem === stem);
        expect(r, stem).toBeDefined();
        expect(s.profiles, `${stem} runs on a profile with ${s.name}`).toContain(r!.profile);
        expect(await differsWithout(s, r!), `${stem} without ${s.name}`).toBe(true);
      }
    });
  }
});
