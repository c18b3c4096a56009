/**
 * A standalone core's memory starts at the size its module's start function
 * grew the first instance's memory to (host/src/core/load.ts startPages):
 * such a core must be indistinguishable from one whose memory started at
 * one page and grew step by step: the same size and bytes after
 * instantiation, and the same observations and final memory after a
 * scenario replayed on it.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { loadCoreFromSync } from '../src/core/load.js';
import { wasmPath } from '../src/core/load-node.js';
import { replayScenario } from '../src/scenario/replay.js';
import type { Core } from '../src/core/core.js';

const GOLDEN = new URL('../../firmware-tests/golden/', import.meta.url);
const SCENARIOS = ['legacy-4k-roundtrip', 'fs-4k-roundtrip', 'qi-wait-status'];

/** The `initial` of every WebAssembly.Memory made while `fn` runs, and its result. */
function memoriesMade<T>(fn: () => T): { initial: number[]; value: T } {
  const Plain = WebAssembly.Memory;
  const initial: number[] = [];
  WebAssembly.Memory = class extends Plain {
    constructor(d: WebAssembly.MemoryDescriptor) {
      initial.push(d.initial);
      super(d);
    }
  };
  try {
    return { initial, value: fn() };
  } finally {
    WebAssembly.Memory = Plain;
  }
}

/** A copy of all of `core`'s memory. */
const bytesOf = (core: Core): Uint8Array => new Uint8Array(core.memory.buffer).slice();

describe.each([['release', false], ['debug (static data)', true]] as const)('core load, %s build', (_name, debug) => {
  const path = wasmPath({ debug });
  it.skipIf(!existsSync(path))('a pre-sized core equals a core grown from one page', async () => {
    const bytes = readFileSync(path);
    const module = new WebAssembly.Module(bytes);
    const first = memoriesMade(() => loadCoreFromSync(module));
    expect(first.initial).toEqual([1]); // nothing known of this module yet: the plain path
    const pages = first.value.memory.buffer.byteLength / 65536;
    expect(pages).toBeGreaterThan(1); // the start function grew it
    const again = memoriesMade(() => loadCoreFromSync(module));
    expect(again.initial).toEqual([pages]);
    const [plain, sized] = [first.value, again.value];
    expect(sized.memory.buffer.byteLength).toBe(plain.memory.buffer.byteLength);
    expect(Buffer.compare(bytesOf(sized), bytesOf(plain))).toBe(0);
    expect(sized.unsafeExports.stateUsed()).toBe(plain.unsafeExports.stateUsed());

    // A module compiled anew is not known: plain again, and equal to both.
    const other = memoriesMade(() => loadCoreFromSync(new WebAssembly.Module(bytes)));
    expect(other.initial).toEqual([1]);
    expect(Buffer.compare(bytesOf(other.value), bytesOf(plain))).toBe(0);

    for (const name of SCENARIOS) {
      const doc = JSON.parse(readFileSync(new URL(`${name}.scenario.json`, GOLDEN), 'utf8')) as unknown;
      const cores = [loadCoreFromSync(new WebAssembly.Module(bytes)), loadCoreFromSync(module)];
      const outs = [];
      for (const core of cores) outs.push(await replayScenario(doc, { core }));
      expect(outs[1]).toEqual(outs[0]);
      expect(cores[1]!.memory.buffer.byteLength).toBe(cores[0]!.memory.buffer.byteLength);
      expect(Buffer.compare(bytesOf(cores[1]!), bytesOf(cores[0]!))).toBe(0);
    }
  });
});

it('embedded cores are not pre-sized: the embedder\'s memory is used as given', () => {
  const path = wasmPath();
  if (!existsSync(path)) return;
  const module = new WebAssembly.Module(readFileSync(path));
  loadCoreFromSync(module); // a standalone instance makes the module's size known
  const memory = new WebAssembly.Memory({ initial: 4 });
  const core = loadCoreFromSync(module, { memory });
  expect(core.memory).toBe(memory);
  expect(memory.buffer.byteLength).toBe((4 << 16) + (8 << 20)); // grown by the default state region only
});
