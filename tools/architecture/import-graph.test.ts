/**
 * The layering of the production sources, read from their imports
 * (import-graph.ts): production (host/src and what it loads) never imports
 * the test tree (firmware-tests/); the library entries (index.ts,
 * browser.ts) reach neither the command line (host/src/cli) nor what only it
 * may load (bench/, fuzz/); each layer of docs/ARCHITECTURE.md imports only
 * its own layer and those below it; and no modules import each other in a
 * circle at run time (imports TypeScript drops, used only as types, excepted).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cycles, importGraph, reachable, sourcesUnder, type EdgeKind } from './import-graph.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRIES = ['host/src/index.ts', 'host/src/browser.ts'];
const atRunTime = (k: EdgeKind): boolean => k !== 'type';
const any = (): boolean => true;

/**
 * The layers of docs/ARCHITECTURE.md, top first (a module's layer is the row
 * whose pattern matches its path). The command line and what it loads sit on
 * top with the entries (the entries' own limits are checked apart), as does
 * the v86 integration (the package entry `wasm-viommu/v86`);
 * `asm/tests/reference/` is the fuzzer's oracle, shipped with it.
 */
const LAYERS: readonly (readonly [string, RegExp])[] = [
  ['entries and command line', /^(host\/src\/(index|browser)\.ts|host\/src\/(cli|v86)\/|bench\/|fuzz\/|asm\/tests\/reference\/)/],
  ['flows', /^host\/src\/flows\//],
  ['guest', /^host\/src\/guest\//],
  ['model', /^host\/src\/((arm-|pci-)?machine(-check)?\.ts|vmm\/|hostiommu\/|devices\/|pci\/|acpi\/|(vtd|smmu)\/(?!spec\/)|snapshot\/|scenario\/)/],
  ['core glue', /^host\/src\/core\//],
  ['tables', /^host\/src\/tables\//],
  ['spec', /^host\/src\/(vtd|smmu)\/spec\//],
  ['leaves', /^host\/src\/(types|min-heap)\.ts$/],
];
/** Index in LAYERS of the layer of `m` (0 = top), -1 when no layer holds it. */
const rankOf = (m: string): number => LAYERS.findIndex(([, re]) => re.test(m));
const named = (m: string): string => `${m} (${LAYERS[rankOf(m)]?.[0]})`;

describe('import graph of the production sources', () => {
  const graph = importGraph(ROOT, sourcesUnder(ROOT, 'host/src'));

  it('reads the whole of host/src and what it loads (bench/ and fuzz/ through the CLI)', () => {
    const modules = [...graph.keys()];
    expect(modules.filter((m) => m.startsWith('host/src/')).length).toBeGreaterThan(100);
    expect(modules.some((m) => m.startsWith('bench/'))).toBe(true);
    expect(modules.some((m) => m.startsWith('fuzz/'))).toBe(true);
  });

  it('no production module imports firmware-tests/', () => {
    const offenders = [...graph.keys()].filter((m) => m.startsWith('firmware-tests/'));
    const paths = ENTRIES.concat(sourcesUnder(ROOT, 'host/src')).flatMap((start) => {
      const r = reachable(graph, start, any);
      return offenders.filter((o) => r.has(o)).map((o) => r.get(o)!.join(' -> '));
    });
    expect(paths.slice(0, 5)).toEqual([]);
  });

  it.each(ENTRIES)('the library entry %s reaches neither host/src/cli, flows/, guest/ nor bench/ nor fuzz/', (entry) => {
    const r = reachable(graph, entry, any);
    const bad = [...r.entries()].filter(([m]) => /^(host\/src\/(cli|flows|guest)\/|bench\/|fuzz\/)/.test(m)).map(([, path]) => path.join(' -> '));
    expect(bad).toEqual([]);
    expect(r.size).toBeGreaterThan(50);
  });

  it('every module belongs to a layer and imports only its own layer and those below', () => {
    expect([...graph.keys()].filter((m) => rankOf(m) < 0)).toEqual([]);
    const upward = [...graph].flatMap(([from, edges]) =>
      edges.filter((e) => rankOf(e.to) < rankOf(from)).map((e) => `${named(from)} -> ${named(e.to)}`));
    expect(upward).toEqual([]);
  });

  it('no circle of imports at run time', () => {
    expect(cycles(graph, atRunTime)).toEqual([]);
  });
});

describe('import-graph.ts reads imports as TypeScript compiles them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'viommu-imports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'a.ts': "import { B } from './b.js';\nimport type { C } from './c.js';\nexport const a = (c: C) => new B(c);\n",
    'b.ts': "import { A_TYPE_ONLY } from './a-types.js';\nimport { a } from './a.js';\nexport class B { constructor(x: A_TYPE_ONLY) { void a; void x; } }\n",
    'a-types.ts': 'export interface A_TYPE_ONLY { readonly n: number }\n',
    'c.ts': "import { type B } from './b.js';\nexport type C = B;\nexport { a } from './a.js';\n",
    'd.ts': "export async function later() { return import('./a.js'); }\n",
  };
  mkdirSync(join(dir, 'src'));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, 'src', f), text);
  const g = importGraph(dir, sourcesUnder(dir, 'src'));
  const kinds = (f: string) => Object.fromEntries((g.get(`src/${f}`) ?? []).map((e) => [e.to.slice(4), e.kind]));

  it('tells runtime, type-only and dynamic imports apart', () => {
    expect(kinds('a.ts')).toEqual({ 'b.ts': 'runtime', 'c.ts': 'type' });
    expect(kinds('b.ts')).toEqual({ 'a-types.ts': 'type', 'a.ts': 'runtime' });
    expect(kinds('c.ts')).toEqual({ 'b.ts': 'type', 'a.ts': 'runtime' });
    expect(kinds('d.ts')).toEqual({ 'a.ts': 'dynamic' });
  });

  it('finds the runtime circle a <-> b and not the type-only one through c', () => {
    expect(cycles(g, atRunTime)).toEqual([['src/a.ts', 'src/b.ts']]);
    expect(cycles(g, any)).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts']]);
    expect(reachable(g, 'src/d.ts', any).get('src/c.ts')).toEqual(['src/d.ts', 'src/a.ts', 'src/c.ts']);
  });
});
