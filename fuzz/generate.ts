/**
 * Structure-aware pieces the mutators insert: register writes with values
 * that mean something to the register (GCMD commands, RTADDR pointers,
 * CCMD/IOTLB invalidation requests, W1C clears), guest-memory writes of
 * VT-d structures (root/context/PASID entries, paging entries, §9) with
 * random fields, reserved bits and pointers at RAM edges, and queued
 * invalidation descriptors (§6.5.2) with the IQT write that submits them.
 * Encoders come from the spec layer (host/src/vtd/spec/).
 */
import { CONTEXT_ENTRY } from '../host/src/vtd/spec/context-entry.js';
import {
  ccDesc, devTlbDesc, iecDesc, iotlbDesc, pageGroupResponseDesc, pasidCacheDesc, pasidDevTlbDesc,
  pasidIotlbDesc, waitDesc,
} from '../host/src/vtd/spec/descriptors.js';
import { encodeFields, type Layout, layoutWords, reservedMask } from '../host/src/vtd/spec/field-codec.js';
import { FS_PTE } from '../host/src/vtd/spec/fs-pte.js';
import { PASID_DIR_ENTRY, PASID_ENTRY } from '../host/src/vtd/spec/pasid-entry.js';
import { ROOT_ENTRY } from '../host/src/vtd/spec/root-entry.js';
import { SM_CONTEXT_ENTRY } from '../host/src/vtd/spec/sm-context-entry.js';
import { SM_ROOT_ENTRY } from '../host/src/vtd/spec/sm-root-entry.js';
import { SS_PTE } from '../host/src/vtd/spec/ss-pte.js';
import { parseBdf } from '../host/src/types.js';
import { buildRegisterTable, type RegisterRow } from '../host/src/vtd/register-table.js';
import { createProfile } from '../host/src/vtd/profiles.js';
import { parseMachine } from '../host/src/scenario/parse.js';
import { GCMD, REG } from '../host/src/vtd/spec/registers.js';
import { inRam, ramRanges, type FuzzInput, type RawMachine, type Step } from './input.js';
import type { Rng } from './rng.js';

const PAGE = 0x1000n;
const PAGE_MASK = ~0xfffn;

/**
 * The register table of a machine's profile, cached by what it depends on
 * (profile and `iommu` block; a JSON key of the whole machine cost a tenth
 * of a mutant's making).
 */
const tableCache = new Map<string, RegisterRow[]>();
export function registerTableOf(m: RawMachine): RegisterRow[] {
  const i = m.iommu;
  const key = `${m.profile}|${i.scalable_mode}|${i.caching_mode}|${i.aw_bits}|${i.first_stage === true}`;
  let rows = tableCache.get(key);
  if (!rows) {
    const config = parseMachine(m); // the machine the replay builds
    rows = buildRegisterTable(createProfile(config.profile ?? 'default', config.iommu));
    tableCache.set(key, rows);
  }
  return rows;
}

/**
 * Pages worth pointing at, ascending: RAM edges and the pages the input
 * already uses (tables, queues, data). Pages below 2^53 (all RAM, and
 * nearly every pointer) are collected as numbers: a Set of bigints costs
 * ~115 ns per add, and this runs for most mutants.
 */
export function pointerPages(input: FuzzInput): bigint[] {
  const pages = new PageSet(input.machine.ram_mib);
  const ram = ramRanges(input.machine); // once, not per word (inRam built them for each: a sixth of the fuzzer's allocations)
  for (const s of input.steps) {
    if (s.op === 'mem.write') {
      pages.add(s.gpa & PAGE_MASK);
      for (const q of s.u64) {
        const page = q & 0x000f_ffff_ffff_f000n;
        if (ram.some((r) => page >= r.start && page + 8n <= r.end)) pages.add(page);
      }
    } else if (s.op === 'mem.fill') {
      pages.add(s.gpa & PAGE_MASK);
    } else if (s.op === 'mmio.write' && (s.offset === REG.RTADDR || s.offset === REG.IQA || s.offset === REG.PQA)) {
      pages.add(s.value & PAGE_MASK);
    }
  }
  return pages.sorted();
}

const SAFE_LIMIT = 1n << 53n;

/** The first and last page of each RAM range and the first page past it, as numbers, by RAM size. */
const edgesByMib = new Map<number, readonly number[]>();

/** A set of page addresses: numbers below 2^53, bigints above (rare: a register value). */
class PageSet {
  private readonly small: Set<number>;
  private large: Set<bigint> | undefined;

  /** Starts with the RAM edges of a machine of `mib` MiB. */
  constructor(mib: number) {
    let edges = edgesByMib.get(mib);
    if (!edges) {
      edges = ramRanges({ ram_mib: mib } as RawMachine).flatMap((r) => [Number(r.start), Number(r.end - PAGE), Number(r.end)]);
      edgesByMib.set(mib, edges);
    }
    this.small = new Set(edges);
  }

  add(page: bigint): void {
    if (page < SAFE_LIMIT) this.small.add(Number(page));
    else (this.large ??= new Set()).add(page);
  }

  /** The pages, ascending (a plain array sort: a Float64Array's off-heap store cost more in a session than the sort saved). */
  sorted(): bigint[] {
    const small = Array.from(this.small).sort((a, b) => a - b);
    const out = small.map(BigInt);
    if (this.large) out.push(...[...this.large].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    return out;
  }
}

/**
 * A page address: a known one (`known`: the input's `pointerPages`, which a
 * caller picking many pages of one input computes once; worked out here only
 * when needed) most of the time, else a random RAM page or a wild value.
 */
export function pickPage(rng: Rng, input: FuzzInput, known?: readonly bigint[]): bigint {
  const roll = rng.below(10);
  if (roll < 7) {
    const pages = known ?? pointerPages(input);
    if (pages.length > 0) return rng.pick(pages);
  }
  if (roll < 9) {
    const r = rng.pick(ramRanges(input.machine));
    const pages = Number((r.end - r.start) / PAGE);
    return r.start + BigInt(rng.below(pages)) * PAGE;
  }
  return rng.u64() & 0x000f_ffff_ffff_f000n;
}

/** Interesting 64-bit values for any register or field. */
export function interestingValue(rng: Rng, row?: RegisterRow): bigint {
  switch (rng.below(8)) {
    case 0: return 0n;
    case 1: return 0xffff_ffff_ffff_ffffn;
    case 2: return 1n << BigInt(rng.below(64));
    case 3: return row ? row.reset ^ (1n << BigInt(rng.below(8 * row.width))) : rng.u64();
    case 4: return row ? row.writable : 0xffff_ffffn;
    case 5: return row ? row.w1c | (row.writable & rng.u64()) : rng.u64();
    case 6: return BigInt(rng.u32());
    default: return rng.u64();
  }
}

const GCMD_BITS = [GCMD.TE, GCMD.SRTP, GCMD.SFL, GCMD.EAFL, GCMD.WBF, GCMD.QIE, GCMD.IRE, GCMD.SIRTP, GCMD.CFI];

/** A value for the named register that exercises its command or field semantics. */
function registerValue(rng: Rng, input: FuzzInput, row: RegisterRow): bigint {
  switch (row.name) {
    case 'GCMD': {
      let v = 0;
      for (const b of GCMD_BITS) if (rng.chance(0.3)) v |= b;
      return BigInt(v >>> 0);
    }
    case 'RTADDR': return pickPage(rng, input) | (BigInt(rng.below(4)) << 10n);
    case 'CCMD':
      return (1n << 63n) | (BigInt(rng.below(4)) << 61n) | (BigInt(rng.below(4)) << 32n)
        | (BigInt(rng.below(0x10000)) << 16n) | BigInt(rng.below(8));
    case 'IOTLB':
      return (1n << 63n) | (BigInt(rng.below(4)) << 60n) | (BigInt(rng.below(4)) << 48n) | (BigInt(rng.below(8)) << 32n);
    case 'IVA': return (BigInt(rng.below(0x10000)) << 12n) | BigInt(rng.below(2) << 6) | BigInt(rng.below(10));
    case 'IQA': return pickPage(rng, input) | (BigInt(rng.below(2)) << 11n) | BigInt(rng.below(3));
    case 'IQT': return BigInt(rng.below(64)) << 4n;
    case 'PQA': return pickPage(rng, input) | BigInt(rng.below(3));
    default: return interestingValue(rng, row);
  }
}

/** An `mmio.write` (mostly to a real register, in 4- or 8-byte form) or an `mmio.read`. */
export function mmioStep(rng: Rng, input: FuzzInput, write: boolean): Step {
  const rows = registerTableOf(input.machine);
  let offset: number;
  let size: 4 | 8;
  let value = 0n;
  if (rng.chance(0.85)) {
    const row = rng.pick(rows);
    const high = row.width === 8 && rng.chance(0.25);
    offset = row.offset + (high ? 4 : 0);
    size = high ? 4 : row.width === 8 && rng.chance(0.7) ? 8 : 4;
    value = registerValue(rng, input, row);
    if (high) value >>= 32n;
  } else {
    offset = rng.below(0x400) * 4;
    size = offset + 8 <= 0x1000 && rng.chance(0.5) ? 8 : 4;
    value = interestingValue(rng);
  }
  if (size === 4) value &= 0xffff_ffffn;
  return write ? { op: 'mmio.write', offset, size, value } : { op: 'mmio.read', offset, size };
}

/** The VT-d structures the fuzzer writes, each with its entry size and where entries usually sit. */
const STRUCTURES: { name: string; layout: Layout; index: (rng: Rng, input: FuzzInput) => number; bytes?: number }[] = [
  { name: 'root', layout: ROOT_ENTRY, index: () => 0 },
  { name: 'sm-root', layout: SM_ROOT_ENTRY, index: () => 0 },
  { name: 'context', layout: CONTEXT_ENTRY, index: (rng, i) => devfnOf(rng, i) },
  { name: 'sm-context', layout: SM_CONTEXT_ENTRY, index: (rng, i) => devfnOf(rng, i) & 0x7f },
  { name: 'pasid-dir', layout: PASID_DIR_ENTRY, index: (rng) => rng.below(4) },
  { name: 'pasid', layout: PASID_ENTRY, index: (rng) => rng.below(2) },
  { name: 'ss-pte', layout: SS_PTE, index: (rng, i) => pteIndex(rng, i) },
  { name: 'fs-pte', layout: FS_PTE, index: (rng, i) => pteIndex(rng, i) },
];

function devfnOf(rng: Rng, input: FuzzInput): number {
  const devs = input.machine.devices;
  return devs.length > 0 && rng.chance(0.8) ? parseBdf(rng.pick(devs).bdf) & 0xff : rng.below(256);
}

/** The index of a DMA address of the input at a random level, else a random index. */
function pteIndex(rng: Rng, input: FuzzInput): number {
  const isDma = (s: Step): s is Extract<Step, { op: 'dma.read' | 'dma.write' }> => s.op === 'dma.read' || s.op === 'dma.write';
  let n = 0;
  for (const s of input.steps) if (isDma(s)) n++;
  if (n === 0 || rng.chance(0.2)) return rng.below(512);
  let k = rng.below(n); // the k-th DMA step (no array of them: this ran for every table entry generated)
  const s = input.steps.find((x) => isDma(x) && k-- === 0) as Extract<Step, { op: 'dma.read' }>;
  return Number((s.iova >> BigInt(12 + 9 * rng.below(4))) & 0x1ffn);
}

/** How randomEntry fills one field of a layout (worked out once per layout, not per entry). */
type FieldPlan =
  | { readonly name: string; readonly kind: 'flag'; readonly p: number }
  | { readonly name: string; readonly kind: 'addr'; readonly mask: bigint }
  | { readonly name: string; readonly kind: 'uint'; readonly small: number; readonly any: number };

const plans = new Map<Layout, readonly FieldPlan[]>();
function fieldPlan(layout: Layout): readonly FieldPlan[] {
  let plan = plans.get(layout);
  if (!plan) {
    plan = Object.entries(layout).flatMap(([name, f]): FieldPlan[] => {
      if (f.kind === 'rsvd') return [];
      if (f.kind === 'flag') return [{ name, kind: 'flag', p: /^(L?P|UP|R|W)$/.test(name) ? 0.85 : 0.25 }]; // present / permission bits mostly set
      if (f.kind === 'addr') return [{ name, kind: 'addr', mask: ((1n << BigInt(f.hi + 1)) - 1n) & PAGE_MASK }];
      const width = f.hi - f.lo + 1;
      return [{ name, kind: 'uint', small: 2 ** width - 1, any: 2 ** Math.min(width, 30) }];
    });
    plans.set(layout, plan);
  }
  return plan;
}

/** Random fields for a layout: present bits mostly set, pointers to pages, sometimes reserved bits. */
function randomEntry(rng: Rng, input: FuzzInput, layout: Layout, known: readonly bigint[]): bigint[] {
  const fields: Record<string, boolean | number | bigint> = {};
  for (const f of fieldPlan(layout)) {
    if (f.kind === 'flag') fields[f.name] = rng.chance(f.p);
    else if (f.kind === 'addr') fields[f.name] = pickPage(rng, input, known) & f.mask;
    else fields[f.name] = rng.chance(0.7) ? Math.min(rng.below(4), f.small) : rng.below(f.any);
  }
  const words = encodeFields(layout, fields as never);
  if (rng.chance(0.15)) {
    const rsvd = reservedMask(layout);
    const w = rng.below(words.length);
    words[w] = words[w]! | (rsvd[w]! & (1n << BigInt(rng.below(64))));
  }
  return words;
}

/** A `mem.write` of one VT-d structure entry at a known page (natural index, or a random slot). */
export function tableEntryStep(rng: Rng, input: FuzzInput): Step | undefined {
  const s = rng.pick(STRUCTURES);
  const bytes = (s.bytes ??= 8 * layoutWords(s.layout));
  const slot = rng.chance(0.8) ? s.index(rng, input) : rng.below(Number(PAGE) / bytes);
  const known = pointerPages(input);
  const gpa = pickPage(rng, input, known) + BigInt(slot * bytes);
  const u64 = randomEntry(rng, input, s.layout, known);
  return inRam(input.machine, gpa, 8 * u64.length) ? { op: 'mem.write', gpa, u64 } : undefined;
}

/** Descriptor builders with random arguments (valid types and a few nonsense ones). */
const DESCRIPTORS: ((rng: Rng, input: FuzzInput) => bigint[])[] = [
  (r) => ccDesc(r.below(4), r.below(8), r.below(0x10000), r.below(4)),
  (r) => iotlbDesc(r.below(4), r.below(8), BigInt(r.below(0x10000)) << 12n, r.below(10), r.below(2), { dr: r.below(2), dw: r.below(2) }),
  (r) => devTlbDesc(r.below(0x100), BigInt(r.below(0x10000)) << 12n, r.below(2)),
  (r) => iecDesc(r.below(2), r.below(0x10000), r.below(32)),
  (r, i) => waitDesc({ sw: r.chance(0.6), if: r.chance(0.5), fn: r.chance(0.2), pd: r.chance(0.1), data: r.u32(), addr: pickPage(r, i) + BigInt(r.below(1024) * 4) }),
  (r) => pasidIotlbDesc(r.below(4), r.below(8), r.below(0x100), BigInt(r.below(0x10000)) << 12n, r.below(10), r.below(2)),
  (r) => pasidCacheDesc(r.below(4), r.below(8), r.below(0x100)),
  (r) => pasidDevTlbDesc(r.below(0x100), r.below(0x100), BigInt(r.below(0x10000)) << 12n, { size: r.below(2), global: r.chance(0.3) }),
  (r) => pageGroupResponseDesc(r.below(0x100), r.below(0x200), r.below(16), r.chance(0.5) ? { pasid: r.below(0x100) } : {}),
  (r) => [r.u64(), r.u64(), r.u64(), r.u64()],
];

/** The last value the input wrote to a 64-bit register at `offset` (8-byte or low-dword write). */
function lastWrite(input: FuzzInput, offset: number): bigint | undefined {
  for (let i = input.steps.length - 1; i >= 0; i--) {
    const s = input.steps[i]!;
    if (s.op === 'mmio.write' && s.offset === offset) return s.value;
  }
  return undefined;
}

/**
 * Steps that submit one queued-invalidation descriptor: (IQA write and
 * GCMD.QIE if the input has no queue yet), the descriptor at the tail slot,
 * and the IQT write that moves the tail past it. `descriptor` picks the
 * descriptor (default: a random one of DESCRIPTORS).
 */
export function qiSteps(rng: Rng, input: FuzzInput, descriptor?: (rng: Rng, input: FuzzInput) => bigint[]): Step[] {
  const steps: Step[] = [];
  let iqa = lastWrite(input, REG.IQA);
  if (iqa === undefined || rng.chance(0.1)) {
    const dw = input.machine.iommu.scalable_mode && rng.chance(0.5) ? 1n << 11n : 0n;
    iqa = pickPage(rng, input) | dw;
    steps.push({ op: 'mmio.write', offset: REG.IQA, size: 8, value: iqa });
    steps.push({ op: 'mmio.write', offset: REG.GCMD, size: 4, value: BigInt((GCMD.QIE | (rng.chance(0.5) ? GCMD.TE : 0)) >>> 0) });
  }
  const descBytes = iqa & (1n << 11n) ? 32n : 16n;
  const entries = (256n << (iqa & 7n)) * 16n / descBytes;
  const tail = ((lastWrite(input, REG.IQT) ?? 0n) & 0x7fff0n) / descBytes;
  const slot = rng.chance(0.9) ? tail % entries : BigInt(rng.below(Number(entries)));
  let desc = (descriptor ?? rng.pick(DESCRIPTORS))(rng, input);
  desc = descBytes === 32n ? [...desc, 0n, 0n].slice(0, 4) : desc.slice(0, 2);
  const gpa = (iqa & PAGE_MASK) + slot * descBytes;
  if (inRam(input.machine, gpa, 8 * desc.length)) steps.push({ op: 'mem.write', gpa, u64: desc });
  steps.push({ op: 'mmio.write', offset: REG.IQT, size: 8, value: (((slot + 1n) % entries) * descBytes) & 0x7fff0n });
  return steps;
}

/** A DMA from one of the machine's devices near an address the input already uses, or anywhere. */
export function dmaStep(rng: Rng, input: FuzzInput): Step | undefined {
  const devs = input.machine.devices.filter((d) => d.kind === 'dma-test'); // dma.* steps drive dma-test devices
  if (devs.length === 0) return undefined;
  const known = dmaIovas(input);
  let iova: bigint;
  if (known.length > 0 && rng.chance(0.6)) iova = (rng.pick(known) & PAGE_MASK) + BigInt(rng.between(-2, 2)) * PAGE;
  else iova = BigInt(rng.below(0x1_0000)) << 12n;
  iova = BigInt.asUintN(64, iova) + BigInt(rng.chance(0.3) ? rng.below(4096) : 0);
  const len = rng.pick([1, 4, 8, 64, 4095, rng.between(1, 4095)]);
  return { op: rng.chance(0.5) ? 'dma.read' : 'dma.write', bdf: rng.pick(devs).bdf, iova, len };
}

/** The IOVAs of the input's `dma.*` steps, in order (one loop, no array per step: every DMA generator asks). */
export function dmaIovas(input: FuzzInput): bigint[] {
  const out: bigint[] = [];
  for (const s of input.steps) if (s.op === 'dma.read' || s.op === 'dma.write') out.push(s.iova);
  return out;
}
