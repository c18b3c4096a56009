/**
 * A worker's heartbeat (fuzz/worker.ts -> fuzz/campaign.ts): a
 * SharedArrayBuffer the main thread can read while the worker is stuck in
 * a step. Word 0 counts executions; word 1 is the byte length of the
 * current input's scenario JSON, which follows from byte 8, so the main
 * thread can save an input that hangs.
 *
 * Recording runs before every execution, so it joins each step's kept
 * JSON (input.ts `scenarioText`, from `stepJsonText`, which inputHash
 * shares): a mutant shares most of its step objects with its parent
 * (fuzz/mutate.ts copies the array, not the steps). Writing the whole
 * document anew cost 50-60 us per mutant (~105 steps, loaded machine),
 * joining kept JSON 20-30 us: still 7% of a campaign worker's time, the
 * price of saving any input that hangs.
 */
import { fromScenarioDoc, scenarioText, type FuzzInput } from './input.js';

const HEADER_BYTES = 8;

/** A heartbeat buffer with room for `inputBytes` of scenario JSON. */
export function newHeartbeat(inputBytes = 1 << 20): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + inputBytes);
}

/** The worker's side: counts executions and records the current input. */
export class HeartbeatWriter {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly encoder = new TextEncoder();

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer, 0, 2);
    this.bytes = new Uint8Array(buffer, HEADER_BYTES);
  }

  /**
   * Records `input` as the one running now and counts an execution. An
   * input too long for the buffer is recorded as none (length 0).
   */
  record(input: FuzzInput): void {
    const text = scenarioText(input, 'hang', '');
    const { read, written } = this.encoder.encodeInto(text, this.bytes);
    Atomics.store(this.words, 1, read === text.length ? written : 0);
    Atomics.add(this.words, 0, 1);
  }
}

/** What the main thread reads: executions so far. */
export function heartbeatCount(buffer: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(buffer, 0, 2), 0);
}

/** The JSON text of the input the worker recorded last, or undefined when it recorded none (or one too long for the buffer). */
export function heartbeatText(buffer: SharedArrayBuffer): string | undefined {
  const len = Atomics.load(new Int32Array(buffer, 0, 2), 1);
  return len === 0 ? undefined : new TextDecoder().decode(new Uint8Array(buffer, HEADER_BYTES, len).slice());
}

/** The input the worker recorded last, or undefined (see heartbeatText). */
export function heartbeatInput(buffer: SharedArrayBuffer): FuzzInput | undefined {
  const text = heartbeatText(buffer);
  return text === undefined ? undefined : fromScenarioDoc(JSON.parse(text));
}
