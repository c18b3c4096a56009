/**
 * The worker heartbeat (fuzz/heartbeat.ts): it counts executions, and the
 * main thread gets the input of a worker stuck in a JavaScript or a
 * WebAssembly loop through the inspector; and input.ts scenarioText, the
 * text every input is sent and saved as.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { askHungInput, heartbeatCount, HeartbeatWriter, newHeartbeat } from '../heartbeat.js';
import { formatScenarioDoc, scenarioText, toScenarioDoc, type FuzzInput } from '../input.js';
import { goldenDir, loadInputs, withVmmVariants } from '../seeds.js';

const seeds = withVmmVariants(loadInputs([goldenDir()]));
const dist = (f: string): string => pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'fuzz', f)).href;

/** A worker that records `input` (none when undefined) in a heartbeat, then never returns: a JavaScript or a WebAssembly loop. */
function stuckWorker(buffer: SharedArrayBuffer, input: FuzzInput | undefined, loop: 'js' | 'wasm'): Worker {
  const code = `
    const { workerData: d } = require('node:worker_threads');
    (async () => {
      const { HeartbeatWriter } = await import(d.heartbeat);
      const { fromScenarioDoc } = await import(d.input);
      const w = new HeartbeatWriter(d.buffer);
      if (d.doc) w.record(fromScenarioDoc(d.doc)); else Atomics.add(new Int32Array(d.buffer), 0, 1);
      if (d.loop === 'js') for (;;) {}
      const spin = new Uint8Array([0,97,115,109,1,0,0,0,1,4,1,96,0,0,3,2,1,0,7,5,1,1,102,0,0,10,9,1,7,0,3,64,12,0,11,11]); // (func (loop (br 0)))
      new WebAssembly.Instance(new WebAssembly.Module(spin)).exports.f();
    })();`;
  const doc = input ? toScenarioDoc(input, 'x', '') : undefined;
  return new Worker(code, { eval: true, workerData: { buffer, doc, loop, heartbeat: dist('heartbeat.js'), input: dist('input.js') } });
}

async function beats(buffer: SharedArrayBuffer): Promise<void> {
  while (heartbeatCount(buffer) === 0) await new Promise((r) => setTimeout(r, 10));
}

describe('fuzz heartbeat', () => {
  it('counts executions', () => {
    const buffer = newHeartbeat();
    const writer = new HeartbeatWriter(buffer);
    for (let i = 0; i < 5; i++) writer.record(seeds[i]!);
    expect(heartbeatCount(buffer)).toBe(5);
  });

  for (const loop of ['js', 'wasm'] as const) {
    it(`gives the input of a worker stuck in a ${loop === 'js' ? 'JavaScript' : 'WebAssembly'} loop`, async () => {
      const input = seeds.find((s) => s.steps.length > 20 && s.vmm)!;
      const buffer = newHeartbeat();
      const worker = stuckWorker(buffer, input, loop);
      try {
        await beats(buffer);
        const got = await askHungInput(worker);
        expect(got && toScenarioDoc(got, 'hang', '')).toEqual(toScenarioDoc(input, 'hang', ''));
      } finally {
        await worker.terminate();
      }
    });
  }

  it('gives no input for a stuck worker that recorded none', async () => {
    const buffer = newHeartbeat();
    const worker = stuckWorker(buffer, undefined, 'js');
    try {
      await beats(buffer);
      expect(await askHungInput(worker)).toBeUndefined();
    } finally {
      await worker.terminate();
    }
  });

  it('a campaign saves the input of a worker that stops counting for longer than hangMs, ends it, and finishes', async () => {
    // Snapshots of a 2 GiB machine (a write near its top keeps the fuzzer from shrinking its RAM): an execution spans
    // the watchdog's 250 ms ticks, which with hangMs 1 is a hang (the model never stalls on its own).
    const dir = mkdtempSync(join(tmpdir(), 'viommu-hang-'));
    try {
      const slow = {
        format: 'viommu-scenario/1', name: 'slow', description: 'snapshots of a 2 GiB machine',
        machine: { profile: 'default', ram_mib: 2048, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 39 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] },
        steps: [{ op: 'mem.write', gpa: '0x7ff00000', u64: ['0x1'] }, ...Array.from({ length: 6 }, () => ({ op: 'snapshot' }))],
      };
      writeFileSync(join(dir, 'slow.scenario.json'), JSON.stringify(slow));
      const { runCampaign } = await import(dist('campaign.js')) as typeof import('../campaign.js');
      const r = await runCampaign({ seed: 1, workers: 1, timeMs: 20_000, hangMs: 1, stepBudgetMs: 60_000, hostCoverage: false, seedDirs: [dir], outDir: join(dir, 'out') });
      const hang = r.findings.find((f) => f.kind === 'hang')!;
      expect(hang.message).toBe('an execution ran longer than 1 ms');
      const saved = JSON.parse(readFileSync(hang.file!, 'utf8')) as typeof slow;
      expect(saved.machine.ram_mib).toBe(2048);
      expect(saved.steps).toEqual(slow.steps);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('scenarioText is the scenario file text of an input, with extra fields and with no steps', () => {
    const extra = { finding: { kind: 'hang', step: -1, message: 'm "quoted"' } };
    for (const input of [...seeds.filter((_s, i) => i % 40 === 0), { ...seeds[0]!, steps: [] }]) {
      expect(scenarioText(input, 'n', 'd', extra)).toBe(formatScenarioDoc(toScenarioDoc(input, 'n', 'd', extra)));
    }
  });
});
