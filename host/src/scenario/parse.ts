/**
 * The `viommu-scenario/1` format (firmware-tests/golden/FORMAT.md): parsing and strict
 * validation. A scenario is checked completely before anything runs, so a
 * bad step is an error naming the step, never a partial replay.
 */
import type { ArmMachineConfig } from '../arm-machine.js';
import type { MachineConfig } from '../machine.js';
import { MAX_RAM_MIB, MIN_RAM_MIB } from '../machine-check.js';
import { createSmmuProfile, SMMU_PROFILE_NAMES, SPEC_SWITCHES, type SmmuSwitches } from '../smmu/profiles.js';
import { SMMU_FRAME } from '../smmu/spec/registers.js';
import { parseBdf } from '../types.js';
import { PROFILE_NAMES } from '../vtd/profiles.js';
import { QEMU_DEVICES } from '../vtd/qemu-device.js';

/** One validated step. Addresses and register values are bigints. */
export type Step =
  | { op: 'mem.write'; gpa: bigint; u64: bigint[] }
  | { op: 'mem.fill'; gpa: bigint; len: number; byte: number }
  | { op: 'mem.read'; gpa: bigint; len: number }
  | { op: 'mmio.write'; offset: number; size: 4 | 8; value: bigint }
  | { op: 'mmio.read'; offset: number; size: 4 | 8 }
  | { op: 'dma.read'; bdf: string; iova: bigint; len: number; pasid?: number }
  | { op: 'dma.write'; bdf: string; iova: bigint; len: number; pasid?: number }
  | { op: 'msi'; bdf: string; address: bigint; data: number }
  | { op: 'apic.irr'; apic: number }
  // viommu extensions (FORMAT.md, last section): `default` profile only.
  | { op: 'pci.cfg.write'; bdf: string; offset: number; size: 1 | 2 | 4; value: bigint }
  | { op: 'pci.cfg.read'; bdf: string; offset: number; size: 1 | 2 | 4 }
  | { op: 'dev.mmio.write'; bdf: string; bar: number; offset: number; size: 4 | 8; value: bigint }
  | { op: 'dev.mmio.read'; bdf: string; bar: number; offset: number; size: 4 | 8 }
  /** Saves the whole machine (Machine.snapshot) and restores it in place (Machine.restore); the steps go on. */
  | { op: 'snapshot' };

/** What every validated scenario has. */
export interface ScenarioBase {
  /** The scenario's name (also the output's `scenario`). */
  readonly name: string;
  /** Free text ('' when absent). */
  readonly description: string;
  /** Processors of the machine (`machine.cpus`, default 1): local APICs 0..cpus-1 (FORMAT.md "Interrupts"). */
  readonly cpus: number;
  /** The steps, in order. */
  readonly steps: readonly Step[];
}

/** A validated scenario: a VT-d machine (`machine.iommu.type` absent or "intel-iommu") or an SMMUv3 one ("smmuv3"). */
export type Scenario =
  | ScenarioBase & {
    readonly iommu: 'intel-iommu';
    /** The machine to build (`createMachine`), translated from the scenario's `machine` object. */
    readonly machine: MachineConfig;
  }
  | ScenarioBase & {
    readonly iommu: 'smmuv3';
    /** The machine to build (`createArmMachine`). */
    readonly machine: ArmMachineConfig;
  };

/** Bytes of MMIO a scenario's `mmio.*` steps may address: the VT-d page, the SMMUv3's two 64 KiB pages. */
export const MMIO_WINDOW = { 'intel-iommu': 0x1000, smmuv3: SMMU_FRAME } as const;

/** DMA address width of the scenario format's reference device (FORMAT.md: "the reference device's DMA mask"). */
export const REFERENCE_DMA_MASK_BITS = 28;

type FieldKind = 'addr' | 'offset' | 'size' | 'len' | 'dmaLen' | 'byte' | 'u64s' | 'bdf'
  | 'cfgOffset' | 'cfgSize' | 'bar' | 'barOffset' | 'pasid' | 'msiData' | 'apic';

/** Largest BAR offset a `dev.mmio.*` step may name (the model's BARs are far smaller; replay checks the real size). */
const MAX_BAR_OFFSET = 0x10_0000;
/** Largest PASID (20 bits, PCIe §6.20). */
const MAX_PASID = 0xf_ffff;
/** Most processors (local APICs) a scenario machine may have. */
export const MAX_CPUS = 8;

/** Fields each op takes (all required). */
const OP_FIELDS: Record<Step['op'], Record<string, FieldKind>> = {
  'mem.write': { gpa: 'addr', u64: 'u64s' },
  'mem.fill': { gpa: 'addr', len: 'len', byte: 'byte' },
  'mem.read': { gpa: 'addr', len: 'len' },
  'mmio.write': { offset: 'offset', size: 'size', value: 'addr' },
  'mmio.read': { offset: 'offset', size: 'size' },
  'dma.read': { bdf: 'bdf', iova: 'addr', len: 'dmaLen' },
  'dma.write': { bdf: 'bdf', iova: 'addr', len: 'dmaLen' },
  msi: { bdf: 'bdf', address: 'addr', data: 'msiData' },
  'apic.irr': { apic: 'apic' },
  'pci.cfg.write': { bdf: 'bdf', offset: 'cfgOffset', size: 'cfgSize', value: 'addr' },
  'pci.cfg.read': { bdf: 'bdf', offset: 'cfgOffset', size: 'cfgSize' },
  'dev.mmio.write': { bdf: 'bdf', bar: 'bar', offset: 'barOffset', size: 'size', value: 'addr' },
  'dev.mmio.read': { bdf: 'bdf', bar: 'bar', offset: 'barOffset', size: 'size' },
  snapshot: {},
};

/** Optional fields (viommu extensions). */
const OPTIONAL_FIELDS: Partial<Record<Step['op'], Record<string, FieldKind>>> = {
  'dma.read': { pasid: 'pasid' },
  'dma.write': { pasid: 'pasid' },
};

/** Ops of the viommu extensions (FORMAT.md, last section): not in the QEMU reference, `default` profile only. */
export const EXTENSION_OPS: ReadonlySet<string> = new Set(['pci.cfg.write', 'pci.cfg.read', 'dev.mmio.write', 'dev.mmio.read', 'snapshot']);

/** True when `step` uses a viommu extension (an extension op, or a `pasid` on a DMA). */
export function usesExtension(step: Step): boolean {
  return EXTENSION_OPS.has(step.op) || ((step.op === 'dma.read' || step.op === 'dma.write') && step.pasid !== undefined);
}

/** A hex string "0x..." (or a safe non-negative integer) as a 64-bit value. */
export function parseHex(v: unknown, what: string): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,16}$/.test(v)) return BigInt(v);
  throw new Error(`${what}: expected a hex string "0x..." of at most 64 bits, got ${JSON.stringify(v)}`);
}

function intIn(v: unknown, lo: number, hi: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new Error(`${what}: expected an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function parseField(kind: FieldKind, v: unknown, what: string, window: number): unknown {
  switch (kind) {
    case 'addr': return parseHex(v, what);
    case 'offset': {
      const off = Number(parseHex(v, what));
      if (off % 4 !== 0 || off >= window) throw new Error(`${what}: offset must be 4-byte aligned and below 0x${window.toString(16)}`);
      return off;
    }
    case 'size':
      if (v !== 4 && v !== 8) throw new Error(`${what}: expected 4 or 8, got ${JSON.stringify(v)}`);
      return v;
    case 'len': return intIn(v, 1, 1 << 30, what);
    case 'dmaLen': return intIn(v, 1, 4095, what);
    case 'byte': return intIn(v, 0, 255, what);
    case 'bdf':
      if (typeof v !== 'string') throw new Error(`${what}: expected "00:DD.F"`);
      return v;
    case 'cfgOffset': return intIn(Number(parseHex(v, what)), 0, 0xfff, what);
    case 'cfgSize':
      if (v !== 1 && v !== 2 && v !== 4) throw new Error(`${what}: expected 1, 2 or 4, got ${JSON.stringify(v)}`);
      return v;
    case 'bar': return intIn(v, 0, 5, what);
    case 'barOffset': {
      const off = Number(parseHex(v, what));
      if (off % 4 !== 0 || off >= MAX_BAR_OFFSET) throw new Error(`${what}: offset must be 4-byte aligned and below 0x${MAX_BAR_OFFSET.toString(16)}`);
      return off;
    }
    case 'pasid': return intIn(v, 0, MAX_PASID, what);
    case 'msiData': {
      // The MSI capability's Message Data register is 16 bits (PCI 3.0 §6.8.1.5).
      const data = parseHex(v, what);
      if (data > 0xffffn) throw new Error(`${what}: 0x${data.toString(16)} does not fit the 16-bit Message Data register`);
      return Number(data);
    }
    case 'apic': return intIn(v, 0, MAX_CPUS - 1, what);
    case 'u64s':
      if (!Array.isArray(v) || v.length === 0) throw new Error(`${what}: expected a non-empty array of hex qwords`);
      return v.map((x, i) => parseHex(x, `${what}[${i}]`));
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates one step (`window`: the MMIO window of the scenario's IOMMU); the error names the step index and op. */
export function parseStep(raw: unknown, index: number, window: number = MMIO_WINDOW['intel-iommu']): Step {
  const where = `step ${index}`;
  if (!isObject(raw)) throw new Error(`${where}: not an object`);
  const op = raw['op'];
  if (typeof op !== 'string' || !(op in OP_FIELDS)) throw new Error(`${where}: unknown op ${JSON.stringify(op)}`);
  const fields = OP_FIELDS[op as Step['op']];
  const optional = OPTIONAL_FIELDS[op as Step['op']] ?? {};
  const step: Record<string, unknown> = { op };
  for (const key of Object.keys(raw)) {
    if (key !== 'op' && !(key in fields) && !(key in optional)) throw new Error(`${where} (${op}): unknown field "${key}"`);
  }
  for (const [name, kind] of Object.entries(fields)) {
    if (!(name in raw)) throw new Error(`${where} (${op}): missing field "${name}"`);
    step[name] = parseField(kind, raw[name], `${where} (${op}) field ${name}`, window);
  }
  for (const [name, kind] of Object.entries(optional)) {
    if (name in raw) step[name] = parseField(kind, raw[name], `${where} (${op}) field ${name}`, window);
  }
  if (EXTENSION_OPS.has(op) && op !== 'snapshot') checkExtensionStep(step, `${where} (${op})`);
  if (op.startsWith('mmio.') && (step['offset'] as number) + (step['size'] as number) > window) {
    throw new Error(`${where} (${op}): offset + size is past 0x${window.toString(16)}`);
  }
  if (op === 'mem.read' && (step['len'] as number) > 4096) throw new Error(`${where} (${op}) field len: at most 4096`);
  return step as Step;
}

/** The constraints of the extension ops beyond their fields' kinds (FORMAT.md, last section). */
function checkExtensionStep(step: Record<string, unknown>, where: string): void {
  parseBdf(step['bdf'] as string, `${where} field bdf`);
  const offset = step['offset'] as number;
  const size = step['size'] as number;
  // Configuration accesses are naturally aligned (so never past 0xFFF); BAR accesses 4-byte aligned (field kind).
  const cfg = step['op'] === 'pci.cfg.write' || step['op'] === 'pci.cfg.read';
  if (cfg && offset % size !== 0) throw new Error(`${where} field offset: 0x${offset.toString(16)} is not aligned to size ${size}`);
  const value = step['value'] as bigint | undefined;
  if (value !== undefined && value >> BigInt(8 * size) !== 0n) {
    throw new Error(`${where} field value: 0x${value.toString(16)} does not fit ${size} bytes`);
  }
}

/** FORMAT.md: `first_stage` is a qemu-10.0 option, and `true` needs scalable_mode and aw_bits 48. */
function checkFirstStage(profile: string, iommu: Record<string, unknown>, scalable: boolean, aw: unknown): void {
  if (!('first_stage' in iommu)) return;
  if (!Object.hasOwn(QEMU_DEVICES, profile) || !QEMU_DEVICES[profile]!.firstStage) {
    const having = Object.keys(QEMU_DEVICES).filter((k) => QEMU_DEVICES[k]!.firstStage).join(', ');
    throw new Error(`machine.iommu.first_stage: only profile ${having} has this option, not ${JSON.stringify(profile)}`);
  }
  if (iommu['first_stage'] === true && (!scalable || aw !== 48)) {
    throw new Error('machine.iommu.first_stage: needs "scalable_mode": true and "aw_bits": 48');
  }
}

/** The machine block of a VT-d scenario as a machine config (the replay builds this machine); an smmuv3 block is an error. */
export function parseMachine(raw: unknown): MachineConfig {
  const m = parseMachineBlock(raw);
  if (m.iommu !== 'intel-iommu') throw new Error('machine.iommu.type: "smmuv3" builds an Arm machine, not a VT-d machine config');
  return m.machine as MachineConfig;
}

/** The `machine` object of either kind (FORMAT.md "File" and "SMMUv3 scenarios"). */
function parseMachineBlock(raw: unknown): { iommu: 'intel-iommu'; machine: MachineConfig } | { iommu: 'smmuv3'; machine: ArmMachineConfig } {
  if (!isObject(raw)) throw new Error('machine: not an object');
  const allowed = ['profile', 'ram_mib', 'iommu', 'devices', 'cpus'];
  for (const k of Object.keys(raw)) if (!allowed.includes(k)) throw new Error(`machine: unknown field "${k}"`);
  const iommu = raw['iommu'] ?? {};
  if (!isObject(iommu)) throw new Error('machine.iommu: not an object');
  const type = iommu['type'] ?? 'intel-iommu';
  if (type === 'smmuv3') return { iommu: 'smmuv3', machine: parseSmmuMachine(raw, iommu) };
  if (type !== 'intel-iommu') throw new Error(`machine.iommu.type: expected "intel-iommu" or "smmuv3", got ${JSON.stringify(type)}`);
  return { iommu: 'intel-iommu', machine: parseVtdMachine(raw, iommu) };
}

/** The profile name of `raw` among `names`. */
function parseProfile(raw: Record<string, unknown>, names: readonly string[]): string {
  const profile = raw['profile'];
  if (typeof profile !== 'string' || !names.includes(profile)) {
    throw new Error(`machine.profile: unknown profile ${JSON.stringify(profile)} (known: ${names.join(', ')})`);
  }
  return profile;
}

/** `machine.devices`: dma-test devices only (the reference machine's edu); `maskBits` is the DMA mask the reference device has. */
function parseDevices(raw: Record<string, unknown>, maskBits: number) {
  const devices = raw['devices'] ?? [];
  if (!Array.isArray(devices)) throw new Error('machine.devices: not an array');
  return devices.map((d: unknown, i) => {
    if (!isObject(d) || typeof d['bdf'] !== 'string' || d['kind'] !== 'dma-test') {
      throw new Error(`machine.devices[${i}]: expected { "bdf": "00:DD.F", "kind": "dma-test" }`);
    }
    return { bdf: d['bdf'], kind: 'dma-test' as const, dmaMaskBits: maskBits };
  });
}

/** `machine.devices` of a VT-d machine: dma-test devices (QEMU edu on the reference machine), or "ats" (a viommu extension, profile "default" only). */
function parseVtdDevices(raw: Record<string, unknown>, profile: string) {
  const devices = raw['devices'] ?? [];
  if (!Array.isArray(devices)) throw new Error('machine.devices: not an array');
  return devices.map((d: unknown, i) => {
    if (!isObject(d) || typeof d['bdf'] !== 'string' || (d['kind'] !== 'dma-test' && d['kind'] !== 'ats')) {
      throw new Error(`machine.devices[${i}]: expected { "bdf": "00:DD.F", "kind": "dma-test" } (or "ats", a viommu extension)`);
    }
    if (d['kind'] === 'ats') {
      if (Object.hasOwn(QEMU_DEVICES, profile)) throw new Error(`machine.devices[${i}].kind: "ats" is a viommu extension (FORMAT.md), accepted only on profile "default"`);
      return { bdf: d['bdf'], kind: 'ats' as const };
    }
    // The reference machine's DMA device (QEMU edu) clamps DMA addresses to its 28-bit mask.
    return { bdf: d['bdf'], kind: 'dma-test' as const, dmaMaskBits: REFERENCE_DMA_MASK_BITS };
  });
}

function parseVtdMachine(raw: Record<string, unknown>, iommu: Record<string, unknown>): MachineConfig {
  const profile = parseProfile(raw, PROFILE_NAMES);
  const iommuAllowed = ['type', 'scalable_mode', 'caching_mode', 'aw_bits', 'first_stage'];
  for (const k of Object.keys(iommu)) if (!iommuAllowed.includes(k)) throw new Error(`machine.iommu: unknown field "${k}"`);
  const bool = (k: string): boolean => {
    const v = iommu[k] ?? false;
    if (typeof v !== 'boolean') throw new Error(`machine.iommu.${k}: expected a boolean`);
    return v;
  };
  const aw = iommu['aw_bits'] ?? 39;
  if (aw !== 39 && aw !== 48 && aw !== 57) throw new Error(`machine.iommu.aw_bits: expected 39, 48 or 57`);
  checkFirstStage(profile, iommu, bool('scalable_mode'), aw);
  return {
    profile,
    ramMib: intIn(raw['ram_mib'] ?? 256, MIN_RAM_MIB, MAX_RAM_MIB, 'machine.ram_mib'),
    iommu: {
      scalableMode: bool('scalable_mode'), cachingMode: bool('caching_mode'), awBits: aw,
      firstStage: bool('first_stage'),
      // On a QEMU profile the machine is QEMU as the recorder starts it (tools/qemu-record):
      // -device intel-iommu,intremap=on,x-buggy-eim=on plus the options above.
      ...(Object.hasOwn(QEMU_DEVICES, profile) ? { interruptRemapping: true, extendedInterruptMode: true } : {}),
    },
    devices: parseVtdDevices(raw, profile),
  };
}

/** An SMMUv3 machine: `iommu` has only `type`; the recorder widens edu's DMA mask to 64 bits (RAM starts at 1 GiB). */
function parseSmmuMachine(raw: Record<string, unknown>, iommu: Record<string, unknown>): ArmMachineConfig {
  const profile = parseProfile(raw, SMMU_PROFILE_NAMES);
  for (const k of Object.keys(iommu)) if (k !== 'type') throw new Error(`machine.iommu: unknown field "${k}" (an smmuv3 machine takes only "type")`);
  return { profile, ramMib: intIn(raw['ram_mib'] ?? 256, 2, 16384, 'machine.ram_mib'), devices: parseDevices(raw, 64) };
}

/**
 * True when SMMUv3 profile `name` copies a reference implementation (any
 * switch off the spec's behaviour, SmmuSwitches): its scenarios are
 * recordings of that reference and take no viommu extension.
 */
export function smmuReproducesReference(name: string): boolean {
  const sw = createSmmuProfile(name).switches;
  return (Object.keys(SPEC_SWITCHES) as (keyof SmmuSwitches)[]).some((k) => sw[k] !== SPEC_SWITCHES[k]);
}

/** Parses and validates a whole scenario document. */
export function parseScenario(doc: unknown): Scenario {
  if (!isObject(doc)) throw new Error('scenario: not a JSON object');
  if (doc['format'] !== 'viommu-scenario/1') throw new Error(`format: expected "viommu-scenario/1", got ${JSON.stringify(doc['format'])}`);
  if (typeof doc['name'] !== 'string') throw new Error('name: expected a string');
  if (!Array.isArray(doc['steps'])) throw new Error('steps: expected an array');
  const m = parseMachineBlock(doc['machine']);
  const cpus = intIn((doc['machine'] as Record<string, unknown>)['cpus'] ?? 1, 1, MAX_CPUS, 'machine.cpus');
  const steps = doc['steps'].map((s, i) => parseStep(s, i, MMIO_WINDOW[m.iommu]));
  const apic = steps.findIndex((s) => s.op === 'apic.irr' && s.apic >= cpus);
  if (apic >= 0) throw new Error(`step ${apic} (apic.irr) field apic: the machine has ${cpus} processor(s) (machine.cpus)`);
  const snap = steps.findIndex((s) => s.op === 'snapshot');
  if (m.iommu === 'smmuv3' && snap >= 0) {
    // An Arm snapshot drops the SMMU's caches (SmmuUnitState): later steps could observe what a run without it would not.
    throw new Error(`step ${snap} (snapshot): not on an smmuv3 machine (its restore starts from empty caches)`);
  }
  const ext = steps.findIndex(usesExtension);
  // Extensions are the model's own steps: a machine that reproduces QEMU has nothing to compare them with.
  const profile = m.machine.profile ?? 'default';
  const reference = m.iommu === 'smmuv3' ? smmuReproducesReference(profile) : Object.hasOwn(QEMU_DEVICES, profile);
  if (ext >= 0 && reference) {
    throw new Error(`step ${ext} (${steps[ext]!.op}): a viommu extension (FORMAT.md), accepted only on profile "default", not ${JSON.stringify(profile)}`);
  }
  const base = { name: doc['name'], description: typeof doc['description'] === 'string' ? doc['description'] : '', cpus, steps };
  return m.iommu === 'smmuv3' ? { ...base, iommu: 'smmuv3', machine: m.machine as ArmMachineConfig } : { ...base, iommu: 'intel-iommu', machine: m.machine as MachineConfig };
}
