/**
 * `viommu replay` and the optional `machine.iommu.first_stage` field
 * (firmware-tests/golden/FORMAT.md): only profile qemu-10.0 has it, and `true` needs
 * scalable_mode and aw_bits 48. A scenario that asks for it anywhere else is
 * an error naming the field, before anything runs; where it is valid it
 * selects QEMU 10.0's first-stage CAP/ECAP.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../src/scenario/parse.js';
import { replayScenario } from '../src/scenario/replay.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden');
const fsScenario = JSON.parse(readFileSync(join(GOLDEN, 'fs-4k-roundtrip.scenario.json'), 'utf8'));

/** The fs-4k-roundtrip scenario with its machine changed; steps: read CAP and ECAP. */
function withMachine(profile: string, iommu: Record<string, unknown>): unknown {
  return {
    ...fsScenario, machine: { ...fsScenario.machine, profile, iommu },
    steps: [{ op: 'mmio.read', offset: '0x8', size: 8 }, { op: 'mmio.read', offset: '0x10', size: 8 }],
  };
}

describe('first_stage is a qemu-10.0 option (FORMAT.md)', () => {
  it('the shared first-stage scenario asks for it on qemu-10.0', () => {
    expect(fsScenario.machine.profile).toBe('qemu-10.0');
    expect(fsScenario.machine.iommu.first_stage).toBe(true);
  });

  for (const profile of ['qemu-7.2', 'default']) {
    for (const value of [true, false]) {
      it(`is rejected on ${profile} (first_stage: ${value}), naming the field`, async () => {
        const doc = withMachine(profile, { scalable_mode: true, aw_bits: 48, first_stage: value });
        expect(() => parseScenario(doc)).toThrow(/machine\.iommu\.first_stage: only profile qemu-10\.0/);
        await expect(replayScenario(doc)).rejects.toThrow(/machine\.iommu\.first_stage/);
      });
    }
  }

  const needs: [string, Record<string, unknown>][] = [
    ['without scalable_mode', { scalable_mode: false, aw_bits: 48, first_stage: true }],
    ['with aw_bits 39', { scalable_mode: true, aw_bits: 39, first_stage: true }],
    ['with aw_bits left at its default (39)', { scalable_mode: true, first_stage: true }],
    ['with aw_bits 57', { scalable_mode: true, aw_bits: 57, first_stage: true }],
  ];
  for (const [what, iommu] of needs) {
    it(`true is rejected on qemu-10.0 ${what}`, async () => {
      await expect(replayScenario(withMachine('qemu-10.0', iommu))).rejects.toThrow(
        /machine\.iommu\.first_stage: needs "scalable_mode": true and "aw_bits": 48/);
    });
  }

  it('a non-boolean value is rejected, naming the field', () => {
    expect(() => parseScenario(withMachine('qemu-10.0', { scalable_mode: true, aw_bits: 48, first_stage: 1 })))
      .toThrow(/machine\.iommu\.first_stage: expected a boolean/);
  });

  it('false on qemu-10.0 keeps second-stage CAP/ECAP; true gives FS1GP and SMTS+FSTS without SRS/SSTS', async () => {
    const caps = async (fs: boolean) => (await replayScenario(withMachine('qemu-10.0', { scalable_mode: true, aw_bits: 48, first_stage: fs })))
      .observations.map((o) => ('value' in o ? o.value : ''));
    expect(await caps(false)).toEqual(['0xd2008c222f0606', '0x480080f00f5a']);
    expect(await caps(true)).toEqual(['0x1d2008c222f0606', '0x880000f00f5a']);
  });
});
