/**
 * The fuzzer's coverage build runs over a shared memory with all 4 GiB from
 * the start (fuzz/asconfig.coverage.json, host/src/core/load.ts): V8 does
 * not count a shared memory as external memory, so new machines no longer
 * set off full collections. Such a memory never grows, so the memory oracle
 * reads the state region's end instead of the memory's size: it must still
 * fire when the core allocates during an execution, and the probes of the
 * exports it calls must not become the input's coverage. That reused and
 * fresh machines, VMs and replays on the (non-shared) release build observe
 * the same is machine-pool, vmm-reuse and execute.test's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadCoreFromSync } from '../../host/src/core/load.js';
import { GuestMemory } from '../../host/src/core/guest-memory.js';
import { Executor, loadFuzzModule } from '../execute.js';
import { PooledMachine } from '../machine-pool.js';
import type { FuzzInput, RawMachine } from '../input.js';

const { module, coverage, path } = loadFuzzModule();
const machine = (ram_mib = 16): RawMachine => ({
  profile: 'default', ram_mib, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }],
});
const input = (): FuzzInput => ({ machine: machine(), steps: [{ op: 'mem.write', gpa: 0x1000n, u64: [0x0403_0201n] }] });

const plainWrite = GuestMemory.prototype.writeU64;
afterEach(() => {
  GuestMemory.prototype.writeU64 = plainWrite;
});

describe.skipIf(!coverage)('the coverage build over a shared memory', () => {
  it('has all of wasm32 from the start and never grows, whatever the machine', async () => {
    for (const ram_mib of [16, 128]) {
      const core = loadCoreFromSync(module);
      expect(core.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(core.memory.buffer.byteLength).toBe(2 ** 32);
      const used = core.stateRegion().used;
      await PooledMachine.create(machine(ram_mib), core);
      expect(core.memory.buffer.byteLength).toBe(2 ** 32);
      expect(core.stateRegion().used).toBeGreaterThan(used + ram_mib * 2 ** 19); // RAM carved from the state region
    }
  });

  it('the memory oracle still fires when the core allocates during an execution', async () => {
    let allocate = false;
    GuestMemory.prototype.writeU64 = function (this: GuestMemory, ...args: Parameters<GuestMemory['writeU64']>) {
      if (allocate) (this as unknown as { core: { bufAlloc(n: number): number } }).core.bufAlloc(1 << 20); // 16 wasm pages more
      return plainWrite.apply(this, args);
    };
    const ex = new Executor(module);
    expect((await ex.run(input())).finding).toBeUndefined();
    allocate = true;
    expect((await ex.run(input())).finding).toMatchObject({ kind: 'memory', message: expect.stringMatching(/memory grew by \d+ bytes/) });
  });

  it('the oracle\'s own export calls are not the input\'s coverage', async () => {
    const probes = (JSON.parse(readFileSync(path.replace(/\.wasm$/, '.probes.json'), 'utf8')) as { probes: { id: number; kind: string }[] }).probes;
    const oracleOwn = probes.filter((p) => /^fn state(Base|Limit|Used)$/.test(p.kind)).map((p) => p.id);
    expect(oracleOwn.length).toBeGreaterThanOrEqual(3); // the exports and the functions behind them
    const ex = new Executor(module);
    for (let i = 0; i < 2; i++) {
      const probesHit = new Set((await ex.run(input())).features.map((f) => f >> 3));
      expect(oracleOwn.filter((id) => probesHit.has(id))).toEqual([]);
    }
  });
});
