/**
 * The SMMUv3 fuzzer's input (issue 19: "fuzz the SMMUv3 unit"): an Arm
 * machine (host/src/arm-machine.ts: the SMMU's frame at SMMU_BASE, RAM from
 * ARM_RAM_BASE, dma-test devices whose requester id is the StreamID) and
 * the steps of a `viommu-scenario/1` smmuv3 scenario (firmware-tests/golden/
 * FORMAT.md): MMIO to the SMMU's 128 KiB frame, guest memory (stream
 * table, CDs, page tables, queues), DMA. On the `default` profile also two
 * viommu extensions (FORMAT.md): a `pasid` on `dma.*` is the request's
 * SubstreamID (the dma-test device's PASID register), sent once the guest
 * enabled the device's PASID capability with a `pci.cfg.write` (Arm ECAM).
 * Every input, findings included, replays with `viommu replay`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARM_RAM_BASE } from '../../host/src/arm-machine.js';
import { parseScenario, parseStep, smmuReproducesReference, type Step } from '../../host/src/scenario/parse.js';
import { SMMU_FRAME } from '../../host/src/smmu/spec/registers.js';
import { stepToJson } from '../input.js';
import { goldenDir } from '../seeds.js';

/** The machine of an SMMUv3 input, as the scenario's `machine` block writes it. */
export interface SmmuMachine {
  readonly profile: string;
  readonly ram_mib: number;
  readonly devices: readonly { readonly bdf: string; readonly kind: 'dma-test' }[];
}

/** One SMMUv3 fuzz input. */
export interface SmmuInput {
  readonly machine: SmmuMachine;
  readonly steps: readonly Step[];
}

/** Most steps an input may have. */
export const SMMU_MAX_STEPS = 256;

/** RAM the fuzzer gives a seed when its memory steps fit (smaller RAM: cheaper machines). */
export const SMMU_FUZZ_RAM_MIB = 32;

/** True when [gpa, gpa + len) is RAM of `m`. */
export function inArmRam(m: SmmuMachine, gpa: bigint, len: number): boolean {
  // As numbers (no BigInt per step): exact below 2^53, and an address from 2^53 up stays past the RAM's end.
  const g = Number(gpa);
  return g >= RAM_BASE && g + len <= RAM_BASE + m.ram_mib * 0x10_0000;
}

const RAM_BASE = Number(ARM_RAM_BASE);

/** smmuReproducesReference of a profile name (host/src/scenario/parse.ts), computed once per name: it builds the profile. */
const REFERENCE_PROFILES = new Map<string, boolean>();
export const reproducesReference = (profile: string): boolean => {
  let r = REFERENCE_PROFILES.get(profile);
  if (r === undefined) REFERENCE_PROFILES.set(profile, (r = smmuReproducesReference(profile)));
  return r;
};

/** True when the machine takes step `s` (RAM ranges, a device at its bdf, an MMIO offset in the frame; extensions on `default` only). */
export function smmuStepValid(m: SmmuMachine, s: Step): boolean {
  switch (s.op) {
    case 'mem.write': return inArmRam(m, s.gpa, 8 * s.u64.length);
    case 'mem.fill': case 'mem.read': return inArmRam(m, s.gpa, s.len);
    case 'mmio.write': case 'mmio.read': return s.offset >= 0 && s.offset + s.size <= SMMU_FRAME && s.offset % s.size === 0;
    case 'dma.read': case 'dma.write': return m.devices.some((d) => d.bdf === s.bdf) && (s.pasid === undefined || !reproducesReference(m.profile));
    case 'pci.cfg.write': case 'pci.cfg.read': return !reproducesReference(m.profile);
    default: return false; // the SMMU fuzzer makes no other steps (no snapshots, device registers or interrupts here)
  }
}

/** `s` as machine `m` takes it (a DMA keeps its step without the SubstreamID on a reference profile), or undefined. */
export function fitSmmuStep(m: SmmuMachine, s: Step): Step | undefined {
  if ((s.op === 'dma.read' || s.op === 'dma.write') && s.pasid !== undefined && reproducesReference(m.profile)) {
    const { pasid: _, ...plain } = s;
    return smmuStepValid(m, plain) ? plain : undefined;
  }
  return smmuStepValid(m, s) ? s : undefined;
}

/** The input as a scenario document (`extra`: more top-level fields, e.g. the finding). */
export function smmuInputToDoc(input: SmmuInput, name: string, description: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 'viommu-scenario/1', name, description,
    machine: { profile: input.machine.profile, ram_mib: input.machine.ram_mib, iommu: { type: 'smmuv3' }, devices: input.machine.devices },
    steps: input.steps.map(stepToJson),
    ...extra,
  };
}

/**
 * Reads an smmuv3 scenario document as an input: the machine block is
 * validated by the scenario parser, each step by its step parser (a `pasid`
 * on a DMA is kept: the SubstreamID). An Error names what is wrong.
 */
export function smmuInputFromDoc(doc: unknown): SmmuInput {
  const d = doc as Record<string, unknown>;
  const sc = parseScenario({ ...d, steps: [] });
  if (sc.iommu !== 'smmuv3') throw new Error('machine.iommu.type: not an smmuv3 scenario');
  const steps = (Array.isArray(d['steps']) ? d['steps'] : []).map((s, i) => parseStep(s, i, SMMU_FRAME));
  const machine: SmmuMachine = {
    profile: sc.machine.profile ?? 'default',
    ram_mib: sc.machine.ramMib ?? 256,
    devices: (sc.machine.devices ?? []).map((x) => ({ bdf: String(x.bdf), kind: 'dma-test' as const })),
  };
  return { machine, steps: fitSteps(machine, steps).slice(0, SMMU_MAX_STEPS) };
}

/** The steps machine `m` takes, each as `fitSmmuStep` makes it. */
export function fitSteps(m: SmmuMachine, steps: readonly Step[]): Step[] {
  return steps.map((s) => fitSmmuStep(m, s)).filter((s): s is Step => s !== undefined);
}

/** `input` on SMMU_FUZZ_RAM_MIB of RAM when its memory steps fit there. */
export function shrinkArmRam(input: SmmuInput): SmmuInput {
  if (input.machine.ram_mib <= SMMU_FUZZ_RAM_MIB) return input;
  const machine = { ...input.machine, ram_mib: SMMU_FUZZ_RAM_MIB };
  return input.steps.every((s) => smmuStepValid(machine, s)) ? { ...input, machine } : input;
}

/** The SMMUv3 golden scenarios (recorded on QEMU and the model's own), as inputs: the seeds. */
export function smmuSeeds(dir = join(goldenDir(), 'smmuv3')): SmmuInput[] {
  return readdirSync(dir).filter((f) => f.endsWith('.scenario.json')).sort()
    .map((f) => shrinkArmRam(smmuInputFromDoc(JSON.parse(readFileSync(join(dir, f), 'utf8')))));
}
