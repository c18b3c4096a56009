/**
 * Issue 19, VMM modes: a guest programs its vIOMMU through MMIO and guest
 * memory only (context / PASID entries, page tables, the invalidation
 * queue), programs the DMA test device through its BAR, and the DMA's
 * result (data in guest RAM, or the fault in the guest's fault recording
 * registers) is checked.
 *
 * - nested mode passes the guest's IOTLB global / domain / page
 *   invalidations to the host (no stale first-stage translation survives);
 * - nested mode serves PASID entries with PGTT 2 (shadowed) and 4
 *   (pass-through) and refuses PGTT 3 with SPT.4 (0x5B, ECAP.NEST = 0);
 * - shadow mode serves scalable-mode guests (PGTT 2, PGTT 4, legacy TT 10)
 *   and refuses first stage with 0x5B (ECAP.FSTS = 0);
 * - guest tables that are aliased (512^4 leaves) or carry reserved bits are
 *   never mapped: the domain is blocked (fault 0x7) or the entry faults
 *   (0xC), and the VMM's work stays bounded.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { wasmPath } from '../src/core/load-node.js';
import { ECAP } from '../src/vtd/spec/registers.js';
import { bootGuest, startIommu, type Guest } from '../src/flows/guest-side.js';
import { ShadowMode } from '../src/vmm/shadow.js';
import { VMM_WORK_BUDGET } from '../src/vmm/work-budget.js';
import { CMD, GuestDmaTest, STATE } from '../../firmware-tests/cases/page-requests/pri-guest.js';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import { PageTableBuilder, PasidTableBuilder } from '../src/tables/table-builders.js';
import { encodeContextEntry } from '../src/vtd/spec/context-entry.js';
import { iotlbDesc, pasidCacheDesc } from '../src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../src/vtd/spec/fs-pte.js';
import { encodePasidEntry, PGTT } from '../src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';

const RID = 0x18;
const DEVICES = [{ bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' as const }];
const RW_SS = encodeSsPte({ R: true, W: true });
const RW_FS = encodeFsPte({ P: true, RW: true, US: true });

/** A scalable-mode guest with one PASID directory behind the device's context entry (RID_PASID 0). */
async function scalableGuest(mode: 'nested' | 'shadow') {
  const g = await bootGuest({ mode, devices: DEVICES });
  const iommu = new GuestIommu(g.env, 'scalable');
  const pasids = new PasidTableBuilder(g.env.mem, g.env.alloc);
  iommu.ctx.setContext(RID, encodeSmContextEntry({ P: true, PASIDE: true, PASIDDIRPTR: pasids.directory, RID_PASID: 0 }));
  startIommu({ ...g, iommu });
  if (mode === 'shadow') g.pci.enablePasid(RID);
  return { ...g, iommu, pasids, dev: new GuestDmaTest(g.env.platform, RID) };
}

/** DMA-writes `byte` x 8 at `iova` (with `pasid`), as the guest's driver would; returns the device's state. */
function dmaWrite(dev: GuestDmaTest, iova: bigint, byte: number, pasid?: number): number {
  dev.fillBuffer(0, new Uint8Array(8).fill(byte));
  return dev.start(CMD.WRITE, iova, 8, pasid) & 7;
}

const ramByte = (g: Guest, gpa: bigint): number => g.host.guestRam.read(gpa, 1)[0]!;

/** A second-stage table mapping `iova` -> `gpa` behind PASID entry `pasid` (PGTT 2, `did`), made known by a PASID-cache invalidation. */
function secondStageAt(g: Awaited<ReturnType<typeof scalableGuest>>, pasid: number, did: number, iova: bigint, gpa: bigint): PageTableBuilder {
  const ss = new PageTableBuilder(g.env.mem, g.env.alloc, { stage: 'ss', levels: 4 });
  ss.map(iova, gpa, 12, RW_SS);
  g.pasids.setPasid(pasid, encodePasidEntry({ P: true, PGTT: PGTT.SECOND_STAGE, DID: did, AW: 2, SSPTPTR: ss.rootPointer }));
  g.qi.submitSync([pasidCacheDesc(1, did, pasid)]);
  return ss;
}

describe.skipIf(!existsSync(wasmPath()))('nested mode: the guest\'s IOTLB invalidations reach the host', () => {
  it.each([
    ['domain-selective', (did: number) => iotlbDesc(2, did)],
    ['global', () => iotlbDesc(1)],
    ['page-selective', (did: number, va: bigint) => iotlbDesc(3, did, va)],
  ])('%s: after the remap and the invalidation the DMA uses the new page', async (_name, inv) => {
    const g = await scalableGuest('nested');
    const va = 0x7000_0000n;
    const [a, b] = [0x200_0000n, 0x210_0000n];
    const fs = new PageTableBuilder(g.env.mem, g.env.alloc, { stage: 'fs', levels: 4 });
    fs.map(va, a, 12, RW_FS);
    g.pasids.setPasid(5, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 9, FSPTPTR: fs.rootPointer }));
    g.qi.submitSync([pasidCacheDesc(1, 9, 5)]);
    expect(dmaWrite(g.dev, va, 0xaa, 5)).toBe(STATE.DONE);
    expect(ramByte(g, a)).toBe(0xaa); // the host IOTLB now caches va -> a
    fs.map(va, b, 12, RW_FS);
    g.qi.submitSync([inv(9, va)]);
    expect(dmaWrite(g.dev, va, 0xbb, 5)).toBe(STATE.DONE);
    expect([ramByte(g, a), ramByte(g, b)]).toEqual([0xaa, 0xbb]);
    g.vm.close();
  });
});

describe.skipIf(!existsSync(wasmPath()))('nested mode: every PGTT is served or refused with the spec\'s fault', () => {
  it('PGTT 2 (second stage) is shadowed and follows the guest\'s IOTLB invalidations', async () => {
    const g = await scalableGuest('nested');
    const ss = secondStageAt(g, 7, 4, 0x5000n, 0x220_0000n);
    expect(dmaWrite(g.dev, 0x5010n, 0x27, 7)).toBe(STATE.DONE);
    expect(ramByte(g, 0x220_0010n)).toBe(0x27);
    ss.map(0x6000n, 0x221_0000n, 12, RW_SS);
    expect(dmaWrite(g.dev, 0x6000n, 0x28, 7)).toBe(STATE.FAULT); // not invalidated yet (caching mode)
    g.qi.submitSync([iotlbDesc(3, 4, 0x6000n)]);
    expect(dmaWrite(g.dev, 0x6000n, 0x28, 7)).toBe(STATE.DONE);
    expect(ramByte(g, 0x221_0000n)).toBe(0x28);
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0, pinnedPages: 0 });
  });

  it('PGTT 4 (pass-through): the DMA address is the guest-physical address', async () => {
    const g = await scalableGuest('nested');
    g.pasids.setPasid(8, encodePasidEntry({ P: true, PGTT: PGTT.PASS_THROUGH, DID: 6 }));
    g.qi.submitSync([pasidCacheDesc(1, 6, 8)]);
    expect(dmaWrite(g.dev, 0x230_0040n, 0x48, 8)).toBe(STATE.DONE);
    expect(ramByte(g, 0x230_0040n)).toBe(0x48);
    g.vm.close();
  });

  it('a PASID the guest never set up: the DMA is reported to the guest as its tables say (PASID entry not present), not silently aborted', async () => {
    const g = await scalableGuest('nested');
    secondStageAt(g, 4, 5, 0x6000n, 0x250_0000n); // PASID 4 exists (same directory page as 6)
    g.iommu.drv.readFaults();
    expect(dmaWrite(g.dev, 0x6000n, 0x66, 6)).toBe(STATE.FAULT);
    expect(g.iommu.drv.readFaults()).toMatchObject([{ sid: RID, reason: 0x59, pp: true, pv: 6, addr: 0x6000n, read: false }]);
    expect(dmaWrite(g.dev, 0x6000n, 0x66, 0x4_0000)).toBe(STATE.FAULT); // beyond the guest's PASID directory size
    expect(g.iommu.drv.readFaults()).toMatchObject([{ sid: RID, reason: 0x46, pv: 0x4_0000 }]); // SCT.7
    expect(ramByte(g, 0x250_0000n)).toBe(0);
    g.vm.close();
  });

  it('PGTT 3 (nested) is not offered (ECAP.NEST = 0): the DMA faults 0x5B in the guest\'s fault registers', async () => {
    const g = await scalableGuest('nested');
    expect(g.iommu.drv.ecap & ECAP.NEST).toBe(0n);
    expect(g.iommu.drv.cap & (1n << 7n)).not.toBe(0n); // CM: the guest invalidates every change
    g.pasids.setPasid(3, encodePasidEntry({ P: true, PGTT: PGTT.NESTED, DID: 2, AW: 2, SSPTPTR: 0x100_0000n, FSPTPTR: 0x101_0000n }));
    g.qi.submitSync([pasidCacheDesc(1, 2, 3)]);
    g.iommu.drv.readFaults();
    expect(dmaWrite(g.dev, 0x4000n, 0x33, 3)).toBe(STATE.FAULT);
    expect(g.iommu.drv.readFaults()).toMatchObject([{ sid: RID, reason: 0x5b, pp: true, pv: 3, addr: 0x4000n }]);
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });
});

describe.skipIf(!existsSync(wasmPath()))('shadow mode: scalable-mode guests', () => {
  it('PGTT 2 behind RID_PASID: requests without PASID use the shadowed second stage', async () => {
    const g = await scalableGuest('shadow');
    secondStageAt(g, 0, 3, 0x9000n, 0x240_0000n);
    expect(dmaWrite(g.dev, 0x9008n, 0x90)).toBe(STATE.DONE);
    expect(ramByte(g, 0x240_0008n)).toBe(0x90);
    g.vm.close();
  });

  it('PGTT 2 at a PASID gets a host PASID and its own shadow', async () => {
    const g = await scalableGuest('shadow');
    secondStageAt(g, 12, 8, 0xa000n, 0x241_0000n);
    expect(dmaWrite(g.dev, 0xa000n, 0x12, 12)).toBe(STATE.DONE);
    expect(ramByte(g, 0x241_0000n)).toBe(0x12);
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });

  it('PGTT 4 and legacy TT 10 are pass-through', async () => {
    const g = await scalableGuest('shadow');
    g.pasids.setPasid(0, encodePasidEntry({ P: true, PGTT: PGTT.PASS_THROUGH, DID: 1 }));
    g.qi.submitSync([pasidCacheDesc(1, 1, 0)]);
    expect(dmaWrite(g.dev, 0x250_0000n, 0x44)).toBe(STATE.DONE);
    expect(ramByte(g, 0x250_0000n)).toBe(0x44);
    g.vm.close();

    const l = await bootGuest({ mode: 'shadow', devices: DEVICES });
    l.iommu.ctx.setContext(RID, encodeContextEntry({ P: true, TT: 2, AW: 2, DID: 1 }));
    startIommu(l);
    expect(dmaWrite(new GuestDmaTest(l.env.platform, RID), 0x251_0000n, 0x45)).toBe(STATE.DONE);
    expect(ramByte(l, 0x251_0000n)).toBe(0x45);
    l.vm.close();
  });

  it('first stage is not offered (ECAP.FSTS = 0): a PGTT 1 entry faults 0x5B at the device\'s vRID', async () => {
    const g = await scalableGuest('shadow');
    expect(g.iommu.drv.ecap & (ECAP.FSTS | ECAP.NEST)).toBe(0n);
    g.pasids.setPasid(0, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 2, FSPTPTR: 0x100_0000n }));
    g.qi.submitSync([pasidCacheDesc(1, 2, 0)]);
    g.iommu.drv.readFaults();
    expect(dmaWrite(g.dev, 0x3000n, 0x11)).toBe(STATE.FAULT);
    expect(g.iommu.drv.readFaults()).toMatchObject([{ sid: RID, reason: 0x5b, pp: false, addr: 0x3000n }]);
    g.vm.close();
  });
});

describe.skipIf(!existsSync(wasmPath()))('shadow mode: hostile guest tables', () => {
  /** A legacy guest whose 4-level table aliases every upper level onto one table: 512^4 leaves from 4 pages. */
  async function aliasedGuest() {
    const g = await bootGuest({ mode: 'shadow', devices: DEVICES });
    const [top, mid, low, leaf] = [0x300_0000n, 0x300_1000n, 0x300_2000n, 0x300_3000n];
    for (let i = 0n; i < 512n; i++) {
      g.env.mem.writeU64(top + 8n * i, mid | 3n);
      g.env.mem.writeU64(mid + 8n * i, low | 3n);
      g.env.mem.writeU64(low + 8n * i, leaf | 3n);
      g.env.mem.writeU64(leaf + 8n * i, (0x310_0000n + 0x1000n * i) | 3n);
    }
    g.iommu.ctx.setContext(RID, encodeContextEntry({ P: true, TT: 0, AW: 2, DID: 7, SSPTPTR: top }));
    startIommu(g);
    return { g, top, dev: new GuestDmaTest(g.env.platform, RID), mode: g.vm.modeHandler as ShadowMode };
  }

  it('aliased tables: the build stops at the work budget, the domain is blocked and its DMA faults 0x7', async () => {
    const { g, top, dev, mode } = await aliasedGuest();
    expect(mode.domains.get(7)?.blocked).toBe(true);
    expect(g.vm.logLines.some((l) => l.includes('guest domain 7 blocked'))).toBe(true);
    g.iommu.drv.readFaults();
    expect(dmaWrite(dev, 0x1000n, 0x77)).toBe(STATE.FAULT);
    expect(g.iommu.drv.readFaults()).toMatchObject([{ sid: RID, reason: 0x7, addr: 0x1000n }]);
    expect(ramByte(g, 0x310_1000n)).toBe(0);
    // The guest repairs its table (one path only) and invalidates the domain: shadowed again.
    for (const t of [top, top + 0x1000n, top + 0x2000n]) for (let i = 1n; i < 512n; i++) g.env.mem.writeU64(t + 8n * i, 0n);
    g.qi.submitSync([iotlbDesc(2, 7)]);
    expect(mode.domains.get(7)).toMatchObject({ blocked: false });
    expect(mode.domains.get(7)!.mappedPages()).toBe(512);
    expect(dmaWrite(dev, 0x1000n, 0x78)).toBe(STATE.DONE);
    expect(ramByte(g, 0x310_1000n)).toBe(0x78);
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pinnedPages: 0 });
  });

  it('a page-selective invalidation leaves a blocked domain blocked (only a whole-domain one lifts it)', async () => {
    const { g, dev, mode } = await aliasedGuest();
    g.qi.submitSync([iotlbDesc(3, 7, 0x1000n)]);
    expect(mode.domains.get(7)?.blocked).toBe(true);
    expect(dmaWrite(dev, 0x1000n, 0x79)).toBe(STATE.FAULT);
    g.vm.close();
  });

  it('a smaller work budget blocks sooner; the default lets a 512 x 512-leaf domain through', async () => {
    expect(VMM_WORK_BUDGET).toBeGreaterThan(512 * 512 * 2);
    const g = await bootGuest({ mode: 'shadow', devices: DEVICES, workBudget: 1000 });
    const ss = g.iommu.attachLegacy(RID, { did: 2, levels: 4 });
    for (let i = 0n; i < 600n; i++) ss.map(i * 0x1000n, 0x300_0000n + i * 0x1000n, 12, RW_SS);
    startIommu(g);
    expect((g.vm.modeHandler as ShadowMode).domains.get(2)?.blocked).toBe(true);
    g.vm.close();
  });

  it('reserved bits in a guest leaf: never mapped; the DMA faults 0xC (LSL.2)', async () => {
    const g = await bootGuest({ mode: 'shadow', devices: DEVICES });
    const ss = g.iommu.attachLegacy(RID, { did: 2, levels: 4 });
    ss.map(0x1000n, 0x320_0000n, 12, RW_SS | (1n << 62n));
    ss.map(0x2000n, 0x321_0000n, 12, RW_SS);
    startIommu(g);
    const dev = new GuestDmaTest(g.env.platform, RID);
    g.iommu.drv.readFaults();
    expect(dmaWrite(dev, 0x1000n, 0x55)).toBe(STATE.FAULT);
    expect(g.iommu.drv.readFaults()).toMatchObject([{ sid: RID, reason: 0xc, addr: 0x1000n }]);
    expect(ramByte(g, 0x320_0000n)).toBe(0);
    expect(dmaWrite(dev, 0x2000n, 0x56)).toBe(STATE.DONE);
    g.vm.close();
  });
});
