/**
 * Runs `viommu-scenario/1` scenarios (scenarios/FORMAT.md) on a fresh
 * machine and collects the `viommu-replay/1` observations ("Output").
 * `startReplay` runs one step per `next()` call, so a debugger or a page can
 * show the machine between steps; `replayScenario` runs a whole scenario.
 * Platform-neutral: no Node APIs (pass `core` outside Node).
 */
import type { Core } from '../core/core.js';
import { createMachine, VTD_BASE, type Machine } from '../machine.js';
import type { InterruptSink } from '../vtd/interrupts.js';
import { parseScenario, type Scenario, type Step } from './parse.js';

/** One observation of the output. */
export type Observation =
  | { step: number; op: 'mmio.read'; value: string }
  | { step: number; op: 'mem.read'; data: string };

/** The replay output document. */
export interface ReplayOutput {
  /** Always "viommu-replay/1". */
  format: 'viommu-replay/1';
  /** The scenario's `name`. */
  scenario: string;
  /** One entry per reading step, in step order. */
  observations: Observation[];
}

/** Options of `startReplay` / `replayScenario`. */
export interface ReplayOptions {
  /** The core the machine runs on (required outside Node; default: the packaged release build). */
  readonly core?: Core;
  /** Guest programming errors and ignored accesses, one line each. */
  readonly log?: (msg: string) => void;
  /** Every MSI the VT-d unit sends while the scenario runs. */
  readonly onInterrupt?: InterruptSink;
}

/** What one `next()` call ran. */
export interface ReplayStep {
  /** Index of the step in the scenario. */
  readonly index: number;
  /** The validated step. */
  readonly step: Step;
  /** What the step read, for `mmio.read` and `mem.read`. */
  readonly observation?: Observation;
}

/** A scenario being replayed step by step (see `startReplay`). */
export interface ReplayRun {
  /** The validated scenario. */
  readonly scenario: Scenario;
  /** The machine the steps run on (inspect it between steps). */
  readonly machine: Machine;
  /** Runs the next step; undefined once every step has run. Throws an `Error` naming the step if the model cannot run it. */
  next(): ReplayStep | undefined;
  /** True when every step has run. */
  readonly done: boolean;
  /** Number of steps run so far. */
  readonly position: number;
  /** The output so far (observations of the steps run). */
  output(): ReplayOutput;
}

/** Lowercase hex of `bytes` (the format of `mem.read` observations). */
export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

type Reading = Omit<Observation, 'step'>;

/** Step handlers: each runs one op and may return what it read. */
const RUNNERS: { [K in Step['op']]: (m: Machine, s: Extract<Step, { op: K }>) => Reading | void } = {
  'mem.write': (m, s) => {
    s.u64.forEach((q, i) => m.ram.writeU64(s.gpa + BigInt(8 * i), q));
  },
  'mem.fill': (m, s) => m.ram.fill(s.gpa, s.len, s.byte),
  'mem.read': (m, s) => ({ op: 'mem.read', data: bytesToHex(m.ram.read(s.gpa, s.len)) }),
  'mmio.write': (m, s) => m.mmioWrite(VTD_BASE + BigInt(s.offset), s.size, s.value),
  'mmio.read': (m, s) => ({ op: 'mmio.read', value: `0x${m.mmioRead(VTD_BASE + BigInt(s.offset), s.size).toString(16)}` }),
  'dma.read': (m, s) => {
    m.dmaTest(s.bdf).read(s.iova, s.len);
  },
  'dma.write': (m, s) => {
    m.dmaTest(s.bdf).write(s.iova, s.len);
  },
};

function runStep(machine: Machine, step: Step, index: number): ReplayStep {
  let reading: Reading | void;
  try {
    reading = (RUNNERS[step.op] as (m: Machine, s: Step) => Reading | void)(machine, step);
  } catch (err) {
    throw new Error(`step ${index} (${step.op}): ${err instanceof Error ? err.message : String(err)}`);
  }
  return reading ? { index, step, observation: { step: index, ...reading } as Observation } : { index, step };
}

/**
 * Validates a scenario document (already JSON-parsed; an invalid one is an
 * `Error` naming the field or step, before anything runs) and builds its
 * machine; the returned run executes one step per `next()`.
 */
export async function startReplay(doc: unknown, opts: ReplayOptions = {}): Promise<ReplayRun> {
  const scenario = parseScenario(doc);
  const machine = await createMachine({ ...scenario.machine, core: opts.core, log: opts.log, onInterrupt: opts.onInterrupt });
  const observations: Observation[] = [];
  let position = 0;
  return {
    scenario,
    machine,
    get done() { return position >= scenario.steps.length; },
    get position() { return position; },
    next() {
      if (position >= scenario.steps.length) return undefined;
      const ran = runStep(machine, scenario.steps[position]!, position);
      position++;
      if (ran.observation) observations.push(ran.observation);
      return ran;
    },
    output: () => ({ format: 'viommu-replay/1', scenario: scenario.name, observations: [...observations] }),
  };
}

/**
 * Replays a whole scenario document (already JSON-parsed). Throws an `Error`
 * whose message names the step for anything the model cannot run.
 */
export async function replayScenario(doc: unknown, opts: ReplayOptions = {}): Promise<ReplayOutput> {
  const run = await startReplay(doc, opts);
  while (run.next());
  return run.output();
}

/** Formats an output the way the recorded `.expected.json` files are laid out. */
export function formatReplay(out: ReplayOutput): string {
  const lines = out.observations.map((o) => `    ${JSON.stringify(o)}`);
  return `{\n  "format": "${out.format}",\n  "scenario": ${JSON.stringify(out.scenario)},\n`
    + `  "observations": [\n${lines.join(',\n')}\n  ]\n}\n`;
}
