/**
 * A profile object carries every switch, and nothing reads a profile's name
 * to decide behaviour: here every profile createProfile builds is handed
 * out under another profile's name (qemu-7.2 as "default", default as
 * "qemu-10.0", ...), and recorded QEMU scenarios still replay exactly, the
 * seed flows on the default profile still pass, and the unit presents the
 * same registers. The core's own configuration defaults (before any
 * profile is applied) are the default profile's.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import type { Profile, ProfileName } from '../src/vtd/profiles.js';

/** Which name each profile is handed out under. */
const ALIAS: Record<ProfileName, ProfileName> = { 'qemu-7.2': 'default', 'qemu-10.0': 'qemu-7.2', default: 'qemu-10.0' };

vi.mock('../src/vtd/profiles.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../src/vtd/profiles.js')>();
  const renamed = (p: Profile): Profile => ({ ...p, name: ALIAS[p.name] });
  return {
    ...mod,
    createProfile: (name: string, o?: object) => renamed(mod.createProfile(name, o)),
    createProfileFromDevice: (name: string, device: string) => renamed(mod.createProfileFromDevice(name, device)),
  };
});

const { replayScenario } = await import('../src/scenario/replay.js');
const { createProfile, DEFAULT_IOMMU_OPTIONS } = await import('../src/vtd/profiles.js');
const { coreConfigRows } = await import('../src/vtd/core-config.js');
const { buildRegisterTable } = await import('../src/vtd/register-table.js');
const { loadCore } = await import('../src/core/load-node.js');
const { FLOWS } = await import('../src/flows/index.js');

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden/recorded');

/** Every 12th recorded scenario of each QEMU profile (a spread over the families). */
function sample(): { file: string; profile: string }[] {
  const files = readdirSync(GOLDEN, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.scenario.json')).sort();
  const out: { file: string; profile: string }[] = [];
  const seen: Record<string, number> = {};
  for (const f of files) {
    const profile = (JSON.parse(readFileSync(join(GOLDEN, f), 'utf8')) as { machine: { profile: string } }).machine.profile;
    seen[profile] = (seen[profile] ?? 0) + 1;
    if (seen[profile]! % 12 === 1) out.push({ file: f, profile });
  }
  return out;
}

describe('profiles handed out under another name behave as themselves', () => {
  it('the mock renames: a unit of qemu-7.2 is called "default"', () => {
    expect(createProfile('qemu-7.2').name).toBe('default');
    expect(createProfile('default').name).toBe('qemu-10.0');
  });

  const recorded = sample();
  it('the sample covers both QEMU profiles', () => {
    expect(new Set(recorded.map((r) => r.profile))).toEqual(new Set(['qemu-7.2', 'qemu-10.0']));
    expect(recorded.length).toBeGreaterThan(40);
  });

  it.each(recorded)('$file ($profile) replays exactly', async ({ file }) => {
    const scenario = JSON.parse(readFileSync(join(GOLDEN, file), 'utf8'));
    const expected = JSON.parse(readFileSync(join(GOLDEN, file.replace('.scenario.json', '.expected.json')), 'utf8'));
    expect((await replayScenario(scenario)).observations).toEqual(expected.observations);
  });

  it.each(FLOWS.map((f) => [f.name, f] as const))('seed flow %s passes', async (_name, flow) => {
    const r = await flow.run({ say: () => {} });
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
  });
});

describe('the core starts as the default profile', () => {
  it('every configuration key of a fresh core has the default profile\'s value', async () => {
    const core = await loadCore();
    const p = createProfile('default', DEFAULT_IOMMU_OPTIONS);
    const rows = coreConfigRows(p);
    expect(rows.length).toBeGreaterThan(20);
    for (const [key, value] of rows) expect(core.getConfig(key), `CFG key ${key}`).toBe(value);
    expect(buildRegisterTable(p).find((r) => r.name === 'CAP')!.reset).toBe(p.cap);
  });
});
