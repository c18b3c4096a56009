/**
 * Invalidations reach a listener (the VMM) as typed events: every
 * register-based (§6.5.1) and queued (§6.5.2) invalidation the guest issues
 * through MMIO and guest RAM arrives as one `InvalidationEvent` whose kind
 * and fields are the scope the guest named, after the unit's own caches ran
 * it.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../src/machine.js';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import { GuestQueue } from '../src/guest/invalidation-queue.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import type { InvalidationEvent } from '../src/vtd/cache-invalidation.js';
import {
  ccDesc, iecDesc, iotlbDesc, IOTLB_DESC, PC_DESC, pasidCacheDesc, pasidIotlbDesc, PIOTLB,
} from '../src/vtd/spec/descriptors.js';

async function rig() {
  const m = await createMachine({ profile: 'default', ramMib: 64 });
  const events: InvalidationEvent[] = [];
  m.vtd.onInvalidate = (e) => events.push(e);
  const env = guestEnvFor(m);
  const g = new GuestIommu(env, 'scalable');
  return { m, events, g, q: new GuestQueue(env, { wide: true }) };
}

describe('typed invalidation events', () => {
  it('register-based: CCMD and the IOTLB register, each with the scope written', async () => {
    const { events, g } = await rig();
    g.drv.contextInvalidateGlobal();
    g.drv.contextInvalidateDomain(7);
    g.drv.contextInvalidateDevice(7, 0x18, 2);
    g.drv.iotlbInvalidateGlobal();
    g.drv.iotlbInvalidateDomain(9);
    g.drv.iotlbInvalidatePage(9, 0x4000_0000n, 2, true);
    expect(events).toEqual([
      { kind: 'contextGlobal' },
      { kind: 'contextDomain', did: 7 },
      { kind: 'contextDevice', did: 7, sid: 0x18, fm: 2 },
      { kind: 'iotlbGlobal' },
      { kind: 'iotlbDomain', did: 9 },
      { kind: 'iotlbPage', did: 9, addr: 0x4000_0000n, am: 2, ih: 1 },
    ]);
  });

  it('queued: each descriptor type that reaches the caches, with its fields; IEC and wait reach none', async () => {
    const { events, g, q } = await rig();
    g.start();
    q.enable();
    events.length = 0;
    expect(q.submitSync([
      ccDesc(3, 5, 0x20, 1),
      iotlbDesc(IOTLB_DESC.G_PAGE, 5, 0x12_3456_7000n, 0, 1),
      iotlbDesc(IOTLB_DESC.G_DOMAIN, 5),
      pasidIotlbDesc(PIOTLB.G_PAGE, 5, 0x42, 0x8000_0000_0000n, 3, 0),
      pasidIotlbDesc(PIOTLB.G_PASID, 5, 0x42),
      pasidCacheDesc(PC_DESC.G_PASID, 5, 0x42),
      iecDesc(0),
    ])).toBe(true);
    expect(events).toEqual([
      { kind: 'contextDevice', did: 5, sid: 0x20, fm: 1 },
      { kind: 'iotlbPage', did: 5, addr: 0x12_3456_7000n, am: 0, ih: 1 },
      { kind: 'iotlbDomain', did: 5 },
      { kind: 'pasidIotlbPage', did: 5, pasid: 0x42, addr: 0x8000_0000_0000n, am: 3, ih: 0 },
      { kind: 'pasidIotlb', did: 5, pasid: 0x42 },
      { kind: 'pasidCache', granularity: PC_DESC.G_PASID, did: 5, pasid: 0x42 },
    ]);
  });
});
