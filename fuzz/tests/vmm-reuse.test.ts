import { describe, expect, it } from 'vitest';
import type { Core } from '../../host/src/core/core.js';
import type { GuestRamView } from '../../host/src/vmm/physical-host.js';
import { loadCoreFromSync } from '../../host/src/core/load.js';
import { replayOn } from '../../host/src/scenario/replay.js';
import { Executor, loadFuzzModule, type ExecResult } from '../execute.js';
import { shrinkRam, type FuzzInput, type Step } from '../input.js';
import { mutate } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs, withVmmVariants } from '../seeds.js';
import { VmPool, vmMachine } from '../vmm-run.js';

// Issue 19: a VM reused for many inputs (fuzz/vmm-run.ts VmPool: the VM's
// system reset plus restoring only what changed) must be indistinguishable
// from a new VM: same observations, same oracle verdicts, same coverage, on
// the VM seeds and on inputs mutated from them; and after each reset the
// whole guest RAM is zero again, as in a new VM.
const { module } = loadFuzzModule();
const newCore = (): Core => loadCoreFromSync(module);

/** The VM seeds (every host side the seeds cycle through) and `n` VM inputs mutated from them, mutants of mutants included. */
function vmInputs(n: number): FuzzInput[] {
  const all = withVmmVariants(loadInputs([goldenDir()])).map((s) => shrinkRam(s));
  const seeds = all.filter((s) => s.vmm);
  const rng = new Rng(19);
  const out = [...seeds];
  for (let i = 0; out.length < seeds.length + n && i < 50 * n; i++) {
    const { input } = mutate(rng.chance(0.5) ? rng.pick(out) : rng.pick(seeds), rng, all);
    if (input.vmm) out.push(input);
  }
  return out;
}

const w = (gpa: number, u64: bigint[]): Step => ({ op: 'mem.write', gpa: BigInt(gpa), u64 });
const mmio = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value });

/**
 * A caching-mode legacy guest (VT-d §6.1) whose device copies by DMA: IOVA
 * 0 and 0x1000 of 00:03.0 map to 0x300000 and 0x301000 (domain 1); the host
 * writes data at 0x300000, the device reads it and writes it to IOVA
 * 0x1000, so page 0x301000 is written by the physical IOMMU's core only.
 */
function dmaCopyInput(vmm: 'shadow' | 'nested'): FuzzInput {
  const machine = vmMachine({ profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: true, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
  return {
    vmm, machine, steps: [
      w(0x100000, [0x101001n, 0n]), w(0x101180, [0x200001n, 0x102n]),
      w(0x200000, [0x201003n]), w(0x201000, [0x202003n]), w(0x202000, [0x203003n]), w(0x203000, [0x300003n, 0x301003n]),
      mmio(0x20, 8, 0x100000n), mmio(0x18, 4, 0x4000_0000n), mmio(0x90, 8, 0x180000n), mmio(0x18, 4, 0x8400_0000n),
      w(0x180000, [0x11n, 0n, 0x12n, 0n]), mmio(0x88, 8, 0x20n),
      w(0x300000, [0x1122_3344_5566_7788n]),
      { op: 'dma.read', bdf: '00:03.0', iova: 0n, len: 8 }, { op: 'dma.write', bdf: '00:03.0', iova: 0x1000n, len: 8 },
    ],
  };
}
const DMA_ONLY_PAGE = 0x301000n;

/** True when all of `ram` is zero. */
function ramZero(ram: GuestRamView): boolean {
  const v = ram.view(0, Number(ram.size));
  return Buffer.from(v.buffer, v.byteOffset, v.length).equals(Buffer.alloc(v.length));
}

/** What must not depend on the VM being reused. */
const verdict = (r: ExecResult) => ({ finding: r.finding, observations: r.observations, features: [...r.features].sort((a, b) => a - b) });

describe('VM reuse (fuzz/vmm-run.ts VmPool)', () => {
  it('reused and fresh VMs give the same observations, oracle verdicts and coverage on VM seeds and mutated VM inputs', async () => {
    const inputs = vmInputs(100);
    const limits = { stepBudgetMs: 60_000, memBudgetMb: 4096 }; // the hang and memory oracles measure the machine, not the input: off here
    const reused = new Executor(module, limits);
    const fresh = new Executor(module, { ...limits, fresh: true });
    const shapes = new Set<string>();
    for (const input of inputs) {
      shapes.add(JSON.stringify([input.vmm, input.vmmHost, input.machine.devices.length]));
      expect(verdict(await reused.run(input))).toEqual(verdict(await fresh.run(input)));
    }
    expect(inputs.length).toBeGreaterThan(110);
    expect(shapes.size).toBeGreaterThan(8); // modes x host sides x device counts
  }, 300_000);

  it('after each reset the VM\'s guest RAM is all zero, also on a host a closed VM left, and the pool really reuses VMs and hosts', async () => {
    const capacity = 4; // fewer hosts than shapes: VMs are closed and their hosts taken by other shapes
    const pool = new VmPool(newCore, false, capacity);
    const directed = [dmaCopyInput('shadow'), dmaCopyInput('nested')];
    const inputs = [...directed, ...vmInputs(60), ...directed];
    let dirty = 0;
    for (const input of inputs) {
      const { vm, pm, release } = await pool.get(input);
      expect(ramZero(vm.host.guestRam)).toBe(true); // a reused VM, or a new one on a host another VM left
      const run = replayOn(vm.machine, { name: 'x', description: '', iommu: 'intel-iommu', machine: {}, steps: input.steps, cpus: pm.apics.count }, pm.apics);
      try {
        while (run.next());
      } catch { /* a step the model refuses ends the input, as in an execution */ }
      if (!ramZero(vm.host.guestRam)) dirty++; // the input wrote guest RAM (by the host or by DMA)
      if (directed.includes(input)) expect(vm.host.guestRam.readU32(DMA_ONLY_PAGE)).toBe(0x5566_7788); // the DMA copy landed
      release();
    }
    expect(dirty).toBeGreaterThan(inputs.length / 2);
    expect(pool.built).toBeGreaterThan(2 * capacity); // hosts were taken over
    expect(pool.built).toBeLessThan(inputs.length * 0.7); // and VMs reused
    expect(pool.hostCount).toBeLessThanOrEqual(capacity);
    expect(pool.size).toBeLessThanOrEqual(capacity);
  }, 300_000);
});
