import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseMachine } from '../../host/src/scenario/parse.js';
import { createProfile } from '../../host/src/vtd/profiles.js';
import { buildRegisterTable } from '../../host/src/vtd/register-table.js';
import { REG } from '../../host/src/vtd/spec/registers.js';
import { pointerPages, registerTableOf } from '../generate.js';
import { fromScenarioDoc, inputHash, inRam, ramRanges, stepToJson, vmmHostToJson, type FuzzInput, type RawMachine, type Step } from '../input.js';
import { mutate } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs, withVmmVariants } from '../seeds.js';

// The mutators' shortcuts (pointer pages collected as numbers, RAM checks
// on numbers, register tables cached by profile and iommu block, input
// hashes from per-step texts) against the plain forms they replace: the
// same answers, so the same mutants (and corpus names) for the same seed.

/** The plain form: every step's pages again, in a Set of bigints. */
function plainPointerPages(input: FuzzInput): bigint[] {
  const pages = new Set<bigint>();
  const ram = ramRanges(input.machine);
  for (const r of ram) {
    pages.add(r.start);
    pages.add(r.end - 0x1000n);
    pages.add(r.end);
  }
  for (const s of input.steps) {
    if (s.op === 'mem.write') {
      pages.add(s.gpa & ~0xfffn);
      for (const q of s.u64) {
        const page = q & 0x000f_ffff_ffff_f000n;
        if (ram.some((r) => page >= r.start && page + 8n <= r.end)) pages.add(page);
      }
    } else if (s.op === 'mem.fill') {
      pages.add(s.gpa & ~0xfffn);
    } else if (s.op === 'mmio.write' && (s.offset === REG.RTADDR || s.offset === REG.IQA || s.offset === REG.PQA)) {
      pages.add(s.value & ~0xfffn);
    }
  }
  return [...pages].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The plain form: bigint sums. */
function plainInRam(m: RawMachine, gpa: bigint, len: number): boolean {
  const end = gpa + BigInt(len);
  return ramRanges(m).some((r) => gpa >= r.start && end <= r.end);
}

const seeds = withVmmVariants(loadInputs([goldenDir()]));

describe('fuzz generator shortcuts', () => {
  it('pointerPages equals the plain form on the seeds and on generations of mutants, on every RAM size', () => {
    const rng = new Rng(23);
    const pool = [...seeds];
    for (let i = 0; i < 1500; i++) {
      const { input } = mutate(pool[rng.below(pool.length)]!, rng, pool);
      if (i % 3 === 0) pool.push(input);
    }
    const wild: Step[] = [
      { op: 'mmio.write', offset: REG.RTADDR, size: 8, value: 0xffff_ffff_ffff_f000n }, // a page past 2^53
      { op: 'mmio.write', offset: REG.IQA, size: 8, value: (1n << 53n) | 0x7n },
      { op: 'mmio.write', offset: REG.PQA, size: 8, value: (1n << 53n) - 0x1000n },
      { op: 'mem.write', gpa: 0x2000n, u64: [0x1_0000_1000n, 0xfff_ffff_f000n, (1n << 52n) - 1n, 0x3000n] },
    ];
    pool.push({ ...seeds[0]!, steps: [...seeds[0]!.steps, ...wild] });
    let pages = 0;
    for (const input of pool) {
      // The same step objects on other RAM sizes too (the per-step record is kept by RAM size), 8 GiB puts RAM above 4 GiB.
      for (const ram_mib of [input.machine.ram_mib, 16, 8192]) {
        const sized = { ...input, machine: { ...input.machine, ram_mib } };
        const plain = plainPointerPages(sized);
        expect(pointerPages(sized)).toEqual(plain);
        pages += plain.length;
      }
    }
    expect(pages).toBeGreaterThan(pool.length * 3 * 6); // more than the RAM edges
  });

  it('inRam equals the bigint form at the RAM edges, above 2^53 and on random ranges', () => {
    const rng = new Rng(5);
    for (const ram_mib of [16, 128, 3072, 8192]) {
      const m: RawMachine = { profile: 'default', ram_mib, iommu: { scalable_mode: true, caching_mode: false, aw_bits: 48 }, devices: [] };
      const edges = ramRanges(m).flatMap((r) => [r.start, r.end]);
      const gpas = [...edges.flatMap((e) => [e - 4096n, e - 8n, e - 1n, e, e + 1n]), -1n, -4096n, 1n << 53n, (1n << 53n) - 8n, (1n << 64n) - 8n];
      for (let i = 0; i < 2000; i++) gpas.push(rng.chance(0.5) ? BigInt(rng.below(ram_mib * 0x10_0000 + 0x2000_0000)) : rng.u64());
      for (const gpa of gpas) {
        for (const len of [1, 8, 4095, 4096, 8 * 512]) expect(inRam(m, gpa, len), `${ram_mib} MiB ${gpa.toString(16)}+${len}`).toBe(plainInRam(m, gpa, len));
      }
    }
  });

  it('inputHash hashes the text of the plain JSON form, VM inputs with and without a host side included', () => {
    const plainHash = (input: FuzzInput): string => createHash('sha1')
      .update(JSON.stringify({ m: input.machine, s: input.steps.map(stepToJson), ...(input.vmm ? { v: input.vmm, h: vmmHostToJson(input.vmmHost) } : {}) }))
      .digest('hex').slice(0, 16);
    const rng = new Rng(8);
    const inputs = [...seeds, { ...seeds[0]!, steps: [] }];
    for (let i = 0; i < 600; i++) inputs.push(mutate(inputs[rng.below(inputs.length)]!, rng, inputs).input);
    let vms = 0;
    for (const input of inputs) {
      expect(inputHash(input)).toBe(plainHash(input));
      expect(inputHash(input)).toBe(plainHash(input)); // the per-step texts kept from the first call
      if (input.vmm) vms++;
    }
    expect(vms).toBeGreaterThan(20);
    expect(inputs.some((x) => x.vmm && x.vmmHost)).toBe(true);
  });

  it('loading the seeds refuses every SMMUv3 scenario before parsing it, with the message the parse gave', () => {
    const skipped: string[] = [];
    const vtd = loadInputs([goldenDir()], (_file, why) => skipped.push(why));
    expect(vtd.length).toBeGreaterThan(500);
    expect(skipped.length).toBeGreaterThan(100); // the golden SMMUv3 scenarios
    expect(new Set(skipped)).toEqual(new Set(['machine.iommu.type: the fuzzer drives the VT-d machine, not an smmuv3 scenario']));
    expect(() => fromScenarioDoc({ format: 'viommu-scenario/1', machine: { profile: 'x', iommu: { type: 'smmuv3' } }, steps: 'not even steps' })).toThrow(/not an smmuv3 scenario/);
    expect(() => fromScenarioDoc(null)).toThrow(); // the parser's own error
  });

  it('registerTableOf gives the table a fresh build gives, whatever the devices, RAM and processors', () => {
    const rng = new Rng(3);
    const iommus: RawMachine['iommu'][] = [
      { scalable_mode: false, caching_mode: false, aw_bits: 39 }, { scalable_mode: true, caching_mode: true, aw_bits: 48 },
      { scalable_mode: true, caching_mode: false, aw_bits: 48, first_stage: true }, { scalable_mode: false, caching_mode: true, aw_bits: 48 },
    ];
    for (const profile of ['default', 'qemu-7.2', 'qemu-10.0']) {
      for (const iommu of iommus) {
        if (iommu.first_stage && profile !== 'qemu-10.0') continue; // the only profile with the option
        const m: RawMachine = {
          profile, ram_mib: rng.pick([16, 64]), iommu: { ...iommu }, devices: [{ bdf: rng.pick(['00:03.0', '00:04.0']), kind: 'dma-test' }],
          ...(rng.chance(0.5) ? { cpus: 2 } : {}),
        };
        const config = parseMachine(m); // the plain form: the table of the machine the replay builds
        expect(registerTableOf(m)).toEqual(buildRegisterTable(createProfile(config.profile ?? 'default', config.iommu)));
      }
    }
  });
});
