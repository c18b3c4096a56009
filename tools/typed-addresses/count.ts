/**
 * Counts the parameters and fields of exported signatures that take or
 * hold an address or an id as a raw `bigint`/`number` instead of the types of host/src/types.ts
 * (`Iova`, `Gpa`, `Hpa`, `Sid`, `Did`, `Pasid`; STYLE.md #3), with the
 * TypeScript compiler API, so the figure of issue 22 stays true
 * (count.test.ts fails when one appears).
 *
 * Signatures read: every export of the package entries (package.json
 * `exports`: index.ts, browser.ts, v86/index.ts, namespaces followed) and of
 * every module of host/src but the command line and the flow scripts
 * (`BOUNDARIES`): functions, exported arrow-function constants,
 * constructors, public methods and setters, function-typed properties and
 * method signatures of classes, interfaces and object type aliases, and
 * their other public properties (fields).
 *
 * A parameter or field is counted by its name: an address when its last word names
 * an IOVA, GPA, HPA or address (`iova`, `srcIova`, `gpa`, `rootHpa`, `addr`,
 * `rtaddr`, `faultAddr`), an id when it names a source/requester/stream id,
 * domain id or PASID/substream id (`sid`, `rid`, `vrid`, `streamId`, `did`,
 * `domainId`, `pasid`, `gpasid`, `ssid`). The u32 halves of the number API
 * (`iovaLo`, `addrHi`) and object ids (`ioasId`, `hwptId`) are not counted.
 */
import ts from 'typescript';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The library entries of package.json `exports`. */
export const ENTRIES = ['host/src/index.ts', 'host/src/browser.ts', 'host/src/v86/index.ts'];

/**
 * Where every exported signature counts, exported by an entry or not: all of
 * host/src (the guest-driver library, the table builders, the VMM and
 * host-IOMMU APIs, devices, the VT-d and SMMUv3 models) but the command line
 * (host/src/cli) and the flow scripts (host/src/flows), which are callers.
 */
export const BOUNDARIES = ['host/src'];
const NOT_BOUNDARIES = /^host\/src\/(cli|flows)\//;

/** What a counted parameter names. */
export type ParamKind = 'address' | 'id';

/** Last words of a camelCase name that name an address (`srcIova`, `rootGpa`, `rtaddr`, `faultAddr`). */
const ADDRESS = /(iova|gpa|hpa|addr|address)$/i;
/** Whole names of ids: source/requester/stream ids (virtual, physical), domain ids, PASIDs and substream ids. */
const ID_NAMES = new Set(['sid', 'rid', 'vrid', 'prid', 'vsid', 'did', 'pasid', 'gpasid', 'hpasid', 'vpasid', 'ssid']);
/** Last words of a camelCase name that name an id (`devSid`, `parentDid`, `streamId`, `domainId`, `substreamId`). */
const ID_TAIL = /(Sid|Rid|Did|Pasid|Ssid|streamId|StreamId|domainId|DomainId)$/;

/** The kind of a parameter by its name, or undefined when it names neither. */
export function kindOfName(name: string): ParamKind | undefined {
  if (name === 'uaddr') return undefined; // a host process's virtual address (vhost IOTLB): no flavor names it
  if (ADDRESS.test(name)) return 'address';
  if (ID_NAMES.has(name.toLowerCase()) || ID_TAIL.test(name)) return 'id';
  return undefined;
}

/** One parameter of a public signature that takes an address or id. */
export interface AddressParam {
  /** "file:Owner.member(param)" */
  readonly where: string;
  readonly kind: ParamKind;
  /** The parameter's type as written. */
  readonly type: string;
  /** True when its type is raw `bigint`/`number` (possibly `| undefined`). */
  readonly raw: boolean;
  /** The file (from the repository root). */
  readonly file: string;
  /** The [start, end) offsets of the type as written (empty, after the name, when it is inferred), for tools that rewrite it. */
  readonly span: readonly [number, number];
}

function tsFilesUnder(rel: string): string[] {
  const abs = join(ROOT, rel);
  if (!statSync(abs).isDirectory()) return [abs];
  return readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return tsFilesUnder(join(rel, e.name));
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(abs, e.name)] : [];
  });
}

/** True when `t` is `bigint` or `number` (or a union of them with `undefined`) with no brand. */
function isRaw(t: ts.Type): boolean {
  const parts = t.isUnion() ? t.types : [t];
  const defined = parts.filter((p) => !(p.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
  return defined.length > 0 && defined.every((p) => (p.flags & (ts.TypeFlags.BigInt | ts.TypeFlags.Number)) !== 0 && !p.isIntersection());
}

const hidden = (n: ts.Node): boolean =>
  (ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword))
  || ts.getJSDocTags(n).some((t) => t.tagName.text === 'internal')
  || ((ts.isMethodDeclaration(n) || ts.isPropertyDeclaration(n)) && ts.isPrivateIdentifier(n.name));

/** A parameter or a field, and where it is ("Owner.member(param)" or "Owner.field"). */
type Slot = readonly [string, ts.ParameterDeclaration | ts.PropertySignature | ts.PropertyDeclaration];

/**
 * The parameters and fields a declaration exposes: its own parameters, its
 * members' (methods, constructors, setters, call signatures), those of
 * function types in its properties, and its other properties as fields.
 */
function slotsOf(decl: ts.Node, owner: string): Slot[] {
  const out: Slot[] = [];
  const params = (where: string, ps: readonly ts.ParameterDeclaration[]): void => {
    for (const p of ps) if (ts.isIdentifier(p.name)) out.push([`${where}(${p.name.text})`, p]);
  };
  const members = (ms: readonly ts.Node[]): void => {
    for (const m of ms) {
      if (hidden(m)) continue;
      const name = `${owner}.${(m as { name?: ts.Node }).name?.getText() ?? (ts.isConstructorDeclaration(m) ? 'constructor' : '()')}`;
      if (ts.isMethodDeclaration(m) || ts.isMethodSignature(m) || ts.isConstructorDeclaration(m) || ts.isSetAccessorDeclaration(m)
        || ts.isCallSignatureDeclaration(m) || ts.isConstructSignatureDeclaration(m)) params(name, m.parameters);
      else if ((ts.isPropertyDeclaration(m) || ts.isPropertySignature(m)) && m.type && (ts.isFunctionTypeNode(m.type) || ts.isConstructorTypeNode(m.type))) params(name, m.type.parameters);
      else if ((ts.isPropertyDeclaration(m) || ts.isPropertySignature(m)) && ts.isIdentifier(m.name)) out.push([name, m]);
    }
  };
  if (ts.isFunctionDeclaration(decl)) params(owner, decl.parameters);
  else if (ts.isClassDeclaration(decl) || ts.isInterfaceDeclaration(decl)) members(decl.members);
  else if (ts.isTypeAliasDeclaration(decl)) {
    if (ts.isTypeLiteralNode(decl.type)) members(decl.type.members);
    else if (ts.isFunctionTypeNode(decl.type)) params(owner, decl.type.parameters);
  } else if (ts.isVariableDeclaration(decl) && decl.initializer && (ts.isArrowFunction(decl.initializer) || ts.isFunctionExpression(decl.initializer))) {
    params(owner, decl.initializer.parameters);
  }
  return out;
}

/**
 * Every address or id parameter and field of the exported signatures of `files`
 * (repository paths; by default the entries and the boundary modules), raw
 * or typed.
 */
export function addressParams(files: readonly string[] = [...ENTRIES, ...BOUNDARIES]): AddressParam[] {
  const modules = files.flatMap(tsFilesUnder).filter((f) => !NOT_BOUNDARIES.test(relative(ROOT, f)));
  const program = ts.createProgram(modules, {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const resolve = (s: ts.Symbol): ts.Symbol => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const symbols = new Set<ts.Symbol>();
  const addModule = (file: string): void => {
    const sf = program.getSourceFile(file);
    const mod = sf && checker.getSymbolAtLocation(sf);
    if (!mod) return;
    for (const e of checker.getExportsOfModule(mod)) {
      const s = resolve(e);
      if (s.flags & ts.SymbolFlags.ValueModule) checker.getExportsOfModule(s).forEach((x) => symbols.add(resolve(x)));
      else symbols.add(s);
    }
  };
  modules.forEach(addModule);
  const seen = new Set<ts.Node>();
  const out: AddressParam[] = [];
  for (const s of symbols) {
    for (const decl of s.declarations ?? []) {
      const file = relative(ROOT, decl.getSourceFile().fileName);
      if (file.startsWith('..') || file.includes('node_modules')) continue;
      for (const [where, node] of slotsOf(decl, s.name)) {
        const name = (node.name as ts.Identifier).text;
        const kind = kindOfName(name);
        if (seen.has(node) || !kind) continue;
        seen.add(node);
        const t = checker.getTypeAtLocation(node);
        out.push({
          where: `${file}:${where}`, kind, type: node.type?.getText() ?? checker.typeToString(t), raw: isRaw(t), file,
          span: node.type ? [node.type.getStart(), node.type.getEnd()] : [node.name.end, node.name.end],
        });
      }
    }
  }
  return out.sort((a, b) => a.where.localeCompare(b.where));
}

/** The raw parameters, and the counts by kind. */
export function rawCounts(params: readonly AddressParam[] = addressParams()): { address: number; id: number; typed: number; raw: AddressParam[] } {
  const raw = params.filter((p) => p.raw);
  return {
    address: raw.filter((p) => p.kind === 'address').length,
    id: raw.filter((p) => p.kind === 'id').length,
    typed: params.length - raw.length,
    raw,
  };
}

