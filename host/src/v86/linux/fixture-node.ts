/**
 * Node: finds what a Linux boot needs. The kernel and initramfs come with the
 * package (tools/linux-fixture); SeaBIOS comes from Debian's `seabios` package
 * (/usr/share/seabios, or the directory in VIOMMU_SEABIOS_DIR), installed by
 * tools/linux-fixture/ensure-seabios.sh; v86 is the npm package `v86`
 * (a development dependency: `npm install v86@0.5.462` to use it elsewhere).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot, wasmPath } from '../../core/load-node.js';
import type { LinuxFixture, V86Class } from './boot.js';

/** Where SeaBIOS is looked for. */
export function seabiosDir(): string {
  return process.env.VIOMMU_SEABIOS_DIR ?? '/usr/share/seabios';
}

/** The directory of the committed kernel and initramfs. */
export function fixtureDir(): string {
  return join(packageRoot(), 'tools', 'linux-fixture');
}

/** Reads the fixture; throws an Error saying what to install when a file is missing. */
export async function loadLinuxFixture(): Promise<LinuxFixture> {
  const bios = join(seabiosDir(), 'bios.bin');
  const vga = join(seabiosDir(), 'vgabios-stdvga.bin');
  for (const f of [bios, vga]) {
    if (!existsSync(f)) throw new Error(`seabios: ${f} not found (apt-get install seabios, or run tools/linux-fixture/ensure-seabios.sh; VIOMMU_SEABIOS_DIR overrides the directory)`);
  }
  const v86Main = resolveV86();
  const read = async (f: string): Promise<ArrayBuffer> => {
    const b = await readFile(f);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
  };
  return {
    bios: await read(bios), vgaBios: await read(vga),
    bzImage: await read(join(fixtureDir(), 'bzImage')), initramfs: await read(join(fixtureDir(), 'initramfs.cpio.gz')),
    v86WasmPath: join(dirname(v86Main), 'v86.wasm'),
  };
}

/** v86's `V86` class (dynamic import: v86 is optional for the package). */
export async function loadV86(): Promise<V86Class> {
  const mod = (await import(pathToFileURL(resolveV86()).href)) as { V86: V86Class };
  return mod.V86;
}

/** The core's compiled module (build/viommu.wasm). */
export async function loadCoreModule(): Promise<WebAssembly.Module> {
  return WebAssembly.compile(await readFile(wasmPath()));
}

function resolveV86(): string {
  try {
    return createRequire(join(packageRoot(), 'package.json')).resolve('v86');
  } catch {
    throw new Error('v86: the npm package v86 is not installed (npm install v86@0.5.462)');
  }
}
