import { describe, expect, it } from 'vitest';
import { measureShadowBuild } from './shadow-build.js';

describe('shadow-build bench (smoke: shape, not speed)', () => {
  it('measures both layouts at every point and shadows every leaf', async () => {
    const r = await measureShadowBuild([64, 600]);
    expect(r.id).toBe('shadow-build');
    expect(r.points.map((p) => `${p.layout}:${p.leaves}`)).toEqual(['contiguous:64', 'contiguous:600', 'scattered:64', 'scattered:600']);
    for (const p of r.points) expect(p).toMatchObject({ mappings: p.leaves, blocked: false });
    expect(r.points[1]!.mapCalls).toBe(2); // 600 contiguous leaves: two leaf tables, two host mappings
    expect(r.points[3]!.mapCalls).toBe(600);
  });
});
