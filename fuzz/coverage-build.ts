/**
 * The coverage build of the core (`build/viommu.coverage.wasm`, probes placed
 * by fuzz/coverage-transform.js) is made on demand, not at install: only the
 * fuzzer needs it. In a clone it is rebuilt whenever it is missing or older
 * than its sources (asm/assembly, the transform, its asconfig), so the
 * fuzzer never runs a stale core; an installed package has no sources and
 * ships the file built by `npm pack` (the `prepack` script).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageRoot } from '../host/src/core/load-node.js';

/** Where the coverage build lives (package root relative). */
export const COVERAGE_WASM = 'build/viommu.coverage.wasm';

/** What `ensureCoverageBuild` found or did. */
export interface CoverageBuild {
  /** The coverage build's path, or undefined when there is none (then the fuzzer uses the release build). */
  readonly path?: string;
  /** True when this call compiled it. */
  readonly built: boolean;
  /** Why there is no (fresh) coverage build, when there is not. */
  readonly note?: string;
}

/** Newest modification time (ms) of the files below `dir` (recursive), 0 for a missing directory. */
function newestMtime(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    newest = Math.max(newest, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return newest;
}

/** The AssemblyScript compiler's CLI script, when the package is installed (a clone's devDependency). */
function ascScript(root: string): string | undefined {
  try {
    return join(dirname(createRequire(join(root, 'package.json')).resolve('assemblyscript/package.json')), 'bin', 'asc.js');
  } catch {
    return undefined;
  }
}

/** Compiles the coverage build into a temporary file and moves it into place; returns an error text or undefined. */
function compile(root: string, asc: string): string | undefined {
  const tmp = `build/viommu.coverage.tmp-${process.pid}.wasm`;
  const r = spawnSync(process.execPath, [
    asc, 'asm/assembly/index.ts', '--config', 'fuzz/asconfig.coverage.json', '--target', 'coverage',
    '--transform', './fuzz/coverage-transform.js', '--outFile', tmp,
  ], { cwd: root, encoding: 'utf8' });
  // asc also writes raw bindings beside its output; only the wasm is used.
  for (const ext of ['.js', '.d.ts']) rmSync(join(root, tmp.replace(/\.wasm$/, ext)), { force: true });
  if (r.status !== 0) {
    rmSync(join(root, tmp), { force: true });
    return `asc failed: ${(r.stderr || r.error?.message || '').trim().slice(0, 2000)}`;
  }
  renameSync(join(root, tmp), join(root, COVERAGE_WASM));
  return undefined;
}

/**
 * Makes sure the coverage build is present and not older than its sources,
 * compiling it (about 20 s) when needed and possible. `log` hears about a
 * build before it starts.
 */
export function ensureCoverageBuild(log: (line: string) => void = () => {}): CoverageBuild {
  const root = packageRoot();
  const wasm = join(root, COVERAGE_WASM);
  const have = existsSync(wasm);
  const sources = Math.max(
    newestMtime(join(root, 'asm', 'assembly')),
    ...['fuzz/coverage-transform.js', 'fuzz/asconfig.coverage.json'].map((f) => (existsSync(join(root, f)) ? statSync(join(root, f)).mtimeMs : 0)),
  );
  if (sources === 0) return have ? { path: wasm, built: false } : { built: false, note: `${COVERAGE_WASM} is missing and the core's sources are not here` };
  if (have && statSync(wasm).mtimeMs >= sources) return { path: wasm, built: false };
  const asc = ascScript(root);
  if (!asc) {
    const note = `${COVERAGE_WASM} is ${have ? 'older than asm/assembly' : 'missing'} and the AssemblyScript compiler is not installed (npm install)`;
    return have ? { path: wasm, built: false, note } : { built: false, note };
  }
  log(`building ${COVERAGE_WASM} (coverage probes for the fuzzer) ...`);
  const err = compile(root, asc);
  if (err) return have ? { path: wasm, built: false, note: err } : { built: false, note: err };
  return { path: wasm, built: true };
}
