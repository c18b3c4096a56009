/**
 * The mutation engine: a table of structure-aware operators over scenario
 * steps (insert register accesses, table entries, queued descriptors and
 * DMA; tweak fields of existing steps; delete, duplicate, move, splice), of
 * which `mutate` stacks a few. Every result is a valid scenario: `mem.*`
 * ranges stay in RAM, MMIO accesses stay aligned inside the 4 KiB window.
 */
import { dmaStep, interestingValue, mmioStep, pickPage, qiSteps, tableEntryStep } from './generate.js';
import { DMAT_BAR_SIZE } from '../host/src/devices/dma-test/regs.js';
import { usesExtension } from '../host/src/scenario/parse.js';
import { inRam, MAX_STEPS, type FuzzInput, type RawMachine, type Step, type VmmHost } from './input.js';
import { devCfgStep, devMmioStep, pasidDmaStep, pasidValue, priSetupSteps, prqRegisterStep, prqResponseSteps, smTableSteps } from './pri-steps.js';
import type { Rng } from './rng.js';
import { deleteRun, duplicateRun, insertSteps, moveStep, spliceRun } from './step-list-ops.js';
import { atsSteps, noiseStep, SNAPSHOT_STEP } from './ats-steps.js';
import type { VmMode } from '../host/src/vmm/virtual-machine.js';
import { mixedVmmHost, randomVmmHost, vmMachine, vmmHostFor, VMM_MAX_DEVICES, VMM_MODES } from './vmm-run.js';

/** Mutable working copy of an input. */
interface Draft {
  machine: RawMachine;
  steps: Step[];
  vmm?: VmMode;
  vmmHost?: VmmHost;
}

/** One mutation operator; returns false when it could not apply. */
interface Operator {
  readonly name: string;
  readonly weight: number;
  apply(d: Draft, rng: Rng, corpus: readonly FuzzInput[]): boolean;
}

const insert = insertSteps;

/** Flips, sets or replaces bits of a bigint field. */
function tweak(rng: Rng, v: bigint, bits: number): bigint {
  const mask = (1n << BigInt(bits)) - 1n;
  switch (rng.below(5)) {
    case 0: return (v ^ (1n << BigInt(rng.below(bits)))) & mask;
    case 1: return (v + BigInt(rng.between(-16, 16))) & mask;
    case 2: return interestingValue(rng) & mask;
    case 3: return (v & ~0xfffn) | (interestingValue(rng) & 0xfffn);
    default: return (v ^ (BigInt(rng.u32()) << BigInt(rng.below(32)))) & mask;
  }
}

/** Changes one field of an existing step, keeping it valid. */
function tweakStep(d: Draft, rng: Rng, pageOf: () => bigint): boolean {
  if (d.steps.length === 0) return false;
  const i = rng.below(d.steps.length);
  const s = d.steps[i]!;
  let next: Step = s;
  switch (s.op) {
    case 'mem.write': {
      const u64 = [...s.u64];
      const k = rng.below(u64.length);
      u64[k] = rng.chance(0.2) ? pageOf() | (u64[k]! & 0xfffn) : tweak(rng, u64[k]!, 64);
      next = { ...s, u64 };
      break;
    }
    case 'mmio.write': next = { ...s, value: tweak(rng, s.value, 8 * s.size) }; break;
    case 'mmio.read': next = { ...s, offset: Math.min(0x1000 - s.size, Math.max(0, s.offset + 4 * rng.between(-2, 2))) }; break;
    case 'dma.read':
    case 'dma.write':
      next = rng.chance(0.5) ? { ...s, iova: tweak(rng, s.iova, 64) } : { ...s, len: rng.between(1, 4095) };
      if (rng.chance(0.15)) next = { ...next, pasid: s.pasid === undefined || rng.chance(0.5) ? pasidValue(rng) : undefined };
      if (rng.chance(0.2)) next = { ...next, op: s.op === 'dma.read' ? 'dma.write' : 'dma.read' } as Step;
      break;
    case 'mem.fill': next = { ...s, byte: rng.below(256) }; break;
    case 'mem.read': next = { ...s, len: rng.between(1, 4096) }; break;
    case 'pci.cfg.write': next = { ...s, value: tweak(rng, s.value, 8 * s.size) }; break;
    case 'dev.mmio.write': next = { ...s, value: tweak(rng, s.value, 8 * s.size) }; break;
    case 'pci.cfg.read':
    case 'dev.mmio.read': next = { ...s, offset: Math.max(0, s.offset + s.size * rng.between(-2, 2)) }; break;
  }
  if (!stepValid(d.machine, next)) return false;
  d.steps[i] = next;
  return true;
}

/** The scenario constraints a mutated step must keep (FORMAT.md "Steps" and "viommu extensions"). */
export function stepValid(m: RawMachine, s: Step): boolean {
  if (usesExtension(s) && m.profile !== 'default') return false;
  switch (s.op) {
    case 'mem.write': return s.u64.length > 0 && inRam(m, s.gpa, 8 * s.u64.length);
    case 'mem.fill': return s.len >= 1 && inRam(m, s.gpa, s.len);
    case 'mem.read': return s.len >= 1 && s.len <= 4096 && inRam(m, s.gpa, s.len);
    case 'mmio.write':
    case 'mmio.read': return s.offset % 4 === 0 && s.offset >= 0 && s.offset + s.size <= 0x1000;
    case 'dma.read':
    case 'dma.write':
      return s.len >= 1 && s.len <= 4095 && s.iova >= 0n && s.iova < TWO_64 && hasDevice(m, s.bdf, 'dma-test')
        && (s.pasid === undefined || (s.pasid >= 0 && s.pasid <= 0xf_ffff));
    case 'msi': return hasDevice(m, s.bdf) && s.address >= 0n && s.address < TWO_64 && s.data >= 0 && s.data <= 0xffff;
    case 'apic.irr': return s.apic >= 0 && s.apic < (m.cpus ?? 1);
    case 'pci.cfg.write':
    case 'pci.cfg.read':
      return s.offset % s.size === 0 && s.offset >= 0 && s.offset < 0x1000 && (s.op === 'pci.cfg.read' || fitsBytes(s.value, s.size));
    case 'dev.mmio.write':
    case 'dev.mmio.read':
      // Scenario devices (dma-test, ats) have one BAR of DMAT_BAR_SIZE (= ATS_BAR_SIZE) bytes.
      return hasDevice(m, s.bdf) && s.bar === 0 && s.offset % 4 === 0 && s.offset >= 0 && s.offset + s.size <= DMAT_BAR_SIZE
        && (s.op === 'dev.mmio.read' || fitsBytes(s.value, s.size));
    case 'snapshot': return true;
  }
}

// The validity check runs for every step of every mutant: no closure or bigint is made per check.
const TWO_64 = 1n << 64n;
/** 2^(8 x size) for the access sizes steps use. */
const SIZE_LIMIT = new Map<number, bigint>([1, 2, 4, 8].map((n) => [n, 1n << BigInt(8 * n)]));

/** True when the machine has a device at `bdf` (of `kind`, when given). */
function hasDevice(m: RawMachine, bdf: string, kind?: RawMachine['devices'][number]['kind']): boolean {
  for (const d of m.devices) if (d.bdf === bdf && (kind === undefined || d.kind === kind)) return true;
  return false;
}

/** True when `value` fits in `size` bytes (non-negative, below 2^(8 x size)). */
function fitsBytes(value: bigint, size: number): boolean {
  const limit = SIZE_LIMIT.get(size);
  return limit === undefined ? value >> BigInt(8 * size) === 0n : value >= 0n && value < limit;
}

/** Machine variants the profiles accept (FORMAT.md "File"). */
const MACHINES: readonly RawMachine['iommu'][] = [
  { scalable_mode: false, caching_mode: false, aw_bits: 39 },
  { scalable_mode: false, caching_mode: true, aw_bits: 48 },
  { scalable_mode: true, caching_mode: false, aw_bits: 48 },
  { scalable_mode: true, caching_mode: true, aw_bits: 39 },
  { scalable_mode: true, caching_mode: false, aw_bits: 48, first_stage: true },
];

function mutateMachine(d: Draft, rng: Rng): boolean {
  const iommu = rng.pick(MACHINES);
  const profile = iommu.first_stage ? 'qemu-10.0' : rng.pick(['qemu-7.2', 'qemu-10.0', 'default']);
  // qemu-* refuses the extensions: ATS devices and their steps go.
  const devices = profile === 'default' ? d.machine.devices : d.machine.devices.filter((x) => x.kind === 'dma-test');
  d.machine = { ...d.machine, profile, iommu: { ...iommu }, devices };
  if (!d.machine.devices.some((x) => x.kind === 'dma-test')) d.machine = { ...d.machine, devices: [...d.machine.devices, { bdf: '00:03.0', kind: 'dma-test' }] };
  d.steps = d.steps.filter((s) => stepValid(d.machine, s));
  return true;
}

/**
 * The draft on the `default` profile (the only one that accepts the viommu
 * extensions), scalable mode most of the time, with a device; steps stay
 * valid (the default profile accepts everything the qemu-* ones do).
 */
function toDefault(d: Draft, rng: Rng): Draft {
  if (d.machine.profile !== 'default') {
    const iommu = rng.chance(0.8) ? { scalable_mode: true, caching_mode: rng.chance(0.3), aw_bits: 48 } : rng.pick(MACHINES.filter((m) => !m.first_stage));
    d.machine = { ...d.machine, profile: 'default', iommu: { ...iommu } };
  }
  if (!d.machine.devices.some((x) => x.kind === 'dma-test')) d.machine = { ...d.machine, devices: [...d.machine.devices, { bdf: '00:03.0', kind: 'dma-test' }] };
  return d;
}

const OPERATORS: readonly Operator[] = [
  { name: 'mmio.write', weight: 14, apply: (d, r) => insert(d, r, [mmioStep(r, d, true)]) },
  { name: 'mmio.read', weight: 4, apply: (d, r) => insert(d, r, [mmioStep(r, d, false)]) },
  { name: 'table-entry', weight: 12, apply: (d, r) => insert(d, r, [tableEntryStep(r, d)]) },
  { name: 'qi', weight: 8, apply: (d, r) => insert(d, r, qiSteps(r, d)) },
  { name: 'dma', weight: 10, apply: (d, r) => insert(d, r, [dmaStep(r, d), r.chance(0.3) ? dmaStep(r, d) : undefined]) },
  // viommu extensions (default profile; each switches the machine to it when needed): PASID / PRI traffic.
  { name: 'pri-setup', weight: 2, apply: (d, r) => insert(d, r, priSetupSteps(r, toDefault(d, r))) },
  { name: 'sm-tables', weight: 2, apply: (d, r) => insert(d, r, smTableSteps(r, toDefault(d, r))) },
  { name: 'pci.cfg', weight: 3, apply: (d, r) => insert(d, r, [devCfgStep(r, toDefault(d, r))]) },
  { name: 'dev.mmio', weight: 4, apply: (d, r) => insert(d, r, devMmioStep(r, toDefault(d, r))) },
  { name: 'dma-pasid', weight: 4, apply: (d, r) => insert(d, r, [pasidDmaStep(r, toDefault(d, r))]) },
  { name: 'prq-register', weight: 3, apply: (d, r) => insert(d, r, [prqRegisterStep(r, toDefault(d, r))]) },
  { name: 'prq-response', weight: 3, apply: (d, r) => insert(d, r, prqResponseSteps(r, toDefault(d, r))) },
  // Issue 19: ATS translation and translated requests, fuzz data where the unit or a device reads, snapshot/restore mid-input.
  { name: 'ats', weight: 3, apply: (d, r) => insert(d, r, atsSteps(r, toDefault(d, r))) },
  { name: 'noise', weight: 4, apply: (d, r) => insert(d, r, [noiseStep(r, d)]) },
  { name: 'snapshot', weight: 1, apply: (d, r) => insert(toDefault(d, r), r, [SNAPSHOT_STEP]) },
  { name: 'tweak', weight: 20, apply: (d, r) => tweakStep(d, r, () => pickPage(r, d)) },
  { name: 'delete', weight: 6, apply: (d, r) => deleteRun(d, r, 8) },
  { name: 'duplicate', weight: 4, apply: (d, r) => duplicateRun(d, r) },
  { name: 'move', weight: 3, apply: (d, r) => moveStep(d, r) },
  { name: 'splice', weight: 4, apply: (d, r, corpus) => spliceRun(d, r, corpus, (s) => stepValid(d.machine, s)) },
  { name: 'machine', weight: 1, apply: (d, r) => mutateMachine(d, r) },
  // Issue 19: the guest on a VMM-backed machine (shadow / nested over the host side), or back on a plain one.
  {
    name: 'vmm', weight: 1, apply: (d, r) => {
      d.vmm = d.vmm === undefined || r.chance(0.3) ? r.pick([...VMM_MODES, undefined]) : undefined;
      if (d.vmm && r.chance(0.5)) d.vmmHost = randomVmmHost(r, d.vmm);
      return true;
    },
  },
  // Issue 19: the VM's host side: VFIO groups (and the fallback to them of devices without a cdev), vhost-vdpa, subdevices, two functions in one group.
  {
    name: 'vmm-host', weight: 1, apply: (d, r) => {
      if (!d.vmm) return false;
      if (r.chance(0.3)) addDmaDevice(d.machine, r);
      d.vmmHost = randomVmmHost(r, d.vmm);
      return true;
    },
  },
  // Issue 19: one shadow VM with VFIO and vDPA devices (the vfio-vdpa-pasid flow's shape): a device switched between the two (a second device added when there is one).
  {
    name: 'vmm-mixed', weight: 1, apply: (d, r) => {
      if (d.vmm !== 'shadow') return false;
      addDmaDevice(d.machine, r, 2);
      const devices = d.machine.devices.filter((x) => x.kind === 'dma-test').length;
      d.vmmHost = mixedVmmHost(d.vmmHost, r.below(Math.min(VMM_MAX_DEVICES, Math.max(1, devices))));
      return true;
    },
  },
];

/** A copy of a machine description the operators may change (what structuredClone gives, at a tenth of its cost). */
function cloneMachine(m: RawMachine): RawMachine {
  return { ...m, iommu: { ...m.iommu }, devices: m.devices.map((x) => ({ ...x })) };
}

/** Guest BDFs a VM's added device may take. */
const VM_BDFS = ['00:03.0', '00:04.0', '00:05.0', '00:03.1', '00:06.0'];

/** Adds a dma-test device at a free BDF when the machine has fewer than `below` (default: as many as a VM takes, VMM_MAX_DEVICES). */
function addDmaDevice(m: RawMachine, r: Rng, below = VMM_MAX_DEVICES): void {
  if (m.devices.filter((x) => x.kind === 'dma-test').length >= below) return;
  const free = VM_BDFS.filter((b) => !m.devices.some((x) => x.bdf === b));
  if (free.length) m.devices.push({ bdf: r.pick(free), kind: 'dma-test' });
}

const WEIGHTS = OPERATORS.map((o) => o.weight);

/**
 * A mutant of `input`: 1..8 stacked operators (the names of those that
 * applied are returned too). `corpus` feeds the splice operator. With
 * `maxSteps` below MAX_STEPS (the engine's length control), the operators
 * work on the first `maxSteps` steps of `input` (a scenario sets the unit
 * up first) and the mutant loses its steps past `maxSteps`, as libFuzzer
 * truncates a unit to its current maximum length.
 */
export function mutate(input: FuzzInput, rng: Rng, corpus: readonly FuzzInput[], maxSteps = MAX_STEPS): { input: FuzzInput; ops: string[] } {
  const limited = maxSteps < MAX_STEPS;
  const d: Draft = { machine: cloneMachine(input.machine), steps: limited ? input.steps.slice(0, maxSteps) : [...input.steps], ...(input.vmm ? { vmm: input.vmm } : {}), ...(input.vmmHost ? { vmmHost: input.vmmHost } : {}) };
  const ops: string[] = [];
  const n = 1 << rng.below(4);
  for (let k = 0; k < n; k++) {
    const op = OPERATORS[rng.weighted(WEIGHTS)]!;
    if (op.apply(d, rng, corpus)) ops.push(op.name);
  }
  if (limited) d.steps.length = Math.min(d.steps.length, maxSteps);
  else if (d.steps.length > MAX_STEPS) d.steps.splice(rng.below(MAX_STEPS + 1), d.steps.length - MAX_STEPS); // a run goes where MAX_STEPS stay
  if (d.vmm) d.machine = vmMachine(d.machine); // what a VM's guest unit is, whatever the operators made of the machine
  // Generators do not all know every device kind (a dma.* step must name a dma-test device): keep what the machine accepts.
  const steps = d.steps.filter((s) => stepValid(d.machine, s) && !(d.vmm && s.op === 'snapshot')); // VMs have no snapshot (VirtualMachine)
  const vmmHost = d.vmm ? vmmHostFor(d.vmm, d.vmmHost, d.machine.devices.filter((x) => x.kind === 'dma-test').length) : undefined;
  return { input: { machine: d.machine, steps, ...(d.vmm ? { vmm: d.vmm } : {}), ...(vmmHost ? { vmmHost } : {}) }, ops };
}
