/** The step-by-step scenario runner (host/src/scenario/replay.ts). */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { loadCoreFrom } from '../src/core/load.js';
import { wasmPath } from '../src/core/load-node.js';
import { bytesToHex, formatReplay, replayScenario, startReplay } from '../src/scenario/replay.js';
import type { MsiMessage } from '../src/vtd/interrupts.js';

const GOLDEN = new URL('../../firmware-tests/golden/', import.meta.url);
const load = (name: string): unknown => JSON.parse(readFileSync(new URL(`${name}.scenario.json`, GOLDEN), 'utf8'));
const expected = (name: string): unknown => JSON.parse(readFileSync(new URL(`${name}.expected.json`, GOLDEN), 'utf8'));

describe('bytesToHex', () => {
  it('writes two lowercase digits per byte', () => {
    expect(bytesToHex(new Uint8Array([0, 0x0f, 0xa0, 0xff]))).toBe('000fa0ff');
    expect(bytesToHex(new Uint8Array(0))).toBe('');
  });

  it('equals the per-byte digits at every length, short and long, one after the other', () => {
    const plain = (b: Uint8Array): string => Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
    for (const len of [1, 15, 16, 17, 64, 300, 4096, 17, 5000, 3]) {
      const b = Uint8Array.from({ length: len }, (_v, i) => (i * 151 + len) & 0xff);
      expect(bytesToHex(b)).toBe(plain(b));
    }
  });
});

describe.skipIf(!existsSync(wasmPath()))('startReplay', () => {
  it('runs one step per next() and ends with the same output as the whole run', async () => {
    const doc = load('legacy-4k-roundtrip');
    const run = await startReplay(doc);
    expect(run.position).toBe(0);
    expect(run.done).toBe(false);
    const n = run.scenario.steps.length;
    const seen: number[] = [];
    for (let r = run.next(); r; r = run.next()) {
      seen.push(r.index);
      expect(r.step).toBe(run.scenario.steps[r.index]);
      if (r.observation) expect(r.observation.step).toBe(r.index);
      expect(run.position).toBe(r.index + 1);
    }
    expect(seen).toEqual([...Array(n).keys()]);
    expect(run.done).toBe(true);
    expect(run.next()).toBeUndefined();
    expect(run.output()).toEqual(expected('legacy-4k-roundtrip'));
    expect(formatReplay(run.output())).toBe(formatReplay(await replayScenario(doc)));
  });

  it('shows the machine between steps (GSTS.TES after the enabling write)', async () => {
    const run = await startReplay(load('legacy-4k-roundtrip'));
    const gcmdTe = run.scenario.steps.findIndex((s) => s.op === 'mmio.write' && s.offset === 0x18 && (s.value & (1n << 31n)) !== 0n);
    expect(gcmdTe).toBeGreaterThan(0);
    const m = run.machine;
    if (!('vtd' in m)) throw new Error('a VT-d scenario replays on a VT-d machine');
    const gsts = (): bigint => m.vtd.mmioRead(0x1c, 4);
    while (run.position < gcmdTe) run.next();
    expect(gsts() & (1n << 31n)).toBe(0n);
    run.next();
    expect(gsts() & (1n << 31n)).toBe(1n << 31n);
  });

  it('uses the given core and reports interrupts', async () => {
    const core = await loadCoreFrom(readFileSync(wasmPath()));
    const msis: MsiMessage[] = [];
    const doc = load('fault-write-readonly') as { steps: { op: string; offset?: string }[] };
    // Unmask the fault event (FECTL.IM=0) where the scenario first reads FECTL, after the fault.
    const at = doc.steps.findIndex((s) => s.op === 'mmio.read' && s.offset === '0x38');
    const steps = [...doc.steps.slice(0, at), { op: 'mmio.write', offset: '0x38', size: 4, value: '0x0' }, ...doc.steps.slice(at)];
    const run = await startReplay({ ...doc, steps }, { core, onInterrupt: (m) => msis.push(m) });
    expect(run.machine.core).toBe(core);
    while (run.position <= at) run.next();
    expect(msis.map((m) => m.source)).toEqual(['fault']);
  });

  it('names the step the model cannot run, and validates before building anything', async () => {
    const doc = load('legacy-4k-roundtrip') as { steps: unknown[] };
    const bad = { ...doc, steps: [...doc.steps, { op: 'dma.read', bdf: '00:09.0', iova: '0x0', len: 8 }] };
    const run = await startReplay(bad);
    while (run.position < doc.steps.length) run.next();
    expect(() => run.next()).toThrow(new RegExp(`^step ${doc.steps.length} \\(dma.read\\): bdf`));
    await expect(startReplay({ ...doc, steps: [{ op: 'nope' }] })).rejects.toThrow(/step 0: unknown op/);
  });
});
