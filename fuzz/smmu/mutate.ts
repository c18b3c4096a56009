/**
 * The SMMUv3 fuzzer's mutation operators: insert generated steps
 * (generate.ts: registers, STEs, CDs, page-table chains, commands, DMA,
 * noise), tweak existing steps (bits of a register value or a memory word,
 * a DMA's address, length or SubstreamID), delete, duplicate, move, splice
 * from the corpus, and change the machine (profile, RAM). `mutateSmmu`
 * stacks a few; every result is a valid input (smmuStepValid).
 */
import type { Step } from '../../host/src/scenario/parse.js';
import type { Rng } from '../rng.js';
import { deleteRun, duplicateRun, insertSteps, moveStep, spliceRun } from '../step-list-ops.js';
import { cdStep, commandSteps, dmaStep, ssidValue, noiseStep, pasidControlStep, registerStep, scan, steStep, tableChain } from './generate.js';
import { fitSteps, SMMU_MAX_STEPS, smmuStepValid, type SmmuInput, type SmmuMachine } from './input.js';

/** Profiles the machine operator picks from (host/src/smmu/profiles.ts). */
export const SMMU_PROFILES = ['default', 'qemu-7.2', 'qemu-10.0'] as const;

interface Draft { machine: SmmuMachine; steps: Step[] }

interface Operator {
  readonly name: string;
  readonly weight: number;
  apply(d: Draft, r: Rng, corpus: readonly SmmuInput[]): boolean;
}

const insert = insertSteps;

/** Inserts after the last step (commands must see the PROD the input reached). */
function append(d: Draft, steps: readonly Step[]): boolean {
  d.steps.push(...steps);
  return steps.length > 0;
}

const flip = (v: bigint, r: Rng, bits: number): bigint => v ^ (1n << BigInt(r.below(bits)));

/** A changed copy of one step's value, address or length. */
function tweak(s: Step, r: Rng): Step | undefined {
  switch (s.op) {
    case 'mmio.write': return { ...s, value: r.chance(0.7) ? flip(s.value, r, s.size * 8) : r.u64() & ((1n << BigInt(s.size * 8)) - 1n) };
    case 'mem.write': {
      const u64 = [...s.u64];
      const i = r.below(u64.length);
      u64[i] = r.chance(0.8) ? flip(u64[i]!, r, 64) : r.u64();
      return { ...s, u64 };
    }
    case 'dma.read': case 'dma.write': {
      const c = r.below(3);
      if (c === 0) return { ...s, iova: (s.iova + BigInt(r.pick([-4096, -8, 8, 4096, 0x20_0000]))) & ((1n << 64n) - 1n) };
      if (c === 1) return { ...s, len: r.pick([1, 8, 4095, 1 + r.below(4095)]) };
      const { pasid: _, ...rest } = s;
      return r.chance(0.3) ? rest : { ...rest, pasid: ssidValue(r) };
    }
    default: return undefined;
  }
}

/**
 * A DMA step, appended or inserted; one with a SubstreamID first enables its
 * device's PASID capability (at the start of the input) when no step does,
 * most of the time (else the device refuses it, which is worth a run too).
 */
function dmaOperator(d: Draft, r: Rng): boolean {
  const ctx = scan(d);
  const s = dmaStep(ctx, r, d.machine);
  if (s === undefined) return false;
  if ((s.op === 'dma.read' || s.op === 'dma.write') && s.pasid !== undefined && !ctx.pasidOn.includes(s.bdf) && r.chance(0.9)) d.steps.unshift(pasidControlStep(r, d.machine, s.bdf, true));
  return r.chance(0.5) ? append(d, [s]) : insert(d, r, [s]);
}

const OPERATORS: readonly Operator[] = [
  { name: 'register', weight: 4, apply: (d, r) => insert(d, r, [registerStep(scan(d), r, d.machine)]) },
  { name: 'ste', weight: 3, apply: (d, r) => insert(d, r, [steStep(scan(d), r)]) },
  { name: 'cd', weight: 3, apply: (d, r) => insert(d, r, [cdStep(scan(d), r)]) },
  { name: 'tables', weight: 2, apply: (d, r) => insert(d, r, tableChain(scan(d), r)) },
  { name: 'commands', weight: 5, apply: (d, r) => append(d, commandSteps(scan(d), r)) },
  { name: 'dma', weight: 5, apply: (d, r) => dmaOperator(d, r) },
  { name: 'pasid-control', weight: 1, apply: (d, r) => insert(d, r, [pasidControlStep(r, d.machine)]) },
  { name: 'noise', weight: 2, apply: (d, r) => insert(d, r, [noiseStep(scan(d), r)]) },
  {
    name: 'tweak', weight: 6, apply: (d, r) => {
      if (d.steps.length === 0) return false;
      const i = r.below(d.steps.length);
      const t = tweak(d.steps[i]!, r);
      if (t) d.steps[i] = t;
      return t !== undefined;
    },
  },
  { name: 'delete', weight: 2, apply: (d, r) => deleteRun(d, r, 4) },
  { name: 'duplicate', weight: 1, apply: (d, r) => duplicateRun(d, r) },
  { name: 'move', weight: 1, apply: (d, r) => moveStep(d, r) },
  { name: 'splice', weight: 1, apply: (d, r, corpus) => spliceRun(d, r, corpus, (s) => smmuStepValid(d.machine, s)) },
  {
    name: 'machine', weight: 1, apply: (d, r) => {
      d.machine = { ...d.machine, profile: r.pick(SMMU_PROFILES) };
      return true;
    },
  },
];

const WEIGHTS = OPERATORS.map((o) => o.weight);

/** A mutant of `input`: 1..8 stacked operators (their names returned too). */
export function mutateSmmu(input: SmmuInput, r: Rng, corpus: readonly SmmuInput[]): { input: SmmuInput; ops: string[] } {
  const d: Draft = { machine: input.machine, steps: [...input.steps] };
  const ops: string[] = [];
  for (let k = 0, n = 1 << r.below(4); k < n; k++) {
    const op = OPERATORS[r.weighted(WEIGHTS)]!;
    if (op.apply(d, r, corpus)) ops.push(op.name);
  }
  if (d.steps.length > SMMU_MAX_STEPS) d.steps.splice(r.below(d.steps.length - SMMU_MAX_STEPS + 1), d.steps.length - SMMU_MAX_STEPS);
  return { input: { machine: d.machine, steps: fitSteps(d.machine, d.steps) }, ops };
}
