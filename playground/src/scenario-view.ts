/**
 * Scenario panel: load a `viommu-scenario/1` file (bundled or from disk) and
 * an optional expected `viommu-replay/1` file, then step through it or run
 * it. Steps and observations come from the project's replay runner
 * (host/src/cli/replay.ts); stepping replays the first n steps on a fresh
 * machine, so the machine on show is always the runner's own.
 */
import { formatReplay, replayScenario, type Observation, type ReplayOutput } from '../../host/src/cli/replay.js';
import { byId, fill, h } from './dom.js';
import type { Session } from './session.js';

interface ScenarioEntry { name: string; scenario: string; expected?: string }
interface ScenarioDoc { name?: unknown; steps?: unknown; [k: string]: unknown }

/** What is loaded and how far it ran. */
interface ScenarioState {
  doc?: ScenarioDoc;
  expected?: ReplayOutput;
  /** Steps run so far (0 = none). */
  pos: number;
  observations: Observation[];
}

const state: ScenarioState = { pos: 0, observations: [] };

function steps(): unknown[] {
  return Array.isArray(state.doc?.steps) ? state.doc.steps : [];
}

async function fetchJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

/** Replays the first `n` steps on a fresh machine and puts that machine on show. */
async function replayTo(s: Session, n: number): Promise<void> {
  if (!state.doc) throw new Error('scenario: load a scenario first');
  const doc = { ...state.doc, steps: steps().slice(0, n) };
  let out: ReplayOutput;
  try {
    out = await replayScenario(doc);
  } finally {
    const m = s.takeReplayMachine();
    if (m) s.show(m, `scenario ${String(state.doc.name)} after ${n} step(s)`, machineDevices(state.doc));
  }
  state.pos = n;
  state.observations = out.observations;
  const last = out.observations.at(-1);
  if (last && last.step === n - 1) s.event('obs', `step ${last.step}: ${JSON.stringify(last)}`);
}

function machineDevices(doc: ScenarioDoc): string[] {
  const devs = (doc['machine'] as { devices?: { bdf?: unknown }[] } | undefined)?.devices ?? [];
  return devs.map((d) => String(d.bdf));
}

/** Loads a scenario (and expected output) and shows its machine before step 0. */
async function load(s: Session, doc: unknown, expected: unknown): Promise<void> {
  state.doc = doc as ScenarioDoc;
  state.expected = expected as ReplayOutput | undefined;
  state.observations = [];
  await replayTo(s, 0);
}

function stepLabel(step: unknown): string {
  const { op, ...rest } = step as Record<string, unknown>;
  const args = Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.length} qw]` : String(v)}`);
  return `${String(op)} ${args.join(' ')}`;
}

function render(): void {
  const obsByStep = new Map(state.observations.map((o) => [o.step, o]));
  const expByStep = new Map((state.expected?.observations ?? []).map((o) => [o.step, o]));
  const rows = steps().map((st, i) => {
    const got = obsByStep.get(i);
    const exp = expByStep.get(i);
    const shown = got ? JSON.stringify({ ...got, step: undefined }) : '';
    const verdict = !exp || i >= state.pos ? '' : JSON.stringify(got) === JSON.stringify(exp) ? '✓' : '✗';
    return h('tr', { class: `${i < state.pos ? 'done' : ''} ${i === state.pos - 1 ? 'current' : ''}` },
      h('td', {}, i), h('td', { class: 'mono' }, stepLabel(st)), h('td', { class: 'mono' }, shown),
      h('td', { class: 'mono' }, !exp || i >= state.pos ? '' : verdict === '✓' ? 'same' : JSON.stringify({ ...exp, step: undefined })),
      h('td', { class: verdict === '✗' ? 'bad' : 'good' }, verdict));
  });
  fill(byId('scenario-steps'), ...rows);
  const total = state.expected?.observations.length ?? 0;
  const matching = state.observations.filter((o) => JSON.stringify(o) === JSON.stringify(expByStep.get(o.step))).length;
  const done = state.doc !== undefined && state.pos === steps().length;
  const summary = byId('scenario-summary');
  summary.dataset['done'] = String(done);
  summary.dataset['match'] = String(done && state.expected !== undefined && matching === total && state.observations.length === total);
  fill(summary, state.doc
    ? `${String(state.doc.name)}: ${state.pos}/${steps().length} steps, ${state.observations.length} observations`
      + (state.expected ? `, ${matching}/${total} equal to the expected file` : ' (no expected file loaded)')
    : 'No scenario loaded.');
  byId('scenario-output').textContent = state.doc
    ? formatReplay({ format: 'viommu-replay/1', scenario: String(state.doc.name), observations: state.observations })
    : '';
}

async function readFile(input: HTMLInputElement): Promise<unknown> {
  const f = input.files?.[0];
  if (!f) return undefined;
  return JSON.parse(await f.text()) as unknown;
}

/** Wires the scenario panel. */
export async function initScenarioView(s: Session): Promise<void> {
  const select = byId<HTMLSelectElement>('scenario-select');
  const list = (await fetchJson('scenarios/index.json').catch(() => [])) as ScenarioEntry[];
  fill(select, h('option', { value: '' }, `— ${list.length} bundled scenarios —`),
    ...list.map((e) => h('option', { value: e.name }, e.name + (e.expected ? '' : ' (no expected)'))));
  select.addEventListener('change', () => {
    const e = list.find((x) => x.name === select.value);
    if (!e) return;
    void s.act(`load scenario ${e.name}`, async () => {
      const doc = await fetchJson(`scenarios/${e.scenario}`);
      await load(s, doc, e.expected ? await fetchJson(`scenarios/${e.expected}`) : undefined);
    });
  });
  byId('scenario-file').addEventListener('change', () => void s.act('load scenario file', async () => {
    const doc = await readFile(byId<HTMLInputElement>('scenario-file'));
    if (doc !== undefined) await load(s, doc, await readFile(byId<HTMLInputElement>('expected-file')));
  }));
  byId('expected-file').addEventListener('change', () => void s.act('load expected file', async () => {
    state.expected = (await readFile(byId<HTMLInputElement>('expected-file'))) as ReplayOutput | undefined;
  }));
  byId('scenario-step').addEventListener('click', () => void s.act(`scenario step ${state.pos}`,
    () => replayTo(s, Math.min(state.pos + 1, steps().length))));
  byId('scenario-run').addEventListener('click', () => void s.act('scenario run', () => replayTo(s, steps().length)));
  byId('scenario-rewind').addEventListener('click', () => void s.act('scenario rewind', () => replayTo(s, 0)));
  s.onChange(render);
}
