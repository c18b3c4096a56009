/**
 * Smoke test of the embedding measurements (bench/embedding.ts) with tiny
 * iteration counts: every point and scaling point is measured through both
 * APIs, the targets are there with the ids. No absolute-time assertions.
 */
import { describe, expect, it } from 'vitest';
import { embeddingLines, embeddingTargets, measureEmbedding } from './embedding.js';
import { measureQueuedInvalidation } from './embedding-qi.js';

describe('embedding bench (smoke)', () => {
  it('measures MMIO, DMA, translate-only and BAR dispatch, and evaluates the targets', async () => {
    const r = await measureEmbedding({ rounds: 2, calls: 2000 });
    expect(r.points.map((p) => p.id)).toEqual(['mmio-read', 'mmio-write', 'mmio-write-gcmd', 'dma-64', 'dma-64-write', 'translate-512']);
    for (const p of r.points) expect(Number.isFinite(p.ns) && p.ns > 0).toBe(true);
    expect(r.devices.map((d) => d.devices)).toEqual([1, 64, 1024]);
    const qi = await measureQueuedInvalidation(2000);
    const targets = embeddingTargets(r, qi);
    expect(targets.map((t) => t.id)).toEqual(['mmio-read', 'mmio-write', 'dma-64', 'qi', 'devices']);
    for (const t of targets) expect(typeof t.pass).toBe('boolean');
    expect(embeddingLines(r).join('\n')).toMatch(/dma-64: [\d.]+ ns, [\d.]+ ns/);
  });
});
