/**
 * Every code block of the user docs is a test (the rules are in extract.ts):
 * `ts` examples are type-checked and run against the built package, as a
 * user who installed it would run them; `ts check` blocks are type-checked;
 * anything else must say `no-run`. A failure names the doc and line.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { blockUse, extractBlocks, type DocBlock } from './extract.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The docs whose blocks are tests: the README, docs/*.md, the fuzzer's README. */
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), 'fuzz/README.md'];

const blocks = DOCS.flatMap((f) => extractBlocks(readFileSync(join(ROOT, f), 'utf8'), f));
const checked = blocks.filter((b) => blockUse(b) === 'run' || blockUse(b) === 'check');
const where = (b: DocBlock): string => `${b.file}:${b.line}`;

/** A scratch project whose node_modules/wasm-viommu is this package (resolved through its exports). */
const dir = mkdtempSync(join(tmpdir(), 'viommu-docs-'));
mkdirSync(join(dir, 'node_modules'));
symlinkSync(ROOT, join(dir, 'node_modules', 'wasm-viommu'), 'dir');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fileOf = (b: DocBlock): string => join(dir, `${b.file.replace(/[^a-zA-Z0-9]/g, '_')}_${b.line}.mts`);
for (const b of checked) writeFileSync(fileOf(b), `${b.code}\nexport {};\n`);

/** Type errors per block, as "doc:line: message". */
function typeErrors(): string[] {
  const program = ts.createProgram(checked.map(fileOf), {
    strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const b = checked.find((x) => fileOf(x) === d.file?.fileName);
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
    return `${b ? `${b.file}:${b.line + 1 + line}` : d.file?.fileName ?? '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

/** Runs a block as an ES module; resolves with its exit code and output. */
function runBlock(b: DocBlock): Promise<{ code: number | null; output: string }> {
  const js = ts.transpileModule(b.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = fileOf(b).replace(/\.mts$/, '.mjs');
  writeFileSync(file, js);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('what a block\'s info string asks for', () => {
  const use = (md: string) => extractBlocks(md, 'x.md').map(blockUse);
  it('ts/js run, "check" type-checks, "no-run" skips; anything unmarked or unknown is an error', () => {
    expect(use('```ts\na\n```\n```js\nb\n```\n```ts check\nc\n```\n```sh no-run\nd\n```')).toEqual(['run', 'run', 'check', 'skip']);
    const [plain, sh, odd] = use('```\na\n```\n\n```sh\nb\n```\n  ```ts skip\n  c\n  ```');
    expect(plain).toEqual({ error: expect.stringMatching(/plain block needs an explicit marker/) as unknown as string });
    expect(sh).toEqual({ error: expect.stringMatching(/"sh" block needs an explicit marker: ```sh no-run/) as unknown as string });
    expect(odd).toEqual({ error: expect.stringMatching(/unknown marker "skip"/) as unknown as string });
  });

  it('keeps a block\'s text and line, indented fences included, longer fences around shorter ones', () => {
    const [a, b] = extractBlocks('intro\n  ```ts\n  const x = 1;\n  ```\n````md no-run\n```ts\ninner\n```\n````\n', 'x.md');
    expect(a).toMatchObject({ line: 2, lang: 'ts', markers: [], code: 'const x = 1;' });
    expect(b).toMatchObject({ line: 5, lang: 'md', markers: ['no-run'], code: '```ts\ninner\n```' });
  });
});

describe('code blocks in the docs', () => {
  it('every block is an example that runs, a ts check block, or says no-run', () => {
    const bad = blocks.flatMap((b) => {
      const use = blockUse(b);
      return typeof use === 'object' ? [`${where(b)}: ${use.error}`] : [];
    });
    expect(bad).toEqual([]);
    expect(checked.length).toBeGreaterThan(5);
  });

  it('the ts blocks type-check against the package\'s exported types', () => {
    expect(typeErrors()).toEqual([]);
  }, 120_000);

  for (const b of blocks.filter((x) => blockUse(x) === 'run')) {
    it(`${where(b)} runs`, async () => {
      const r = await runBlock(b);
      expect(r.code, `${where(b)} exited ${String(r.code)}:\n${r.output}`).toBe(0);
    }, 60_000);
  }
});
