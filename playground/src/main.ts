/**
 * The playground page: the real WASM core and host in the tab. Loads the
 * core, builds the default machine, wires every panel to the session and
 * renders. Sets `document.body.dataset.ready` when usable (the end-to-end
 * test waits for it) or shows the error.
 */
import { initBenchView } from './bench-view.js';
import { initCachesView } from './caches-view.js';
import { initDmaView } from './dma-view.js';
import { byId } from './dom.js';
import { initFaultsView } from './faults-view.js';
import { initFlows } from './flows.js';
import { initLogView } from './log-view.js';
import { initPrqView } from './prq-view.js';
import { initRegistersView } from './registers-view.js';
import { initScenarioView } from './scenario-view.js';
import { initSeedFlowsView } from './seed-flows-view.js';
import { initSmmuView } from './smmu-view.js';
import { Session } from './session.js';
import { initTablesView } from './tables-view.js';

async function main(): Promise<void> {
  const s = await Session.start();
  initRegistersView(s);
  initTablesView(s);
  initCachesView(s);
  initFaultsView(s);
  initPrqView(s);
  initDmaView(s);
  initLogView(s);
  initFlows(s);
  initSeedFlowsView(s);
  initBenchView(s);
  await initSmmuView(s);
  await initScenarioView(s);
  s.onChange(() => { byId('machine-label').textContent = s.label; });
  byId<HTMLSelectElement>('profile').addEventListener('change', (e) => {
    const profile = (e.target as HTMLSelectElement).value;
    void s.act(`new default machine (${profile})`, () => s.resetDefault(profile));
  });
  byId('machine-reset').addEventListener('click', () => {
    void s.act('new default machine', () => s.resetDefault(byId<HTMLSelectElement>('profile').value));
  });
  s.changed();
  document.body.dataset['ready'] = 'true';
}

main().catch((err: unknown) => {
  byId('fatal').textContent = `The playground could not start: ${err instanceof Error ? err.message : String(err)}`;
  document.body.dataset['ready'] = 'error';
});
