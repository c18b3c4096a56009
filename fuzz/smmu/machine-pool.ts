/**
 * Arm machines for the SMMUv3 fuzzer, reused across executions (as the VT-d
 * fuzzer's fuzz/machine-pool.ts does): building one costs a wasm instance,
 * its RAM and a new wasm memory (whose external allocation drives V8's full
 * collections: half of an execution's CPU was GC). Between two inputs a
 * machine goes back to the state a new one starts in (what `viommu replay`
 * starts from), restoring only what changed:
 *
 * - guest RAM starts all zero, so only pages something may have written are
 *   zeroed: pages the host wrote through `GuestMemory` (steps, event
 *   records, MSI writes) and pages the core computed an offset for (walks,
 *   access-flag updates, DMA), from the coverage build's touched-page bitmap
 *   (fuzz/coverage-transform.js: page p sets bit p mod 2^17, so the Arm RAM
 *   from 1 GiB has a bit per page up to 512 MiB of RAM);
 * - the SMMU and the devices through the machine's system reset
 *   (`ArmMachine.reset`: registers, caches, device registers, BARs), then
 *   the device buffers, the unit's log, the core's caches,
 *   counters and coverage map.
 *
 * fuzz/tests/smmu-pool.test.ts shows a reused machine observes what a new
 * one does, on the seeds and on mutants.
 */
import { ARM_RAM_BASE, createArmMachine, type ArmMachine } from '../../host/src/arm-machine.js';
import type { Core } from '../../host/src/core/core.js';
import { clearTouchedBitmap, takeTouchedBits, touchedBitmap, watchRamWrites } from '../machine-pool.js';
import type { SmmuMachine } from './input.js';

const PAGE = 4096;

/** The coverage build's extra exports (fuzz/coverage-transform.js). */
interface CoverageExports {
  covPtr?(): number;
  covSize?(): number;
}

/** A machine kept for reuse. */
export class PooledArm {
  /** Hears every host write to guest RAM (steps, event records, MSIs) during the running execution. */
  onRamWrite?: (gpa: number, len: number) => void;
  /** Guest pages (numbers) the host wrote since the last reset. */
  private readonly written = new Set<number>();
  private readonly rawFill: ArmMachine['ram']['fill'];
  private readonly cov: CoverageExports;

  private constructor(readonly machine: ArmMachine, readonly core: Core, readonly ramMib: number) {
    this.cov = core.unsafeExports as unknown as CoverageExports;
    this.rawFill = watchRamWrites(machine.ram, (gpa, len) => {
      for (let p = Math.floor(gpa / PAGE); p * PAGE < gpa + len; p++) this.written.add(p);
      this.onRamWrite?.(gpa, len);
    });
  }

  /** The machine of `m` on `core` (a new instance of the coverage build), its coverage and touched pages cleared. */
  static async create(m: SmmuMachine, core: Core): Promise<PooledArm> {
    const machine = await createArmMachine({ profile: m.profile, ramMib: m.ram_mib, devices: m.devices.map((d) => ({ bdf: d.bdf, kind: d.kind, dmaMaskBits: 64 })), core });
    const pm = new PooledArm(machine, core, m.ram_mib);
    // The host's one-time queries (RAM region table, views over the grown memory) run now, as a reused machine had them run.
    machine.ram.contains(ARM_RAM_BASE, 1);
    core.unsafeBytes();
    clearTouchedBitmap(core);
    pm.coverageMap()?.fill(0); // building probes are not the first input's coverage
    return pm;
  }

  /** Back to the start state (see the file comment). */
  reset(): void {
    const { machine, core } = this;
    for (const p of this.written) this.zeroPage(p);
    this.written.clear();
    this.zeroTouched();
    machine.reset();
    for (const d of machine.deviceList()) if ('buffer' in d && typeof d.buffer === 'function') (d.buffer() as Uint8Array).fill(0);
    machine.smmu.logLines.length = 0;
    core.invalidateAll();
    core.statsReset();
    this.coverageMap()?.fill(0);
  }

  /** The execution's coverage map (a live view; read it before the next reset), or undefined on the release build. */
  coverageMap(): Uint8Array | undefined {
    const c = this.cov;
    return c.covPtr && c.covSize ? new Uint8Array(this.core.memory.buffer, c.covPtr(), c.covSize()) : undefined;
  }

  /**
   * Zeroes every RAM page the core touched: bit b of the bitmap stands for
   * every guest page p with p mod ramTouchPages() = b (the Arm RAM lies
   * above the bitmap's own 512 MiB); only the words its summary flags are
   * read. All RAM without a bitmap.
   */
  private zeroTouched(): void {
    const t = touchedBitmap(this.core);
    const regions = this.core.ramRegions();
    if (!t) {
      for (const r of regions) this.rawFill(BigInt(r.base), r.size, 0);
      return;
    }
    const n = t.map.length * 8;
    takeTouchedBits(t.map, (bit) => {
      for (const r of regions) {
        const first = r.base / PAGE;
        const end = first + r.size / PAGE;
        for (let p = first + (((bit - first) % n) + n) % n; p < end; p += n) this.zeroPage(p);
      }
    }, t.summary);
  }

  private zeroPage(p: number): void {
    const gpa = BigInt(p * PAGE);
    if (this.machine.ram.contains(gpa, PAGE)) this.rawFill(gpa, PAGE, 0);
  }
}

/** Machines kept at most (LRU); each holds a core instance with its RAM (only touched pages become resident). */
export const SMMU_POOL_MACHINES = 16;

/** Machines by description, each on its own instance of the module. */
export class SmmuMachinePool {
  private readonly machines = new Map<string, PooledArm>();
  /** Machines built (each a miss). */
  built = 0;

  constructor(private readonly newCore: () => Core, private readonly capacity = SMMU_POOL_MACHINES) {}

  /** The pooled machine of `m`, reset to its start state (built on first use). */
  async get(m: SmmuMachine): Promise<PooledArm> {
    const key = JSON.stringify([m.profile, m.ram_mib, m.devices]);
    let pm = this.machines.get(key);
    if (pm) {
      this.machines.delete(key); // most recently used last
      this.machines.set(key, pm);
      pm.reset();
      return pm;
    }
    pm = await PooledArm.create(m, this.newCore());
    this.built++;
    this.machines.set(key, pm);
    if (this.machines.size > this.capacity) this.machines.delete(this.machines.keys().next().value!);
    return pm;
  }
}
