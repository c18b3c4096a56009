/**
 * The embedding API suite (bench/embedding.ts, bench/embedding-qi.ts) as
 * bench rows: `mmio-read`, `mmio-write`, `dma-64`, `qi`, `devices`, with
 * the BigInt API's costs beside them and the suite's lines in the report.
 */
import { embeddingLines, embeddingTargets, measureEmbedding } from '../embedding.js';
import { measureQueuedInvalidation } from '../embedding-qi.js';
import { registerRows } from './probe.js';

const missing = (err: unknown): { missing: string } => ({ missing: err instanceof Error ? err.message : String(err) });

registerRows({
  id: 'embedding',
  async measure({ quick, rounds, requests }) {
    const qi = await measureQueuedInvalidation(quick ? 50_000 : 500_000).catch(missing);
    const embedding = await measureEmbedding({ rounds, calls: requests * 4 }).catch(missing);
    const qiLine = 'missing' in qi ? `queued invalidation: not measured (${qi.missing})` : `queued invalidation: ${(qi.descriptorsPerSecond / 1e6).toFixed(2)} M descriptors/s (${qi.note})`;
    return { rows: embeddingTargets(embedding, qi), lines: [qiLine, ...embeddingLines(embedding)], raw: { embedding, qi } };
  },
});
