import { describe, expect, it } from 'vitest';
import { patch } from './patch.js';
import { Core } from '../../host/src/core/core.js';
import type { GuestMemory } from '../../host/src/core/guest-memory.js';
import { ConfigAccess } from '../../host/src/pci/config-access.js';
import { VtdUnit } from '../../host/src/vtd/vtd-unit.js';
import { Executor, loadFuzzModule } from '../execute.js';
import type { FuzzInput, Step } from '../input.js';
import { TranslationOracle } from '../translation-oracle.js';

// The oracles issue 19 added, each shown to fire on a model that misbehaves
// (a patched core or listener) and to stay silent on the real one.
const { module } = loadFuzzModule();

const w = (gpa: number, u64: bigint[]): Step => ({ op: 'mem.write', gpa: BigInt(gpa), u64 });
const mmio = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value });

/**
 * Legacy tables mapping IOVA 0 of 00:03.0 (domain 1, 4-level) to 0x300000,
 * translation on, a DMA that fills the IOTLB, then a global IOTLB
 * invalidation through the queue (VT-d §6.5.2.3, descriptor type 2, G=01).
 */
function input(): FuzzInput {
  return {
    machine: { profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] },
    steps: [
      w(0x100000, [0x101001n, 0n]),
      w(0x101180, [0x200001n, 0x102n]),
      w(0x200000, [0x201003n]), w(0x201000, [0x202003n]), w(0x202000, [0x203003n]), w(0x203000, [0x300003n]),
      mmio(0x20, 8, 0x100000n), mmio(0x18, 4, 0x4000_0000n), mmio(0x18, 4, 0x8000_0000n),
      { op: 'dma.read', bdf: '00:03.0', iova: 0n, len: 8 },
      mmio(0x90, 8, 0x180000n), mmio(0x18, 4, 0x8400_0000n),
      w(0x180000, [0x12n, 0n]),
      mmio(0x88, 8, 0x10n),
      { op: 'dma.read', bdf: '00:03.0', iova: 0n, len: 8 },
    ],
  };
}

/** The input with a `snapshot` step after the first DMA. */
function snapshotInput(): FuzzInput {
  const steps = input().steps;
  return { ...input(), steps: [...steps.slice(0, 10), { op: 'snapshot' }, ...steps.slice(10)] };
}

describe('fuzz oracles', () => {
  it('the real model passes the input', async () => {
    expect((await new Executor(module).run(input())).finding).toBeUndefined();
  });

  it('an internal error the unit catches and logs inside a queued-invalidation handler is an exception finding', async () => {
    patch(TranslationOracle.prototype, 'invalidated', () => { throw new Error('boom'); });
    const r = await new Executor(module).run(input());
    expect(r.finding).toMatchObject({ kind: 'exception', step: 13 });
    expect(r.finding!.message).toMatch(/internal error in .*boom/);
  });

  it('a cached translation that survives a global IOTLB invalidation is a cache-scope finding', async () => {
    patch(Core.prototype, 'invIotlbGlobal', () => {});
    const r = await new Executor(module).run(input());
    expect(r.finding).toMatchObject({ kind: 'cache-scope', step: 13 });
    expect(r.finding!.message).toMatch(/^\{"kind":"iotlbGlobal"\} left IOTLB entry/);
  });

  it('a step over its budget is a hang finding', async () => {
    const r = await new Executor(module, { stepBudgetMs: -1 }).run(input());
    expect(r.finding).toMatchObject({ kind: 'hang', step: 0 });
  });

  it('a machine restored from its snapshot must snapshot to the same bytes', async () => {
    const withSnap = snapshotInput();
    expect((await new Executor(module).run(withSnap)).finding).toBeUndefined();
    const real = VtdUnit.prototype.loadState;
    patch(VtdUnit.prototype, 'loadState', function (this: VtdUnit, state: Parameters<VtdUnit['loadState']>[0]) {
      real.call(this, state);
      this.mmioWrite(0x20, 8, 0x1000n); // restore leaves a register changed
    });
    const r = await new Executor(module).run(withSnap);
    expect(r.finding).toMatchObject({ kind: 'snapshot', step: 10 });
  });

  it('a restore that leaves a byte in a RAM page the machine pool does not track is a snapshot finding', async () => {
    // The pool's snapshots and restores read and zero only the pages it tracks (machine-pool.ts); the oracle checks all RAM outside them is zero.
    let mem: GuestMemory | undefined;
    const load = VtdUnit.prototype.loadState;
    patch(VtdUnit.prototype, 'loadState', function (this: VtdUnit, state: Parameters<VtdUnit['loadState']>[0]) {
      load.call(this, state);
      mem = this.mem;
    });
    const latch = ConfigAccess.prototype.setLatch;
    patch(ConfigAccess.prototype, 'setLatch', function (this: ConfigAccess, v: number) {
      latch.call(this, v); // after the RAM section was applied
      mem!.view(0x3f_0000, 1)[0] = 1; // a stray write no watch sees, in a page nothing touched
    });
    const r = await new Executor(module).run(snapshotInput());
    expect(r.finding).toMatchObject({ kind: 'snapshot', step: 10 });
  });
});
