/** Event log panel: actions, guest programming errors, MSIs, faults, observations. */
import { byId, fill, h } from './dom.js';
import type { Session } from './session.js';

function render(s: Session): void {
  const filter = byId<HTMLSelectElement>('log-filter').value;
  const shown = s.events.filter((e) => filter === 'all' || e.kind === filter).slice(-200).reverse();
  fill(byId('event-log'), ...shown.map((e) => h('div', { class: `ev ev-${e.kind}` }, h('span', { class: 'kind' }, e.kind), ' ', e.text)));
}

/** Wires the event log. */
export function initLogView(s: Session): void {
  byId('log-filter').addEventListener('change', () => render(s));
  byId('log-clear').addEventListener('click', () => {
    s.events.length = 0;
    render(s);
  });
  s.onChange(() => render(s));
}
