// Legacy mode (TTM=00): root -> context lookup faults, the second-stage
// walker at 3/4/5 levels, superpages, permissions and reserved bits.
import { describe, expect, it } from 'vitest';
import { Fixture, K, legacyFixture } from './core-fixture.js';

describe('legacy lookup', () => {
  it('translates a 4 KiB page through a 3-level table', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    const t = f.tr(sid, 0x1234n);
    expect(t).toMatchObject({ ok: true, addr: 0x20_0234n, pageLg2: 12, perms: 7, did: 1, source: K.SRC_WALK });
    expect(f.tr(sid, 0x1238n).source).toBe(K.SRC_IOTLB);
  });
});
