/**
 * Worker-thread entry of `viommu fuzz --workers K`: one Session (its share
 * of the seeds, then fuzzing), reporting to the main thread (fuzz/campaign.ts).
 *
 * Messages out: `stats`, `input` (a new corpus entry), `finding`, `done`.
 * Messages in: `import` (a corpus entry of another worker, as scenario file text). The session
 * stops itself at its time limit; the main thread ends a worker that does not.
 * `workerData.heartbeat` (fuzz/heartbeat.ts) counts executions; the
 * current input is kept for the main thread to ask for when one hangs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HeartbeatWriter } from './heartbeat.js';
import { fromScenarioDoc, scenarioText } from './input.js';
import { findingFile, Session, type SessionOptions, type SessionStats } from './session.js';

/** What the main thread passes. */
export interface WorkerInit {
  readonly opts: SessionOptions;
  readonly heartbeat: SharedArrayBuffer;
}

const init = workerData as WorkerInit;
const port = parentPort!;
const heartbeat = new HeartbeatWriter(init.heartbeat);

const session = new Session(init.opts, {
  beforeRun: (input) => heartbeat.record(input),
  newInput: (input, hash, fresh, replaced) => port.postMessage({ type: 'input', hash, fresh, replaced, text: scenarioText(input, hash, 'fuzz corpus entry') }),
  finding: (bug) => port.postMessage({ type: 'finding', signature: bug.signature, kind: bug.finding.kind, message: bug.finding.message, file: findingFile(bug) }),
});

port.on('message', (m: { type: string; text?: string }) => {
  if (m.type === 'import' && m.text) session.enqueue(fromScenarioDoc(JSON.parse(m.text)));
});

const report = (s: SessionStats): void => port.postMessage({ type: 'stats', stats: s });
await session.loadSeeds(undefined, report, 500);
const stats = await session.run(report, 500);
port.postMessage({ type: 'done', stats });
session.engine.close();
port.close();
