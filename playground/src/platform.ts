/**
 * Loads the WASM core in the browser: fetches and compiles `viommu.wasm`
 * once, then makes a fresh `Core` (its own linear memory, so its own guest
 * RAM) for every machine with the public `loadCoreFromSync(module)`. The
 * same factory is registered as the default core source, so host code that
 * builds machines without a `core` option (the seed flows, the VMM's guest
 * machines, the physical host) gets its cores from the page too.
 */
import { loadCoreFromSync, type Core } from '../../host/src/browser.js';
import { setDefaultCoreSource } from '../../host/src/core/default-core.js';

let compiled: WebAssembly.Module | undefined;

/** Fetches and compiles the core once; `url` is relative to the page. */
export async function compileCore(url = 'viommu.wasm'): Promise<WebAssembly.Module> {
  if (!compiled) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`compileCore: ${url} answered HTTP ${res.status}`);
    compiled = await WebAssembly.compile(await res.arrayBuffer());
    setDefaultCoreSource(newCore);
  }
  return compiled;
}

/** A new core instance from the compiled module (call `compileCore` first). */
export function newCore(): Core {
  if (!compiled) throw new Error('newCore: compileCore() has not finished');
  return loadCoreFromSync(compiled);
}
