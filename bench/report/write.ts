/**
 * Writes a bench result: JSON (for CI), a combined SVG of every plot, and
 * the markdown report with one SVG per plot in a folder beside it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { formatMarkdown } from './format.js';
import { renderPlots } from './plots.js';
import type { BenchResult } from './schema.js';

/** Where to write; each output is optional. */
export interface Outputs {
  json?: string;
  svg?: string;
  markdown?: string;
}

/** Stitches several SVG documents vertically into one. */
export function stackSvgs(svgs: string[]): string {
  let y = 0, width = 0;
  const parts: string[] = [];
  for (const svg of svgs) {
    const w = Number(/width="([\d.]+)"/.exec(svg)?.[1] ?? 0), h = Number(/height="([\d.]+)"/.exec(svg)?.[1] ?? 0);
    parts.push(`<g transform="translate(0,${y})">${svg.replace(/^<\?xml[^>]*>/, '')}</g>`);
    y += h;
    width = Math.max(width, w);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">${parts.join('')}</svg>\n`;
}

/** Writes the requested outputs; returns the paths written. */
export async function writeOutputs(result: BenchResult, out: Outputs): Promise<string[]> {
  const written: string[] = [];
  if (out.json) {
    await writeFile(out.json, `${JSON.stringify(result, null, 2)}\n`);
    written.push(out.json);
  }
  if (!out.svg && !out.markdown) return written;
  const plots = await renderPlots(result);
  if (out.svg) {
    await writeFile(out.svg, stackSvgs(Object.values(plots)));
    written.push(out.svg);
  }
  if (out.markdown) {
    const dir = join(dirname(out.markdown), basename(out.markdown, '.md').toLowerCase());
    await mkdir(dir, { recursive: true });
    const links: Record<string, string> = {};
    for (const [name, svg] of Object.entries(plots)) {
      const path = join(dir, `${name}.svg`);
      await writeFile(path, svg);
      links[name] = relative(dirname(out.markdown), path);
      written.push(path);
    }
    await writeFile(out.markdown, formatMarkdown(result, links));
    written.push(out.markdown);
  }
  return written;
}
