// One walker (issue 23): the core walks page tables in exactly one level
// loop, `walk<F>` in asm/assembly/pt/walk.ts, and every table format (VT-d
// second and first stage, AArch64 stage 1 and stage 2) is a plug-in of it —
// a class whose methods are exactly the questions the loop asks, used only
// as `walk<Format>`. Read from the sources (comments and strings removed).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ASM = fileURLToPath(new URL('../assembly/', import.meta.url));
const PT = join(ASM, 'pt');

/** The source of `path` without comments and string literals (so that prose never counts as code). */
function code(path: string): string {
  return readFileSync(path, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''");
}

/** Every .ts file under `dir`, as [path relative to asm/assembly, code]. */
function sources(dir: string): [string, string][] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .map((p) => [p.slice(ASM.length), code(p)]);
}

/** The text of the braced block that starts at the first `{` at or after `from`. */
function block(src: string, from: number): string {
  const open = src.indexOf('{', from);
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) return src.slice(open, i + 1);
  }
  throw new Error('unbalanced braces');
}

const LOOP = /\b(while|for)\s*\(|\bdo\s*\{/g;

describe('the one walker', () => {
  const all = sources(ASM);
  const pt = all.filter(([p]) => p.startsWith('pt/'));
  const walkSrc = pt.find(([p]) => p === 'pt/walk.ts')![1];
  const walkAt = walkSrc.search(/export function walk<F>\(/);
  const walkBody = block(walkSrc, walkAt);

  it('pt/walk.ts has the generic loop, and reading its files finds the formats', () => {
    expect(walkAt).toBeGreaterThan(0);
    expect(pt.map(([p]) => p)).toEqual(expect.arrayContaining(['pt/walk.ts', 'pt/vtd-walk.ts', 'pt/arm-walk.ts']));
  });

  it('table entries are read in one place in the core: the level loop of walk<F>', () => {
    const calls = all.flatMap(([p, src]) => [...src.matchAll(/\breadEntry\(/g)].map((m) => ({ p, at: m.index })))
      .filter(({ p, at }) => !(p === 'pt/walk.ts' && /function\s+$/.test(walkSrc.slice(0, at))));
    expect(calls.map(({ p }) => p)).toEqual(['pt/walk.ts']);
    const loop = block(walkBody, walkBody.indexOf('while (true)'));
    expect(loop).toContain('readEntry(');
  });

  it('asm/assembly/pt has exactly one level loop, in walk<F> (and beside it the paging-structure cache probe over levels)', () => {
    const loops = pt.flatMap(([p, src]) => [...src.matchAll(LOOP)].map((m) => `${p}: ${src.slice(m.index, m.index + 30).split('\n')[0]}`));
    expect(loops.sort()).toEqual([
      expect.stringMatching(/^pt\/walk\.ts: for \(let l: i32 = 1; l <= top/),
      expect.stringMatching(/^pt\/walk\.ts: while \(true\)/),
    ]);
    expect([...walkBody.matchAll(LOOP)].map((m) => m[0])).toEqual(['while (']);
    const probe = block(walkSrc, walkSrc.search(/function cachedLevel<F>\(/));
    expect(probe).toContain('pscLookup(');
    expect(probe).not.toContain('readEntry(');
  });

  it('every format class answers exactly the questions the loop (and its helpers in walk.ts) asks, and is used only through walk<>', () => {
    const asked = new Set([...walkSrc.matchAll(/\bf\.(\w+)\(/g)].map((m) => m[1]!));
    expect(asked.size).toBeGreaterThan(15);
    const formats = pt.flatMap(([p, src]) => [...src.matchAll(/\bclass (\w+)/g)].map((m) => ({ p, name: m[1]!, body: block(src, m.index) })));
    expect(formats.map((f) => f.name).sort()).toEqual(['ArmStage1', 'ArmStage2', 'VtdFirstStage', 'VtdSecondStage']);
    for (const f of formats) {
      const methods = new Set([...f.body.matchAll(/@inline (\w+)\(/g)].map((m) => m[1]!));
      expect([...methods].sort(), f.name).toEqual([...asked].sort());
      const count = (re: RegExp): number => all.reduce((n, [, src]) => n + [...src.matchAll(re)].length, 0);
      expect(count(new RegExp(`\\b${f.name}\\b`, 'g')), `${f.name}: declared, then used once`).toBe(2);
      expect(count(new RegExp(`\\bwalk<${f.name}>\\(`, 'g')), f.name).toBe(1);
    }
  });
});
