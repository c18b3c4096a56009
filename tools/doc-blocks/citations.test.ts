/**
 * Sources cite what a reader can open: the VT-d spec by section ("VT-d
 * §9.4") and files of this repository by a path that exists. Never the
 * team's fact sheets or anything outside the repository (/work/shared).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Tracked sources and docs (recorded scenario data excluded). */
const FILES = execFileSync('git', ['ls-files', '*.ts', '*.js', '*.md', '*.c', '*.h', '*.sh', '*.html', '.ci/run'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n').filter((f) => f && !f.startsWith('firmware-tests/golden/recorded/') && existsSync(join(ROOT, f)));
const SELF = 'tools/doc-blocks/citations.test.ts';

describe('citations', () => {
  it('no file cites a fact sheet or a path outside the repository', () => {
    const bad = FILES.filter((f) => f !== SELF).flatMap((f) => readFileSync(join(ROOT, f), 'utf8').split('\n')
      .map((line, i) => (/VTD-FACTS|V86-FACTS|\/work\/shared/.test(line) ? `${f}:${i + 1}: ${line.trim()}` : ''))
      .filter(Boolean));
    expect(bad).toEqual([]);
  });

  it('every path to a FORMAT.md exists', () => {
    const bad = FILES.flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/[\w.-]+(?:\/[\w.-]+)*\/FORMAT\.md/g)]
      .map((m) => m[0]).filter((p) => !existsSync(join(ROOT, p)) && !existsSync(join(ROOT, f, '..', p))).map((p) => `${f}: ${p}`));
    expect(bad).toEqual([]);
  });
});
