// Guest-driver tests of queued invalidation (§6.5.2): the guest programs the unit only
// through MMIO and guest RAM, a DMA test device shows which translation is in effect.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Machine } from '../../../host/src/machine.js';
import type { MsiMessage } from '../../../host/src/vtd/interrupts.js';
import { type GuestEnv, GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { GuestQueue } from '../../../host/src/guest/invalidation-queue.js';
import { PageTableBuilder } from '../../../host/src/tables/table-builders.js';
import { awForLevels, encodeContextEntry } from '../../../host/src/vtd/spec/context-entry.js';
import { ccDesc, iotlbDesc, pasidCacheDesc, pasidIotlbDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../../../host/src/vtd/spec/fs-pte.js';
import { encodePasidEntry, PGTT } from '../../../host/src/vtd/spec/pasid-entry.js';
import { FSTS, REG } from '../../../host/src/vtd/spec/registers.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

const CORE_BUILT = existsSync(new URL('../../../build/viommu.wasm', import.meta.url));
const SID = 0x18; // 00:03.0
const IOVA = 0x4000n;
const RW = encodeSsPte({ R: true, W: true });

interface Rig {
  m: Machine;
  env: GuestEnv;
  iommu: GuestIommu;
  q: GuestQueue;
  msis: MsiMessage[];
  /** Two data pages with distinct contents. */
  pageA: bigint;
  pageB: bigint;
}

async function rig(profile = 'default', mode: 'legacy' | 'scalable' = 'legacy', wide = mode === 'scalable', qs = 0): Promise<Rig> {
  // Loaded lazily: the machine needs the built core (build/viommu.wasm).
  const { createMachine } = await import('../../../host/src/machine.js');
  const { guestEnvFor } = await import('../../../host/src/guest/machine-env.js');
  const msis: MsiMessage[] = [];
  const m = await createMachine({
    profile, iommu: { scalableMode: mode === 'scalable' || profile === 'default' },
    devices: [{ bdf: '00:03.0', kind: 'dma-test' }], onInterrupt: (msi) => msis.push(msi),
  });
  const env = guestEnvFor(m);
  const iommu = new GuestIommu(env, mode);
  const pageA = env.alloc.alloc();
  const pageB = env.alloc.alloc();
  env.mem.fill(pageA, 4096, 0xaa);
  env.mem.fill(pageB, 4096, 0xbb);
  return { m, env, iommu, q: new GuestQueue(env, { wide, qs }), msis, pageA, pageB };
}

/** The first byte the device reads at `iova` (undefined when the DMA faults). */
function dmaByte(r: Rig, iova = IOVA): number | undefined {
  const dev = r.m.dmaTest('00:03.0');
  const res = dev.read(iova, 8);
  return res.ok ? dev.buffer()[0] : undefined;
}

/** Legacy set-up: IOVA -> page A in domain 1, translation and QI on. */
async function legacyRig(profile = 'default'): Promise<Rig & { ss: PageTableBuilder }> {
  const r = await rig(profile, 'legacy');
  const ss = r.iommu.attachLegacy(SID, { did: 1 });
  ss.map(IOVA, r.pageA, 12, RW);
  r.iommu.start();
  expect(r.q.enable() & (1 << 26)).not.toBe(0);
  return { ...r, ss };
}

describe.skipIf(!CORE_BUILT)('queued invalidation through a guest driver', () => {
  it('an invalidation wait whose status write the guest polls', async () => {
    const r = await legacyRig();
    expect(r.q.submitSync([])).toBe(true);
    expect(r.q.head()).toBe(1);
    expect(r.q.submitSync([ccDesc(1), iotlbDesc(1)])).toBe(true);
    expect(r.q.head()).toBe(4);
  });

  it('IOTLB page invalidation ends a stale translation; without it the old page stays', async () => {
    const r = await legacyRig();
    expect(dmaByte(r)).toBe(0xaa);
    r.ss.map(IOVA, r.pageB, 12, RW); // guest changes the mapping
    expect(dmaByte(r)).toBe(0xaa); // IOTLB still holds the old translation
    expect(r.q.submitSync([iotlbDesc(3, 2, IOVA)])).toBe(true); // other domain: no effect
    expect(dmaByte(r)).toBe(0xaa);
    expect(r.q.submitSync([iotlbDesc(3, 1, IOVA)])).toBe(true);
    expect(dmaByte(r)).toBe(0xbb);
  });

  it('context-cache invalidation (device-selective) makes a new context entry take effect', async () => {
    const r = await legacyRig();
    expect(dmaByte(r)).toBe(0xaa);
    const ss2 = new PageTableBuilder(r.env.mem, r.env.alloc, { stage: 'ss', levels: 3 });
    ss2.map(IOVA, r.pageB, 12, RW);
    r.iommu.ctx.setContext(SID, encodeContextEntry({ P: true, SSPTPTR: ss2.rootPointer, AW: awForLevels(3), DID: 2 }));
    expect(r.q.submitSync([iotlbDesc(2, 1)])).toBe(true); // IOTLB alone: context entry still cached
    expect(dmaByte(r)).toBe(0xaa);
    expect(r.q.submitSync([ccDesc(3, 1, SID), iotlbDesc(2, 1)])).toBe(true);
    expect(dmaByte(r)).toBe(0xbb);
  });

  it('a batch of 1000 page invalidations in one tail update', async () => {
    const r = await rig('default', 'legacy', false, 2); // 1024 entries
    const ss = r.iommu.attachLegacy(SID, { did: 1 });
    for (let i = 0; i < 1000; i++) ss.map(BigInt(i) << 12n, r.pageA, 12, RW);
    r.iommu.start();
    r.q.enable();
    expect(dmaByte(r, 999n << 12n)).toBe(0xaa);
    ss.map(999n << 12n, r.pageB, 12, RW);
    const batch = Array.from({ length: 1000 }, (_, i) => iotlbDesc(3, 1, BigInt(i) << 12n));
    expect(r.q.submitSync(batch)).toBe(true);
    expect(r.q.head()).toBe(1001);
    expect(dmaByte(r, 999n << 12n)).toBe(0xbb);
  });

  it('wait with IF: ICS.IWC and an invalidation-event MSI to IEADDR/IEDATA', async () => {
    const r = await legacyRig();
    const drv = r.q.drv;
    drv.write32(0xa4, 0x4321); // IEDATA
    drv.write32(0xa8, 0xfee0_0000); // IEADDR
    drv.write32(REG.IECTL, 0); // unmask
    expect(r.q.submitSync([], true)).toBe(true);
    expect(drv.read32(REG.ICS)).toBe(1);
    expect(r.msis).toContainEqual({ source: 'invalidation', address: 0xfee0_0000n, data: 0x4321 });
    drv.write32(REG.ICS, 1);
    expect(drv.read32(REG.ICS)).toBe(0);
  });

  it('an unknown descriptor: IQE, REG.IQERCD, IQH at it, nothing after it, fault MSI; recovery', async () => {
    const r = await legacyRig();
    r.iommu.drv.setupFaultEvent(0xfee0_1000n, 0x55);
    expect(dmaByte(r)).toBe(0xaa);
    r.ss.map(IOVA, r.pageB, 12, RW);
    expect(r.q.submitSync([[0xfn, 0n], iotlbDesc(1)])).toBe(false);
    expect(r.q.drv.read32(REG.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    expect(r.q.drv.read64(REG.IQERCD) & 0xfn).toBe(3n);
    expect(r.q.head()).toBe(0);
    expect(dmaByte(r)).toBe(0xaa); // the IOTLB invalidation after it did not run
    expect(r.msis).toContainEqual({ source: 'fault', address: 0xfee0_1000n, data: 0x55 });
    // Linux qi_check_fault: copy the wait over the bad descriptor, clear IQE, keep polling.
    r.q.tail = 0;
    r.q.place([iotlbDesc(1)]);
    r.q.tail = 3;
    r.q.drv.write32(REG.FSTS, FSTS.IQE);
    expect(r.q.drv.read32(REG.FSTS) & FSTS.IQE).toBe(0);
    expect(r.q.head()).toBe(3);
    expect(dmaByte(r)).toBe(0xbb);
  });

  it('qemu-7.2: clearing IQE does not resume; the next IQT write does', async () => {
    const r = await legacyRig('qemu-7.2');
    expect(r.q.submitSync([[0xfn, 0n]])).toBe(false);
    r.q.tail = 0;
    r.q.place([iotlbDesc(1)]);
    r.q.tail = 2;
    r.q.drv.write32(REG.FSTS, FSTS.IQE);
    expect(r.q.head()).toBe(0);
    r.q.ring();
    expect(r.q.head()).toBe(2);
  });

  it('register-based invalidation is refused while QIE=1', async () => {
    const r = await legacyRig();
    expect(dmaByte(r)).toBe(0xaa);
    r.ss.map(IOVA, r.pageB, 12, RW);
    r.iommu.drv.iotlbInvalidateGlobal();
    expect(dmaByte(r)).toBe(0xaa);
    expect(r.q.submitSync([iotlbDesc(1)])).toBe(true);
    expect(dmaByte(r)).toBe(0xbb);
  });

  it('a queue outside RAM gives IQE, not a crash', async () => {
    const r = await legacyRig();
    r.q.drv.command(1 << 26, false);
    r.q.drv.write64(REG.IQA, 0x7f_0000_0000n);
    r.q.drv.command(1 << 26, true);
    r.q.drv.write64(REG.IQT, 0x10n);
    expect(r.q.drv.read32(REG.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    expect(r.q.drv.read64(REG.IQERCD) & 0xfn).toBe(2n);
  });
});

describe.skipIf(!CORE_BUILT)('PASID-cache invalidation (scalable mode, 256-bit queue)', () => {
  it('a PASID-entry change takes effect after a PASID-cache invalidation; a stale one survives without it', async () => {
    const r = await rig('default', 'scalable', true);
    const { ss, pasids } = r.iommu.attachScalable(SID, { did: 5, pgtt: PGTT.SECOND_STAGE });
    ss!.map(IOVA, r.pageA, 12, RW);
    r.iommu.start();
    r.q.enable();
    expect(dmaByte(r)).toBe(0xaa);
    const ss2 = new PageTableBuilder(r.env.mem, r.env.alloc, { stage: 'ss', levels: 4 });
    ss2.map(IOVA, r.pageB, 12, RW);
    pasids!.setPasid(0, encodePasidEntry({ P: true, PGTT: PGTT.SECOND_STAGE, DID: 5, AW: awForLevels(4), SSPTPTR: ss2.rootPointer }));
    expect(r.q.submitSync([iotlbDesc(2, 5)])).toBe(true); // IOTLB only: the cached PASID entry survives
    expect(dmaByte(r)).toBe(0xaa);
    expect(r.q.submitSync([pasidCacheDesc(1, 5, 0), iotlbDesc(2, 5)])).toBe(true);
    expect(dmaByte(r)).toBe(0xbb);
  });

  it('PASID-based IOTLB invalidation in a 128-bit queue is IQE (invalid width)', async () => {
    const r = await rig('default', 'scalable', false);
    r.iommu.attachScalable(SID, { did: 5, pgtt: PGTT.SECOND_STAGE });
    r.iommu.start();
    r.q.enable();
    expect(r.q.submitSync([pasidIotlbDesc(2, 5, 0).slice(0, 2)])).toBe(false);
    expect(r.q.drv.read64(REG.IQERCD) & 0xfn).toBe(5n);
  });
});

/** Descriptor variants, each with the IQEI the default profile must report (undefined = accepted). */
const CASES: { name: string; mode: 'legacy' | 'scalable'; wide: boolean; desc: bigint[]; iqei?: number }[] = [
  { name: 'context-cache global', mode: 'legacy', wide: false, desc: ccDesc(1) },
  { name: 'context-cache G=0', mode: 'legacy', wide: false, desc: ccDesc(0), iqei: 4 },
  { name: 'context-cache reserved qw1', mode: 'legacy', wide: false, desc: [ccDesc(1)[0]!, 1n], iqei: 4 },
  { name: 'iotlb domain', mode: 'legacy', wide: false, desc: iotlbDesc(2, 3) },
  { name: 'iotlb page AM 19 > MAMV', mode: 'legacy', wide: false, desc: iotlbDesc(3, 3, 0n, 19), iqei: 4 },
  { name: 'device-TLB (no ATS device answers: done)', mode: 'legacy', wide: false, desc: [0x3n | 0x18n << 32n, 0x1000n] },
  { name: 'device-TLB reserved bit 4', mode: 'legacy', wide: false, desc: [0x13n | 0x18n << 32n, 0x1000n], iqei: 4 },
  { name: 'interrupt-entry cache global', mode: 'legacy', wide: false, desc: [0x4n, 0n] },
  { name: 'type 0', mode: 'legacy', wide: false, desc: [0n, 0n], iqei: 3 },
  { name: 'type 0x15 (qw0[11:9] set)', mode: 'legacy', wide: false, desc: [0x205n, 0n], iqei: 3 },
  { name: 'pasid-cache in a 128-bit queue', mode: 'scalable', wide: false, desc: pasidCacheDesc(3).slice(0, 2), iqei: 5 },
  { name: 'pasid-cache in legacy mode', mode: 'legacy', wide: true, desc: pasidCacheDesc(3), iqei: 7 },
  { name: 'pasid-cache G=2', mode: 'scalable', wide: true, desc: pasidCacheDesc(2, 1), iqei: 4 },
  { name: 'pasid-iotlb G=2', mode: 'scalable', wide: true, desc: pasidIotlbDesc(2, 1, 7) },
  { name: 'pasid-iotlb G=1', mode: 'scalable', wide: true, desc: pasidIotlbDesc(1, 1, 7), iqei: 4 },
  { name: 'iotlb with a non-zero upper half', mode: 'scalable', wide: true, desc: [...iotlbDesc(1), 1n, 0n], iqei: 4 },
  { name: 'pasid device-TLB', mode: 'scalable', wide: true, desc: [0x8n | 0x18n << 16n | 7n << 32n, 0x1000n, 0n, 0n] },
  { name: 'page-group response success', mode: 'scalable', wide: true, desc: [0x9n | 0x18n << 16n, 5n << 3n | 4n, 0n, 0n] },
  { name: 'page-group response code 5', mode: 'scalable', wide: true, desc: [0x9n | 5n << 12n | 0x18n << 16n, 0n, 0n, 0n], iqei: 4 },
];

describe.skipIf(!CORE_BUILT)('each descriptor type and error through the guest driver (default profile)', () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.iqei === undefined ? 'accepted' : `IQE, IQEI ${c.iqei}`}`, async () => {
      const r = await rig('default', c.mode, c.wide);
      r.iommu.start();
      r.q.enable();
      const done = r.q.submitSync([c.desc]);
      expect(done).toBe(c.iqei === undefined);
      const iqe = (r.q.drv.read32(REG.FSTS) & FSTS.IQE) !== 0;
      expect(iqe).toBe(c.iqei !== undefined);
      if (c.iqei !== undefined) {
        expect(Number(r.q.drv.read64(REG.IQERCD) & 0xfn)).toBe(c.iqei);
        expect(r.q.head()).toBe(0);
      }
    });
  }

  it('IQT beyond the queue (IQEI 1) and IQT bit 4 in a 256-bit queue (IQEI 6)', async () => {
    const r = await rig('default', 'scalable', true);
    r.q.enable();
    r.q.drv.write64(REG.IQT, 0x1020n); // 128 entries of 32 bytes end at 0x1000
    expect(Number(r.q.drv.read64(REG.IQERCD) & 0xfn)).toBe(1);
    r.q.drv.write32(REG.FSTS, FSTS.IQE);
    r.q.drv.write64(REG.IQT, 0x10n);
    expect(Number(r.q.drv.read64(REG.IQERCD) & 0xfn)).toBe(6);
    expect(r.q.head()).toBe(0);
  });

  it('PASID-based IOTLB page invalidation ends a stale first-stage translation', async () => {
    const r = await rig('default', 'scalable', true);
    const { fs } = r.iommu.attachScalable(SID, { did: 6, pgtt: PGTT.FIRST_STAGE });
    const leaf = encodeFsPte({ P: true, RW: true, US: true });
    fs!.map(IOVA, r.pageA, 12, leaf);
    r.iommu.start();
    r.q.enable();
    expect(dmaByte(r)).toBe(0xaa);
    fs!.map(IOVA, r.pageB, 12, leaf);
    expect(r.q.submitSync([pasidIotlbDesc(3, 6, 1, IOVA)])).toBe(true); // another PASID: no effect
    expect(dmaByte(r)).toBe(0xaa);
    expect(r.q.submitSync([pasidIotlbDesc(3, 6, 0, IOVA)])).toBe(true);
    expect(dmaByte(r)).toBe(0xbb);
  });
});
