/**
 * Scenario panel: load a `viommu-scenario/1` file (bundled or from disk) and
 * an optional expected `viommu-replay/1` file, then step through it or run
 * it with the project's scenario runner (`startReplay`): each Step runs one
 * more step on the same machine, which is the machine on show. A file that
 * cannot be loaded is reported in the panel (and the old scenario cleared);
 * an expected file of another scenario gets a warning.
 */
import {
  formatReplay, Machine, startReplay, type Observation, type ReplayOutput, type ReplayRun,
} from '../../host/src/browser.js';
import { byId, fill, h, showResult } from './dom.js';
import type { Session } from './session.js';
import { showArm } from './smmu-view.js';

interface ScenarioEntry { name: string; scenario: string; expected?: string }
interface ScenarioDoc { name?: unknown; steps?: unknown; [k: string]: unknown }

/** What is loaded and how far it ran. */
interface ScenarioState {
  doc?: ScenarioDoc;
  expected?: ReplayOutput;
  /** The runner of the loaded scenario (its machine is on show). */
  run?: ReplayRun;
  /** Why the last load failed. */
  error?: string;
}

const state: ScenarioState = {};

function steps(): unknown[] {
  return Array.isArray(state.doc?.steps) ? state.doc.steps : [];
}

/** Steps run so far (0 = none). */
function position(): number {
  return state.run?.position ?? 0;
}

function observations(): Observation[] {
  return state.run?.output().observations ?? [];
}

async function fetchJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

/** Builds a fresh machine for the loaded scenario (before step 0) and puts it on show. */
async function rewind(s: Session): Promise<void> {
  if (!state.doc) throw new Error('scenario: load a scenario first');
  state.run = undefined;
  const run = await startReplay(state.doc, s.machineHooks());
  state.run = run;
  if (run.machine instanceof Machine) s.show(run.machine, `scenario ${run.scenario.name}`);
  else showArm(s, run.machine, `scenario ${run.scenario.name}`);
}

/** Runs up to `count` more steps on the machine on show. */
function advance(s: Session, count: number): void {
  const run = state.run;
  if (!run) throw new Error('scenario: load a scenario first');
  for (let i = 0; i < count; i++) {
    const r = run.next();
    if (!r) break;
    if (r.observation) s.event('obs', `step ${r.index}: ${JSON.stringify(r.observation)}`);
  }
  const label = `scenario ${run.scenario.name} after ${run.position} step(s)`;
  if (run.machine instanceof Machine) s.label = label;
  else showArm(s, run.machine, label);
}

/** Forgets the loaded scenario (before a load, so a failed one leaves nothing stale on show). */
function clear(): void {
  state.doc = undefined;
  state.expected = undefined;
  state.run = undefined;
  state.error = undefined;
}

/** Loads a scenario (and expected output) and shows its machine before step 0. */
async function load(s: Session, doc: unknown, expected: unknown): Promise<void> {
  clear();
  state.doc = doc as ScenarioDoc;
  state.expected = expected as ReplayOutput | undefined;
  try {
    await rewind(s);
  } catch (err) {
    state.doc = undefined;
    throw err;
  }
}

/** Why the expected file does not belong to the loaded scenario, if it does not. */
function expectedMismatch(): string | undefined {
  const e = state.expected as unknown as Record<string, unknown> | undefined;
  if (!e || !state.doc) return undefined;
  if (e['format'] !== 'viommu-replay/1' || !Array.isArray(e['observations'])) return 'the expected file is not a viommu-replay/1 document; comparisons are meaningless';
  if (e['scenario'] !== state.doc.name) {
    return `the expected file is for scenario ${JSON.stringify(e['scenario'])}, not ${JSON.stringify(state.doc.name)}; comparisons are meaningless`;
  }
  return undefined;
}

function stepLabel(step: unknown): string {
  const { op, ...rest } = step as Record<string, unknown>;
  const args = Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.length} qw]` : String(v)}`);
  return `${String(op)} ${args.join(' ')}`;
}

function render(): void {
  const pos = position();
  const seen = observations();
  const obsByStep = new Map(seen.map((o) => [o.step, o]));
  const expByStep = new Map((state.expected?.observations ?? []).map((o) => [o.step, o]));
  const rows = steps().map((st, i) => {
    const got = obsByStep.get(i);
    const exp = expByStep.get(i);
    const shown = got ? JSON.stringify({ ...got, step: undefined }) : '';
    const verdict = !exp || i >= pos ? '' : JSON.stringify(got) === JSON.stringify(exp) ? '✓' : '✗';
    return h('tr', { class: `${i < pos ? 'done' : ''} ${i === pos - 1 ? 'current' : ''}` },
      h('td', {}, i), h('td', { class: 'mono' }, stepLabel(st)), h('td', { class: 'mono' }, shown),
      h('td', { class: 'mono' }, !exp || i >= pos ? '' : verdict === '✓' ? 'same' : JSON.stringify({ ...exp, step: undefined })),
      h('td', { class: verdict === '✗' ? 'bad' : 'good' }, verdict));
  });
  fill(byId('scenario-steps'), ...rows);
  const total = state.expected?.observations.length ?? 0;
  const matching = seen.filter((o) => JSON.stringify(o) === JSON.stringify(expByStep.get(o.step))).length;
  const done = state.run?.done ?? false;
  const summary = byId('scenario-summary');
  summary.dataset['done'] = String(done);
  const mismatch = expectedMismatch();
  summary.dataset['match'] = String(done && state.expected !== undefined && !mismatch && matching === total && seen.length === total);
  if (state.error) showResult(summary, state.error, true);
  else {
    showResult(summary, state.doc
      ? `${String(state.doc.name)}: ${pos}/${steps().length} steps, ${seen.length} observations`
        + (state.expected ? `, ${matching}/${total} equal to the expected file` : ' (no expected file loaded)')
      : 'No scenario loaded.');
  }
  const warning = byId('scenario-warning');
  warning.textContent = mismatch ? `warning: ${mismatch}` : '';
  warning.hidden = !mismatch;
  byId('scenario-output').textContent = state.doc
    ? formatReplay(state.run?.output() ?? { format: 'viommu-replay/1', scenario: String(state.doc.name), observations: [] })
    : '';
}

async function readFile(input: HTMLInputElement): Promise<unknown> {
  const f = input.files?.[0];
  if (!f) return undefined;
  try {
    return JSON.parse(await f.text()) as unknown;
  } catch (err) {
    throw new Error(`${f.name}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Wires the scenario panel. */
export async function initScenarioView(s: Session): Promise<void> {
  const select = byId<HTMLSelectElement>('scenario-select');
  const list = (await fetchJson('scenarios/index.json').catch(() => [])) as ScenarioEntry[];
  fill(select, h('option', { value: '' }, `— ${list.length} bundled scenarios —`),
    ...list.map((e) => h('option', { value: e.name }, e.name + (e.expected ? '' : ' (no expected)'))));
  const failed = (message: string): void => { state.error = message; };
  select.addEventListener('change', () => {
    const e = list.find((x) => x.name === select.value);
    if (!e) return;
    void s.act(`load scenario ${e.name}`, async () => {
      const doc = await fetchJson(`scenarios/${e.scenario}`);
      await load(s, doc, e.expected ? await fetchJson(`scenarios/${e.expected}`) : undefined);
    }, failed);
  });
  byId('scenario-file').addEventListener('change', () => void s.act('load scenario file', async () => {
    clear();
    const doc = await readFile(byId<HTMLInputElement>('scenario-file'));
    if (doc !== undefined) await load(s, doc, await readFile(byId<HTMLInputElement>('expected-file')));
  }, failed));
  byId('expected-file').addEventListener('change', () => void s.act('load expected file', async () => {
    state.error = undefined;
    state.expected = undefined;
    state.expected = (await readFile(byId<HTMLInputElement>('expected-file'))) as ReplayOutput | undefined;
    const mismatch = expectedMismatch();
    if (mismatch) s.event('error', `warning: ${mismatch}`);
  }, failed));
  byId('scenario-step').addEventListener('click', () => void s.act(`scenario step ${position()}`, () => advance(s, 1)));
  byId('scenario-run').addEventListener('click', () => void s.act('scenario run', () => advance(s, steps().length)));
  byId('scenario-rewind').addEventListener('click', () => void s.act('scenario rewind', () => rewind(s)));
  s.onChange(render);
}
