/**
 * The playground's pages (index.html, linux.html) share their panels: each
 * panel's markup has one home, `playground/panels/<name>.html`, and a page
 * names it with a line `<!-- panel: <name> -->`. The build writes each page
 * with its panels filled in (indented as the marker line), so the static
 * site needs no script to assemble itself.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A marker line: indentation, then `<!-- panel: name -->`. */
const MARKER = /^([ \t]*)<!--\s*panel:\s*(.*?)\s*-->[ \t]*$/gm;

/** Panel names: lower-case words joined by hyphens (a file name in panels/). */
const PANEL_NAME = /^[a-z]+(-[a-z]+)*$/;

/**
 * `html` with every marker line replaced by the markup `panel(name)` returns,
 * each line indented as the marker. Throws naming the marker when a name is
 * not a panel name.
 */
export function expandPanels(html: string, panel: (name: string) => string): string {
  return html.replace(MARKER, (_m, indent: string, name: string) => {
    if (!PANEL_NAME.test(name)) throw new Error(`expandPanels: "${name}" is not a panel name (lower-case words joined by hyphens)`);
    return panel(name).replace(/\n$/, '').split('\n').map((l) => (l ? indent + l : l)).join('\n');
  });
}

/** The markup of panel `name` from `playground/panels/` under `here`; throws naming a missing panel. */
export function panelFrom(here: string): (name: string) => string {
  return (name) => {
    try {
      return readFileSync(join(here, 'panels', `${name}.html`), 'utf8');
    } catch {
      throw new Error(`playground: page names panel "${name}", but panels/${name}.html does not exist`);
    }
  };
}

/** Writes page `file` (e.g. `index.html`) from `here` to `outDir` with its panels filled in. */
export async function writePage(here: string, file: string, outDir: string): Promise<void> {
  const html = readFileSync(join(here, file), 'utf8');
  await writeFile(join(outDir, file), expandPanels(html, panelFrom(here)));
}
