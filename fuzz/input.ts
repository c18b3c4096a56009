/**
 * The fuzzer's input: a `viommu-scenario/1` scenario (firmware-tests/golden/
 * FORMAT.md) held as the machine description plus validated steps. Every
 * input the mutators produce is a valid scenario, so a finding is written as
 * a scenario file that `viommu replay` runs unchanged.
 */
import { createHash } from 'node:crypto';
import { parseScenario, type Step } from '../host/src/scenario/parse.js';
import { LOW_HOLE, LOW_RAM_LIMIT } from '../host/src/machine.js';
import type { VmMode } from '../host/src/vmm/virtual-machine.js';

export type { Step } from '../host/src/scenario/parse.js';

/** The scenario's `machine` object, as written in the file. */
export interface RawMachine {
  profile: string;
  ram_mib: number;
  iommu: { scalable_mode: boolean; caching_mode: boolean; aw_bits: number; first_stage?: boolean };
  /** DMA test devices (the reference device), and ATS devices (a viommu extension: `default` profile only). */
  devices: { bdf: string; kind: 'dma-test' | 'ats' }[];
  /** Processors (local APICs), when more than one (FORMAT.md "Interrupts"). */
  cpus?: number;
}

/** One fuzz input. */
export interface FuzzInput {
  readonly machine: RawMachine;
  readonly steps: readonly Step[];
  /**
   * Run the guest on a VMM-backed machine in this mode (fuzz/vmm-run.ts)
   * instead of a plain one: the scenario file's top-level `vmm` field, which
   * `viommu replay` ignores (it replays on a plain machine); `viommu fuzz
   * --check` honours it.
   */
  readonly vmm?: VmMode;
  /** How the VM takes its devices from the host (the scenario's top-level `vmm_host`; VMM-backed inputs only). */
  readonly vmmHost?: VmmHost;
}

/**
 * The host side of a VMM-backed input beyond the default (every device
 * bound through its VFIO cdev, host/src/vmm/virtual-machine.ts VmConfig):
 * written as the scenario's `vmm_host` ({"path", "subdevices",
 * "shared_group", "vdpa_devices"}); fuzz/vmm-run.ts `vmmHostFor` keeps it to what the mode
 * allows.
 */
export interface VmmHost {
  /**
   * 'group': VFIO containers joined by IOMMU group; 'vdpa': vhost-vdpa
   * devices whose shadow domains change by vhost IOTLB UPDATE / INVALIDATE;
   * 'fallback': no path given, the devices' drivers offer no VFIO cdev and
   * the host's groups are known, so the VM falls back to groups. Undefined:
   * cdev. Shadow mode only.
   */
  readonly path?: 'group' | 'vdpa' | 'fallback';
  /** Bit i: the input's i-th dma-test device is a subdevice of one shared parent (parent RID + default PASID; shadow mode, cdev or vdpa). */
  readonly subdevices?: number;
  /** The first two devices are functions of one physical device without ACS: one IOMMU group. */
  readonly sharedGroup?: boolean;
  /**
   * Bit i: the input's i-th dma-test device comes by vhost-vdpa while the
   * others come by VFIO cdev (the path left undefined): one VM with both
   * subsystems, each guest domain followed by both (the `vfio-vdpa-pasid`
   * flow's shape, host/src/vmm/shadow-spaces.ts SubsystemSpaces). Shadow mode.
   */
  readonly vdpaDevices?: number;
}

/** The `vmm_host` document field of `h` (undefined when there is nothing to say). */
export function vmmHostToJson(h: VmmHost | undefined): Record<string, unknown> | undefined {
  if (!h) return undefined;
  const o = {
    ...(h.path ? { path: h.path } : {}), ...(h.subdevices ? { subdevices: h.subdevices } : {}), ...(h.sharedGroup ? { shared_group: true } : {}),
    ...(h.vdpaDevices ? { vdpa_devices: h.vdpaDevices } : {}),
  };
  return Object.keys(o).length ? o : undefined;
}

/** Reads a scenario's `vmm_host` field (an Error naming the bad member). */
export function vmmHostFromJson(v: unknown): VmmHost | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) throw new Error(`vmm_host: ${JSON.stringify(v)} is not an object`);
  const { path, subdevices, shared_group: shared, vdpa_devices: vdpa } = v as Record<string, unknown>;
  if (path !== undefined && path !== 'group' && path !== 'vdpa' && path !== 'fallback') throw new Error(`vmm_host.path: ${JSON.stringify(path)} is not "group", "vdpa" or "fallback"`);
  for (const [name, mask] of [['subdevices', subdevices], ['vdpa_devices', vdpa]] as const) {
    if (mask !== undefined && !(Number.isInteger(mask) && (mask as number) >= 0 && (mask as number) < 16)) throw new Error(`vmm_host.${name}: ${JSON.stringify(mask)} is not a 4-bit device mask`);
  }
  if (shared !== undefined && typeof shared !== 'boolean') throw new Error(`vmm_host.shared_group: ${JSON.stringify(shared)} is not a boolean`);
  return {
    ...(path ? { path } : {}), ...(subdevices ? { subdevices: subdevices as number } : {}), ...(shared ? { sharedGroup: true } : {}),
    ...(vdpa ? { vdpaDevices: vdpa as number } : {}),
  };
}

/** Most steps an input may have (longer inputs are trimmed by the mutators). */
export const MAX_STEPS = 192;

/** A half-open guest-physical range `[start, end)`. */
export interface GpaRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** RAM ranges by RAM size (MiB), as bigints and as numbers: the mutators ask for them on every generated address and every `mem.*` validity check. */
const rangesByMib = new Map<number, { readonly ranges: readonly GpaRange[]; readonly bounds: Float64Array }>();

function rangesOf(mib: number): { readonly ranges: readonly GpaRange[]; readonly bounds: Float64Array } {
  const known = rangesByMib.get(mib);
  if (known) return known;
  const total = mib * 0x10_0000;
  const low = Math.min(total, LOW_RAM_LIMIT);
  const ranges: GpaRange[] = [
    { start: 0n, end: BigInt(LOW_HOLE.start) },
    { start: BigInt(LOW_HOLE.end), end: BigInt(low) },
  ];
  if (total > low) ranges.push({ start: 0x1_0000_0000n, end: 0x1_0000_0000n + BigInt(total - low) });
  const entry = { ranges, bounds: Float64Array.from(ranges.flatMap((r) => [Number(r.start), Number(r.end)])) };
  rangesByMib.set(mib, entry);
  return entry;
}

/** The RAM ranges of a machine (q35 layout of host/src/machine.ts), without the legacy hole (one shared list per RAM size: read it, never change it). */
export function ramRanges(m: RawMachine): readonly GpaRange[] {
  return rangesOf(m.ram_mib).ranges;
}

/** RAM lies below 2^53, where a guest-physical address is exact as a number. */
const SAFE_GPA = 1n << 53n;

/**
 * True when `[gpa, gpa+len)` lies inside one RAM range (what `mem.*` steps
 * need). Compared as numbers: a bigint sum per check was most of the cost of
 * checking a mutant's steps.
 */
export function inRam(m: RawMachine, gpa: bigint, len: number): boolean {
  if (gpa < 0n || gpa >= SAFE_GPA) return false;
  const start = Number(gpa);
  const end = start + len;
  const b = rangesOf(m.ram_mib).bounds;
  for (let i = 0; i < b.length; i += 2) if (start >= b[i]! && end <= b[i + 1]!) return true;
  return false;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** A step as the scenario file writes it (hex strings for addresses and values). */
export function stepToJson(s: Step): Record<string, unknown> {
  switch (s.op) {
    case 'mem.write': return { op: s.op, gpa: hex(s.gpa), u64: s.u64.map(hex) };
    case 'mem.fill': return { op: s.op, gpa: hex(s.gpa), len: s.len, byte: s.byte };
    case 'mem.read': return { op: s.op, gpa: hex(s.gpa), len: s.len };
    case 'mmio.write': return { op: s.op, offset: hex(BigInt(s.offset)), size: s.size, value: hex(s.value) };
    case 'mmio.read': return { op: s.op, offset: hex(BigInt(s.offset)), size: s.size };
    case 'dma.read':
    case 'dma.write': return { op: s.op, bdf: s.bdf, iova: hex(s.iova), len: s.len, ...(s.pasid !== undefined ? { pasid: s.pasid } : {}) };
    case 'msi': return { op: s.op, bdf: s.bdf, address: hex(s.address), data: hex(BigInt(s.data)) };
    case 'apic.irr': return { op: s.op, apic: s.apic };
    case 'pci.cfg.write': return { op: s.op, bdf: s.bdf, offset: hex(BigInt(s.offset)), size: s.size, value: hex(s.value) };
    case 'pci.cfg.read': return { op: s.op, bdf: s.bdf, offset: hex(BigInt(s.offset)), size: s.size };
    case 'dev.mmio.write': return { op: s.op, bdf: s.bdf, bar: s.bar, offset: hex(BigInt(s.offset)), size: s.size, value: hex(s.value) };
    case 'dev.mmio.read': return { op: s.op, bdf: s.bdf, bar: s.bar, offset: hex(BigInt(s.offset)), size: s.size };
    case 'snapshot': return { op: s.op };
  }
}

/** The input as a `viommu-scenario/1` document; `extra` adds top-level fields (e.g. `finding`). */
export function toScenarioDoc(input: FuzzInput, name: string, description: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: 'viommu-scenario/1',
    name,
    description,
    machine: input.machine,
    ...(input.vmm ? { vmm: input.vmm } : {}),
    ...(input.vmm && vmmHostToJson(input.vmmHost) ? { vmm_host: vmmHostToJson(input.vmmHost) } : {}),
    steps: input.steps.map(stepToJson),
    ...extra,
  };
}

/** Pretty JSON of a scenario document, one step per line. */
export function formatScenarioDoc(doc: Record<string, unknown>): string {
  const { steps, ...head } = doc as { steps: unknown[] };
  return formatWithStepLines(head, steps.map((s) => JSON.stringify(s)));
}

/**
 * `formatScenarioDoc(toScenarioDoc(input, name, description, extra))`,
 * from each step's kept JSON (`stepJsonText`): what a worker records for
 * every input (fuzz/heartbeat.ts) and sends for every corpus entry (as
 * text, postMessage went from 1.7% to 1.0% of a campaign worker's time).
 */
export function scenarioText(input: FuzzInput, name: string, description: string, extra: Record<string, unknown> = {}): string {
  const { steps: _none, ...head } = toScenarioDoc({ ...input, steps: [] }, name, description, extra);
  const lines: string[] = [];
  for (let i = 0; i < input.steps.length; i++) lines.push(stepJsonText(input.steps[i]!));
  return formatWithStepLines(head, lines);
}

/** A scenario document's head (every field but the steps) and its steps' JSON, one per line. */
function formatWithStepLines(head: Record<string, unknown>, steps: readonly string[]): string {
  const top = JSON.stringify(head, null, 2).replace(/\n}$/, '');
  return `${top},\n  "steps": [\n${steps.length === 0 ? '' : `    ${steps.join(',\n    ')}`}\n  ]\n}\n`;
}

function rawMachineOf(doc: Record<string, unknown>): RawMachine {
  const m = doc['machine'] as Record<string, unknown>;
  const iommu = (m['iommu'] ?? {}) as Record<string, unknown>;
  return {
    profile: String(m['profile']),
    ram_mib: Number(m['ram_mib'] ?? 256),
    iommu: {
      scalable_mode: iommu['scalable_mode'] === true,
      caching_mode: iommu['caching_mode'] === true,
      aw_bits: Number(iommu['aw_bits'] ?? 39),
      ...(iommu['first_stage'] === true ? { first_stage: true } : {}),
    },
    devices: ((m['devices'] ?? []) as { bdf: string; kind: string }[]).map((d) => ({ bdf: d.bdf, kind: d.kind === 'ats' ? 'ats' as const : 'dma-test' as const })),
    ...(typeof m['cpus'] === 'number' ? { cpus: m['cpus'] } : {}),
  };
}

/**
 * Reads a scenario document as an input (validated by the replay parser, so
 * a bad file is an `Error` naming the step or field; so is an SMMUv3
 * scenario). Steps whose `mem.*` range is not RAM are dropped: the replay
 * runner would refuse them.
 */
export function fromScenarioDoc(doc: unknown): FuzzInput {
  const notVtd = 'machine.iommu.type: the fuzzer drives the VT-d machine, not an smmuv3 scenario';
  // Before the parse: a fifth of the golden scenarios' steps are SMMUv3 ones, which every worker would parse to drop.
  if (((doc as { machine?: { iommu?: { type?: unknown } } } | null)?.machine?.iommu?.type) === 'smmuv3') throw new Error(notVtd);
  const sc = parseScenario(doc);
  if (sc.iommu !== 'intel-iommu') throw new Error(notVtd);
  const machine = rawMachineOf(doc as Record<string, unknown>);
  const steps = sc.steps.filter((s) => {
    if (s.op === 'mem.write') return inRam(machine, s.gpa, 8 * s.u64.length);
    if (s.op === 'mem.fill' || s.op === 'mem.read') return inRam(machine, s.gpa, s.len);
    return true;
  });
  const vmm = (doc as Record<string, unknown>)['vmm'];
  if (vmm !== undefined && vmm !== 'shadow' && vmm !== 'nested') throw new Error(`vmm: ${JSON.stringify(vmm)} is not "shadow" or "nested"`);
  const vmmHost = vmmHostFromJson((doc as Record<string, unknown>)['vmm_host']);
  return { machine, steps: steps.slice(0, MAX_STEPS), ...(vmm ? { vmm } : {}), ...(vmm && vmmHost ? { vmmHost } : {}) };
}

/**
 * RAM size the fuzzer runs seeds with: a fresh machine per execution costs
 * ~4 ms with 16 MiB but grows past 15 ms with 256 MiB (V8 collects the
 * large wasm memories), and most golden scenarios' memory fits in 16 MiB.
 */
export const FUZZ_RAM_MIB = 16;

/**
 * `input` with `ram_mib` lowered to the smallest of `mib`, 2 x `mib`,
 * 4 x `mib`, ... below it in which all its `mem.*` steps still fit; else
 * unchanged. (The golden scenarios that do not fit in 16 MiB use up to
 * 66 MiB: 128 MiB halves what a `snapshot` step's check of all RAM reads,
 * against their recorded 256 MiB.)
 */
export function shrinkRam(input: FuzzInput, mib = FUZZ_RAM_MIB): FuzzInput {
  for (let m = mib; m < input.machine.ram_mib; m *= 2) {
    const machine = { ...input.machine, ram_mib: m };
    const fits = input.steps.every((s) =>
      s.op === 'mem.write' ? inRam(machine, s.gpa, 8 * s.u64.length)
        : s.op === 'mem.fill' || s.op === 'mem.read' ? inRam(machine, s.gpa, s.len) : true);
    if (fits) return { ...input, machine };
  }
  return input;
}

/**
 * True when `b` is `a` unchanged: the same machine, VMM mode and host side,
 * and the same step objects in the same order (a mutant shares its parent's
 * untouched steps; a step rebuilt with equal fields counts as changed, so
 * this is a cheap check, not an equality of scenarios).
 */
export function sameInput(a: FuzzInput, b: FuzzInput): boolean {
  if (a.steps.length !== b.steps.length || a.vmm !== b.vmm || !sameMachine(a.machine, b.machine)) return false;
  const [h, k] = [a.vmmHost, b.vmmHost];
  if (h !== k && (h === undefined || k === undefined || h.path !== k.path || h.subdevices !== k.subdevices || h.sharedGroup !== k.sharedGroup || h.vdpaDevices !== k.vdpaDevices)) return false;
  for (let i = 0; i < a.steps.length; i++) if (a.steps[i] !== b.steps[i]) return false;
  return true;
}

function sameMachine(a: RawMachine, b: RawMachine): boolean {
  const [i, j] = [a.iommu, b.iommu];
  if (a.profile !== b.profile || a.ram_mib !== b.ram_mib || a.cpus !== b.cpus || a.devices.length !== b.devices.length) return false;
  if (i.scalable_mode !== j.scalable_mode || i.caching_mode !== j.caching_mode || i.aw_bits !== j.aw_bits || i.first_stage !== j.first_stage) return false;
  return a.devices.every((d, n) => d.bdf === b.devices[n]!.bdf && d.kind === b.devices[n]!.kind);
}

/** A stable short hash of an input (corpus file names, de-duplication). */
export function inputHash(input: FuzzInput): string {
  // The text of JSON.stringify({ m, s: steps.map(stepToJson), v, h }), with each step's text made once per step object (steps are never changed in place).
  const head = `{"m":${JSON.stringify(input.machine)},"s":[`;
  const h = input.vmm ? vmmHostToJson(input.vmmHost) : undefined;
  const tail = input.vmm ? `],"v":${JSON.stringify(input.vmm)}${h ? `,"h":${JSON.stringify(h)}` : ''}}` : ']}';
  let text = head;
  for (let i = 0; i < input.steps.length; i++) text += i === 0 ? stepJsonText(input.steps[i]!) : `,${stepJsonText(input.steps[i]!)}`;
  return createHash('sha1').update(text + tail).digest('hex').slice(0, 16); // one update: an update per step cost more than the JSON it saved
}

const stepTexts = new WeakMap<Step, string>();

/**
 * `JSON.stringify(stepToJson(s))`, made once per step object and kept while
 * it lives: steps are never changed in place, and a mutant shares most of
 * its step objects with its parent (the heartbeat records every executed
 * input, inputHash every kept one).
 */
export function stepJsonText(s: Step): string {
  let text = stepTexts.get(s);
  if (text === undefined) {
    text = JSON.stringify(stepToJson(s));
    stepTexts.set(s, text);
  }
  return text;
}
