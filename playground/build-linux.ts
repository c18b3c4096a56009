/**
 * Builds the playground's Linux page (linux.html, src/linux/main.ts) into
 * `outDir`: the bundled page script, v86 (npm `v86`: libv86.mjs, v86.wasm),
 * SeaBIOS (Debian `seabios`, /usr/share/seabios or VIOMMU_SEABIOS_DIR) and
 * the Linux fixture (tools/linux-fixture) under `outDir/linux/`. Files that
 * are missing (no seabios installed) are left out with a warning: the page
 * then says which one it could not fetch.
 */
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writePage } from './pages.js';

/** Builds the Linux page next to the playground in `outDir`. */
export async function buildLinuxPage(root: string, outDir: string, minify: boolean): Promise<void> {
  const here = join(root, 'playground');
  await build({
    entryPoints: [join(here, 'src', 'linux', 'main.ts')],
    outfile: join(outDir, 'linux.js'),
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', sourcemap: true, minify, logLevel: 'warning',
  });
  await writePage(here, 'linux.html', outDir);
  const files = join(outDir, 'linux');
  await mkdir(files, { recursive: true });
  const v86 = dirname(createRequire(join(root, 'package.json')).resolve('v86'));
  const seabios = process.env['VIOMMU_SEABIOS_DIR'] ?? '/usr/share/seabios';
  const fixture = join(root, 'tools', 'linux-fixture');
  const sources = [
    join(v86, 'libv86.mjs'), join(v86, 'v86.wasm'), join(seabios, 'bios.bin'), join(seabios, 'vgabios-stdvga.bin'),
    join(fixture, 'bzImage'), join(fixture, 'initramfs.cpio.gz'),
  ];
  for (const src of sources) {
    // libv86.mjs keeps a .js name: static servers send .js as JavaScript, not always .mjs.
    const name = src.endsWith('libv86.mjs') ? 'libv86-module.js' : src.slice(src.lastIndexOf('/') + 1);
    if (existsSync(src)) await copyFile(src, join(files, name));
    else console.warn(`playground: ${src} is missing; the Linux page cannot boot without it`);
  }
}
