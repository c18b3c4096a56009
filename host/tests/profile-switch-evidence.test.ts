/**
 * Every profile switch is needed by a QEMU recording: for each switch of the
 * `qemu-*` profiles (core QUIRK_*, HostQuirks, QiBehaviour fields; the table
 * in docs/PROFILES.md) the named recorded scenario replays exactly with the
 * switch as the profile sets it (replay-golden.test.ts) and differs from the
 * recording when only that switch takes the spec's value. So no switch is
 * dead, and docs/PROFILES.md names real evidence.
 *
 * With `PROFILE_SWITCH_DISCOVER=1` (or `=<switch name>`) it instead replays
 * every recording of the switch's profiles with the switch at the spec's
 * value and prints the names that differ (how the evidence column was found).
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

const { replayScenario } = await import('../src/scenario/replay.js');
const profiles = await import('../src/vtd/profiles.js');
const qi = await import('../src/vtd/qi/qi-behaviour.js');
const K = await import('../src/core/constants.js');

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden');

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
  { kind: 'core', name: 'IOTLB_BEFORE_CONTEXT', profiles: BOTH, evidence: ['gen-legacy-checks-10-2'] },
  { kind: 'core', name: 'NO_PASID_CACHE', profiles: BOTH, evidence: ['gen-fs-modes-3'] },
  { kind: 'core', name: 'LEGACY_CODES_IN_SM', profiles: BOTH, evidence: ['gen-scalable-10-1'] },
  { kind: 'core', name: 'FS_ALL_USER', profiles: BOTH, evidence: [] },
  { kind: 'core', name: 'FS_AD_IF_A_CLEAR', profiles: BOTH, evidence: ['gen-fs-walks-3'] },
  { kind: 'core', name: 'PT_STICKY', profiles: BOTH, evidence: ['gen-fs-modes-16', 'gen-pt-events-1', 'gen-pt-events-10-1', 'gen-domain-switch-1', 'gen-domain-switch-10-1', 'gen-domain-switch-fs-1'] },
  { kind: 'core', name: 'NO_FAULT_ON_CACHED_PERM', profiles: BOTH, evidence: ['gen-legacy-checks-1', 'gen-legacy-checks-10-1'] },
  { kind: 'core', name: 'QEMU_FAULT_PV', profiles: BOTH, evidence: ['fs-fault-write-readonly', 'gen-walks-1'] },
  { kind: 'core', name: 'INTR_PAGE_OVERLAP', profiles: BOTH, evidence: ['gen-legacy-checks-1', 'gen-legacy-checks-10-1'] },
  { kind: 'core', name: 'RSVD_CTX_UNQUALIFIED', profiles: BOTH, evidence: ['gen-legacy-checks-10-2'] },
  { kind: 'core', name: 'NO_PSC', profiles: BOTH, evidence: ['gen-legacy-checks-1', 'gen-legacy-checks-10-1'] },
  { kind: 'core', name: 'NO_PDIR_FPD', profiles: BOTH, evidence: ['gen-scalable-10-3'] },
  { kind: 'core', name: 'PSI_ALIAS', profiles: V72, evidence: ['gen-register-invalidation-1'] },
  { kind: 'core', name: 'FS_AS_SS', profiles: V72, evidence: ['gen-scalable-2'] },
  { kind: 'core', name: 'PASID_FAULTS_0X58', profiles: V72, evidence: ['gen-scalable-3'] },
  { kind: 'core', name: 'NO_PDTS_CHECK', profiles: BOTH, evidence: ['gen-pdts-bound-1', 'gen-pdts-bound-10-1'] },
  { kind: 'core', name: 'PASID_FAULT_IGNORES_FPD', profiles: V10, evidence: ['gen-pasid-fpd-10-1'] },
  { kind: 'core', name: 'IOTLB_BY_SID', profiles: BOTH, evidence: ['gen-sm-iotlb-sid-1', 'gen-sm-iotlb-sid-10-1', 'gen-legacy-iotlb-sid-2', 'gen-legacy-iotlb-sid-10-2'] },
  { kind: 'core', name: 'IOTLB_FLUSH_WHEN_FULL', profiles: BOTH, evidence: ['gen-iotlb-capacity-10-1', 'gen-iotlb-capacity-10-2', 'gen-iotlb-set-overflow-1', 'gen-iotlb-set-overflow-10-1'] },
  { kind: 'core', name: 'DMA_PER_TRANSLATION', profiles: BOTH, evidence: ['gen-large-entry-range-3', 'gen-large-entry-range-10-3'] },
  { kind: 'core', name: 'PT_CONTEXT_AW_CHECKED', profiles: BOTH, evidence: ['gen-pt-context-aw-1', 'gen-pt-context-aw-10-1'] },
  { kind: 'core', name: 'UNASSIGNED_READS_ZERO', profiles: BOTH, evidence: ['gen-dma-outside-ram-1', 'gen-dma-outside-ram-10-1'] },
  { kind: 'core', name: 'PASID_RSVD_UNCHECKED', profiles: BOTH, evidence: ['gen-pasid-entry-checks-1', 'gen-pasid-entry-checks-10-1'] },
  { kind: 'core', name: 'PASID_TYPE_BEFORE_P', profiles: BOTH, evidence: ['gen-pasid-entry-checks-10-1'] },
  { kind: 'core', name: 'SS_PERM_BEFORE_RSVD', profiles: BOTH, evidence: ['gen-ss-check-order-2', 'gen-ss-check-order-10-2'] },
  { kind: 'host', name: 'qemuFaultEventRule', profiles: BOTH, evidence: ['gen-fault-records-3', 'gen-fault-records-10-3', 'gen-fault-events-2', 'gen-fault-events-10-2'] },
  { kind: 'host', name: 'ccmdDomainAsGlobal', profiles: BOTH, evidence: ['gen-register-invalidation-2', 'gen-register-invalidation-10-2'] },
  { kind: 'host', name: 'noCfi', profiles: BOTH, evidence: ['gen-register-pokes-2', 'gen-register-pokes-10-2'] },
  { kind: 'host', name: 'ignoreRegInvalWhileQi', profiles: BOTH, evidence: ['gen-queued-invalidation-2', 'gen-queued-invalidation-10-2'] },
  { kind: 'host', name: 'ttmBit10Only', profiles: BOTH, evidence: ['gen-ttm-1', 'gen-ttm-10-1'] },
  { kind: 'host', name: 'rtaddrMaskedToAw', profiles: BOTH, evidence: ['gen-rtaddr-width-1', 'gen-rtaddr-width-10-1'] },
  { kind: 'host', name: 'dmaPastFault', profiles: BOTH, evidence: ['gen-dma-past-fault-1', 'gen-dma-past-fault-10-1'] },
  { kind: 'host', name: 'qwordPairMasksOnly', profiles: BOTH, evidence: ['gen-w1c-pair-1', 'gen-w1c-pair-10-1'] },
  // Interrupt remapping (tools/qemu-record/ir-families.ts). irDataCheckAfterEntry needs MSI data bits 31:16,
  // which edu's 16-bit MSI data cannot carry (docs/PROFILES.md).
  { kind: 'host', name: 'irNoFaultRecords', profiles: V72, evidence: ['gen-ir-remap-1', 'gen-ir-irte-reserved-1'] },
  { kind: 'host', name: 'irCompatPassThrough', profiles: BOTH, evidence: ['gen-ir-compat-1', 'gen-ir-compat-10-1'] },
  { kind: 'host', name: 'irQemuReservedIrte', profiles: BOTH, evidence: ['gen-ir-irte-reserved-1', 'gen-ir-irte-reserved-10-1'] },
  { kind: 'host', name: 'irIndexWraps', profiles: BOTH, evidence: ['gen-ir-index-wrap-1', 'gen-ir-index-wrap-10-1'] },
  { kind: 'host', name: 'irDataCheckAfterEntry', profiles: BOTH, evidence: [] },
  { kind: 'host', name: 'irNoEntryCache', profiles: BOTH, evidence: ['gen-ir-entry-cache-1', 'gen-ir-entry-cache-10-1'] },
  { kind: 'host', name: 'irBusRangeSwapped', profiles: BOTH, evidence: ['gen-ir-bus-range-1', 'gen-ir-bus-range-10-1'] },
  { kind: 'host', name: 'irtaMaskedToAw', profiles: BOTH, evidence: ['gen-irta-width-1', 'gen-irta-width-10-1'] },
  { kind: 'qi', name: 'resumeOnErrorClear', profiles: BOTH, evidence: ['gen-desc-errors-1', 'gen-desc-errors-10-1'] },
  { kind: 'qi', name: 'recordIqercd', profiles: BOTH, evidence: ['gen-fs-invalidation-1', 'gen-register-pokes-8'] },
  { kind: 'qi', name: 'deviceErrors', profiles: BOTH, evidence: [] },
  { kind: 'qi', name: 'iqaReadBack', profiles: BOTH, evidence: ['gen-register-pokes-1', 'gen-register-pokes-10-1'] },
  { kind: 'qi', name: 'baseMaskedToAw', profiles: BOTH, evidence: ['gen-legacy-checks-10-3'] },
  { kind: 'qi', name: 'disableNeedsIdleAfterWait', profiles: BOTH, evidence: ['gen-queued-invalidation-1', 'gen-queued-invalidation-10-1'] },
  { kind: 'qi', name: 'knownTypes', profiles: BOTH, evidence: ['gen-queued-invalidation-8', 'gen-fs-invalidation-14'] },
  { kind: 'qi', name: 'noopTypes', profiles: V72, evidence: ['gen-queued-invalidation-3'] },
  { kind: 'qi', name: 'needSmtsTypes', profiles: V10, evidence: ['gen-queued-invalidation-10-1'] },
  { kind: 'qi', name: 'wideOnlyTypes', profiles: BOTH, evidence: ['gen-queued-invalidation-1'] },
  { kind: 'qi', name: 'upperHalfReserved', profiles: V72, evidence: ['gen-desc-errors-18'] },
  { kind: 'qi', name: 'capabilityChecks', profiles: BOTH, evidence: ['gen-fs-invalidation-2', 'gen-queued-invalidation-1'] },
  { kind: 'qi', name: 'waitNeedsSwOrIf', profiles: BOTH, evidence: ['gen-desc-errors-7'] },
  { kind: 'qi', name: 'ccDomainAsGlobal', profiles: BOTH, evidence: ['gen-legacy-checks-10-2'] },
  { kind: 'qi', name: 'devTlbPfsidReserved', profiles: BOTH, evidence: ['gen-desc-errors-9', 'gen-desc-errors-10-9'] },
  { kind: 'qi', name: 'iecUnchecked', profiles: V72, evidence: ['gen-desc-errors-2'] },
  { kind: 'qi', name: 'pasidCacheUnchecked', profiles: BOTH, evidence: ['gen-desc-errors-8', 'gen-desc-errors-10-8'] },
  { kind: 'qi', name: 'dwLive', profiles: BOTH, evidence: ['gen-iqa-dw-live-1', 'gen-iqa-dw-live-10-1'] },
  { kind: 'qi', name: 'misalignedTailIgnored', profiles: V72, evidence: ['gen-iqt-bit4-1'] },
  { kind: 'qi', name: 'typeLowBitsOnly', profiles: V72, evidence: ['gen-desc-type-high-1'] },
];

interface Recording { stem: string; profile: string; scenario: unknown; expected: unknown }

/** The shared scenarios (golden/) and the generated ones (golden/recorded/), by file stem. */
function recordings(): Recording[] {
  return ['', 'recorded'].flatMap((sub) => {
    const dir = join(GOLDEN, sub);
    return readdirSync(dir).filter((f) => f.endsWith('.scenario.json')).sort().map((f) => {
      const scenario = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      const expected = JSON.parse(readFileSync(join(dir, f.replace('.scenario.json', '.expected.json')), 'utf8'));
      return { stem: f.replace('.scenario.json', ''), profile: scenario.machine.profile, scenario, expected: expected.observations };
    });
  });
}

/** Replays with `s` at the spec's value; true when the observations differ from QEMU's. */
async function differsWithout(s: SwitchCase, r: Recording): Promise<boolean> {
  off.core = s.kind === 'core' ? s.name : '';
  off.host = s.kind === 'host' ? s.name : '';
  off.qi = s.kind === 'qi' ? s.name : '';
  try {
    // A replay that throws is a failure of this test, not evidence.
    const out = await replayScenario(r.scenario);
    return JSON.stringify(out.observations) !== JSON.stringify(r.expected);
  } finally {
    off.core = off.host = off.qi = '';
  }
}

const all = recordings();
/** `1`: every switch; a switch name: only that one. */
const discoverWhat = process.env['PROFILE_SWITCH_DISCOVER'] ?? '';
const discover = discoverWhat !== '';

// Only defined in discovery mode, so normal runs show no skipped cases.
if (discover) describe('discovery: recordings that need each switch', () => {
  for (const s of SWITCHES.filter((x) => discoverWhat === '1' || x.name === discoverWhat)) {
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

describe('the switch table is complete (docs/PROFILES.md)', () => {
  const { createProfile } = profiles;
  const p72 = createProfile('qemu-7.2', { scalableMode: true, awBits: 48 });
  const p10 = createProfile('qemu-10.0', { scalableMode: true, awBits: 48 });
  const set = (p: readonly string[]): string => JSON.stringify([...p].sort());
  const listed = (kind: SwitchCase['kind'], name: string) => SWITCHES.find((s) => s.kind === kind && s.name === name);

  it('lists every core quirk each qemu profile sets, with the right profiles, and no profile-less quirk exists', () => {
    for (const p of [p72, p10]) {
      for (const q of p.coreQuirks) expect(listed('core', q)?.profiles, `QUIRK_${q}`).toContain(p.name);
    }
    for (const s of SWITCHES.filter((x) => x.kind === 'core')) {
      expect(set(s.profiles), s.name).toBe(set([p72, p10].filter((p) => p.coreQuirks.includes(s.name)).map((p) => p.name)));
    }
    const all = Object.keys(K).filter((k) => k.startsWith('QUIRK_')).map((k) => k.slice(6));
    expect(set(all)).toBe(set([...new Set([...p72.coreQuirks, ...p10.coreQuirks])]));
    expect(createProfile('default').coreQuirks).toEqual([]);
  });

  it('lists every host quirk and every queue field where a qemu profile departs from the spec', () => {
    for (const name of Object.keys(p72.host) as (keyof HostQuirks)[]) {
      const on = [p72, p10].filter((p) => p.host[name]).map((p) => p.name);
      expect(createProfile('default').host[name], name).toBe(false);
      if (on.length) expect(set([...(listed('host', name)?.profiles ?? [])]), name).toBe(set(on));
    }
    const norm = (v: unknown): string => JSON.stringify(v instanceof Set ? [...v].sort() : v);
    for (const name of Object.keys(qi.SPEC_BEHAVIOUR) as (keyof QiBehaviour)[]) {
      const on = (['qemu-7.2', 'qemu-10.0'] as const)
        .filter((n) => norm(qi.qiBehaviourFor(n)[name]) !== norm(qi.SPEC_BEHAVIOUR[name]));
      expect(set([...(listed('qi', name)?.profiles ?? [])]), name).toBe(set(on));
    }
  });
});
