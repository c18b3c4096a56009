/**
 * Runs one fuzz input on a fresh machine (a new instance of the coverage
 * build of the core, so every run starts from the state `viommu replay`
 * starts from) with the oracles watching, and collects its coverage.
 *
 * Steps run through the replay runner itself (host/src/scenario/replay.ts
 * `startReplay`), so a finding replays exactly as it was found.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreExports } from '../host/src/core/core.js';
import { loadCoreFromSync } from '../host/src/core/load.js';
import { packageRoot } from '../host/src/core/load-node.js';
import { DmaTestDevice } from '../host/src/devices/dma-test/device.js';
import { DMAT_STATE } from '../host/src/devices/dma-test/regs.js';
import type { DmaPort } from '../host/src/pci/dma-port.js';
import { VTD_BASE, type Machine } from '../host/src/machine.js';
import { startReplay, type ReplayRun } from '../host/src/scenario/replay.js';
import { ensureCoverageBuild } from './coverage-build.js';
import { coreFeatures, type HostCoverage } from './coverage.js';
import { registerTableOf } from './generate.js';
import { toScenarioDoc, type FuzzInput, type Step } from './input.js';
import { RegisterOracle } from './register-oracle.js';
import { TranslationOracle } from './translation-oracle.js';

/** What went wrong. */
export type FindingKind = 'exception' | 'slow-step' | 'register-invariant' | 'dma-unmapped' | 'core-vs-reference';

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
  /** A step slower than this is a finding (default 250 ms). */
  readonly stepBudgetMs?: number;
  /** Host block coverage (optional: costs about 1 ms per execution). */
  readonly hostCoverage?: HostCoverage;
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

const messageOf = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** Runs inputs, one fresh machine each. */
export class Executor {
  constructor(private readonly module: WebAssembly.Module, private readonly opts: ExecOptions = {}) {}

  /** Runs `input`; never throws (a throw from the model is a finding). */
  async run(input: FuzzInput): Promise<ExecResult> {
    const t0 = performance.now();
    const core = loadCoreFromSync(this.module);
    const exports = core.unsafeExports as CovExports;
    const replay = await startReplay(toScenarioDoc(input, 'fuzz', ''), { core });
    this.opts.hostCoverage?.take([]); // machine construction is not the input's coverage
    const finding = new Run(replay, input, this.opts.stepBudgetMs ?? 250).steps();
    const features: number[] = [];
    if (exports.covPtr && exports.covCount) {
      coreFeatures(new Uint8Array(exports.memory.buffer, exports.covPtr(), exports.covCount()), features);
    }
    this.opts.hostCoverage?.take(features);
    return { finding, features, observations: replay.output().observations, ms: performance.now() - t0 };
  }
}

/** One execution: the replay run (host/src/scenario/replay.ts) with the oracles around each step. */
class Run {
  private readonly regs: RegisterOracle;
  private readonly xlate: TranslationOracle;

  constructor(private readonly replay: ReplayRun, private readonly input: FuzzInput, private readonly budgetMs: number) {
    this.regs = new RegisterOracle(registerTableOf(input.machine));
    this.xlate = new TranslationOracle(replay.machine);
    watchWrites(replay.machine, (gpa, len) => this.xlate.memoryWritten(gpa, len));
    watchDeviceWrites(replay.machine, () => {
      if (!this.checkedDma) this.xlate.untrackedWrite();
    });
  }

  /** True while a `dma.*` step without PASID runs (the translation oracle accounts for its writes). */
  private checkedDma = false;

  /** Runs every step; returns the first finding. */
  steps(): Finding | undefined {
    const steps = this.input.steps;
    for (let i = 0; i < steps.length; i++) {
      const t = performance.now();
      let msg: string | undefined;
      try {
        msg = this.step(steps[i]!);
      } catch (err) {
        return { kind: 'exception', step: i, message: messageOf(err) };
      }
      if (msg) return { kind: msg.startsWith('DMA') ? 'dma-unmapped' : 'register-invariant', step: i, message: msg };
      const dt = performance.now() - t;
      if (dt > this.budgetMs) return { kind: 'slow-step', step: i, message: `${steps[i]!.op} took ${dt.toFixed(0)} ms (budget ${this.budgetMs} ms)` };
    }
    try {
      const targets = steps.flatMap((s) => ((s.op === 'dma.read' || s.op === 'dma.write') && s.pasid === undefined ? [{ bdf: s.bdf, iova: s.iova, write: s.op === 'dma.write' }] : []));
      const msg = this.xlate.coreAgrees(targets.slice(-16));
      if (msg) return { kind: 'core-vs-reference', step: steps.length, message: msg };
    } catch (err) {
      return { kind: 'exception', step: steps.length, message: `end-of-input check: ${messageOf(err)}` };
    }
    return undefined;
  }

  /** Runs the next step with the oracle checks around it; returns a violation message. */
  private step(s: Step): string | undefined {
    const m = this.replay.machine;
    switch (s.op) {
      case 'mmio.read': {
        const v = this.replay.next()!.observation as { value: string };
        return this.regs.checkRead(s.offset, s.size, BigInt(v.value));
      }
      case 'mmio.write': {
        const rows = this.regs.rowsAt(s.offset, s.size);
        const read = () => rows.map((r) => m.mmioRead(VTD_BASE + BigInt(r.offset), r.width));
        const before = read();
        this.replay.next();
        return this.regs.checkWrite(s.offset, s.size, s.value, rows, before, read());
      }
      case 'dma.read':
      case 'dma.write': {
        // The translation oracle models requests without PASID only: a PASID request is left out of it.
        if (s.pasid !== undefined) {
          this.replay.next();
          return undefined;
        }
        const write = s.op === 'dma.write';
        const dev = m.dmaTest(s.bdf);
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
      default:
        this.replay.next();
        return undefined;
    }
  }
}

/**
 * Calls `sink` before every DMA write a DMA test device sends through its
 * port (the fuzzer cannot see where a PASID request, a doorbell command or a
 * retry after a page response writes; the translation oracle then stops
 * trusting its caches). The port is private to the device: this wraps it on
 * the fresh machine of one execution only.
 */
function watchDeviceWrites(m: Machine, sink: () => void): void {
  for (const dev of m.deviceList()) {
    if (!(dev instanceof DmaTestDevice)) continue;
    const port = (dev as unknown as { port: DmaPort }).port;
    const dma = port.dmaBig.bind(port);
    port.dmaBig = (iova, len, write, bufOff, attrs) => {
      if (write) sink();
      return dma(iova, len, write, bufOff, attrs);
    };
  }
}

/** Reports every host-side write to guest RAM (guest steps, queue status writes) to `sink`. */
function watchWrites(m: Machine, sink: (gpa: bigint, len: number) => void): void {
  const ram = m.ram;
  const wrap = <A extends unknown[]>(fn: (gpa: bigint, ...a: A) => void, len: (...a: A) => number) =>
    (gpa: bigint, ...a: A): void => {
      sink(gpa, len(...a));
      fn.call(ram, gpa, ...a);
    };
  ram.writeU64 = wrap(ram.writeU64, () => 8);
  ram.writeU32 = wrap(ram.writeU32, () => 4);
  ram.write = wrap(ram.write, (bytes: Uint8Array) => bytes.length);
  ram.fill = wrap(ram.fill, (len: number) => len);
  // The invalidation queue writes wait status words by number.
  const setUint32 = ram.setUint32.bind(ram);
  ram.setUint32 = (gpa: number, v: number): void => {
    if (Number.isSafeInteger(gpa) && gpa >= 0) sink(BigInt(gpa), 4);
    setUint32(gpa, v);
  };
}
