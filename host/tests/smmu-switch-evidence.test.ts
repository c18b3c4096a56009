/**
 * Every SMMUv3 profile switch is needed by a QEMU recording: for each switch
 * the `qemu-*` profiles set (host/src/smmu/profiles.ts, docs/SMMU-PROFILES.md)
 * the named recordings under firmware-tests/golden/smmuv3 replay exactly
 * with the profile as it is (replay-golden.test.ts) and differ when only
 * that switch takes the spec's value. So no switch is dead, and the doc
 * names real evidence.
 *
 * With `SMMU_SWITCH_DISCOVER=1` it instead replays every recording of the
 * switch's profiles with the switch at the spec's value and prints the
 * names that differ (how the evidence column was found).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import type { SmmuProfile, SmmuSwitches } from '../src/smmu/profiles.js';

/** The one switch a replay runs with at the spec's value (set per case). */
const off = vi.hoisted(() => ({ name: '' }));

vi.mock('../src/smmu/profiles.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../src/smmu/profiles.js')>();
  return {
    ...mod,
    createSmmuProfile: (name: string, o?: object): SmmuProfile => {
      const p = mod.createSmmuProfile(name, o);
      const k = off.name as keyof SmmuSwitches;
      return k ? { ...p, switches: { ...p.switches, [k]: mod.SPEC_SWITCHES[k] } } : p;
    },
  };
});

const { replayScenario } = await import('../src/scenario/replay.js');
const profiles = await import('../src/smmu/profiles.js');

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden/smmuv3');

/** Recordings (file stem) that differ from QEMU with the switch at the spec's value, per switch. */
const EVIDENCE: Record<keyof SmmuSwitches, readonly string[]> = {
  page1AliasesPage0: ['smmu-registers-72-1', 'smmu-registers-100-1'],
  noGbpa: ['smmu-registers-72-1'],
  ignoreUnsupportedCommands: ['smmu-commands-72-1', 'smmu-commands-100-1'],
  registersKeepWrittenBits: ['smmu-registers-72-1', 'smmu-registers-100-1'],
  queueBaseResetsToMaxSize: ['smmu-registers-72-1', 'smmu-registers-100-1'],
  faultedDmaContinuesInAccesses: ['smmu-2level-72-1', 'smmu-2level-100-1'],
  eventClassOnWalkAbortOnly: ['smmu-cd-checks-72-3'],
  accessFlagIgnored: ['smmu-s1-72-1'],
  walkBlocksAnyLevel: ['smmu-granules-72-2', 'smmu-granules-100-2'],
  walkOutputCheck: ['smmu-granules-72-1', 'smmu-granules-100-4'],
  dmaAbove48BitsUnseen: ['smmu-cd-checks-72-1'],
  cdFetchAddrInInputAddr: ['smmu-ste-checks-72-2', 'smmu-ste-checks-100-2'],
  l2SpanQuirk: ['smmu-2level-72-2', 'smmu-2level-100-2'],
  eventQueueFullAborts: ['smmu-evtq-72-1', 'smmu-evtq-100-1'],
  eventIpaKeepsOffset: ['smmu-stage2-100-1'],
  nestedTableFaultReportsStage1: ['smmu-stage2-100-1'],
  s1ChecksWriteOnly: ['smmu-s1-72-1', 'smmu-s1-100-1'],
  cdMaxIllegalWithoutSubstreams: ['smmu-ste-checks-72-2', 'smmu-ste-checks-100-2'],
  s2HttuIgnored: ['smmu-stage2-100-1'],
  s2InputBoundByS2ps: ['smmu-stage2-100-1'],
  iotlbFlushWhenFull: ['smmu-iotlb-capacity-72-5', 'smmu-iotlb-capacity-100-5'],
};

async function differs(stem: string): Promise<boolean> {
  const scenario = JSON.parse(readFileSync(join(DIR, `${stem}.scenario.json`), 'utf8'));
  const expected = JSON.parse(readFileSync(join(DIR, `${stem}.expected.json`), 'utf8'));
  try {
    return JSON.stringify((await replayScenario(scenario)).observations) !== JSON.stringify(expected.observations);
  } catch {
    return true;
  }
}

/** The qemu profiles that set `k` away from the spec. */
function profilesSetting(k: keyof SmmuSwitches): string[] {
  return profiles.SMMU_PROFILE_NAMES.filter((n) => profiles.createSmmuProfile(n).switches[k] !== profiles.SPEC_SWITCHES[k]);
}

const discover = process.env.SMMU_SWITCH_DISCOVER;

describe.skipIf(!!discover)('every SMMUv3 profile switch has a recording that needs it', () => {
  it('the table names every switch, and only switches a profile sets', () => {
    expect(Object.keys(EVIDENCE).sort()).toEqual(Object.keys(profiles.SPEC_SWITCHES).sort());
  });
  it('docs/SMMU-PROFILES.md has a row per switch naming a recording this table checks', () => {
    const doc = readFileSync(join(DIR, '../../../docs/SMMU-PROFILES.md'), 'utf8');
    for (const [name, stems] of Object.entries(EVIDENCE)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      expect(stems.some((st) => row!.includes(st)), `${name}: ${row}`).toBe(true);
    }
  });
  for (const [name, stems] of Object.entries(EVIDENCE)) {
    it(`${name}: ${stems.join(', ') || '(no recording shows it)'}`, async () => {
      expect(profilesSetting(name as keyof SmmuSwitches).length).toBeGreaterThan(0);
      expect(stems.length).toBeGreaterThan(0);
      off.name = name;
      try {
        for (const stem of stems) expect(await differs(stem), `${stem} with ${name} at the spec's value`).toBe(true);
      } finally {
        off.name = '';
      }
    });
  }
});

describe.skipIf(!discover)('discover the evidence', () => {
  it('prints the recordings each switch is needed by', async () => {
    const stems = readdirSync(DIR).filter((f) => f.endsWith('.scenario.json')).map((f) => f.replace('.scenario.json', '')).sort();
    for (const name of Object.keys(profiles.SPEC_SWITCHES) as (keyof SmmuSwitches)[]) {
      const tags = profilesSetting(name).map((p) => p.replace('qemu-', '').replace('.', ''));
      off.name = name;
      const hits: string[] = [];
      for (const stem of stems) if (tags.some((t) => stem.includes(`-${t}-`)) && await differs(stem)) hits.push(stem);
      off.name = '';
      console.log(`${name}: ${hits.length} ${JSON.stringify(hits.slice(0, 40))}`);
    }
  }, 600_000);
});
