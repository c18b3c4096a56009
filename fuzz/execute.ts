/**
 * Runs one fuzz input with the oracles watching, and collects its coverage.
 * Machines are reused (fuzz/machine-pool.ts): one per machine description,
 * returned between inputs to the state `viommu replay` starts from (a test
 * checks that a reused machine observes and ends exactly as a fresh one).
 *
 * Steps run through the replay runner itself (host/src/scenario/replay.ts
 * `replayOn`), so a finding replays exactly as it was found.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { Core, CoreExports } from '../host/src/core/core.js';
import { loadCoreFromSync } from '../host/src/core/load.js';
import { CFG_QUIRKS } from '../host/src/core/constants.js';
import { packageRoot } from '../host/src/core/load-node.js';
import { DMAT_STATE } from '../host/src/devices/dma-test/regs.js';
import { VTD_BASE, type Machine } from '../host/src/machine.js';
import { replayOn, type ReplayRun } from '../host/src/scenario/replay.js';
import { buildRegisterTable, type RegisterRow } from '../host/src/vtd/register-table.js';
import type { Profile } from '../host/src/vtd/profiles.js';
import { cacheFills, CacheScopeOracle } from './cache-scope-oracle.js';
import { ensureCoverageBuild } from './coverage-build.js';
import { coreFeatures, StepCoverage, uncounted, type HostCoverage } from './coverage.js';
import { registerTableOf } from './generate.js';
import type { FuzzInput, Step } from './input.js';
import { MachinePool, PooledMachine } from './machine-pool.js';
import { RegisterOracle } from './register-oracle.js';
import { TranslationOracle } from './translation-oracle.js';
import { hostTablesVsIoas } from './host-consistency-oracle.js';
import { VmPool, vmInvalidationViolation, vmmFeatures, type FuzzVm } from './vmm-run.js';
import type { VirtualMachine } from '../host/src/vmm/virtual-machine.js';

/** What went wrong. */
export type FindingKind =
  | 'exception' | 'hang' | 'memory' | 'register-invariant' | 'dma-unmapped' | 'core-vs-reference' | 'cache-scope' | 'snapshot'
  | 'host-tables';

/** An oracle violation: which step, and what. */
export interface Finding {
  readonly kind: FindingKind;
  /** Step index (steps.length for the end-of-input check). */
  readonly step: number;
  readonly message: string;
}

/** The outcome of one execution. */
export interface ExecResult {
  readonly finding?: Finding;
  /** Coverage features reached (core and host). */
  readonly features: number[];
  /** Observations as the replay output has them (`mmio.read` values, `mem.read` data). */
  readonly observations: { step: number; op: string; value?: string; data?: string }[];
  readonly ms: number;
}

/** Executor options. */
export interface ExecOptions {
  /** A step slower than this is a hang (default 250 ms). */
  readonly stepBudgetMs?: number;
  /** An execution that grows the JS heap by more than this, or the core's memory at all, is a finding (default 128 MiB). */
  readonly memBudgetMb?: number;
  /** Host block coverage (optional: costs about 1 ms per execution). */
  readonly hostCoverage?: HostCoverage;
  /** Build a fresh machine for every execution instead of reusing one (slow; the reuse test compares both). */
  readonly fresh?: boolean;
  /** Oracles without their shortcuts: the scope oracle reads every cache it needs at each invalidation, the translation oracle walks the reference for every request (slow; a test compares both). */
  readonly plainOracles?: boolean;
}

/**
 * The coverage build's module (built first when missing or stale, see
 * coverage-build.ts), or the release build when there can be none.
 */
export function loadFuzzModule(log?: (line: string) => void): { module: WebAssembly.Module; coverage: boolean; path: string } {
  const cov = ensureCoverageBuild(log).path;
  const path = cov ?? join(packageRoot(), 'build', 'viommu.wasm');
  return { module: new WebAssembly.Module(readFileSync(path)), coverage: path === cov, path };
}

type CovExports = CoreExports & { covPtr?: () => number; covCount?: () => number };

/** A snapshot step saves and restores all guest RAM: its budget grows by this much per MiB (linear work, not a hang). */
const SNAPSHOT_MS_PER_MIB = 8;

/**
 * Steps after which the host-tables oracle reads the host tables: those that
 * reach the VMM (register writes, device programming, DMA and its faults).
 * Guest memory and read steps cannot change host state, and the check is of
 * state, so skipping them delays no inconsistency past the next such step
 * (or the last step, always checked); measured, the oracle's share of a run fell from 7.7% to 4.4%.
 */
const HOST_STATE_OPS: ReadonlySet<Step['op']> = new Set(['mmio.write', 'pci.cfg.write', 'dev.mmio.write', 'dma.read', 'dma.write']);

const messageOf = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
const usedHeap = (): number => getHeapStatistics().used_heap_size;

/**
 * The size the core's memory of `pm` has, or would have if it grew on
 * demand: its state region's end in whole wasm pages. The fuzzer's coverage
 * build runs over a shared memory that has all 4 GiB from the start and
 * never grows (host/src/core/load.ts), so its byteLength cannot show
 * growth; a growable memory grows to exactly this size. The exports it
 * calls have probes: their hits are put back, they are not the input's.
 */
function coreMemoryBytes(pm: PooledMachine): number {
  const r = uncounted(pm.coverageMap(), () => pm.core.stateRegion());
  return Math.ceil((r.base + r.used) / 65536) * 65536;
}

/** Runs inputs on reused machines (or fresh ones). */
export class Executor {
  private readonly pool: MachinePool;
  private readonly vms: VmPool;
  /** The step of the last execution that first reached each core feature (plain machines; VM inputs leave it empty). */
  readonly stepCoverage = new StepCoverage();

  constructor(private readonly module: WebAssembly.Module, private readonly opts: ExecOptions = {}) {
    this.pool = new MachinePool(() => this.newCore());
    this.vms = new VmPool(() => this.newCore(), opts.fresh);
  }

  private newCore(): Core {
    return loadCoreFromSync(this.module);
  }

  /** Runs `input`; never throws (a throw from the model is a finding). */
  async run(input: FuzzInput): Promise<ExecResult> {
    const t0 = performance.now();
    let fvm: FuzzVm | undefined;
    let pm: PooledMachine;
    if (input.vmm) {
      try {
        fvm = await this.vms.get(input);
      } catch (err) {
        return { finding: { kind: 'exception', step: 0, message: `building the VM: ${messageOf(err)}` }, features: [], observations: [], ms: performance.now() - t0 };
      }
      pm = fvm.pm;
    } else pm = this.opts.fresh ? await PooledMachine.create(input.machine, this.newCore()) : await this.pool.get(input.machine);
    const host = this.opts.hostCoverage;
    host?.take([]); // what ran before (reset, other inputs) is not this input's coverage
    const mem0 = coreMemoryBytes(pm);
    const heap0 = usedHeap();
    const probes = (pm.core.unsafeExports as CovExports).covCount?.() ?? 0;
    const tracked = fvm ? undefined : pm.coverageMap()?.subarray(0, probes); // a VM's features are not its steps' alone (vmmFeatures)
    const run = new Run(pm, input, this.opts, fvm?.vm, tracked);
    this.stepCoverage.start(tracked);
    if (tracked) run.afterStep = (i) => this.stepCoverage.after(i);
    let finding = run.steps();
    finding ??= this.memoryFinding(pm, mem0, heap0, input.steps.length);
    const features: number[] = [];
    const map = pm.coverageMap();
    if (map) coreFeatures(map.subarray(0, probes), features);
    if (fvm) vmmFeatures(fvm.vm, [...features], features);
    host?.take(features);
    try { // after the features: they read the VM's shadow domains
      fvm?.release();
    } catch (err) {
      finding ??= { kind: 'exception', step: input.steps.length, message: `releasing the VM: ${messageOf(err)}` };
    }
    pm.events = {};
    return { finding, features, observations: run.replay.output().observations, ms: performance.now() - t0 };
  }

  /** The per-execution memory limit: the core's memory must not grow, the JS heap not by more than the budget. */
  private memoryFinding(pm: PooledMachine, mem0: number, heap0: number, step: number): Finding | undefined {
    const grew = coreMemoryBytes(pm) - mem0;
    if (grew > 0) return { kind: 'memory', step, message: `the core's memory grew by ${grew} bytes during one execution` };
    const heap = usedHeap() - heap0;
    const budget = (this.opts.memBudgetMb ?? 128) * 2 ** 20;
    if (heap > budget) return { kind: 'memory', step, message: `the JS heap grew by ${Math.round(heap / 2 ** 20)} MiB during one execution (budget ${budget / 2 ** 20} MiB)` };
    return undefined;
  }
}

/** One execution: the replay run (host/src/scenario/replay.ts) with the oracles around each step. */
class Run {
  readonly replay: ReplayRun;
  private readonly regs: RegisterOracle;
  private readonly xlate: TranslationOracle;
  /** Time the current step spent in oracle work that is not the model's (comparison snapshots). */
  private oracleMs = 0;
  /** Internal errors the model reported during the current step. */
  private internal: string | undefined;
  /** True while a `dma.*` step without PASID runs (the translation oracle accounts for its writes). */
  private checkedDma = false;
  /** A step slower than this (ms) is a hang. */
  private readonly budgetMs: number;
  /** The cache-scope oracle: on profiles without QEMU compatibility switches only, never on a VM. */
  private readonly scope: CacheScopeOracle | undefined;
  /** The first host-vs-guest violation seen right after an invalidation (VMM-backed machines). */
  private hostScope: string | undefined;
  /** Called after each step ran (the per-step coverage record). */
  afterStep: ((step: number) => void) | undefined;

  /**
   * On a VMM-backed machine (`vm`), the guest unit's core does not translate
   * the devices' DMA (the physical IOMMU does): the translation and
   * cache-scope oracles stay off and the host-consistency oracle runs.
   * `probes`: the coverage build's probe map, which the cache-scope oracle
   * puts back after its cache reads (they are not the input's coverage).
   */
  constructor(private readonly pm: PooledMachine, private readonly input: FuzzInput, opts: ExecOptions, private readonly vm?: VirtualMachine, probes?: Uint8Array) {
    const m = pm.machine;
    this.budgetMs = opts.stepBudgetMs ?? 250;
    this.replay = replayOn(m, { name: 'fuzz', description: '', iommu: 'intel-iommu', machine: {}, steps: input.steps, cpus: pm.apics.count }, pm.apics);
    this.regs = vm ? vmRegisterOracle(m.vtd.profile) : machineRegisterOracle(m, input);
    this.xlate = new TranslationOracle(m, opts.plainOracles);
    this.scope = vm === undefined && m.core.getConfig(CFG_QUIRKS) === 0
      ? new CacheScopeOracle(m.core, pm.dumpBuf, () => m.vtd.scalableMode(), { probes, plain: opts.plainOracles })
      : undefined;
    pm.events = {
      ramWritten: (gpa, len) => this.xlate.memoryWritten(gpa, len),
      deviceWrite: () => { if (!this.checkedDma) this.xlate.untrackedWrite(); },
      rootLatched: (rtaddr) => this.xlate.rootLatched(rtaddr),
      translationEnabled: (on) => this.xlate.translationEnabled(on),
      invalidated: (e) => {
        this.xlate.invalidated(e);
        this.scope?.invalidated(e);
        if (!vm) return;
        const t = performance.now();
        this.hostScope ??= vmInvalidationViolation(vm, e);
        this.oracleMs += performance.now() - t;
      },
      internalError: (where, err) => { this.internal ??= `internal error in ${where}: ${messageOf(err)}`; },
    };
  }

  /** Runs every step; returns the first finding. */
  steps(): Finding | undefined {
    const steps = this.input.steps;
    for (let i = 0; i < steps.length; i++) {
      const t = performance.now();
      this.oracleMs = 0;
      let msg: string | undefined;
      const fills = this.unwalked(steps[i]!) ? cacheFills(this.pm.core) : undefined;
      try {
        msg = this.step(steps[i]!);
        if (fills !== undefined && cacheFills(this.pm.core) !== fills) this.xlate.unwalkedFill();
      } catch (err) {
        return { kind: 'exception', step: i, message: messageOf(err) };
      }
      this.afterStep?.(i);
      if (this.internal) return { kind: 'exception', step: i, message: this.internal };
      const dt = performance.now() - t - this.oracleMs; // the model's time, not the oracles' extra snapshots
      const budget = steps[i]!.op === 'snapshot' ? this.budgetMs + SNAPSHOT_MS_PER_MIB * this.input.machine.ram_mib : this.budgetMs;
      if (dt > budget) return { kind: 'hang', step: i, message: `${steps[i]!.op} took ${dt.toFixed(0)} ms (budget ${budget.toFixed(0)} ms)` };
      if (msg) return { kind: msg.startsWith('DMA') ? 'dma-unmapped' : msg.startsWith('snapshot') ? 'snapshot' : 'register-invariant', step: i, message: msg };
      const scope = this.scope?.check();
      if (scope) return { kind: 'cache-scope', step: i, message: scope };
      const host = this.vm && (this.hostScope ?? (HOST_STATE_OPS.has(steps[i]!.op) || i === steps.length - 1 ? hostTablesVsIoas(this.vm) : undefined));
      if (host) return { kind: 'host-tables', step: i, message: host };
    }
    if (this.vm) return undefined; // the end-of-input check compares the guest unit's core, which does not translate here
    try {
      const msg = this.xlate.coreAgrees(lastDmaTargets(steps, END_CHECK_TARGETS));
      if (msg) return { kind: 'core-vs-reference', step: steps.length, message: msg };
    } catch (err) {
      return { kind: 'exception', step: steps.length, message: `end-of-input check: ${messageOf(err)}` };
    }
    return undefined;
  }

  /**
   * True for a step that may fill a cache from table pages the translation
   * oracle does not walk: any step that can make a device send a request
   * (a register write answering a page request, a device command, a config
   * write) and DMA with PASID; not a DMA without PASID (its walk is the
   * reference's, translation-oracle.ts `before`) nor steps that only read
   * registers or write guest memory.
   */
  private unwalked(s: Step): boolean {
    if (!this.xlate.enabled || this.vm) return false;
    switch (s.op) {
      case 'dma.read':
      case 'dma.write': return s.pasid !== undefined;
      case 'mem.write':
      case 'mem.read':
      case 'mmio.read': return false;
      default: return true;
    }
  }

  /** Runs the next step with the oracle checks around it; returns a violation message. */
  private step(s: Step): string | undefined {
    const m = this.pm.machine;
    switch (s.op) {
      case 'mmio.read': {
        const v = this.replay.next()!.observation as { value: string };
        return this.regs.checkRead(s.offset, s.size, BigInt(v.value));
      }
      case 'mmio.write': {
        const rows = this.regs.rowsAt(s.offset, s.size);
        const before = readRows(m, rows);
        this.replay.next();
        return this.regs.checkWrite(s.offset, s.size, s.value, before, readRows(m, rows));
      }
      case 'dma.read':
      case 'dma.write': return this.dma(s);
      case 'snapshot': {
        // The step saves and restores (replay.ts); the saved bytes are kept to compare the restored machine's snapshot with.
        let saved: Uint8Array | undefined;
        const save = m.snapshot; // the pool's (reads only the pages it tracks, machine-pool.ts) or the machine's
        m.snapshot = () => (saved = save.call(m));
        try {
          this.replay.next();
        } finally {
          m.snapshot = save;
        }
        // As a full snapshot (all RAM read), so a page the restore or the pool's tracking got wrong shows too.
        const t = performance.now();
        const same = saved !== undefined && sameBytes(saved, m.snapshot()) && this.pm.untrackedRamZero();
        this.oracleMs += performance.now() - t;
        return same ? undefined : 'snapshot: the machine restored from a snapshot does not snapshot to the same bytes';
      }
      default:
        this.replay.next();
        return undefined;
    }
  }

  /** A `dma.*` step with the translation oracle around it (requests without PASID only). */
  private dma(s: Extract<Step, { op: 'dma.read' | 'dma.write' }>): string | undefined {
    if (s.pasid !== undefined || this.vm) {
      this.replay.next();
      return undefined;
    }
    const write = s.op === 'dma.write';
    const dev = this.pm.machine.dmaTest(s.bdf);
    const waiting = dev.pending !== undefined;
    const pieces = this.xlate.before(s.bdf, s.iova, s.len, write);
    this.checkedDma = true;
    try {
      this.replay.next();
    } finally {
      this.checkedDma = false;
    }
    const state = dev.lastStatus() & 7;
    // No request went out (bus mastering off, a command still waiting for its page response): nothing to judge.
    if (waiting || state === DMAT_STATE.ABORTED || state === DMAT_STATE.BAD_COMMAND) return undefined;
    return this.xlate.after(pieces, write, state === DMAT_STATE.DONE, dev.buffer());
  }
}

/** DMA addresses the end-of-input check compares core and reference at: the input's last ones. */
const END_CHECK_TARGETS = 16;

/** The (device, address, direction) of the last `n` DMA steps without PASID, in step order. */
function lastDmaTargets(steps: readonly Step[], n: number): { bdf: string; iova: bigint; write: boolean }[] {
  const out: { bdf: string; iova: bigint; write: boolean }[] = [];
  for (let i = steps.length - 1; i >= 0 && out.length < n; i--) {
    const s = steps[i]!;
    if ((s.op === 'dma.read' || s.op === 'dma.write') && s.pasid === undefined) out.push({ bdf: s.bdf, iova: s.iova, write: s.op === 'dma.write' });
  }
  return out.reverse();
}

/** Register oracles of pooled machines (a machine serves one description but any processor count, which the table does not depend on). */
const machineRegisterOracles = new WeakMap<Machine, RegisterOracle>();

/** The register oracle of `input`'s machine `m`, found once per machine (the description's table lookup made a JSON string per execution). */
function machineRegisterOracle(m: Machine, input: FuzzInput): RegisterOracle {
  let o = machineRegisterOracles.get(m);
  if (!o) machineRegisterOracles.set(m, (o = RegisterOracle.of(registerTableOf(input.machine))));
  return o;
}

/** Register oracles of VM guest units, by profile (a VM is reused for its shape, so is its unit's profile). */
const vmRegisterOracles = new WeakMap<Profile, RegisterOracle>();

/** The register oracle of a VM's guest unit, whose profile withholds ECAP bits the machine description would give. */
function vmRegisterOracle(profile: Profile): RegisterOracle {
  let o = vmRegisterOracles.get(profile);
  if (!o) vmRegisterOracles.set(profile, (o = new RegisterOracle(buildRegisterTable(profile))));
  return o;
}

/** The MMIO address of each register row, made once (two BigInts per row read and write otherwise). */
const rowAddresses = new WeakMap<RegisterRow, bigint>();

/** The whole registers `rows` (their own widths), as the register oracle compares them around a write. */
function readRows(m: Machine, rows: readonly RegisterRow[]): bigint[] {
  const out: bigint[] = [];
  for (const r of rows) {
    let at = rowAddresses.get(r);
    if (at === undefined) rowAddresses.set(r, (at = VTD_BASE + BigInt(r.offset)));
    out.push(m.mmioRead(at, r.width));
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b); // memcmp: a full snapshot holds all of RAM
}
