/**
 * Probe `ioas-map`: IOAS map cost as the IOAS grows (bench/ioas-map.ts,
 * issue 17: building a shadow must not be quadratic). Measured: ns per map
 * at the largest point over the smallest (logarithmic growth stays small);
 * the map / unmap / lookup ns of every point beside it.
 */
import { IOAS_MAP_MAX_GROWTH, measureIoasMap } from '../ioas-map.js';
import { registerProbe } from './probe.js';

registerProbe({
  id: 'ioas-map',
  description: 'IOAS map of a 4 KiB mapping: ns at the most mappings (16000) / ns at 1',
  limit: IOAS_MAP_MAX_GROWTH,
  sense: 'max',
  unit: 'x',
  async measure({ quick }) {
    const r = await measureIoasMap(quick ? { ops: 32, rounds: 3, points: [1, 1024] } : undefined);
    const points: Record<string, number> = {};
    for (const p of r.points) {
      points[`map ns @${p.mappings}`] = p.mapNs;
      points[`unmap ns @${p.mappings}`] = p.unmapNs;
      points[`lookup ns @${p.mappings}`] = p.lookupNs;
    }
    return { measured: r.growth, points, note: r.description };
  },
});
