/**
 * The platform-neutral entry (host/src/browser.ts) bundles for the browser
 * with no plugins, stubs or injected shims, and the bundle runs: a core from
 * wasm bytes, a machine on it, a whole scenario replayed through it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { wasmPath } from '../src/core/load-node.js';

const ENTRY = new URL('../src/browser.ts', import.meta.url).pathname;
const GOLDEN = new URL('../../firmware-tests/golden/', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'viommu-browser-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function bundle(): Promise<string> {
  const r = await build({
    entryPoints: [ENTRY], bundle: true, platform: 'browser', format: 'esm', target: 'es2022',
    write: false, logLevel: 'silent',
  });
  expect(r.errors).toEqual([]);
  return r.outputFiles[0]!.text;
}

describe('browser entry', () => {
  it('bundles for the browser without Node modules or Buffer', async () => {
    const code = await bundle();
    expect(code).not.toMatch(/from\s*["']node:|require\(|\bBuffer\./);
    expect(code).toContain('loadCoreFrom');
  });

  it.skipIf(!existsSync(wasmPath()))('the bundle replays a scenario on a core made from bytes', async () => {
    const file = join(dir, 'viommu-browser.mjs');
    writeFileSync(file, await bundle());
    const api = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as typeof import('../src/browser.js');
    const module = new WebAssembly.Module(readFileSync(wasmPath()));
    const doc = JSON.parse(readFileSync(new URL('legacy-4k-roundtrip.scenario.json', GOLDEN), 'utf8')) as unknown;
    const expected = JSON.parse(readFileSync(new URL('legacy-4k-roundtrip.expected.json', GOLDEN), 'utf8')) as unknown;
    expect(await api.replayScenario(doc, { core: api.loadCoreFromSync(module) })).toEqual(expected);
    const core = await api.loadCoreFrom(readFileSync(wasmPath()));
    const m = await api.createMachine({ core, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
    expect(m.core).toBe(core);
    expect(api.ACC_READ).toBe(1);
    // Without a core, the bundle (no Node loader next to it) says which option to pass.
    await expect(api.createMachine({})).rejects.toThrow(/^core: /);
  });

  it('loadCoreFrom names its argument for nonsense', async () => {
    const { loadCoreFrom, loadCoreFromSync } = await import('../src/browser.js');
    await expect(loadCoreFrom(new URL('file:///nowhere/viommu.wasm'))).rejects.toThrow(/^source: .*file URL/);
    await expect(loadCoreFrom(Promise.resolve({} as Response))).rejects.toThrow(/^source: /);
    expect(() => loadCoreFromSync({} as WebAssembly.Module)).toThrow(/^source: /);
  });
});
