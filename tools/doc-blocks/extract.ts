/**
 * The fenced code blocks of a markdown file, with the info string split
 * into a language and markers. What a block's info string means to the
 * docs test (tools/doc-blocks/doc-blocks.test.ts):
 *
 * - `ts` or `js`: an example that runs. It is type-checked (strict) and
 *   executed as an ES module under Node, with `wasm-viommu` and
 *   `wasm-viommu/browser` resolving to this package through its exports, as
 *   for a user who installed it; top-level `await` works. It must exit 0.
 * - `ts check`: type-checked only (code that needs a browser, or names an
 *   emulator's objects it declares itself).
 * - `<anything> no-run`: shown, not run: shell commands, output, diagrams,
 *   fragments. The marker is required; a block with no language or any
 *   other language fails the test, so nothing is skipped by accident.
 */

/** One fenced block. */
export interface DocBlock {
  /** Repository-relative path of the markdown file. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** First word of the info string ('' when there is none). */
  readonly lang: string;
  /** The info string's other words. */
  readonly markers: readonly string[];
  /** The block's text (without the fences). */
  readonly code: string;
}

/** What the test does with a block. */
export type BlockUse = 'run' | 'check' | 'skip' | { readonly error: string };

const RUNNABLE = new Set(['ts', 'js']);

/** Classifies a block by its info string (see the file comment). */
export function blockUse(b: DocBlock): BlockUse {
  if (b.markers.includes('no-run')) return 'skip';
  const known = b.markers.filter((m) => m !== 'check');
  if (known.length > 0) return { error: `unknown marker "${known[0]}" (known: check, no-run)` };
  if (!RUNNABLE.has(b.lang)) {
    return { error: `a ${b.lang ? `"${b.lang}"` : 'plain'} block needs an explicit marker: \`\`\`${b.lang || 'text'} no-run (or make it a ts example that runs)` };
  }
  return b.markers.includes('check') ? 'check' : 'run';
}

/** Every fenced block (``` or ~~~, at any indentation) of `text`. */
export function extractBlocks(text: string, file: string): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
      if (close.test(lines[j]!)) break;
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!);
    }
    const [lang = '', ...markers] = info.trim().split(/\s+/).filter(Boolean);
    blocks.push({ file, line: i + 1, lang, markers, code: body.join('\n') });
    i = j;
  }
  return blocks;
}
