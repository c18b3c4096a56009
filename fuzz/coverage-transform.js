/**
 * AssemblyScript compiler transform: coverage probes for the fuzzer, with no
 * edit of the core's sources.
 *
 *   asc asm/assembly/index.ts --use COVERAGE=1 --transform ./fuzz/coverage-transform.js ...
 *
 * When the build defines `COVERAGE=1`, every function/method body, both arms
 * of every `if` (an empty `else` is added), every `switch` case and every
 * loop body of the user sources (not `~lib`) start with `__covHit(id)`. The
 * probe bumps a saturating byte counter in a map carved from linear memory
 * with `memory.data` (so it never overlaps the core's state or guest RAM).
 * An injected entry file exports `covPtr()`, `covSize()` (bytes in the map)
 * and `covCount()` (probes placed). The probe table (id -> file:line kind) is
 * written to `build/viommu.coverage.probes.json`. The core's one guest-memory
 * offset function (`ramOffset(gpa, len)`) also starts with `__ramTouch`,
 * which marks the guest pages of every access in a bitmap (`ramTouchPtr()`,
 * `ramTouchPages()`; a summary bit per 32 pages, `ramTouchSummaryPtr()`;
 * `ramTouchSetBase()` moves the window, e.g. to a VMM physical host's VM RAM): the fuzzer zeroes just those pages between
 * executions of a reused machine (fuzz/machine-pool.ts, fuzz/vmm-run.ts).
 */
import { Transform } from 'assemblyscript/transform';
import { Node, NodeKind } from 'assemblyscript';

/* global i64_new: the compiler's portable 64-bit integer constructor */

/** Map size: ids are taken modulo this (a power of two, larger than any probe count seen). */
const MAP_SIZE = 1 << 14;
/**
 * Guest pages the touched-page bitmap covers: GPAs below 2 GiB (the
 * fuzzer's q35 machines have far less RAM; the Arm machine's RAM starts at
 * 1 GiB, fuzz/smmu/machine-pool.ts). 16 KiB of bitmap, 512 bytes of summary.
 */
const RAM_TOUCH_PAGES = 1 << 17;
/** The function of the core every guest-memory access computes its offset with (asm/assembly/mem/ram.ts). */
const RAM_OFFSET_FN = 'ramOffset';
const RUNTIME_PATH = 'fuzz-coverage-runtime';
/** Where the probe table goes (next to build/viommu.coverage.wasm). */
const PROBES_FILE = 'build/viommu.coverage.probes.json';

/** The injected runtime: map, probe and exports. */
function runtimeSource(count) {
  return `
const COV_MAP: usize = memory.data(${MAP_SIZE});
// @ts-ignore: decorator
@global @inline export function __covHit(id: i32): void {
  const p = COV_MAP + <usize>id;
  const v = load<u8>(p);
  store<u8>(p, v + <u8>(v != 255));
}
/** Address of the coverage map in linear memory. */
export function covPtr(): usize { return COV_MAP; }
/** Size of the coverage map in bytes. */
export function covSize(): u32 { return ${MAP_SIZE}; }
/** Number of probes the transform placed (ids 0..covCount()-1). */
export function covCount(): u32 { return ${count}; }

// Guest pages at or above RAM_TOUCH_BASE the core computed an offset for (mem/ram.ts ramOffset),
// page base + p * 4096 at bit p mod RAM_TOUCH_PAGES: every page it read or wrote, so the fuzzer
// can zero just those between executions. The base is 0 unless set (a VMM's physical host: its
// VM's RAM window); the fold lets RAM above the bitmap's reach (the Arm machine's, from 1 GiB) be tracked.
const RAM_TOUCH_PAGES: u32 = ${RAM_TOUCH_PAGES};
const RAM_TOUCH: usize = memory.data(${RAM_TOUCH_PAGES / 8});
// One bit per u32 word of the bitmap (32 pages), set with any bit of the word: the fuzzer visits
// only the flagged words (a reset read all 4,096 words of the bitmap before).
const RAM_TOUCH_SUMMARY: usize = memory.data(${RAM_TOUCH_PAGES / 256});
let RAM_TOUCH_BASE: u64 = 0;
// @ts-ignore: decorator
@global @inline export function __ramTouch(addr: u64, len: u64): void {
  if (addr < RAM_TOUCH_BASE) return;
  const gpa = addr - RAM_TOUCH_BASE;
  const first = gpa >> 12;
  let last = (gpa + (len > 0 ? len - 1 : 0)) >> 12;
  if (last < first || last - first >= <u64>RAM_TOUCH_PAGES) last = first + <u64>RAM_TOUCH_PAGES - 1; // every bit
  for (let p = first; p <= last; p++) {
    const b = <u32>p & (RAM_TOUCH_PAGES - 1);
    const at = RAM_TOUCH + <usize>(b >> 3);
    store<u8>(at, load<u8>(at) | <u8>(<u32>1 << (b & 7)));
    const sum = RAM_TOUCH_SUMMARY + <usize>(b >> 8);
    store<u8>(sum, load<u8>(sum) | <u8>(<u32>1 << ((b >> 5) & 7)));
  }
}
/** Address of the touched-page bitmap (bit p mod ramTouchPages(): the page base + p * 4096). */
export function ramTouchPtr(): usize { return RAM_TOUCH; }
/** Address of the bitmap's summary: bit w is set when u32 word w of the bitmap may have a bit set (ramTouchPages() / 32 bits). */
export function ramTouchSummaryPtr(): usize { return RAM_TOUCH_SUMMARY; }
/** Bits of the bitmap (the page base + p * 4096 is bit p mod this; pages below base + this * 4 KiB have a bit each). */
export function ramTouchPages(): u32 { return RAM_TOUCH_PAGES; }
/** Bit p of the bitmap is the page at base + p * 4096 from now on (base 4 KiB aligned, as two u32 halves: no BigInt). */
export function ramTouchSetBase(hi: u32, lo: u32): void { RAM_TOUCH_BASE = ((<u64>hi << 32) | <u64>lo) & ~<u64>0xfff; }
`;
}

/** True when the build defines COVERAGE=1 (`--use COVERAGE=1`). */
function coverageOn(options) {
  const aliases = options && options.globalAliases;
  if (!aliases) return false;
  const v = typeof aliases.get === 'function' ? aliases.get('COVERAGE') : aliases['COVERAGE'];
  return v === '1' || v === 'true';
}

class Instrumenter {
  constructor() {
    this.probes = [];
  }

  /** A `__covHit(id);` statement, recording where it stands. */
  probe(range, kind) {
    const id = this.probes.length;
    const src = range.source;
    this.probes.push({ id, file: src.normalizedPath, line: src.lineAt(range.start), kind });
    const callee = Node.createIdentifierExpression('__covHit', range);
    const arg = Node.createIntegerLiteralExpression(i64_new(id, 0), range);
    return Node.createExpressionStatement(Node.createCallExpression(callee, null, [arg], range));
  }

  /** `stmt` as a block starting with a probe. */
  wrap(stmt, range, kind) {
    const p = this.probe(range, kind);
    if (stmt && stmt.kind === NodeKind.Block) {
      this.statements(stmt.statements);
      stmt.statements.unshift(p);
      return stmt;
    }
    const inner = stmt ? [stmt] : [];
    if (stmt) this.statement(stmt);
    return Node.createBlockStatement([p, ...inner], stmt ? stmt.range : range);
  }

  statements(list) {
    for (const s of list) this.statement(s);
  }

  function(decl) {
    const body = decl.body;
    if (!body || body.kind !== NodeKind.Block) return; // declare / expression-bodied arrows
    this.statements(body.statements);
    body.statements.unshift(this.probe(decl.range, `fn ${decl.name ? decl.name.text : '?'}`));
    if (decl.name && decl.name.text === RAM_OFFSET_FN) body.statements.unshift(this.ramTouch(decl));
  }

  /** `__ramTouch(gpa, len);` with the function's own first two parameters. */
  ramTouch(decl) {
    const params = decl.signature.parameters;
    if (params.length < 2) throw new Error(`coverage-transform: ${RAM_OFFSET_FN} no longer takes (gpa, len)`);
    const r = decl.range;
    const arg = (p) => Node.createIdentifierExpression(p.name.text, r);
    this.ramTouchPlaced = true;
    return Node.createExpressionStatement(Node.createCallExpression(Node.createIdentifierExpression('__ramTouch', r), null, [arg(params[0]), arg(params[1])], r));
  }

  statement(s) {
    switch (s.kind) {
      case NodeKind.FunctionDeclaration:
      case NodeKind.MethodDeclaration:
        this.function(s);
        return;
      case NodeKind.ClassDeclaration:
      case NodeKind.NamespaceDeclaration:
        this.statements(s.members);
        return;
      case NodeKind.Block:
        this.statements(s.statements);
        return;
      case NodeKind.If:
        s.ifTrue = this.wrap(s.ifTrue, s.ifTrue.range, 'if');
        s.ifFalse = this.wrap(s.ifFalse, s.ifFalse ? s.ifFalse.range : s.range, 'else');
        return;
      case NodeKind.Switch:
        for (const c of s.cases) {
          this.statements(c.statements);
          c.statements.unshift(this.probe(c.range, c.label ? 'case' : 'default'));
        }
        return;
      case NodeKind.While:
      case NodeKind.Do:
      case NodeKind.For:
      case NodeKind.ForOf:
        s.body = this.wrap(s.body, s.body.range, 'loop');
        return;
      default:
        return;
    }
  }
}

/** The transform asc loads with `--transform`. */
export default class CoverageTransform extends Transform {
  afterParse(parser) {
    if (!coverageOn(parser.options)) return;
    const ins = new Instrumenter();
    const user = parser.sources.filter((s) => !s.normalizedPath.startsWith('~lib/'));
    for (const src of user) ins.statements(src.statements);
    if (ins.probes.length > MAP_SIZE) throw new Error(`coverage-transform: ${ins.probes.length} probes exceed the map (${MAP_SIZE})`);
    if (!ins.ramTouchPlaced) throw new Error(`coverage-transform: found no ${RAM_OFFSET_FN}(gpa, len) to record touched guest pages in`);
    parser.parseFile(runtimeSource(ins.probes.length), RUNTIME_PATH, true);
    this.probes = ins.probes;
  }

  afterCompile() {
    if (!this.probes) return;
    this.writeFile(PROBES_FILE, JSON.stringify({ count: this.probes.length, probes: this.probes }) + '\n', this.baseDir);
  }
}
