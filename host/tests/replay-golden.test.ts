/**
 * Replays every recorded scenario under firmware-tests/golden (the shared
 * QEMU recordings and the generated ones in recorded/) and requires the
 * observations to equal the `.expected.json` exactly.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { replayScenario } from '../src/scenario/replay.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden');

function scenarioFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return scenarioFiles(p);
    return e.name.endsWith('.scenario.json') ? [p] : [];
  }).sort();
}

const files = scenarioFiles(GOLDEN);

describe('golden scenarios replay exactly as recorded on QEMU', () => {
  it('finds the shared scenarios', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });
  for (const file of files) {
    const name = file.slice(GOLDEN.length + 1);
    it(name, async () => {
      const scenario = JSON.parse(readFileSync(file, 'utf8'));
      const expected = JSON.parse(readFileSync(file.replace('.scenario.json', '.expected.json'), 'utf8'));
      const out = await replayScenario(scenario);
      expect(out.scenario).toBe(expected.scenario);
      expect(out.observations).toEqual(expected.observations);
    });
  }
});

describe('scenario errors name the step and produce no output', () => {
  const base = JSON.parse(readFileSync(join(GOLDEN, 'legacy-4k-roundtrip.scenario.json'), 'utf8'));
  const withStep = (step: object) => ({ ...base, steps: [...base.steps.slice(0, 3), step] });
  it('unknown op', async () => {
    await expect(replayScenario(withStep({ op: 'mmio.poke', offset: '0x0', size: 4 }))).rejects.toThrow(/step 3.*unknown op/);
  });
  it('unknown field', async () => {
    await expect(replayScenario(withStep({ op: 'mmio.read', offset: '0x0', size: 4, extra: 1 }))).rejects.toThrow(/step 3.*extra/);
  });
  it('bad size', async () => {
    await expect(replayScenario(withStep({ op: 'mmio.read', offset: '0x0', size: 2 }))).rejects.toThrow(/step 3.*size/);
  });
  it('bad hex', async () => {
    await expect(replayScenario(withStep({ op: 'mem.read', gpa: 'zz', len: 4 }))).rejects.toThrow(/step 3.*gpa/);
  });
  it('unknown profile', async () => {
    await expect(replayScenario({ ...base, machine: { ...base.machine, profile: 'qemu-1.0' } })).rejects.toThrow(/profile/);
  });
  it('msi data wider than the 16-bit Message Data register', async () => {
    await expect(replayScenario(withStep({ op: 'msi', bdf: '00:03.0', address: '0xfee00000', data: '0x10000' }))).rejects.toThrow(/step 3.*data.*16-bit/);
  });
  it('apic.irr of a processor the machine does not have', async () => {
    await expect(replayScenario(withStep({ op: 'apic.irr', apic: 1 }))).rejects.toThrow(/step 3.*apic.*1 processor/);
    await expect(replayScenario({ ...base, machine: { ...base.machine, cpus: 9 } })).rejects.toThrow(/machine.cpus/);
  });
  it('msi from a device that is not there', async () => {
    await expect(replayScenario(withStep({ op: 'msi', bdf: '00:09.0', address: '0xfee00000', data: '0x30' }))).rejects.toThrow(/step 3.*00:09.0/);
  });
  it('unknown device', async () => {
    await expect(replayScenario(withStep({ op: 'dma.read', bdf: '00:09.0', iova: '0x1000', len: 4 }))).rejects.toThrow(/step 3.*00:09.0/);
  });
});
