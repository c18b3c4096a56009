// Build checks: the release build compiles (asc release target + tsc, what
// `npm run build` runs), the hot path allocates nothing (no runtime or heap
// allocator reachable from translate/translateBatch/dmaCopy in the .wat), the
// batch hit loop calls nothing, and no export takes or returns i64 (which
// would cross as BigInt).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../host/src/core/load-node.js';

const root = packageRoot();

/** Builds the debug .wat into a temp dir; returns its text. */
function buildWat(): string {
  const dir = mkdtempSync(join(tmpdir(), 'viommu-wat-'));
  try {
    const wat = join(dir, 'core.wat');
    execFileSync('npx', ['asc', 'asm/assembly/index.ts', '--target', 'debug', '--outFile', join(dir, 'core.wasm'), '--textFile', wat], { cwd: root, stdio: 'pipe' });
    return readFileSync(wat, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Function name -> names it calls, from a .wat. */
function callGraph(wat: string): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  let current = '';
  for (const line of wat.split('\n')) {
    const fn = /^ \(func (\$\S+)/.exec(line);
    if (fn) { current = fn[1]!; graph.set(current, new Set()); continue; }
    const call = /\bcall (\$[^\s)]+)/.exec(line);
    if (call && current) graph.get(current)!.add(call[1]!);
  }
  return graph;
}

function reachable(graph: Map<string, Set<string>>, start: string): Set<string> {
  const seen = new Set<string>([start]);
  const todo = [start];
  while (todo.length) for (const c of graph.get(todo.pop()!) ?? []) if (!seen.has(c)) { seen.add(c); todo.push(c); }
  return seen;
}

describe('core build', () => {
  const wat = buildWat();
  const graph = callGraph(wat);

  it('the hot path reaches no allocator', () => {
    for (const entry of ['translate', 'translateBatch', 'dmaCopy']) {
      const fns = [...reachable(graph, `$asm/assembly/index/${entry}`)];
      expect(fns.length, entry).toBeGreaterThan(5);
      expect(fns.filter((f) => /__new|__alloc|~lib\/rt|heapAlloc|memory\.grow/.test(f)), entry).toEqual([]);
      expect(fns.some((f) => f.includes('walk/ssWalk')), entry).toBe(true);
    }
    // the batch loop's hit runs make no call at all (wasm keeps no register
    // across a call: one in the loop would spill its values every request)
    expect(graph.get('$asm/assembly/batch/hitRun')).toEqual(new Set());
    expect([...reachable(graph, '$asm/assembly/index/translateBatch')]).toContain('$asm/assembly/batch/hitRun');
    // the check can see an allocator: bufAlloc reaches one
    expect([...reachable(graph, '$asm/assembly/index/bufAlloc')].some((f) => f.includes('heapAlloc'))).toBe(true);
  });

  it('no export takes or returns i64', () => {
    const exported = [...wat.matchAll(/\(export "(\w+)" \(func (\$\S+)\)\)/g)];
    expect(exported.length).toBeGreaterThan(25);
    for (const [, name, fn] of exported) {
      const header = new RegExp(`^ \\(func ${fn!.replace(/[$/~]/g, (c) => `\\${c}`)} (.*)$`, 'm').exec(wat)?.[1] ?? '';
      expect(header, name).not.toMatch(/i64/);
    }
  });

  it('the release build passes and every TypeScript file, tests included, type-checks (tsconfig.tests.json)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'viommu-rel-'));
    try {
      execFileSync('npx', ['asc', 'asm/assembly/index.ts', '--target', 'release', '--outFile', join(dir, 'r.wasm')], { cwd: root, stdio: 'pipe' });
      expect(readFileSync(join(dir, 'r.wasm')).length).toBeGreaterThan(4096);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // A superset of tsconfig.json (what npm run build checks): vitest strips
    // types without checking them, so the tests are checked here.
    execFileSync('npx', ['tsc', '-p', 'tsconfig.tests.json'], { cwd: root, stdio: 'pipe' });
  }, 180_000);
});
