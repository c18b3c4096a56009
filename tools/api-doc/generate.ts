/**
 * Generates docs/API.md, the reference of the public TypeScript API (every
 * export of host/src/index.ts), with the TypeScript compiler API: for each
 * export its kind, declaration signature and doc comment; for classes and
 * interfaces their public members. Exports the platform-neutral entry
 * (host/src/browser.ts) lacks are marked "Node only". The test requires
 * every export to carry a doc comment; public members without one are
 * listed at the end of the file.
 *
 * Run: `npx vitest run tools/api-doc` (regenerates the file and checks it).
 */
import ts from 'typescript';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The package entry whose exports are the public API. */
export const ENTRY = `${ROOT}host/src/index.ts`;
/** The platform-neutral entry (browsers, Workers): index.ts minus the Node loader. */
export const BROWSER_ENTRY = `${ROOT}host/src/browser.ts`;
/** Where the reference is written. */
export const OUTPUT = `${ROOT}docs/API.md`;

/** One documented item. */
export interface ApiItem {
  readonly name: string;
  readonly kind: string;
  readonly signature: string;
  readonly doc: string;
  readonly members: readonly ApiItem[];
  /** True when only the Node entry exports it. */
  readonly nodeOnly?: boolean;
}

function program(): { checker: ts.TypeChecker; exports: ts.Symbol[]; browser: Set<string> } {
  const p = ts.createProgram([ENTRY, BROWSER_ENTRY], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, skipLibCheck: true });
  const checker = p.getTypeChecker();
  const exportsOf = (file: string): ts.Symbol[] => {
    const sf = p.getSourceFile(file);
    const mod = sf && checker.getSymbolAtLocation(sf);
    if (!mod) throw new Error(`entry: ${file} not found or without exports`);
    return checker.getExportsOfModule(mod);
  };
  return { checker, exports: exportsOf(ENTRY), browser: new Set(exportsOf(BROWSER_ENTRY).map((e) => e.name)) };
}

function docOf(checker: ts.TypeChecker, s: ts.Symbol): string {
  return ts.displayPartsToString(s.getDocumentationComment(checker)).trim();
}

/** The first line(s) of a declaration up to its body, whitespace collapsed. */
function signatureOf(decl: ts.Declaration | undefined): string {
  if (!decl) return '';
  const text = decl.getText();
  const cut = ts.isClassDeclaration(decl) || ts.isInterfaceDeclaration(decl) || ts.isFunctionDeclaration(decl) || ts.isMethodDeclaration(decl)
    ? text.split('{')[0]! : text;
  return cut.replace(/\/\*\*[\s\S]*?\*\//g, '').replace(/\s+/g, ' ').trim().slice(0, 300);
}

const KIND: [number, string][] = [
  [ts.SymbolFlags.Class, 'class'], [ts.SymbolFlags.Interface, 'interface'], [ts.SymbolFlags.Function, 'function'],
  [ts.SymbolFlags.TypeAlias, 'type'], [ts.SymbolFlags.Variable, 'const'], [ts.SymbolFlags.Enum, 'enum'],
];

function membersOf(checker: ts.TypeChecker, s: ts.Symbol): ApiItem[] {
  if (!(s.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Interface))) return [];
  const out: ApiItem[] = [];
  const add = (m: ts.Symbol, prefix: string) => {
    const d = m.declarations?.[0];
    if (!d || m.name.startsWith('#') || m.name === 'prototype') return;
    const mods = ts.canHaveModifiers(d) ? ts.getModifiers(d) ?? [] : [];
    if (mods.some((x) => x.kind === ts.SyntaxKind.PrivateKeyword || x.kind === ts.SyntaxKind.ProtectedKeyword)) return;
    if (ts.getJSDocTags(d).some((t) => t.tagName.text === 'internal')) return;
    out.push({ name: prefix + m.name, kind: 'member', signature: signatureOf(d), doc: docOf(checker, m), members: [] });
  };
  s.members?.forEach((m) => { if (!(m.flags & ts.SymbolFlags.TypeParameter)) add(m, ''); });
  s.exports?.forEach((m) => { if (m.flags & (ts.SymbolFlags.Method | ts.SymbolFlags.Property)) add(m, 'static '); });
  return out;
}

/** The doc comment on an `export * as name from` statement. */
function namespaceDoc(e: ts.Symbol): string {
  const stmt = e.declarations?.[0]?.parent;
  if (!stmt) return '';
  return ts.getJSDocCommentsAndTags(stmt).map((d) => (ts.isJSDoc(d) ? ts.getTextOfJSDocComment(d.comment) ?? '' : '')).join('\n').trim();
}

/** One export (`prefix` names the namespace it is in) with its members. */
function itemOf(checker: ts.TypeChecker, e: ts.Symbol, prefix: string, nodeOnly: boolean): ApiItem {
  const s = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
  const kind = KIND.find(([f]) => s.flags & f)?.[1] ?? 'export';
  return {
    name: prefix + e.name, kind, signature: signatureOf(s.declarations?.[0]), doc: docOf(checker, s), members: membersOf(checker, s),
    ...(nodeOnly ? { nodeOnly: true } : {}),
  };
}

/**
 * Every public export with its members. A namespace export (`export * as
 * ns`) is one item plus an item `ns.Name` for each of its exports.
 */
export function collectApi(): ApiItem[] {
  const { checker, exports, browser } = program();
  return exports.flatMap((e) => {
    const nodeOnly = !browser.has(e.name);
    const s = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
    if (!(s.flags & ts.SymbolFlags.ValueModule)) return [itemOf(checker, e, '', nodeOnly)];
    const ns: ApiItem = {
      name: e.name, kind: 'namespace', signature: signatureOf(e.declarations?.[0]?.parent), doc: namespaceDoc(e), members: [],
      ...(nodeOnly ? { nodeOnly: true } : {}),
    };
    return [ns, ...checker.getExportsOfModule(s).map((x) => itemOf(checker, x, `${e.name}.`, nodeOnly))];
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/** Names of exports without a doc comment. */
export function undocumentedExports(api: readonly ApiItem[]): string[] {
  return api.filter((i) => !i.doc).map((i) => i.name);
}

/** "Export.member" names of public members without a doc comment. */
export function undocumentedMembers(api: readonly ApiItem[]): string[] {
  return api.flatMap((i) => i.members.filter((m) => !m.doc).map((m) => `${i.name}.${m.name}`));
}

/** The reference as markdown. */
export function renderMarkdown(api: readonly ApiItem[]): string {
  const lines = ['# API reference', '', 'Generated from `host/src/index.ts` by `tools/api-doc/generate.ts`; do not edit by hand.',
    'Everything not marked *Node only* is also exported by the platform-neutral entry `host/src/browser.ts` (`wasm-viommu/browser`).', ''];
  const kindOf = (i: ApiItem): string => (i.nodeOnly ? `${i.kind}, Node only` : i.kind);
  const anchor = (name: string): string => name.toLowerCase().replace(/[^a-z0-9_-]/g, '');
  lines.push(...api.map((i) => `- [\`${i.name}\`](#${anchor(i.name)}) (${kindOf(i)})`), '');
  for (const i of api) {
    lines.push(`## ${i.name}`, '', `*${kindOf(i)}*`, '', '```ts', i.signature, '```', '', i.doc || '_(undocumented)_', '');
    for (const m of i.members) lines.push(`- \`${m.name}\`: ${m.doc.replace(/\n+/g, ' ') || '_(undocumented)_'}  \n  \`${m.signature.replace(/`/g, "'")}\``);
    if (i.members.length) lines.push('');
  }
  const missing = undocumentedMembers(api);
  if (missing.length) lines.push('## Members still without a doc comment', '', missing.map((m) => `\`${m}\``).join(', '), '');
  return lines.join('\n');
}

/** Regenerates docs/API.md; returns the items. */
export function writeApiReference(): ApiItem[] {
  const api = collectApi();
  writeFileSync(OUTPUT, renderMarkdown(api));
  return api;
}
