/**
 * docs/ARCHITECTURE.md stays true: every file and folder it links or names
 * exists, every symbol it links is declared in the file it links to, and its
 * three traces name real code (doc-refs.ts). The checker itself is held
 * against a page with broken references.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { brokenReferences, declaresSymbol } from './doc-refs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = 'docs/ARCHITECTURE.md';
const text = readFileSync(new URL(`../../${DOC}`, import.meta.url), 'utf8');

describe('docs/ARCHITECTURE.md', () => {
  it('names only files, folders and symbols that exist', () => {
    expect(brokenReferences(ROOT, DOC, text)).toEqual([]);
  });

  it('has the layers, the folder map and the three traces, each naming code', () => {
    for (const heading of ['## Layers', '## Folder map', '## Trace 1: a DMA from a device to RAM', '## Trace 2: a guest register write to its effect', '## Trace 3: a queued invalidation to the caches']) {
      expect(text, heading).toContain(`\n${heading}\n`);
    }
    const traces = text.split('\n## Trace ').slice(1);
    for (const t of traces) expect(t.match(/\]\(\.\.\/(?:host|asm)\//g)?.length ?? 0, t.split('\n')[0]).toBeGreaterThan(8);
  });
});

describe('doc-refs', () => {
  const bad = [
    '[`DmaPort.dmaBig`](../host/src/pci/dma-port.ts) fine',
    '[`DmaPort.noSuchMethod`](../host/src/pci/dma-port.ts)',
    '[`NoSuchClass`](../host/src/pci/dma-port.ts)',
    '[gone](../host/src/nowhere.ts) and host/src/also-nowhere/ and host/src/guest/',
    '[`translate`](../asm/assembly/translate.ts) [`rootSet`](../asm/assembly/ctx/device.ts)',
  ].join('\n');

  it('reports each broken link, symbol and path, and nothing else', () => {
    expect(brokenReferences(ROOT, DOC, bad)).toEqual([
      `${DOC}:2: host/src/pci/dma-port.ts declares no DmaPort.noSuchMethod`,
      `${DOC}:3: host/src/pci/dma-port.ts declares no NoSuchClass`,
      `${DOC}:4: link target ../host/src/nowhere.ts does not exist`,
      `${DOC}:4: path host/src/also-nowhere/ does not exist`,
    ]);
  });

  it('reads declarations of TypeScript and AssemblyScript', () => {
    const ts = 'export class A {\n  private x = 1;\n  get y(): number { return 1; }\n  z(): void {}\n}\nconst B = 2;\n';
    expect(['A', 'A.x', 'A.y', 'A.z', 'B'].map((s) => declaresSymbol(ts, s))).toEqual([true, true, true, true, true]);
    expect(['A.w', 'C', 'x'].map((s) => declaresSymbol(ts, s))).toEqual([false, false, false]);
    expect(declaresSymbol('// @ts-ignore: decorator\n@inline export function ptIndex(iova: u64): u32 { return 0; }', 'ptIndex')).toBe(true);
  });
});
