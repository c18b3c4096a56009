/**
 * Runs a `viommu-scenario/1` scenario on a fresh machine and collects the
 * `viommu-replay/1` observations (scenarios/FORMAT.md "Output").
 */
import { createMachine, VTD_BASE, type Machine } from '../machine.js';
import { parseScenario, type Step } from './scenario.js';

/** One observation of the output. */
export type Observation =
  | { step: number; op: 'mmio.read'; value: string }
  | { step: number; op: 'mem.read'; data: string };

/** The replay output document. */
export interface ReplayOutput {
  format: 'viommu-replay/1';
  scenario: string;
  observations: Observation[];
}

/** Step handlers: each runs one op and may return an observation. */
const RUNNERS: { [K in Step['op']]: (m: Machine, s: Extract<Step, { op: K }>) => Omit<Observation, 'step'> | void } = {
  'mem.write': (m, s) => {
    s.u64.forEach((q, i) => m.ram.writeU64(s.gpa + BigInt(8 * i), q));
  },
  'mem.fill': (m, s) => m.ram.fill(s.gpa, s.len, s.byte),
  'mem.read': (m, s) => ({ op: 'mem.read', data: Buffer.from(m.ram.read(s.gpa, s.len)).toString('hex') }),
  'mmio.write': (m, s) => m.mmioWrite(VTD_BASE + BigInt(s.offset), s.size, s.value),
  'mmio.read': (m, s) => ({ op: 'mmio.read', value: `0x${m.mmioRead(VTD_BASE + BigInt(s.offset), s.size).toString(16)}` }),
  'dma.read': (m, s) => {
    m.dmaTest(s.bdf).read(s.iova, s.len);
  },
  'dma.write': (m, s) => {
    m.dmaTest(s.bdf).write(s.iova, s.len);
  },
};

/**
 * Replays a scenario document (already JSON-parsed). Throws an `Error` whose
 * message names the step for anything the model cannot run.
 */
export async function replayScenario(doc: unknown, opts: { log?: (m: string) => void } = {}): Promise<ReplayOutput> {
  const sc = parseScenario(doc);
  const machine = await createMachine({ ...sc.machine, log: opts.log });
  const observations: Observation[] = [];
  sc.steps.forEach((step, i) => {
    let obs: Omit<Observation, 'step'> | void;
    try {
      obs = (RUNNERS[step.op] as (m: Machine, s: Step) => Omit<Observation, 'step'> | void)(machine, step);
    } catch (err) {
      throw new Error(`step ${i} (${step.op}): ${err instanceof Error ? err.message : String(err)}`);
    }
    if (obs) observations.push({ step: i, ...obs } as Observation);
  });
  return { format: 'viommu-replay/1', scenario: sc.name, observations };
}

/** Formats an output the way the recorded `.expected.json` files are laid out. */
export function formatReplay(out: ReplayOutput): string {
  const lines = out.observations.map((o) => `    ${JSON.stringify(o)}`);
  return `{\n  "format": "${out.format}",\n  "scenario": ${JSON.stringify(out.scenario)},\n`
    + `  "observations": [\n${lines.join(',\n')}\n  ]\n}\n`;
}
