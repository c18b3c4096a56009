/**
 * Stand-in for the `node:*` modules that host/src/core/core.ts imports for
 * its file-system loader. The page never calls that loader (it builds the
 * core from fetched WASM bytes, see platform.ts); if something does, the
 * error says so instead of failing obscurely.
 */
function unavailable(name: string): never {
  throw new Error(`${name}: not available in the browser; the page loads the core from viommu.wasm`);
}

export const readFileSync = (): never => unavailable('readFileSync');
export const existsSync = (): boolean => false;
export const dirname = (p: string): string => p.replace(/\/[^/]*$/, '') || '/';
export const join = (...parts: string[]): string => parts.join('/');
export const fileURLToPath = (u: string | URL): string => String(u);
