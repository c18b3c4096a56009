/**
 * IOAS map / unmap / lookup cost as the IOAS grows (issue 17: building a
 * shadow was quadratic because every map was linear in the mappings
 * already there). For each point the IOAS holds N 4 KiB mappings (every
 * other page) with a device attached through an automatic domain, on the
 * VMM's physical host (the wasm core is the physical IOMMU: second-stage
 * tables in its RAM, IOTLB flushes into it), as a shadow IOAS is; then maps
 * into the free pages between them and unmaps again through the context's
 * API (argument checks, interval map, table writes and flushes included).
 * Lookups go to the IOAS's interval map. Reports ns per call at each point
 * (the fastest of several short rounds: the machine is shared, and
 * preemption only ever adds time) and the growth from the smallest to the
 * largest point, which must stay logarithmic (a flat line up to a small
 * factor).
 */
import { PhysicalHost } from '../host/src/vmm/physical-host.js';
import type { Ioas } from '../host/src/hostiommu/ioas.js';
import { nowNs } from './harness/target.js';

/** The scaling points: mappings already in the IOAS. */
export const IOAS_MAP_POINTS = [1, 64, 1024, 16000] as const;

/** Largest allowed (ns per map at the largest point) / (ns per map at the smallest). */
export const IOAS_MAP_MAX_GROWTH = 3;

/** One scaling point. */
export interface IoasMapPoint {
  /** Mappings in the IOAS while measuring. */
  mappings: number;
  /** ns of one `ioasMap` (fixed IOVA, 4 KiB, one domain mirrored), fastest round. */
  mapNs: number;
  /** ns of one `ioasUnmap` of such a mapping, fastest round. */
  unmapNs: number;
  /** ns of one IOVA -> host address lookup, fastest round. */
  lookupNs: number;
}

/** The `ioas-map` row. */
export interface IoasMapResult {
  id: 'ioas-map';
  description: string;
  points: IoasMapPoint[];
  /** mapNs at the largest point / mapNs at the smallest. */
  growth: number;
  /** growth <= IOAS_MAP_MAX_GROWTH. */
  pass: boolean;
}

/** Sizes of a run. */
export interface IoasMapSizes {
  /** Map+unmap pairs per round. */
  ops: number;
  /** Rounds (the fastest is reported). */
  rounds: number;
  /** Scaling points (default IOAS_MAP_POINTS). */
  points?: readonly number[];
}

const PAGE = 0x1000n;

const fastest = (xs: number[]): number => Math.min(...xs);

/** Measures one point: an IOAS with `n` mappings and a domain. */
async function measurePoint(n: number, sizes: IoasMapSizes): Promise<IoasMapPoint> {
  const host = await PhysicalHost.create({ guestRamMib: 16 });
  const ctx = host.platform.createContext('bench');
  const ioas = ctx.ioasAlloc();
  host.platform.addDevice(0x18, { reserved: null });
  ctx.attach(ctx.bindDevice(host.platform.openDevice(0x18)), ioas);
  const hpa = (i: number | bigint): bigint => host.hpaOf((BigInt(i) * PAGE) % 0x100_0000n);
  for (let i = 0; i < n; i++) ctx.ioasMap(ioas, { iova: BigInt(2 * i) * PAGE, hpa: hpa(i), len: PAGE });
  const area = (ctx as unknown as { table: { peek(id: number): Ioas } }).table.peek(ioas);
  const map: number[] = [];
  const unmap: number[] = [];
  const lookup: number[] = [];
  let sink = 0n;
  for (let r = 0; r < sizes.rounds; r++) {
    const spread = Math.max(n, sizes.ops); // distinct free pages: between the mappings, and past them for small n
    const slots = Array.from({ length: sizes.ops }, (_, k) => BigInt(2 * ((k * 7919 + r * 104729) % spread) + 1) * PAGE);
    let t0 = nowNs();
    for (const iova of slots) ctx.ioasMap(ioas, { iova, hpa: hpa(iova / PAGE), len: PAGE });
    map.push((nowNs() - t0) / slots.length);
    t0 = nowNs();
    for (const iova of slots) sink += area.lookup(iova - PAGE) ?? 0n;
    lookup.push((nowNs() - t0) / slots.length);
    t0 = nowNs();
    for (const iova of slots) ctx.ioasUnmap(ioas, iova, PAGE);
    unmap.push((nowNs() - t0) / slots.length);
  }
  if (sink < 0n) throw new Error('unreachable');
  ctx.close();
  return { mappings: n, mapNs: fastest(map), unmapNs: fastest(unmap), lookupNs: fastest(lookup) };
}

/** Runs every scaling point. */
export async function measureIoasMap(sizes: IoasMapSizes = { ops: 128, rounds: 15 }): Promise<IoasMapResult> {
  const ns = sizes.points ?? IOAS_MAP_POINTS;
  await measurePoint(ns[0]!, sizes); // warm the JIT and the wasm tiers up before the first point counts
  const points: IoasMapPoint[] = [];
  for (const n of ns) points.push(await measurePoint(n, sizes));
  const growth = points[points.length - 1]!.mapNs / points[0]!.mapNs;
  return {
    id: 'ioas-map',
    description: `IOAS map/unmap/lookup of a 4 KiB mapping with ${points.map((p) => p.mappings).join(' / ')} mappings present (one domain mirrored)`,
    points,
    growth,
    pass: growth <= IOAS_MAP_MAX_GROWTH,
  };
}
