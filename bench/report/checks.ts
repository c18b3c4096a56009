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
    measured, limit: FLAT_LIMIT_NS, sense: 'max', pass: measured === null ? null : measured <= FLAT_LIMIT_NS,
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
