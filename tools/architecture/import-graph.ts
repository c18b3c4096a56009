/**
 * The import graph of the production sources: every module reachable from
 * host/src (the package's code, its CLI and what the CLI loads from bench/
 * and fuzz/), read with the TypeScript compiler. An edge is `runtime` when it
 * survives compilation (TypeScript drops imports used only as types: each
 * file is transpiled on its own, as `isolatedModules` does, and the output's
 * imports are read), `type` when it does not, and `dynamic` for `import()`.
 * Used by import-graph.test.ts; no state beyond the graph it returns.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

/** How one module reaches another. */
export type EdgeKind = 'runtime' | 'type' | 'dynamic';

/** One import of a module: the repository path it resolves to and how. */
export interface Edge {
  readonly to: string;
  readonly kind: EdgeKind;
}

/** Repository-relative module path -> its imports of other repository modules. */
export type ImportGraph = ReadonlyMap<string, readonly Edge[]>;

/** Identifiers `sf` uses as values: outside types, type declarations and imports (an over-estimate: property names count). */
function valueNames(sf: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isInterfaceDeclaration(n) || ts.isTypeAliasDeclaration(n)) return;
    if (ts.isExportDeclaration(n)) {
      if (n.isTypeOnly || n.moduleSpecifier || !n.exportClause || !ts.isNamedExports(n.exportClause)) return;
      for (const e of n.exportClause.elements) if (!e.isTypeOnly) names.add((e.propertyName ?? e.name).text);
      return;
    }
    if (ts.isHeritageClause(n) && (n.token === ts.SyntaxKind.ImplementsKeyword || ts.isInterfaceDeclaration(n.parent))) return;
    if (ts.isExpressionWithTypeArguments(n)) return visit(n.expression);
    if (ts.isTypeNode(n)) return;
    if (ts.isIdentifier(n)) names.add(n.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return names;
}

/** Whether an import or re-export survives compilation (TypeScript elides imports used only as types). */
function isRuntime(n: ts.ImportDeclaration | ts.ExportDeclaration, values: Set<string>): boolean {
  if (ts.isExportDeclaration(n)) {
    if (n.isTypeOnly) return false;
    return !n.exportClause || !ts.isNamedExports(n.exportClause) || n.exportClause.elements.some((e) => !e.isTypeOnly);
  }
  const clause = n.importClause;
  if (clause === undefined) return true; // import './x.js': for its side effects
  if (clause.isTypeOnly) return false;
  const bound: string[] = [];
  if (clause.name) bound.push(clause.name.text);
  const nb = clause.namedBindings;
  if (nb && ts.isNamespaceImport(nb)) bound.push(nb.name.text);
  if (nb && ts.isNamedImports(nb)) for (const e of nb.elements) if (!e.isTypeOnly) bound.push(e.name.text);
  return bound.some((b) => values.has(b));
}

/** The module specifiers of `text`: static imports and re-exports with their kind, and `import()` calls with a literal. */
function imports(text: string, file: string): { spec: string; kind: EdgeKind }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const values = valueNames(sf);
  const out: { spec: string; kind: EdgeKind }[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      out.push({ spec: n.moduleSpecifier.text, kind: isRuntime(n, values) ? 'runtime' : 'type' });
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      out.push({ spec: n.arguments[0].text, kind: 'dynamic' });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** The repository source a relative specifier names (`./x.js` -> `x.ts`), or undefined for packages and non-TS files. */
function resolve(root: string, from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const abs = join(root, dirname(from), spec);
  const ts = abs.replace(/\.js$/, '.ts');
  if (existsSync(ts)) return relative(root, ts);
  if (existsSync(join(abs, 'index.ts'))) return relative(root, join(abs, 'index.ts'));
  return undefined;
}

/** Every non-test TypeScript file under `dir` (repository-relative). */
export function sourcesUnder(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(join(root, d))) {
      const p = join(d, name);
      if (statSync(join(root, p)).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** The graph of every module reachable from `starts` (repository-relative paths). */
export function importGraph(root: string, starts: readonly string[]): ImportGraph {
  const graph = new Map<string, Edge[]>();
  const todo = [...starts];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (graph.has(file)) continue;
    const edges: Edge[] = [];
    for (const { spec, kind } of imports(readFileSync(join(root, file), 'utf8'), file)) {
      const to = resolve(root, file, spec);
      if (to === undefined) continue;
      edges.push({ to, kind });
      todo.push(to);
    }
    graph.set(file, edges);
  }
  return graph;
}

/** Modules reachable from `start` over edges whose kind `follow` accepts, each with one path that reaches it. */
export function reachable(graph: ImportGraph, start: string, follow: (k: EdgeKind) => boolean): Map<string, string[]> {
  const paths = new Map<string, string[]>([[start, [start]]]);
  const todo = [start];
  while (todo.length > 0) {
    const from = todo.shift()!;
    for (const e of graph.get(from) ?? []) {
      if (!follow(e.kind) || paths.has(e.to)) continue;
      paths.set(e.to, [...paths.get(from)!, e.to]);
      todo.push(e.to);
    }
  }
  return paths;
}

/** Strongly connected components of more than one module (or a self-import) over edges `follow` accepts (Tarjan). */
export function cycles(graph: ImportGraph, follow: (k: EdgeKind) => boolean): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const e of graph.get(v) ?? []) {
      if (!follow(e.kind)) continue;
      if (!index.has(e.to)) {
        strong(e.to);
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!));
      } else if (onStack.has(e.to)) low.set(v, Math.min(low.get(v)!, index.get(e.to)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    const selfLoop = (graph.get(v) ?? []).some((e) => follow(e.kind) && e.to === v);
    if (scc.length > 1 || selfLoop) out.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) strong(v);
  return out;
}
