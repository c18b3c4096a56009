/**
 * Builds the playground as static files in `playground/dist/`: the page
 * (index.html with its shared panels filled in: pages.ts; style.css,
 * favicon.svg), the bundled page script (esbuild, browser ESM),
 * the release WASM core (`build/viommu.wasm`) and the shared scenarios with
 * their expected outputs plus a `scenarios/index.json` manifest. The result
 * can be served by `serve.ts` or published as-is on any static host.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLinuxPage } from './build-linux.js';
import { writePage } from './pages.js';

/** One scenario the page offers: file names relative to `dist/scenarios/`. */
export interface ScenarioEntry {
  readonly name: string;
  readonly scenario: string;
  /** The recorded expected output, when one exists. */
  readonly expected?: string;
}

/** The repository root: the nearest parent folder of this file with a package.json. */
export function repoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`repoRoot: no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

/** Folders whose `*.scenario.json` files the page lists (relative to the root). */
const SCENARIO_DIRS = ['firmware-tests/golden', 'firmware-tests/golden/recorded', 'firmware-tests/golden/smmuv3'];

async function copyScenarios(root: string, outDir: string): Promise<ScenarioEntry[]> {
  const dest = join(outDir, 'scenarios');
  await mkdir(dest, { recursive: true });
  const entries: ScenarioEntry[] = [];
  for (const dir of SCENARIO_DIRS) {
    const src = join(root, dir);
    if (!existsSync(src)) continue;
    const files = (await readdir(src)).filter((f) => f.endsWith('.scenario.json')).sort();
    for (const f of files) {
      const name = f.slice(0, -'.scenario.json'.length);
      await copyFile(join(src, f), join(dest, f));
      const exp = `${name}.expected.json`;
      const hasExpected = existsSync(join(src, exp));
      if (hasExpected) await copyFile(join(src, exp), join(dest, exp));
      entries.push({ name, scenario: f, ...(hasExpected ? { expected: exp } : {}) });
    }
  }
  await writeFile(join(dest, 'index.json'), JSON.stringify(entries, null, 1));
  return entries;
}

/** Result of a build: where it went and what it holds. */
export interface BuildResult {
  readonly outDir: string;
  readonly scenarios: readonly ScenarioEntry[];
}

/**
 * Builds the site into `outDir` (default `playground/dist`). Throws when the
 * WASM core has not been built (`npm run asbuild`).
 */
export async function buildPlayground(opts: { outDir?: string; minify?: boolean } = {}): Promise<BuildResult> {
  const root = repoRoot();
  const here = join(root, 'playground');
  const outDir = opts.outDir ?? join(here, 'dist');
  const wasm = join(root, 'build', 'viommu.wasm');
  if (!existsSync(wasm)) throw new Error(`buildPlayground: ${wasm} is missing; run "npm run asbuild" first`);
  await rm(join(outDir, 'scenarios'), { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify: opts.minify ?? false,
    logLevel: 'warning',
  });
  await writePage(here, 'index.html', outDir);
  await copyFile(join(here, 'style.css'), join(outDir, 'style.css'));
  await copyFile(join(here, 'favicon.svg'), join(outDir, 'favicon.svg'));
  await copyFile(wasm, join(outDir, 'viommu.wasm'));
  const scenarios = await copyScenarios(root, outDir);
  await buildLinuxPage(root, outDir, opts.minify ?? false);
  return { outDir, scenarios };
}

