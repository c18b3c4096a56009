/**
 * Shadow-mode build cost (issue 19: one guest context-cache invalidation
 * took 1.8 s at 4K leaves, 14 s at 16K and more than 170 s at 256K). A
 * shadow-mode VM on the VMM's physical host; the guest maps N 4 KiB leaves
 * in one legacy second-stage table (its device already attached to the
 * domain), then issues one global context-cache invalidation through its
 * queue: the VMM re-reads the guest's tables and builds the host mappings.
 * Measured: that invalidation (the build), a second one with nothing
 * changed (the re-check), and the host mappings made, for guest leaves whose
 * GPAs follow their IOVAs (host mappings coalesce into runs) and for
 * scattered GPAs (one host map call per leaf). The time per leaf must stay
 * flat from the smallest point to the largest (linear work); a build whose
 * cost is over the work budget of one guest access (vmm/work-budget.ts) is
 * refused, the domain blocked, and the row says so.
 */
import { bootGuest, startIommu } from '../host/src/flows/guest-side.js';
import type { ShadowMode } from '../host/src/vmm/shadow.js';
import { ccDesc } from '../host/src/vtd/spec/descriptors.js';
import { encodeSsPte } from '../host/src/vtd/spec/ss-pte.js';
import { nowNs } from './harness/target.js';

/** The scaling points: guest leaves in the shadowed domain. */
export const SHADOW_BUILD_POINTS = [4096, 16384, 262144] as const;

/** Largest allowed (ns per leaf at the largest point) / (ns per leaf at the smallest). */
export const SHADOW_BUILD_MAX_GROWTH = 3;

/** Guest leaf layouts: GPAs in IOVA order (host mappings coalesce), or scattered (one host mapping per leaf). */
export type ShadowLayout = 'contiguous' | 'scattered';

/** One scaling point. */
export interface ShadowBuildPoint {
  layout: ShadowLayout;
  /** 4 KiB leaves in the guest table. */
  leaves: number;
  /** ms of the context-cache invalidation that builds the shadow. */
  buildMs: number;
  /** ms of a second context-cache invalidation (nothing changed). */
  recheckMs: number;
  /** Host mappings the VMM holds afterwards. */
  mappings: number;
  /** Host map calls made by the build. */
  mapCalls: number;
  /** The build was over the access's work budget: the domain is blocked, nothing mapped. */
  blocked: boolean;
}

/** The `shadow-build` row. */
export interface ShadowBuildResult {
  id: 'shadow-build';
  description: string;
  points: ShadowBuildPoint[];
  /** (buildMs / leaves) at the largest point over the smallest, contiguous layout. */
  growth: number;
  /** growth <= SHADOW_BUILD_MAX_GROWTH. */
  pass: boolean;
}

const PAGE = 0x1000n;
const RW = encodeSsPte({ R: true, W: true });
const DID = 5;

/** GPA page of leaf `i` (within the first 8 MiB of guest RAM; the guest may alias). */
const gpaPage = (layout: ShadowLayout, i: number): bigint => BigInt(layout === 'contiguous' ? i % 2048 : (i * 1031) % 2048);

/** Measures one point. */
async function measurePoint(layout: ShadowLayout, leaves: number): Promise<ShadowBuildPoint> {
  const g = await bootGuest({ mode: 'shadow', devices: [{ bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' }] });
  const ss = g.iommu.attachLegacy(0x18, { did: DID, levels: 4 });
  startIommu(g);
  for (let i = 0; i < leaves; i++) ss.map(BigInt(i) * PAGE, gpaPage(layout, i) * PAGE, 12, RW);
  const mode = g.vm.modeHandler as ShadowMode;
  const maps0 = mode.stats.maps;
  let t0 = nowNs();
  g.qi.submitSync([ccDesc(1)]);
  const buildMs = (nowNs() - t0) / 1e6;
  const mapCalls = mode.stats.maps - maps0;
  t0 = nowNs();
  g.qi.submitSync([ccDesc(1)]);
  const recheckMs = (nowNs() - t0) / 1e6;
  const mappings = [...mode.domains.values()].reduce((n, d) => n + d.mappedPages(), 0);
  const blocked = [...mode.domains.values()].some((d) => d.blocked);
  g.vm.close();
  return { layout, leaves, buildMs, recheckMs, mappings, mapCalls, blocked };
}

/** Measures every point (default SHADOW_BUILD_POINTS) in both layouts. */
export async function measureShadowBuild(points: readonly number[] = SHADOW_BUILD_POINTS): Promise<ShadowBuildResult> {
  const out: ShadowBuildPoint[] = [];
  for (const layout of ['contiguous', 'scattered'] as const) for (const n of points) out.push(await measurePoint(layout, n));
  const per = (p: ShadowBuildPoint) => p.buildMs / p.leaves;
  const contiguous = out.filter((p) => p.layout === 'contiguous');
  const growth = per(contiguous[contiguous.length - 1]!) / per(contiguous[0]!);
  return {
    id: 'shadow-build',
    description: 'one guest context-cache invalidation that shadows N 4 KiB guest leaves into the host (shadow-mode VM)',
    points: out, growth, pass: growth <= SHADOW_BUILD_MAX_GROWTH,
  };
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const points = process.argv.slice(2).map(Number);
  console.log(JSON.stringify(await measureShadowBuild(points.length ? points : SHADOW_BUILD_POINTS), null, 2));
}
