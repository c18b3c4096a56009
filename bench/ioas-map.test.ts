import { describe, expect, it } from 'vitest';
import { measureIoasMap } from './ioas-map.js';

describe('ioas-map bench (smoke: shape, not speed)', () => {
  it('measures every scaling point and reports the growth', async () => {
    const r = await measureIoasMap({ ops: 8, rounds: 1, points: [1, 64] });
    expect(r.id).toBe('ioas-map');
    expect(r.points.map((p) => p.mappings)).toEqual([1, 64]);
    for (const p of r.points) for (const v of [p.mapNs, p.unmapNs, p.lookupNs]) expect(v).toBeGreaterThan(0);
    expect(r.growth).toBeCloseTo(r.points[1]!.mapNs / r.points[0]!.mapNs);
  });
});
