/**
 * Loads the WASM core in the browser: fetches and compiles `viommu.wasm`
 * once, then makes a fresh `Core` (its own linear memory, so its own guest
 * RAM) for every machine with the public `loadCoreFromSync(module)`.
 */
import { loadCoreFromSync, type Core } from '../../host/src/browser.js';

let compiled: WebAssembly.Module | undefined;

/** Fetches and compiles the core once; `url` is relative to the page. */
export async function compileCore(url = 'viommu.wasm'): Promise<WebAssembly.Module> {
  if (!compiled) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`compileCore: ${url} answered HTTP ${res.status}`);
    compiled = await WebAssembly.compile(await res.arrayBuffer());
  }
  return compiled;
}

/** A new core instance from the compiled module (call `compileCore` first). */
export function newCore(): Core {
  if (!compiled) throw new Error('newCore: compileCore() has not finished');
  return loadCoreFromSync(compiled);
}
