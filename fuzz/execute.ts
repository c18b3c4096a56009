/**
 * Runs one fuzz input on a fresh machine (a new instance of the coverage
 * build of the core, so every run starts from the state `viommu replay`
 * starts from) with the oracles watching, and collects its coverage.
 *
 * Steps run exactly as the replay runner runs them (host/src/cli/replay.ts;
 * a test checks the observations agree on the seed scenarios).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Core, type CoreExports } from '../host/src/core/core.js';
import { packageRoot } from '../host/src/core/load-node.js';
import { parseScenario } from '../host/src/cli/scenario.js';
import { createMachine, VTD_BASE, type Machine, type MachineConfig } from '../host/src/machine.js';
import { coreFeatures, type HostCoverage } from './coverage.js';
import { registerTableOf } from './generate.js';
import type { FuzzInput, RawMachine, Step } from './input.js';
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

/** The coverage build's module, or the release build when the coverage build is missing. */
export function loadFuzzModule(): { module: WebAssembly.Module; coverage: boolean; path: string } {
  const cov = join(packageRoot(), 'build', 'viommu.coverage.wasm');
  const path = existsSync(cov) ? cov : join(packageRoot(), 'build', 'viommu.wasm');
  return { module: new WebAssembly.Module(readFileSync(path)), coverage: path === cov, path };
}

type CovExports = CoreExports & { covPtr?: () => number; covCount?: () => number };

const configCache = new Map<string, MachineConfig>();
function machineConfig(m: RawMachine): MachineConfig {
  const key = JSON.stringify(m);
  let c = configCache.get(key);
  if (!c) {
    c = parseScenario({ format: 'viommu-scenario/1', name: 'fuzz', machine: m, steps: [] }).machine;
    configCache.set(key, c);
  }
  return c;
}

const messageOf = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** Runs inputs, one fresh machine each. */
export class Executor {
  constructor(private readonly module: WebAssembly.Module, private readonly opts: ExecOptions = {}) {}

  /** Runs `input`; never throws (a throw from the model is a finding). */
  async run(input: FuzzInput): Promise<ExecResult> {
    const t0 = performance.now();
    const exports = new WebAssembly.Instance(this.module, {}).exports as unknown as CovExports;
    const machine = await createMachine({ ...machineConfig(input.machine), core: new Core(exports) });
    this.opts.hostCoverage?.take([]); // machine construction is not the input's coverage
    const run = new Run(machine, input, this.opts.stepBudgetMs ?? 250);
    const finding = run.steps();
    const features: number[] = [];
    if (exports.covPtr && exports.covCount) {
      coreFeatures(new Uint8Array(exports.memory.buffer, exports.covPtr(), exports.covCount()), features);
    }
    this.opts.hostCoverage?.take(features);
    return { finding, features, observations: run.observations, ms: performance.now() - t0 };
  }
}

/** One execution's state: machine, oracles, observations. */
class Run {
  readonly observations: ExecResult['observations'] = [];
  private readonly regs: RegisterOracle;
  private readonly xlate: TranslationOracle;

  constructor(private readonly m: Machine, private readonly input: FuzzInput, private readonly budgetMs: number) {
    this.regs = new RegisterOracle(registerTableOf(input.machine));
    this.xlate = new TranslationOracle(m);
    watchWrites(m, (gpa, len) => this.xlate.memoryWritten(gpa, len));
  }

  /** Runs every step; returns the first finding. */
  steps(): Finding | undefined {
    const steps = this.input.steps;
    for (let i = 0; i < steps.length; i++) {
      const t = performance.now();
      let msg: string | undefined;
      try {
        msg = this.step(i, steps[i]!);
      } catch (err) {
        return { kind: 'exception', step: i, message: `${steps[i]!.op}: ${messageOf(err)}` };
      }
      if (msg) return { kind: msg.startsWith('DMA') ? 'dma-unmapped' : 'register-invariant', step: i, message: msg };
      const dt = performance.now() - t;
      if (dt > this.budgetMs) return { kind: 'slow-step', step: i, message: `${steps[i]!.op} took ${dt.toFixed(0)} ms (budget ${this.budgetMs} ms)` };
    }
    try {
      const targets = steps.flatMap((s) => (s.op === 'dma.read' || s.op === 'dma.write' ? [{ bdf: s.bdf, iova: s.iova, write: s.op === 'dma.write' }] : []));
      const msg = this.xlate.coreAgrees(targets.slice(-16));
      if (msg) return { kind: 'core-vs-reference', step: steps.length, message: msg };
    } catch (err) {
      return { kind: 'exception', step: steps.length, message: `end-of-input check: ${messageOf(err)}` };
    }
    return undefined;
  }

  /** Runs one step as the replay runner does, with the oracles; returns a violation message. */
  private step(i: number, s: Step): string | undefined {
    const m = this.m;
    switch (s.op) {
      case 'mem.write': s.u64.forEach((q, k) => m.ram.writeU64(s.gpa + BigInt(8 * k), q)); return undefined;
      case 'mem.fill': m.ram.fill(s.gpa, s.len, s.byte); return undefined;
      case 'mem.read':
        this.observations.push({ step: i, op: s.op, data: Buffer.from(m.ram.read(s.gpa, s.len)).toString('hex') });
        return undefined;
      case 'mmio.read': {
        const v = m.mmioRead(VTD_BASE + BigInt(s.offset), s.size);
        this.observations.push({ step: i, op: s.op, value: `0x${v.toString(16)}` });
        return this.regs.checkRead(s.offset, s.size, v);
      }
      case 'mmio.write': {
        const rows = this.regs.rowsAt(s.offset, s.size);
        const read = () => rows.map((r) => m.mmioRead(VTD_BASE + BigInt(r.offset), r.width));
        const before = read();
        m.mmioWrite(VTD_BASE + BigInt(s.offset), s.size, s.value);
        return this.regs.checkWrite(s.offset, s.size, s.value, rows, before, read());
      }
      case 'dma.read':
      case 'dma.write': {
        const write = s.op === 'dma.write';
        const dev = m.dmaTest(s.bdf);
        const pieces = this.xlate.before(s.bdf, s.iova, s.len, write);
        const r = write ? dev.write(s.iova, s.len) : dev.read(s.iova, s.len);
        return this.xlate.after(pieces, write, r.ok, dev.buffer());
      }
    }
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
}
