/**
 * Node-only loader of the packaged core: reads build/viommu.wasm (or the
 * debug build) from the package root. Everything platform-neutral is in
 * core.ts (`Core`, `loadCoreFrom`); browsers and Workers never import this
 * module (the browser entry, host/src/browser.ts, leaves it out).
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Core } from './core.js';
import { loadCoreFrom, loadCoreFromSync, type CoreMemoryOptions } from './load.js';

/** Options of loadCore / loadCoreSync: which build, and where it runs (standalone by default; `memory` etc. as for loadCoreFrom). */
export interface LoadOptions extends CoreMemoryOptions {
  /** Load build/viommu.debug.wasm (assertions, names) instead of the release build. */
  debug?: boolean;
  /** Reserved for a coverage build (same file as debug for now). */
  coverage?: boolean;
}

/** The package root: the nearest directory above this module holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`package.json not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The path of the wasm build loadCore reads. */
export function wasmPath(opts: LoadOptions = {}): string {
  return join(packageRoot(), 'build', opts.debug || opts.coverage ? 'viommu.debug.wasm' : 'viommu.wasm');
}

/** Instantiates the core asynchronously (Node: reads build/viommu.wasm). */
export async function loadCore(opts: LoadOptions = {}): Promise<Core> {
  const { debug: _d, coverage: _c, ...where } = opts;
  return loadCoreFrom(await readFile(wasmPath(opts)), where);
}

/** Instantiates the core synchronously (Node: reads build/viommu.wasm). */
export function loadCoreSync(opts: LoadOptions = {}): Core {
  const { debug: _d, coverage: _c, ...where } = opts;
  return loadCoreFromSync(readFileSync(wasmPath(opts)), where);
}
