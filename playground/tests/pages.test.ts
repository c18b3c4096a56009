// The shared panels of the playground's pages (pages.ts): each has one home
// in playground/panels/, and both built pages carry it once.
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../build.js';
import { expandPanels, panelFrom, writePage } from '../pages.js';

const HERE = join(repoRoot(), 'playground');
const PANELS = readdirSync(join(HERE, 'panels')).filter((f) => f.endsWith('.html')).map((f) => f.slice(0, -5));

describe('playground pages', () => {
  it('a marker line becomes the panel, indented as the marker', () => {
    const out = expandPanels('<main>\n    <!-- panel: a-b -->\n</main>\n', (n) => `<section>\n  <h2>${n}</h2>\n</section>\n`);
    expect(out).toBe('<main>\n    <section>\n      <h2>a-b</h2>\n    </section>\n</main>\n');
  });

  it('a marker naming no panel is an error that names it', () => {
    expect(() => expandPanels('  <!-- panel: Caches! -->', () => '')).toThrow(/"Caches!" is not a panel name/);
    expect(() => expandPanels('  <!-- panel: nope -->', panelFrom(HERE))).toThrow(/panels\/nope\.html does not exist/);
  });

  for (const page of ['index.html', 'linux.html']) {
    it(`${page}: every panel it names is filled in, none is left as a marker, no element id repeats`, async () => {
      const out = await mkdtemp(join(tmpdir(), 'viommu-pages-'));
      try {
        await writePage(HERE, page, out);
        const html = await readFile(join(out, page), 'utf8');
        expect(html).not.toMatch(/<!--\s*panel:/);
        const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
        expect(new Set(ids).size).toBe(ids.length);
        const named = [...readFileSync(join(HERE, page), 'utf8').matchAll(/<!--\s*panel:\s*([\w-]+)/g)].map((m) => m[1]!);
        expect(named.length).toBeGreaterThan(0);
        for (const p of named) expect(html).toContain(readFileSync(join(HERE, 'panels', `${p}.html`), 'utf8').split('\n')[1]!.trim());
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    });
  }

  it('every panel in panels/ is used by both pages (one home for markup both show)', () => {
    for (const page of ['index.html', 'linux.html']) {
      const html = readFileSync(join(HERE, page), 'utf8');
      for (const p of PANELS) expect(html).toContain(`<!-- panel: ${p} -->`);
    }
  });
});
