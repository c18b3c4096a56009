/**
 * The issues' targets, evaluated on a run's numbers. Ids name what they
 * measure; ratios are to `native` (the lean C baseline, bench/native/lean.c).
 * A target whose inputs are missing (no core, no C compiler) is reported
 * with `pass: null`. Probes (bench/probes/) add their own rows.
 */
import type { BenchResult, InvPoint, MultiContextPoint, TargetCheck } from './schema.js';
import { QEMU_IOTLB_MAX } from '../qemu-policy/model.js';

type Numbers = Pick<BenchResult, 'workloads' | 'sweep' | 'invalidation' | 'multiContext'>;

function ratioCheck(r: Numbers, id: string, workload: string, limit: number, description: string): TargetCheck {
  const w = r.workloads.find((x) => x.id === workload);
  const measured = w?.ratios['core'] ?? null;
  const plain = w?.results['native-plain'] && w.results['core'] ? w.results['core'].nsPerOp / w.results['native-plain'].nsPerOp : undefined;
  return {
    id, description, measured, limit, sense: 'max', pass: measured === null ? null : measured <= limit,
    note: measured === null ? 'needs the wasm core and the native baseline' : `${workload}, core / native C (lean)`,
    ...(w && measured !== null ? { beside: { 'core ns': w.results['core']!.nsPerOp, 'native ns': w.results['native']!.nsPerOp, ...(plain ? { 'core / native-plain': plain } : {}) } } : {}),
  };
}

/** Extra ns per call of the core at the fullest cache over the emptiest (null without two points). */
function growth(points: InvPoint[], kind: InvPoint['kind']): number | null {
  const own = points.filter((p) => p.kind === kind && p.nsPerCall['core'] !== undefined).sort((a, b) => a.cachedEntries - b.cachedEntries);
  if (own.length < 2) return null;
  return own[own.length - 1]!.nsPerCall['core']! - own[0]!.nsPerCall['core']!;
}

/** Slack for "independent of size": well under what scanning even 1/64 of a full IOTLB would cost. */
const FLAT_LIMIT_NS = 50;

function growthCheck(r: Numbers, kind: 'domain' | 'pasid'): TargetCheck {
  const measured = growth(r.invalidation, kind);
  return {
    id: `inv-${kind}-flat`, description: `${kind} invalidation independent of IOTLB size: extra ns per call when full vs 1/64 full`,
    measured, limit: FLAT_LIMIT_NS, sense: 'max', pass: measured === null ? null : measured <= FLAT_LIMIT_NS, unit: 'ns',
    note: 'medians of single calls minus an empty call; a scan of N entries would add >= N ns',
  };
}

function pteReadCheck(r: Numbers): TargetCheck {
  const big = r.sweep.filter((p) => p.setPages > QEMU_IOTLB_MAX && p.results['core'] && p.results['qemu']);
  const withMisses = big.filter((p) => p.results['core']!.pteReadsPerOp > 0);
  const ratios = withMisses.map((p) => p.results['qemu']!.pteReadsPerOp / p.results['core']!.pteReadsPerOp);
  const measured = ratios.length ? Math.min(...ratios) : null;
  const pass = big.length === 0 ? null : measured === null ? true : measured >= 3;
  return {
    id: 'pte-reads-vs-qemu', description: `page-table reads per translation, QEMU-policy model / core, worst sweep point above ${QEMU_IOTLB_MAX} pages`,
    measured, limit: 3, sense: 'min', pass, note: big.length === 0 ? 'needs the wasm core' : measured === null ? 'the core read no page-table entries at these sizes' : undefined,
  };
}

/** Largest relative loss from 1 to 64 contexts, of hit rate or ns per translation, over both kinds. */
export const MULTI_CONTEXT_AT = 64;
const MULTI_CONTEXT_LIMIT = 0.1;

function multiContextCheck(r: Numbers): TargetCheck {
  const at = (kind: MultiContextPoint['kind'], n: number): MultiContextPoint | undefined => r.multiContext.find((p) => p.kind === kind && p.contexts === n && p.results['core']);
  const losses: number[] = [];
  const points: Record<string, number> = {};
  const beside: Record<string, number> = {};
  for (const kind of ['domains', 'pasids'] as const) {
    for (const p of r.multiContext.filter((x) => x.kind === kind && x.results['core'])) {
      points[`${kind}-${p.contexts} ns`] = p.results['core']!.nsPerOp;
      points[`${kind}-${p.contexts} hit %`] = p.results['core']!.hitRate * 100;
    }
    const one = at(kind, 1), many = at(kind, MULTI_CONTEXT_AT);
    if (!one || !many) continue;
    // Growth measured back to back in every round when the run paired the points, else of the medians.
    const growth = (label: string): number => many.growth?.[label] ?? many.results[label]!.nsPerOp / one.results[label]!.nsPerOp;
    losses.push(1 - many.results['core']!.hitRate / one.results['core']!.hitRate);
    losses.push(growth('core') - 1);
    // The same growth of the lean C on the same requests: what the workload itself costs (more memory touched).
    if (one.results['native'] && many.results['native']) beside[`native C ${kind} ${MULTI_CONTEXT_AT}/1 ns`] = growth('native');
  }
  const measured = losses.length ? Math.max(...losses) : null;
  return {
    id: 'multi-context', description: `hit rate and ns per translation with ${MULTI_CONTEXT_AT} domains or PASIDs on the same IOVAs vs 1: worst relative loss`,
    measured, limit: MULTI_CONTEXT_LIMIT, sense: 'max', pass: measured === null ? null : measured <= MULTI_CONTEXT_LIMIT, points, beside,
    note: measured === null ? 'needs the wasm core' : 'core, batch API; the 1024 points fill the whole IOTLB (informational)',
  };
}

/** Evaluates the translation targets (issues 9 and 17). */
export function evaluateTargets(r: Numbers): TargetCheck[] {
  return [
    ratioCheck(r, 'hit', 'iotlb-hit-random/batch', 1.3, 'batched IOTLB hit (uniform random) <= 1.3x native C'),
    ratioCheck(r, 'hit-cycle', 'iotlb-hit-cycle/batch', 1.3, 'batched IOTLB hit (fixed cycle) <= 1.3x native C'),
    ratioCheck(r, 'walk', 'miss-walk-ss4-4k/batch', 1.5, 'batched 4-level miss + walk <= 1.5x native C'),
    ratioCheck(r, 'per-call-translate', 'iotlb-hit-random/percall', 2.5, 'per-call translate <= 2.5x native C'),
    multiContextCheck(r),
    growthCheck(r, 'domain'),
    growthCheck(r, 'pasid'),
    pteReadCheck(r),
  ];
}
