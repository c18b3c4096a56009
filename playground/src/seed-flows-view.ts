/**
 * Seed flows panel: the project's narrated, self-checking seed flows
 * (host/src/flows, the same ones `viommu demo [flow]` runs in Node) run in
 * the tab. Each flow builds its own machines or physical host and VM with
 * cores from the page's compiled module (platform.ts registers the source);
 * its narration goes to the panel and the event log, its checks decide the
 * pass/fail badge. The machine on show is not replaced: the flows' machines
 * are their own.
 */
import { FLOWS, type Flow } from '../../host/src/flows/index.js';
import { byId, fill, h } from './dom.js';
import type { Session } from './session.js';

/** Narration lines kept in the panel. */
const MAX_LINES = 400;

function badge(name: string): HTMLElement {
  return byId(`seed-status-${name}`);
}

function setBadge(name: string, state: 'running' | 'pass' | 'fail', text: string): void {
  const b = badge(name);
  b.className = state === 'pass' ? 'good' : state === 'fail' ? 'bad' : 'note';
  b.dataset['result'] = state;
  b.textContent = text;
}

/** Runs one flow: narration to the panel and the log, then the badge. */
async function runFlow(s: Session, f: Flow): Promise<boolean> {
  const out = byId('seed-output');
  const say = (line: string): void => {
    out.append(`${f.name}: ${line}\n`);
    while (out.childNodes.length > MAX_LINES) out.firstChild?.remove();
    s.event('log', `[${f.name}] ${line}`);
  };
  setBadge(f.name, 'running', 'running…');
  const t0 = performance.now();
  try {
    const r = await f.run({ say });
    const ms = Math.round(performance.now() - t0);
    setBadge(f.name, r.ok ? 'pass' : 'fail', r.ok ? `pass (${ms} ms)` : `FAIL: ${r.failures.join('; ')}`);
    s.event(r.ok ? 'obs' : 'error', `seed flow ${f.name}: ${r.ok ? 'every check passed' : `${r.failures.length} check(s) failed`}`);
    return r.ok;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    setBadge(f.name, 'fail', `error: ${msg}`);
    s.event('error', `seed flow ${f.name} threw: ${msg}`);
    return false;
  }
}

/** Wires the seed flows panel. */
export function initSeedFlowsView(s: Session): void {
  const rows = FLOWS.map((f) => h('tr', {},
    h('td', {}, h('button', { 'data-flow': f.name, onclick: () => void s.act(`seed flow: ${f.name}`, () => runFlow(s, f).then(() => undefined)) }, f.name)),
    h('td', { class: 'note' }, f.summary),
    h('td', { id: `seed-status-${f.name}` })));
  const runAll = h('button', { id: 'seed-run-all', onclick: () => void s.act('seed flows: run all', async () => {
    let passed = 0;
    for (const f of FLOWS) if (await runFlow(s, f)) passed++;
    byId('seed-summary').textContent = `${passed}/${FLOWS.length} flows passed`;
  }) }, 'run all');
  fill(byId('seed-flows'),
    h('div', { class: 'bar' }, runAll, h('span', { id: 'seed-summary' }), h('button', { onclick: () => fill(byId('seed-output')) }, 'clear narration')),
    h('table', {}, ...rows));
}
