/**
 * The core `createMachine` uses when its config passes none. Platform-neutral
 * on purpose: machine.ts must not import the Node file-system loader
 * statically, or no browser bundle could include the machine. On Node the
 * loader (load-node.ts) is imported on first use through a specifier that
 * bundlers do not follow; everywhere else the caller has to pass `core`.
 */
import type { Core } from './core.js';

/** The Node loader, relative to this module (the same in host/src and dist/). */
const NODE_LOADER = './load-node.js';

/** Where cores come from when the caller registered a source (setDefaultCoreSource). */
let source: (() => Core | Promise<Core>) | undefined;

/**
 * Makes `loadDefaultCore` return `make()` instead of loading the packaged
 * file: how code that builds machines or hosts without a `core` option (the
 * seed flows, the VMM's guest machines) runs in a browser, e.g.
 * `setDefaultCoreSource(() => loadCoreFromSync(compiledModule))`. Each call
 * of `make` must return a fresh core (each has its own RAM). `undefined`
 * restores the default.
 */
export function setDefaultCoreSource(make: (() => Core | Promise<Core>) | undefined): void {
  if (make !== undefined && typeof make !== 'function') throw new Error('make: not a function');
  source = make;
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof proc?.versions?.node === 'string';
}

/**
 * The registered source's core (setDefaultCoreSource), else the release
 * build of the packaged core on Node; elsewhere throws an `Error` naming
 * `core`, the option the caller should have passed.
 */
export async function loadDefaultCore(): Promise<Core> {
  if (source) return source();
  if (!isNode()) {
    throw new Error('core: no core given; outside Node pass one, e.g. { core: await loadCoreFrom(fetch("viommu.wasm")) }');
  }
  let loader: typeof import('./load-node.js');
  try {
    loader = (await import(/* @vite-ignore */ NODE_LOADER)) as typeof import('./load-node.js');
  } catch (err) {
    // E.g. a bundle run on Node: the loader is not next to it. Say which option fixes it.
    throw new Error(`core: no core given and the Node loader ${NODE_LOADER} is not available (${err instanceof Error ? err.message : String(err)}); pass { core: loadCoreSync() } or { core: await loadCoreFrom(bytes) }`);
  }
  return loader.loadCore();
}
