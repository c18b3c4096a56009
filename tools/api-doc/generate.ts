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

/**
 * A declaration's signature, whitespace collapsed and never cut short: a
 * function, method or constructor up to its body; a class or interface up
 * to its members; a variable as `name: type` when its initializer is long.
 */
function signatureOf(checker: ts.TypeChecker, decl: ts.Declaration | undefined): string {
  if (!decl) return '';
  const start = decl.getStart();
  const text = decl.getText();
  let cut = text;
  if ((ts.isFunctionDeclaration(decl) || ts.isMethodDeclaration(decl) || ts.isConstructorDeclaration(decl)) && decl.body) {
    cut = text.slice(0, decl.body.getStart() - start);
  } else if (ts.isClassDeclaration(decl) || ts.isInterfaceDeclaration(decl)) {
    cut = text.slice(0, decl.members.pos - start - 1);
  } else if (ts.isVariableDeclaration(decl) && decl.initializer && text.length > 160) {
    cut = `${decl.name.getText()}: ${checker.typeToString(checker.getTypeAtLocation(decl), decl, ts.TypeFormatFlags.NoTruncation)}`;
  }
  return cut.replace(/\/\*\*[\s\S]*?\*\//g, '').replace(/\s+/g, ' ').trim();
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
    out.push({ name: prefix + m.name, kind: 'member', signature: signatureOf(checker, d), doc: docOf(checker, m), members: [] });
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
    name: prefix + e.name, kind, signature: signatureOf(checker, s.declarations?.[0]), doc: docOf(checker, s), members: membersOf(checker, s),
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
      name: e.name, kind: 'namespace', signature: signatureOf(checker, e.declarations?.[0]?.parent as ts.Declaration | undefined), doc: namespaceDoc(e), members: [],
      ...(nodeOnly ? { nodeOnly: true } : {}),
    };
    return [ns, ...checker.getExportsOfModule(s).map((x) => itemOf(checker, x, `${e.name}.`, nodeOnly))];
  }).sort((a, b) => a.name.localeCompare(b.name));
}

const isPrivate = (n: ts.Node): boolean =>
  ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword);

/** The declaration named by a type reference, `typeof x`, or a heritage clause inside `node`, resolved through aliases. */
function referencedSymbol(checker: ts.TypeChecker, node: ts.Node): ts.Symbol | undefined {
  const id = ts.isTypeReferenceNode(node) ? node.typeName
    : ts.isTypeQueryNode(node) ? node.exprName
      : ts.isExpressionWithTypeArguments(node) ? node.expression : undefined;
  const s = id && checker.getSymbolAtLocation(id);
  return s && s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
}

/**
 * Types a user meets in the public API but cannot import: declarations of
 * host/src named in the signature of an export or of a public member (not in
 * function bodies or private members), followed transitively, that neither
 * entry exports. Returns "Name (used by A, B)" strings.
 */
export function unexportedTypes(): string[] {
  const p = ts.createProgram([ENTRY], { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, skipLibCheck: true });
  const checker = p.getTypeChecker();
  const resolve = (s: ts.Symbol): ts.Symbol => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const exported = new Set<ts.Symbol>();
  for (const e of checker.getExportsOfModule(checker.getSymbolAtLocation(p.getSourceFile(ENTRY)!)!)) {
    const s = resolve(e);
    exported.add(s);
    if (s.flags & ts.SymbolFlags.ValueModule) for (const x of checker.getExportsOfModule(s)) exported.add(resolve(x));
  }
  const users = new Map<ts.Symbol, Set<string>>();
  const queue = [...exported];
  const visit = (node: ts.Node, from: string): void => {
    if (ts.isBlock(node) || isPrivate(node)) return;
    const s = referencedSymbol(checker, node);
    const file = s?.declarations?.[0]?.getSourceFile().fileName ?? '';
    if (s && file.startsWith(`${ROOT}host/src/`) && !exported.has(s) && !(s.flags & ts.SymbolFlags.TypeParameter)) {
      if (!users.has(s)) queue.push(s);
      users.set(s, (users.get(s) ?? new Set()).add(from));
    }
    ts.forEachChild(node, (n) => visit(n, from));
  };
  for (let s = queue.shift(); s; s = queue.shift()) for (const d of s.declarations ?? []) visit(d, s.name);
  return [...users].map(([s, by]) => `${s.name} (used by ${[...by].join(', ')})`).sort();
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
    lines.push(`## ${i.name}`, '', `*${kindOf(i)}*`, '', '```ts no-run', i.signature, '```', '', i.doc || '_(undocumented)_', '');
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
