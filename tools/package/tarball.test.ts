/**
 * The package works from its tarball, as a user gets it: `npm pack`, then
 * `npm install <tarball>` into an empty project (dependencies from the npm
 * cache or registry), then the `viommu` bin, an import from Node ESM, the
 * exported types under `tsc`, and a browser bundle of `wasm-viommu/browser`
 * made by esbuild that loads the wasm through the package's exports.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const work = mkdtempSync(join(tmpdir(), 'viommu-tarball-'));
const app = join(work, 'app');
const pkg = join(app, 'node_modules', 'wasm-viommu');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
/** Runs the installed `viommu` bin. */
const viommu = (...args: string[]) => spawnSync(join(app, 'node_modules', '.bin', 'viommu'), args, { cwd: app, encoding: 'utf8', timeout: 120_000 });

beforeAll(() => {
  // The tree is built (npm ci / npm run build; the test set-up made the coverage build), so pack without scripts.
  const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT)) as { filename: string }[];
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  npm(['install', join(work, packed!.filename), '--prefer-offline', '--no-audit', '--no-fund'], app);
}, 300_000);

describe('the packed package, installed into an empty project', () => {
  it('holds the built core, JavaScript, types and LICENSE; no dev or optional plotting packages come with it', () => {
    for (const f of ['LICENSE', 'README.md', 'build/viommu.wasm', 'build/viommu.debug.wasm', 'build/viommu.coverage.wasm', 'dist/host/src/index.js', 'dist/host/src/index.d.ts', 'dist/host/src/browser.d.ts', 'bin/viommu.js']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    expect(readFileSync(join(pkg, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    for (const absent of ['vega', 'vega-lite', 'assemblyscript', 'typescript', 'vitest']) expect(existsSync(join(app, 'node_modules', absent)), absent).toBe(false);
    expect(existsSync(join(pkg, 'asm'))).toBe(false);
  });

  it('the viommu bin runs: --version, info --json, replay, fuzz --check on the shipped core', () => {
    expect(viommu('--version').stdout.trim()).toBe(version);
    const info = viommu('info', '--profile', 'qemu-7.2', '--json');
    expect(info.status).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ cap: '0x00d2008c22260206', ecap: '0x0000000000f00f4a' });
    const scenario = join(pkg, 'firmware-tests', 'golden', 'legacy-4k-roundtrip.scenario.json');
    const replay = viommu('replay', scenario);
    expect(replay.status).toBe(0);
    expect(JSON.parse(replay.stdout)).toEqual(JSON.parse(readFileSync(join(ROOT, 'firmware-tests/golden/legacy-4k-roundtrip.expected.json'), 'utf8')));
    const fuzz = viommu('fuzz', '--check', scenario);
    expect(fuzz.stdout).toContain(': ok');
    expect(fuzz.stderr).not.toMatch(/building/);
    // A campaign relaunches node with --single-threaded-gc (host/src/cli/v8-flags.ts): its output and status come through.
    const campaign = viommu('fuzz', '--runs', '5', '--workers', '1', '--time', '60', '--no-host-coverage', '--seeds', join(pkg, 'firmware-tests', 'golden'), '--json');
    expect(campaign.status).toBe(0);
    expect(JSON.parse(campaign.stdout)).toMatchObject({ workers: 1, findings: [] });
  });

  it('bench --svg without the optional vega packages stops before running and says what to install', () => {
    const r = viommu('bench', '--svg', join(app, 'plots.svg'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/optional packages vega and vega-lite \(npm install vega@6\.4 vega-lite@~6\.4\)/);
    expect(r.stdout).toBe('');
  });

  it('ships wasm-viommu/v86 and the Linux fixture; viommu linux without the optional v86 says what to install', () => {
    for (const f of ['dist/host/src/v86/index.js', 'dist/host/src/v86/index.d.ts', 'tools/linux-fixture/bzImage', 'tools/linux-fixture/initramfs.cpio.gz']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    writeFileSync(join(app, 'v86.js'), "import { attachIommu, V86_VTD_BASE } from 'wasm-viommu/v86'; console.log(typeof attachIommu, V86_VTD_BASE.toString(16));");
    const imported = spawnSync(process.execPath, ['v86.js'], { cwd: app, encoding: 'utf8' });
    expect(imported.stdout.trim()).toBe('function fed90000');
    const r = viommu('linux', '--mode', 'legacy');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/npm install v86@0\.5\.462/);
  });

  it('imports from Node ESM: a machine on the packaged core', () => {
    writeFileSync(join(app, 'main.js'), [
      "import { createMachine, VTD_BASE, wasmPath } from 'wasm-viommu';",
      "const m = await createMachine({ profile: 'qemu-10.0', device: 'intel-iommu,x-scalable-mode=on,x-flts=on', devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });",
      "console.log(m.mmioRead(VTD_BASE + 8n, 8).toString(16), wasmPath().includes('node_modules'));",
    ].join('\n'));
    const r = spawnSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1d2008c222f0606 true');
  });

  it('the Arm machine from the package: createArmMachine, an SMMUv3 recording replayed by the bin, info --smmu', () => {
    writeFileSync(join(app, 'arm.js'), [
      "import { createArmMachine, SMMU_BASE } from 'wasm-viommu';",
      "const m = await createArmMachine({ profile: 'qemu-10.0', devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });",
      "const iort = m.iortTable();",
      "console.log(m.mmioRead(SMMU_BASE, 4).toString(16), String.fromCharCode(...iort.subarray(0, 4)));",
    ].join('\n'));
    const r = spawnSync(process.execPath, ['arm.js'], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('d44101b IORT'); // QEMU 10.0's SMMU_IDR0
    const scenario = join(pkg, 'firmware-tests', 'golden', 'smmuv3', 'smmu-2level-100-1.scenario.json');
    const replay = viommu('replay', scenario);
    expect(replay.status).toBe(0);
    expect(JSON.parse(replay.stdout)).toEqual(JSON.parse(readFileSync(join(ROOT, 'firmware-tests/golden/smmuv3/smmu-2level-100-1.expected.json'), 'utf8')));
    const info = viommu('info', '--smmu', '--profile', 'qemu-10.0', '--json');
    expect(info.status).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ unit: 'smmuv3', idr: ['0x0d44101b', '0x02730010', '0x00000000', '0x00001414', '0x00000000', '0x00000074'] });
  });

  it('exports the types a user names (DmaAttrs, ConfigSpace, DeviceKind, ...) to tsc, for both entries', () => {
    const file = join(app, 'types.ts');
    writeFileSync(file, [
      "import type { DmaAttrs, ConfigSpace, DeviceKind, DmaPort, MachineConfig, IommuOptions, PageRequest, ArmMachineConfig, SmmuEvent } from 'wasm-viommu';",
      "import { createMachine, createArmMachine, type Machine, type ArmMachine } from 'wasm-viommu/browser';",
      "const attrs: DmaAttrs = { pasid: 1, priv: true };",
      "const kind: DeviceKind = 'ats';",
      "const config: MachineConfig = { profile: 'qemu-7.2', device: 'caching-mode=on', devices: [{ bdf: '00:03.0', kind }] };",
      "export function use(port: DmaPort, cfg: ConfigSpace, o: IommuOptions, r: PageRequest, m: Promise<Machine> = createMachine(config)): unknown { return [attrs, port, cfg, o, r, m]; }",
      "export function useArm(e: SmmuEvent, a: Promise<ArmMachine> = createArmMachine({ profile: 'default', devices: [{ bdf: '00:03.0', kind }] } satisfies ArmMachineConfig)): unknown { return [e, a]; }",
    ].join('\n'));
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022, types: [], lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    });
    expect(ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  });

  it('esbuild bundles wasm-viommu/browser for the browser and loads the wasm through the package exports', async () => {
    writeFileSync(join(app, 'web.js'), [
      "import { createMachine, loadCoreFrom, VTD_BASE } from 'wasm-viommu/browser';",
      "import wasm from 'wasm-viommu/viommu.wasm';",
      'const m = await createMachine({ core: await loadCoreFrom(wasm) });',
      'export const cap = m.mmioRead(VTD_BASE + 8n, 8);',
    ].join('\n'));
    const inline = await build({
      entryPoints: [join(app, 'web.js')], bundle: true, platform: 'browser', format: 'esm', target: 'es2022',
      loader: { '.wasm': 'binary' }, outfile: join(app, 'out', 'web.mjs'), absWorkingDir: app, logLevel: 'silent',
    });
    expect(inline.errors).toEqual([]);
    const code = readFileSync(join(app, 'out', 'web.mjs'), 'utf8');
    expect(code).not.toMatch(/from\s*["']node:|require\(["']node:/);
    const { cap } = (await import(pathToFileURL(join(app, 'out', 'web.mjs')).href)) as { cap: bigint };
    expect(cap).toBe(0xc1d2078c222f0606n); // the default profile's CAP (ESIRTPS since interrupt remapping)
    // As an asset: the bundler emits the wasm file and hands the page its URL.
    writeFileSync(join(app, 'asset.js'), "import url from 'wasm-viommu/viommu.wasm';\nexport default url;\n");
    await build({ entryPoints: [join(app, 'asset.js')], bundle: true, platform: 'browser', format: 'esm', loader: { '.wasm': 'file' }, outdir: join(app, 'asset'), absWorkingDir: app, logLevel: 'silent' });
    const emitted = readdirSync(join(app, 'asset')).filter((f) => f.endsWith('.wasm'));
    expect(emitted).toHaveLength(1);
    expect(readFileSync(join(app, 'asset', emitted[0]!))).toEqual(readFileSync(join(pkg, 'build', 'viommu.wasm')));
  });
});
