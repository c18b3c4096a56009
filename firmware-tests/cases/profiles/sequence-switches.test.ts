/**
 * Both sides of the profile switches found by sequences and random guest
 * programs on QEMU (issues 20 and 26; docs/PROFILES.md): each guest program,
 * written only as MMIO and guest-RAM accesses, runs on the default (spec)
 * profile, on a `qemu-*` profile and on that profile with only the named
 * switch at the spec's value ("qemu-7.2 -NAME", switch-off.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { GuestQueue, D } from '../../lib/qi-guest.js';
import { dmaRead, legacy, onEach } from './profile-guest.js';

vi.mock('../../../host/src/vtd/profiles.js', async (orig) => (await import('./switch-off.js')).profilesWithSwitchOff(await orig()));
vi.mock('../../../host/src/vtd/qi/qi-behaviour.js', async (orig) => (await import('./switch-off.js')).qiWithSwitchOff(await orig()));

const LEGACY = { scalableMode: false, awBits: 39 } as const;
/** IECTL (§11.4.9.6): IM bit 31, IP bit 30. */
const IECTL = 0xa0;

describe('registers', () => {
  it('qwordPairMasksOnly: an 8-byte write at 0x98 clearing ICS.IWC withdraws IECTL.IP on default, not on qemu', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -qwordPairMasksOnly'], LEGACY, (tb) => {
      const g = tb.guest('legacy');
      g.start();
      const q = new GuestQueue(g.env);
      q.enable();
      q.submitSync([], true); // wait with IF while IECTL.IM is set (reset value): ICS.IWC, IECTL.IP
      const before = g.drv.read32(IECTL);
      g.drv.write64(0x98, 1n << 32n); // upper dword: ICS, IWC written 1
      return { before, ics: g.drv.read32(0x9c), after: g.drv.read32(IECTL) };
    });
    expect(r['default']).toEqual({ before: 0xc000_0000, ics: 0, after: 0x8000_0000 });
    expect(r['qemu-7.2']).toEqual({ before: 0xc000_0000, ics: 0, after: 0xc000_0000 });
    expect(r['qemu-7.2 -qwordPairMasksOnly']).toEqual(r['default']);
  });

  it('rtaddrMaskedToAw: a root-table pointer with bit 45 set faults on default (outside RAM); qemu drops the bit at SRTP', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -rtaddrMaskedToAw'], LEGACY, (tb) => {
      const { g } = legacy(tb, 1, [[0x1000n, 0x30_0000n]]);
      const rtaddr = g.ctx.rootTable | 1n << 45n;
      g.drv.write64(0x20, rtaddr);
      g.drv.command(1 << 30); // SRTP
      g.drv.contextInvalidateGlobal();
      g.drv.iotlbInvalidateGlobal();
      const o = dmaRead(tb, g, 0x1000n);
      return { readBack: g.drv.read64(0x20) === rtaddr, dma: o.ok ? 'ok' : o.reason };
    });
    expect(r).toEqual({
      default: { readBack: true, dma: 0x8 }, 'qemu-7.2': { readBack: true, dma: 'ok' },
      'qemu-7.2 -rtaddrMaskedToAw': { readBack: true, dma: 0x8 },
    });
  });
});
