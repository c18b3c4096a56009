/**
 * Worker-thread entry of `viommu fuzz --workers K`: one Session (its share
 * of the seeds, then fuzzing), reporting to the main thread (fuzz/campaign.ts).
 *
 * Messages out: `stats`, `input` (a new corpus entry), `finding`, `done`.
 * Messages in: `import` (a corpus entry of another worker). The session
 * stops itself at its time limit; the main thread ends a worker that does not.
 * `workerData.heartbeat` (SharedArrayBuffer): word 0 counts executions,
 * word 1 is the byte length of the current input's scenario JSON that
 * follows from byte 8, so the main thread can save an input that hangs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fromScenarioDoc, toScenarioDoc, type FuzzInput } from './input.js';
import { findingFile, Session, type SessionOptions, type SessionStats } from './session.js';

/** What the main thread passes. */
export interface WorkerInit {
  readonly opts: SessionOptions;
  readonly heartbeat: SharedArrayBuffer;
}

const init = workerData as WorkerInit;
const port = parentPort!;
const beat = new Int32Array(init.heartbeat, 0, 2);
const current = new Uint8Array(init.heartbeat, 8);
const encoder = new TextEncoder();

function recordCurrent(input: FuzzInput): void {
  const { written } = encoder.encodeInto(JSON.stringify(toScenarioDoc(input, 'hang', '')), current);
  Atomics.store(beat, 1, written);
  Atomics.add(beat, 0, 1);
}

const session = new Session(init.opts, {
  beforeRun: recordCurrent,
  newInput: (input, hash, fresh, replaced) => port.postMessage({ type: 'input', hash, fresh, replaced, doc: toScenarioDoc(input, hash, 'fuzz corpus entry') }),
  finding: (bug) => port.postMessage({ type: 'finding', signature: bug.signature, kind: bug.finding.kind, message: bug.finding.message, file: findingFile(bug) }),
});

port.on('message', (m: { type: string; doc?: unknown }) => {
  if (m.type === 'import' && m.doc) session.enqueue(fromScenarioDoc(m.doc));
});

const report = (s: SessionStats): void => port.postMessage({ type: 'stats', stats: s });
await session.loadSeeds(undefined, report, 500);
const stats = await session.run(report, 500);
port.postMessage({ type: 'done', stats });
session.engine.close();
port.close();
