/**
 * Builds the native C baselines with the system C compiler (`$CC` or `cc`,
 * `-O2`) at bench time — `native` (lean.c, the reference every ratio
 * divides by) and `native-plain` (translate.c, the earlier plainer
 * baseline, reported beside it) — and drives each as a child process over
 * the line protocol documented in bench/native/main.c. Image and request
 * lists travel as files in a temporary directory; timings come back from
 * the child.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../../host/src/core/load-node.js';
import type { InvKind, LoadSpec, RunMode, RunResult, Target } from '../harness/target.js';

/** The two native baselines: `lean` (lean.c) and `plain` (translate.c). */
export type NativeVariant = 'lean' | 'plain';

/** Outcome of trying to build the baselines: the binary of each variant. */
export type NativeBuild = { ok: true; binaries: Record<NativeVariant, string>; dir: string; compiler: string } | { ok: false; reason: string };

/** Compiles bench/native/main.c twice (with lean.c and with translate.c) into a temp dir. */
export function buildNative(compiler = process.env['CC'] ?? 'cc'): NativeBuild {
  const probe = spawnSync(compiler, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { ok: false, reason: `no C compiler (${compiler}): ${probe.error?.message ?? probe.stderr}` };
  const dir = mkdtempSync(join(tmpdir(), 'viommu-bench-'));
  const src = join(packageRoot(), 'bench', 'native', 'main.c');
  const binaries = { lean: join(dir, 'viommu-native'), plain: join(dir, 'viommu-native-plain') };
  for (const [variant, binary] of Object.entries(binaries)) {
    const cc = spawnSync(compiler, ['-O2', '-std=c11', ...(variant === 'lean' ? ['-DVIOMMU_LEAN'] : []), '-o', binary, src], { encoding: 'utf8' });
    if (cc.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      return { ok: false, reason: `${compiler} -O2 failed: ${cc.stderr || cc.error?.message}` };
    }
  }
  return { ok: true, binaries, dir, compiler: probe.stdout.split('\n')[0] ?? compiler };
}

type Reply = Record<string, unknown> & { ok: boolean; error?: string };

/** A native baseline as a bench target: `native` (lean) or `native-plain`. */
export class NativeTarget implements Target {
  readonly name: string;
  readonly modes: readonly RunMode[] = ['percall', 'batch', 'copy'];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<(line: string) => void> = [];
  private fileCounter = 0;

  constructor(private readonly build: Extract<NativeBuild, { ok: true }>, private readonly variant: NativeVariant = 'lean') {
    this.name = variant === 'lean' ? 'native' : 'native-plain';
    this.child = spawn(build.binaries[variant], [], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    this.child.on('exit', () => { for (const w of this.waiting.splice(0)) w('{"ok":false,"error":"native baseline exited"}'); });
  }

  private async command(line: string): Promise<Reply> {
    const reply = new Promise<string>((resolve) => this.waiting.push(resolve));
    this.child.stdin.write(`${line}\n`);
    const parsed = JSON.parse(await reply) as Reply;
    if (!parsed.ok) throw new Error(`native baseline: ${parsed.error ?? 'failed'} (command: ${line.split(' ')[0]})`);
    return parsed;
  }

  private writeTemp(bytes: Uint8Array): string {
    const path = join(this.build.dir, `blob-${this.variant}-${this.fileCounter++}.bin`);
    writeFileSync(path, bytes);
    return path;
  }

  async load(spec: LoadSpec): Promise<void> {
    const g = spec.geometry;
    await this.command(`init ${this.writeTemp(spec.image)} ${spec.ramSize} ${g.iotlbSetsLg2} ${g.iotlbWays}`);
    await this.command(`root ${spec.rootTable}`);
  }

  async setRequests(slot: number, requests: Uint32Array): Promise<void> {
    await this.command(`reqs ${slot} ${this.writeTemp(new Uint8Array(requests.buffer, requests.byteOffset, requests.byteLength))}`);
  }

  async run(slot: number, mode: RunMode, passes: number): Promise<RunResult> {
    const r = await this.command(`run ${slot} ${mode} ${passes}`);
    return { ns: r['ns'] as number, n: r['n'] as number, okCount: r['okCount'] as number, iotlbHits: r['iotlbHits'] as number, iotlbMisses: r['iotlbMisses'] as number, pteReads: r['pteReads'] as number };
  }

  async invCost(kind: InvKind, slot: number, fill: number, reps: number, did: number, pasid: number, addr: number): Promise<number> {
    return (await this.command(`inv ${kind} ${slot} ${fill} ${reps} ${did} ${pasid} ${addr}`))['medianNs'] as number;
  }

  async reset(): Promise<void> {
    await this.command('reset');
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end('quit\n');
    await exited;
    rmSync(this.build.dir, { recursive: true, force: true });
  }
}
