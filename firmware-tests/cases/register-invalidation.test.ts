/**
 * Guest-driver suite: register-based invalidation (§6.5.1). A changed
 * context entry or page-table entry keeps being used until the guest
 * invalidates the matching cache through CCMD or the IOTLB register; each
 * granularity removes what it names and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { bootTestbed, sidOf, type Testbed } from '../lib/testbed.js';
import type { GuestIommu } from '../../host/src/guest/guest-iommu.js';
import { encodeSsPte } from '../../host/src/vtd/spec/ss-pte.js';

const RW = encodeSsPte({ R: true, W: true });

async function twoDomains(): Promise<{ tb: Testbed; g: GuestIommu; ss3: ReturnType<GuestIommu['attachLegacy']>; ss4: ReturnType<GuestIommu['attachLegacy']> }> {
  const tb = await bootTestbed({ profile: 'default', iommu: { scalableMode: false, awBits: 48 } });
  const g = tb.guest('legacy');
  const ss3 = g.attachLegacy(sidOf(3), { did: 1, levels: 4 });
  const ss4 = g.attachLegacy(sidOf(4), { did: 2, levels: 4 });
  for (const ss of [ss3, ss4]) for (let i = 0n; i < 4n; i++) ss.map(0x1000n * (i + 1n), 0x30_0000n + 0x1000n * i, 12, RW);
  g.start();
  return { tb, g, ss3, ss4 };
}

/** Warms the IOTLB for pages 1..4 of both devices, then unmaps them all in the tables. */
function warmThenUnmap(tb: Testbed, ss3: { unmap(i: bigint, l: number): void }, ss4: { unmap(i: bigint, l: number): void }): void {
  for (const slot of [3, 4]) for (let i = 1n; i <= 4n; i++) expect(tb.dev(slot).read(0x1000n * i, 8).ok).toBe(true);
  for (const ss of [ss3, ss4]) for (let i = 1n; i <= 4n; i++) ss.unmap(0x1000n * i, 12);
}

const works = (tb: Testbed, slot: number, page: bigint): boolean => tb.dev(slot).read(0x1000n * page, 8).ok;

describe('IOTLB register invalidation', () => {
  it('stale translations survive until invalidated; page-selective removes 2^AM pages of one domain', async () => {
    const { tb, g, ss3, ss4 } = await twoDomains();
    warmThenUnmap(tb, ss3, ss4);
    expect(works(tb, 3, 1n)).toBe(true); // stale
    const reg = g.drv.iotlbInvalidatePage(1, 0x2000n, 1); // pages 2-3 of domain 1
    expect((reg >> 57n) & 3n).toBe(3n);
    expect([1n, 2n, 3n, 4n].map((p) => works(tb, 3, p))).toEqual([true, false, false, true]);
    expect(works(tb, 4, 2n)).toBe(true);
    g.drv.readFaults();
  });

  it('domain-selective removes one domain only; global removes all', async () => {
    const { tb, g, ss3, ss4 } = await twoDomains();
    warmThenUnmap(tb, ss3, ss4);
    expect((g.drv.iotlbInvalidateDomain(2) >> 57n) & 3n).toBe(2n);
    expect(works(tb, 4, 1n)).toBe(false);
    expect(works(tb, 3, 1n)).toBe(true);
    g.drv.readFaults();
    expect((g.drv.iotlbInvalidateGlobal() >> 57n) & 3n).toBe(1n);
    expect(works(tb, 3, 4n)).toBe(false);
  });
});

describe('context-cache invalidation (CCMD)', () => {
  it('a moved context entry is used only after CCMD plus an IOTLB flush', async () => {
    const { tb, g, ss3 } = await twoDomains();
    expect(works(tb, 3, 1n)).toBe(true);
    // Point device 3 at a fresh, empty domain 9.
    g.attachLegacy(sidOf(3), { did: 9, levels: 4 });
    g.drv.iotlbInvalidateDomain(1);
    expect(works(tb, 3, 1n)).toBe(true); // cached context entry still names domain 1's table
    const ccmd = g.drv.contextInvalidateDevice(1, sidOf(3));
    expect((ccmd >> 59n) & 3n).toBe(3n);
    expect(works(tb, 3, 1n)).toBe(false);
    expect(g.drv.readFaults()).toMatchObject([{ sid: sidOf(3), reason: 6 }]);
    void ss3;
  });

  it('domain-selective and global CCMD report their granularity', async () => {
    const { g } = await twoDomains();
    expect((g.drv.contextInvalidateDomain(1) >> 59n) & 3n).toBe(2n);
    expect((g.drv.contextInvalidateGlobal() >> 59n) & 3n).toBe(1n);
  });
});
