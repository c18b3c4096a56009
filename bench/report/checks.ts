/**
 * The targets, evaluated on a run's numbers. A target whose inputs
 * are missing (no core, no C compiler) is reported with `pass: null`.
 */
import type { BenchResult, InvPoint, TargetCheck } from './schema.js';
import { QEMU_IOTLB_MAX } from '../qemu-policy/model.js';

type Numbers = Pick<BenchResult, 'workloads' | 'sweep' | 'invalidation'>;

function ratioCheck(r: Numbers, id: string, workload: string, limit: number, description: string): TargetCheck {
  const measured = r.workloads.find((w) => w.id === workload)?.ratios['core'] ?? null;
  return { id, description, measured, limit, sense: 'max', pass: measured === null ? null : measured <= limit, note: measured === null ? 'needs the wasm core and the native baseline' : `${workload}, core / native C` };
}

/** Cost at the fullest cache over cost at the emptiest, for the core. */
function growth(points: InvPoint[], kind: InvPoint['kind']): number | null {
  const own = points.filter((p) => p.kind === kind && p.nsPerCall['core'] !== undefined).sort((a, b) => a.cachedEntries - b.cachedEntries);
  if (own.length < 2) return null;
  return own[own.length - 1]!.nsPerCall['core']! / Math.max(1, own[0]!.nsPerCall['core']!);
}

function growthCheck(r: Numbers, kind: 'domain' | 'pasid'): TargetCheck {
  const measured = growth(r.invalidation, kind);
  return {
    id: `inv-${kind}-flat`, description: `${kind} invalidation time independent of IOTLB size (cost at full / cost at 1/64 full)`,
    measured, limit: 2, sense: 'max', pass: measured === null ? null : measured <= 2, note: 'ratio of medians; timer granularity is ~20-50 ns',
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

/** Evaluates every target of issue 9. */
export function evaluateTargets(r: Numbers): TargetCheck[] {
  return [
    ratioCheck(r, 'batched-hit-cycle', 'iotlb-hit-cycle/batch', 1.3, 'batched IOTLB hit (fixed cycle) <= 1.3x native C'),
    ratioCheck(r, 'batched-hit-random', 'iotlb-hit-random/batch', 1.3, 'batched IOTLB hit (uniform random) <= 1.3x native C'),
    ratioCheck(r, 'batched-miss-walk-4level', 'miss-walk-ss4-4k/batch', 1.5, 'batched 4-level miss + walk <= 1.5x native C'),
    ratioCheck(r, 'per-call-translate', 'iotlb-hit-random/percall', 2.5, 'per-call translate <= 2.5x native C'),
    growthCheck(r, 'domain'),
    growthCheck(r, 'pasid'),
    pteReadCheck(r),
  ];
}
