/**
 * No behaviour keyed on a profile's name: production code (host/src) never
 * compares a profile name ('default', 'qemu-7.2', ...) or a profile's
 * `name`, and never switches on one. A profile object carries every switch
 * (host/src/vtd/profiles.ts); the name only picks a profile's row of a
 * table (PROFILES, QEMU_DEVICES, the queue rules), which this allows.
 * host/tests/profile-object.test.ts checks the same from the other side:
 * profiles handed out under each other's names still behave as themselves.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../host/src/', import.meta.url);

/** A profile name as a string literal. */
const NAME = String.raw`['"\`](?:default|qemu-[0-9][\w.]*)['"\`]`;
/** An expression that reads a profile's name (`p.name`, `profile.name`, `this.profile.name`, `config.profile`). */
const READ = String.raw`(?:\b(?:p|prof|profile)\??\.name\b|\.profile\??\.name\b|\bconfig\??\.profile\b|\bmachine\??\.profile\b)`;

/** What gives a name comparison away, each with what it catches. */
const PATTERNS: readonly [RegExp, string][] = [
  [new RegExp(String.raw`[=!]==?\s*${NAME}`), 'comparison with a profile name'],
  [new RegExp(String.raw`${NAME}\s*[=!]==?`), 'comparison with a profile name'],
  [new RegExp(String.raw`\bcase\s+${NAME}\s*:`), 'switch case on a profile name'],
  [new RegExp(String.raw`\bswitch\s*\(\s*${READ}`), 'switch on a profile name'],
  [new RegExp(String.raw`${READ}\s*[=!]==?`), 'comparison of a profile name'],
  [new RegExp(String.raw`[=!]==?\s*${READ}`), 'comparison of a profile name'],
  [new RegExp(String.raw`${READ}\s*\.\s*(?:startsWith|endsWith|includes|match)\s*\(`), 'test on a profile name'],
  [new RegExp(String.raw`(?:startsWith|endsWith|includes)\s*\(\s*['"\`]qemu`), 'test for a QEMU name'],
];

/** The text without comments (line and block), so prose may name profiles. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** `file:line: what: source` for every line of `text` that decides something by a profile's name. */
function nameComparisons(file: string, text: string): string[] {
  const out: string[] = [];
  code(text).split('\n').forEach((line, i) => {
    for (const [re, what] of PATTERNS) {
      if (re.test(line)) {
        out.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
        break;
      }
    }
  });
  return out;
}

/** Every .ts file under host/src, relative to it. */
function sources(dir = ''): string[] {
  return readdirSync(new URL(dir, SRC)).flatMap((name) => {
    const rel = `${dir}${name}`;
    if (statSync(new URL(rel, SRC)).isDirectory()) return sources(`${rel}/`);
    return name.endsWith('.ts') ? [rel] : [];
  });
}

describe('no behaviour keyed on a profile name', () => {
  it('finds the forms it looks for (the checker is held against code that does it)', () => {
    const bad = [
      "const spec = p.name === 'default';",
      "return profile.name !== 'qemu-10.0' ? 1 : 2;",
      "if ('qemu-7.2' === name) x();",
      "if (this.host.profile.name.startsWith('qemu')) y();",
      "switch (p.name) {",
      "  case 'qemu-10.0': return 1;",
      "if (machine.profile !== 'default') throw e;",
      "if (profile !== 'qemu-10.0') throw e;",
      "const ten = name === 'qemu-10.0';",
      "if (name.includes('qemu')) z();",
    ];
    for (const line of bad) expect(nameComparisons('x.ts', line), line).toHaveLength(1);
    const fine = [
      "const p = createProfile('default');",
      "// p.name === 'default' used to decide this",
      "/* profile.name !== 'qemu-7.2' */ const a = 1;",
      "throw new Error(`no register ${name} in profile ${this.profile.name}`);",
      "return FLOWS.find((f) => f.name === name);",
      "const row = PROFILES[name as ProfileName];",
      "const url = 'https://example.org/a'; const b = a === 'default-ish';",
    ];
    for (const line of fine) expect(nameComparisons('x.ts', line), line).toEqual([]);
  });

  it('host/src compares no profile name and switches on none', () => {
    const files = sources();
    expect(files.length).toBeGreaterThan(100);
    expect(files.flatMap((f) => nameComparisons(`host/src/${f}`, readFileSync(new URL(f, SRC), 'utf8')))).toEqual([]);
  });
});
