/**
 * Locating the package root from compiled (dist/bench/...) or source
 * (bench/..., under vitest) modules, so the bench finds bench/native/*.c and
 * build/viommu.wasm either way.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory holding the wasm-viommu package.json above `fromUrl` (default: this module). */
export function packageRoot(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'wasm-viommu') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`package root of wasm-viommu not found above ${fromUrl}`);
    dir = up;
  }
}
