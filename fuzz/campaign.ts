/**
 * `viommu fuzz`: K worker threads (or the current thread with K = 0) fuzz
 * for a bounded time, share new corpus entries through the main thread,
 * and write `DIR/corpus/*.scenario.json` (what a later run resumes from)
 * and `DIR/findings/*.scenario.json` (minimized, replayable findings). A
 * watchdog ends a worker whose execution does not finish within `hangMs`
 * and saves that input as a `hang` finding.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { FEATURE_SPACE, HOST_FEATURE_BASE, VMM_FEATURE_BASE } from './coverage.js';
import { askHungInput, heartbeatCount, newHeartbeat } from './heartbeat.js';
import { inputHash, scenarioText, type FuzzInput } from './input.js';
import { findingFile, Session, type SessionOptions, type SessionStats } from './session.js';
import type { WorkerInit } from './worker.js';

/** Campaign options. */
export interface CampaignOptions extends Omit<SessionOptions, 'seed'> {
  readonly seed: number;
  /** Worker threads; 0 runs in the current thread. */
  readonly workers: number;
  /** Output directory (corpus/ and findings/); none: nothing is written. */
  readonly outDir?: string;
  /** An execution running longer than this is a hang (default 10 s). */
  readonly hangMs?: number;
  /** Progress lines (about every `progressMs`, default 3 s) and findings. */
  readonly print?: (line: string) => void;
  readonly progressMs?: number;
}

/** The figures of a worker that reported none. */
const NO_STATS: SessionStats = { execs: 0, corpus: 0, coreProbes: 0, coreProbeTotal: 0, hostFeatures: 0, findings: 0, seedsRun: 0, seedsTotal: 0 };

/** A worker still running this long after the time limit (e.g. minimizing a finding) is ended; its last figures count. */
const STOP_GRACE_MS = 3000;

/** One finding of the campaign. */
export interface CampaignFinding {
  readonly signature: string;
  readonly kind: string;
  readonly message: string;
  /** Where it was written (when there is an output directory). */
  readonly file?: string;
}

/** The campaign's figures. */
export interface CampaignSummary {
  readonly seconds: number;
  readonly workers: number;
  readonly execs: number;
  /** Seeds run (the rest were left for lack of time) of the seeds found. */
  readonly seedsRun: number;
  readonly seedsTotal: number;
  readonly coreProbes: number;
  readonly coreProbeTotal: number;
  readonly hostFeatures: number;
  readonly corpus: number;
  readonly findings: CampaignFinding[];
}

/** The summary line printed last. */
export function summaryLine(s: CampaignSummary): string {
  const rate = s.execs / Math.max(s.seconds, 1e-9);
  const pct = s.coreProbeTotal ? ` (${((100 * s.coreProbes) / s.coreProbeTotal).toFixed(1)}%)` : '';
  return `fuzz: ${s.execs} execs in ${s.seconds.toFixed(1)} s, ${rate.toFixed(1)} exec/s (${(rate / Math.max(1, s.workers)).toFixed(1)} per worker), seeds ${s.seedsRun}/${s.seedsTotal}, `
    + `core coverage ${s.coreProbes}/${s.coreProbeTotal} probes${pct}, host ${s.hostFeatures} blocks, corpus ${s.corpus}, findings ${s.findings.length}`;
}

/** Collects findings, corpus entries and coverage from every source; writes files. */
class Collector {
  readonly findings = new Map<string, CampaignFinding>();
  readonly corpus = new Set<string>();
  readonly seen = new Uint8Array(FEATURE_SPACE);
  coreProbes = new Set<number>();
  hostFeatures = 0;

  constructor(private readonly outDir: string | undefined) {
    if (outDir) {
      mkdirSync(join(outDir, 'corpus'), { recursive: true });
      mkdirSync(join(outDir, 'findings'), { recursive: true });
    }
  }

  /** A corpus entry as its scenario file `text` (replacing the entry `replaced`, whose file goes); returns false when it is already known. */
  input(hash: string, text: string, fresh: readonly number[], replaced?: string): boolean {
    if (replaced !== undefined && this.corpus.delete(replaced) && this.outDir) rmSync(join(this.outDir, 'corpus', `${replaced}.scenario.json`), { force: true });
    for (const f of fresh) {
      if (this.seen[f]) continue;
      this.seen[f] = 1;
      if (f >= VMM_FEATURE_BASE) continue;
      if (f >= HOST_FEATURE_BASE) this.hostFeatures++;
      else this.coreProbes.add(f >> 3);
    }
    if (this.corpus.has(hash)) return false;
    this.corpus.add(hash);
    if (this.outDir) writeFileSync(join(this.outDir, 'corpus', `${hash}.scenario.json`), text);
    return true;
  }

  /** A finding file; returns false for a signature already reported. */
  finding(signature: string, kind: string, message: string, file: { name: string; text: string }, print?: (l: string) => void): boolean {
    if (this.findings.has(signature)) return false;
    const path = this.outDir ? join(this.outDir, 'findings', file.name) : undefined;
    if (path) writeFileSync(path, file.text);
    this.findings.set(signature, { signature, kind, message, file: path });
    print?.(`finding: ${kind}: ${message}${path ? ` -> ${path}` : ''}`);
    return true;
  }
}

/** Runs a campaign; resolves when every worker has finished. */
export async function runCampaign(o: CampaignOptions): Promise<CampaignSummary> {
  const col = new Collector(o.outDir);
  const t0 = performance.now();
  const shards = Math.max(1, o.workers);
  const sessionOpts = (seed: number, index: number): SessionOptions => ({
    seed, seedDirs: o.seedDirs, timeMs: o.timeMs, runs: o.runs, stepBudgetMs: o.stepBudgetMs,
    hostCoverage: o.hostCoverage, minimizeRuns: o.minimizeRuns, maxLen: o.maxLen, shard: { index, count: shards },
  });
  const stats = new Map<number, SessionStats>();
  const report = (): void => progress(o, t0, [...stats.values()], col);
  let done: SessionStats[];
  if (o.workers === 0) {
    const s = new Session(sessionOpts(o.seed, 0), {
      newInput: (input, hash, fresh, replaced) => col.input(hash, scenarioText(input, hash, 'fuzz corpus entry'), fresh, replaced),
      finding: (bug) => col.finding(bug.signature, bug.finding.kind, bug.finding.message, findingFile(bug), o.print),
    });
    const tick = (st: SessionStats): void => {
      stats.set(0, st);
      report();
    };
    const every = o.progressMs ?? 3000;
    await s.loadSeeds(undefined, tick, every);
    done = [await s.run(tick, every)];
    s.engine.close();
  } else {
    const timer = setInterval(report, o.progressMs ?? 3000);
    try {
      done = await Promise.all(Array.from({ length: o.workers }, (_, k) => runWorker(o, k, sessionOpts(o.seed + k * 7919, k), col, stats)));
    } finally {
      clearInterval(timer);
    }
  }
  return {
    seconds: (performance.now() - t0) / 1000, workers: shards, execs: done.reduce((a, d) => a + d.execs, 0),
    seedsRun: done.reduce((a, d) => a + d.seedsRun, 0), seedsTotal: done.reduce((a, d) => a + d.seedsTotal, 0),
    coreProbes: col.coreProbes.size, coreProbeTotal: Math.max(0, ...done.map((d) => d.coreProbeTotal)), hostFeatures: col.hostFeatures,
    corpus: col.corpus.size, findings: [...col.findings.values()],
  };
}

/** One progress line from the workers' latest figures. */
function progress(o: CampaignOptions, t0: number, all: readonly SessionStats[], col: Collector): void {
  if (all.length === 0) return;
  const s = (performance.now() - t0) / 1000;
  const execs = all.reduce((a, st) => a + st.execs, 0);
  const seedsRun = all.reduce((a, st) => a + st.seedsRun, 0);
  const seedsTotal = all.reduce((a, st) => a + st.seedsTotal, 0);
  const probeTotal = Math.max(...all.map((st) => st.coreProbeTotal));
  const seeds = seedsRun < seedsTotal ? `, seeds ${seedsRun}/${seedsTotal}` : '';
  o.print?.(`[${s.toFixed(0)}s] execs ${execs} (${(execs / s).toFixed(0)}/s) core ${col.coreProbes.size}/${probeTotal} probes, host ${col.hostFeatures} blocks, corpus ${col.corpus.size}, findings ${col.findings.size}${seeds}`);
}

/** Runs one worker thread to its end (or ends it when it hangs, or outlives the time limit). */
function runWorker(o: CampaignOptions, k: number, opts: SessionOptions, col: Collector, stats: Map<number, SessionStats>): Promise<SessionStats> {
  const heartbeat = newHeartbeat();
  const init: WorkerInit = { opts, heartbeat };
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
  const hangMs = o.hangMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let lastBeat = -1;
    let lastChange = performance.now();
    let final: SessionStats | undefined;
    let hung = false;
    const watchdog = setInterval(() => {
      const b = heartbeatCount(heartbeat);
      if (b !== lastBeat) {
        lastBeat = b;
        lastChange = performance.now();
      } else if (b > 0 && !hung && performance.now() - lastChange > hangMs) {
        hung = true; // ask once, then end it
        void askHungInput(worker).catch(() => undefined).then((input) => {
          saveHang(input, hangMs, col, o.print);
          return worker.terminate();
        });
      }
    }, 250);
    // The session stops itself at timeMs; one still busy (a long minimization) is ended shortly after.
    const stopTimer = o.timeMs !== undefined ? setTimeout(() => void worker.terminate(), o.timeMs + STOP_GRACE_MS) : undefined;
    worker.on('message', (m: { type: string } & Record<string, unknown>) => {
      if (m.type === 'stats' || m.type === 'done') {
        stats.set(k, m['stats'] as SessionStats);
        if (m.type === 'done') final = m['stats'] as SessionStats;
      } else if (m.type === 'input') {
        const replaced = m['replaced'] as string | undefined; // a shorter copy of an entry: nothing new for the other workers
        if (col.input(m['hash'] as string, m['text'] as string, m['fresh'] as number[], replaced) && !replaced) broadcast(k, m['text'] as string);
      } else if (m.type === 'finding') {
        col.finding(m['signature'] as string, m['kind'] as string, m['message'] as string, m['file'] as { name: string; text: string }, o.print);
      }
    });
    workers.set(k, worker);
    worker.on('error', (err) => o.print?.(`worker ${k}: ${err.message}`));
    worker.on('exit', () => {
      clearInterval(watchdog);
      if (stopTimer) clearTimeout(stopTimer);
      workers.delete(k);
      const last = final ?? stats.get(k) ?? (hung ? NO_STATS : undefined); // a worker ended for a hang before its first report counts nothing
      if (last) resolve(last);
      else reject(new Error(`worker ${k} ended before reporting`));
    });
  });
}

const workers = new Map<number, Worker>();

function broadcast(from: number, text: string): void {
  for (const [k, w] of workers) if (k !== from) w.postMessage({ type: 'import', text });
}

/** Saves the input a hung worker was running (askHungInput) as a `hang` finding. */
function saveHang(input: FuzzInput | undefined, hangMs: number, col: Collector, print?: (l: string) => void): void {
  const message = `an execution ran longer than ${hangMs} ms`;
  if (!input) {
    const why = `${message}; the worker did not say which input it was running`;
    col.finding('hang: unrecorded input', 'hang', why, { name: 'hang-unrecorded-input.txt', text: `${why}\n` }, print);
    return;
  }
  const name = `hang-${inputHash(input)}`;
  const text = scenarioText(input, name, `fuzz finding (hang): ${message}`, { finding: { kind: 'hang', step: -1, message } });
  col.finding(`hang: ${name}`, 'hang', message, { name: `${name}.scenario.json`, text }, print);
}
