/**
 * What a markdown page names in the repository, and which of those names do
 * not exist: relative links (`[text](../path)`) must point at a file or
 * folder; a link whose text is a symbol (`` [`DmaPort.dmaBig`](../host/src/pci/dma-port.ts) ``)
 * must name a declaration of that file (a class, function, constant, type,
 * or `Class.member`); a repository path written out in the text
 * (`host/src/guest/`) must exist. Read as text, so it serves TypeScript and
 * AssemblyScript files alike. Used by architecture-doc.test.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** Top folders whose paths the text may name. */
const TOP = '(?:asm|host|firmware-tests|bench|fuzz|tools|playground|examples|bin|docs|integrations)';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether `source` declares `name` at its top level (exported or not). */
function declares(source: string, name: string): boolean {
  const decl = new RegExp(`(?:^|\\n)[ \\t]*(?:@\\w+\\s+)*(?:export\\s+)?(?:declare\\s+)?(?:abstract\\s+)?(?:async\\s+)?(?:function\\*?|class|const|let|var|interface|type|enum)\\s+${escape(name)}\\b`);
  return decl.test(source) || new RegExp(`export\\s*\\{[^}]*\\b${escape(name)}\\b[^}]*\\}`).test(source);
}

/** The body of class (or interface) `name` in `source`, up to its closing brace at column 0. */
function classBody(source: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\n)(?:export\\s+)?(?:abstract\\s+)?(?:class|interface)\\s+${escape(name)}\\b[^\\n]*\\n`).exec(source);
  if (!m) return undefined;
  const rest = source.slice(m.index + m[0].length);
  const end = rest.search(/\n\}/);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Whether `source` declares `symbol`: `Name`, or `Class.member` (method, property, accessor). */
export function declaresSymbol(source: string, symbol: string): boolean {
  const [owner, member] = symbol.replace(/\(\)$/, '').split('.');
  if (member === undefined) return declares(source, owner!);
  const body = classBody(source, owner!);
  if (body === undefined) return false;
  const mods = '(?:(?:public|private|protected|static|readonly|abstract|async|override|get|set)\\s+)*';
  return new RegExp(`\\n[ \\t]*${mods}${escape(member)}\\s*[(<:=?!]`).test(`\n${body}`);
}

/** Every broken reference of markdown `text` at repository path `file`, as "line N: what". */
export function brokenReferences(root: string, file: string, text: string): string[] {
  const bad: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    for (const m of line.matchAll(/\[([^\]]+)\]\(([^)\s]+)\)/g)) {
      const [, label, target] = m as unknown as [string, string, string];
      if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue;
      const path = relative(root, join(root, dirname(file), target.split('#')[0]!));
      if (!existsSync(join(root, path))) {
        bad.push(`${where}: link target ${target} does not exist`);
        continue;
      }
      const symbol = /^`([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)?)(?:\(\))?`$/.exec(label)?.[1];
      if (symbol === undefined || /\.(?:ts|js|md|json)$/.test(symbol) || !statSync(join(root, path)).isFile()) continue;
      if (!declaresSymbol(readFileSync(join(root, path), 'utf8'), symbol)) bad.push(`${where}: ${path} declares no ${symbol}`);
    }
    for (const m of line.matchAll(new RegExp(`(?<![\\w./-])${TOP}/[\\w./-]*`, 'g'))) {
      const path = m[0].replace(/[.,;:]+$/, '');
      if (!existsSync(join(root, path))) bad.push(`${where}: path ${path} does not exist`);
    }
  });
  return bad;
}
