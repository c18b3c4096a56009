/**
 * A worker's heartbeat (fuzz/worker.ts -> fuzz/campaign.ts): a
 * SharedArrayBuffer whose word 0 counts the worker's executions, which the
 * main thread reads while the worker is stuck in a step.
 *
 * The input running now is kept by reference (`HeartbeatWriter.record`),
 * and the main thread asks for it only when the count stops moving
 * (`askHungInput`): through the inspector protocol, whose messages V8 runs
 * at interrupts, inside a JavaScript or a WebAssembly loop too. Writing
 * every input's scenario text into the buffer instead cost 7% of a
 * campaign worker's time (20-30 us per execution), for the rare hang.
 */
import { Session } from 'node:inspector/promises';
import type { Worker } from 'node:worker_threads';
import { fromScenarioDoc, scenarioText, type FuzzInput } from './input.js';

/** The worker global that gives the running input's scenario text (or null before the first). */
const HUNG_INPUT_TEXT = '__viommuFuzzRunningInputText';

/** A heartbeat buffer. */
export function newHeartbeat(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

/** The worker's side: counts executions and keeps the current input for `askHungInput`. */
export class HeartbeatWriter {
  private readonly count: Int32Array;
  private current: FuzzInput | undefined;

  constructor(buffer: SharedArrayBuffer) {
    this.count = new Int32Array(buffer, 0, 1);
    (globalThis as Record<string, unknown>)[HUNG_INPUT_TEXT] = (): string | null => (this.current ? scenarioText(this.current, 'hang', '') : null);
  }

  /** Records `input` as the one running now and counts an execution. */
  record(input: FuzzInput): void {
    this.current = input;
    Atomics.add(this.count, 0, 1);
  }
}

/** What the main thread reads: executions so far. */
export function heartbeatCount(buffer: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(buffer, 0, 1), 0);
}

/**
 * The input worker `worker` (a HeartbeatWriter's thread) is running now,
 * asked through the inspector while it is stuck; undefined when it has
 * none, or gives no answer within `timeoutMs`.
 */
export async function askHungInput(worker: Worker, timeoutMs = 5000): Promise<FuzzInput | undefined> {
  const session = new Session();
  session.connect();
  let timer: NodeJS.Timeout | undefined;
  try {
    const sessionId = new Promise<string>((resolve) => {
      // workerId counts per session; the title names the thread ("[worker 3]").
      session.on('NodeWorker.attachedToWorker', ({ params }) => { if (params.workerInfo.title.startsWith(`[worker ${worker.threadId}]`)) resolve(params.sessionId); });
    });
    const text = new Promise<string | null>((resolve) => {
      session.on('NodeWorker.receivedMessageFromWorker', ({ params }) => {
        const reply = JSON.parse(params.message) as { id?: number; result?: { result?: { value?: string | null } } };
        if (reply.id === 1) resolve(reply.result?.result?.value ?? null);
      });
    });
    const ask = async (): Promise<string | null> => {
      await session.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
      const message = JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: `globalThis.${HUNG_INPUT_TEXT}?.() ?? null`, returnByValue: true } });
      await session.post('NodeWorker.sendMessageToWorker', { sessionId: await sessionId, message });
      return text;
    };
    const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); });
    const answer = await Promise.race([ask(), timeout]);
    return answer === null ? undefined : fromScenarioDoc(JSON.parse(answer));
  } finally {
    clearTimeout(timer);
    session.disconnect();
  }
}
