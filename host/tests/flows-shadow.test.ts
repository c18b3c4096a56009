/**
 * Shadow mode: the flow, and the VMM's shadowing checked from outside —
 * exactly the invalidated scope reaches the host, domain-selective and
 * context invalidations, guest tables pointing outside RAM, teardown.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { wasmPath } from '../src/core/load-node.js';
import { ACC_READ } from '../src/core/constants.js';
import { awForLevels, encodeContextEntry } from '../src/vtd/spec/context-entry.js';
import { ccDesc, iotlbDesc } from '../src/vtd/spec/descriptors.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';
import { bootGuest, startIommu, type Guest } from '../src/flows/guest-side.js';
import { shadow } from '../src/flows/shadow.js';
import { ShadowMode } from '../src/vmm/shadow.js';

const rw = encodeSsPte({ R: true, W: true });
const PRID = 0x0318;

async function shadowGuest(): Promise<Guest & { ss: ReturnType<Guest['iommu']['attachLegacy']>; mode: ShadowMode }> {
  const g = await bootGuest({ mode: 'shadow', devices: [{ bdf: '00:03.0', hostSid: PRID, kind: 'dma-test' }] });
  const ss = g.iommu.attachLegacy(0x18, { did: 5, levels: 4 });
  ss.map(0x1000n, 0x300_0000n, 12, rw);
  startIommu(g);
  return { ...g, ss, mode: g.vm.modeHandler as ShadowMode };
}

const hostSees = (g: Guest, iova: bigint) => g.host.core.translate(PRID, undefined, iova, ACC_READ);

describe.skipIf(!existsSync(wasmPath()))('shadow mode', () => {
  it('the shadow flow passes its checks', async () => {
    expect((await shadow.run({ say: () => {} })).failures).toEqual([]);
  });

  it('start-up invalidations shadow the guest table into the host domain (GPA -> HPA)', async () => {
    const g = await shadowGuest();
    expect(hostSees(g, 0x1234n)).toMatchObject({ ok: true, addr: g.host.hpaOf(0x300_0234n) });
    g.vm.close();
  });

  it('a page-selective invalidation syncs only its page', async () => {
    const g = await shadowGuest();
    g.ss.map(0x2000n, 0x300_1000n, 12, rw);
    g.ss.map(0x5000n, 0x300_4000n, 12, rw);
    g.qi.submitSync([iotlbDesc(3, 5, 0x2000n)]);
    expect(hostSees(g, 0x2000n).ok).toBe(true);
    expect(hostSees(g, 0x5000n).ok).toBe(false);
    g.qi.submitSync([iotlbDesc(2, 5)]);
    expect(hostSees(g, 0x5000n).ok).toBe(true);
    g.vm.close();
  });

  it('an invalidation of another domain changes nothing', async () => {
    const g = await shadowGuest();
    g.ss.unmap(0x1000n, 12);
    g.qi.submitSync([iotlbDesc(2, 6)]);
    expect(hostSees(g, 0x1000n).ok).toBe(true);
    expect(g.mode.stats.unmaps).toBe(0);
    g.vm.close();
  });

  it('write permission follows the guest PTE after its invalidation', async () => {
    const g = await shadowGuest();
    g.ss.map(0x1000n, 0x300_0000n, 12, encodeSsPte({ R: true }));
    g.qi.submitSync([iotlbDesc(3, 5, 0x1000n)]);
    const dev = g.vm.machine.dmaTest('00:03.0');
    expect(dev.read(0x1000n, 8).ok).toBe(true);
    expect(dev.write(0x1000n, 8).ok).toBe(false);
    g.vm.close();
  });

  it('a cleared context entry + context invalidation detaches the device and drops the domain', async () => {
    const g = await shadowGuest();
    g.iommu.ctx.setContext(0x18, encodeContextEntry({}));
    g.qi.submitSync([ccDesc(1)]);
    expect(hostSees(g, 0x1000n).ok).toBe(false);
    expect(g.mode.domains.size).toBe(0);
    expect(g.vm.ctx.counts()['hwpt-paging']).toBe(1); // only the VM's nesting parent
    g.vm.close();
  });

  it('a context entry re-pointed with fewer levels takes out the host mappings beyond its new width', async () => {
    const g = await shadowGuest();
    const high = 1n << 39n; // beyond a 3-level (39-bit) table
    g.ss.map(high, 0x300_1000n, 12, rw);
    g.qi.submitSync([iotlbDesc(2, 5)]);
    expect(hostSees(g, high).ok).toBe(true);
    // Same domain and table root, now AW = 1 (3 levels): the root's entry 1 is a level-3 entry.
    g.iommu.ctx.setContext(0x18, encodeContextEntry({ P: true, SSPTPTR: g.ss.rootPointer, AW: awForLevels(3), DID: 5 }));
    g.qi.submitSync([ccDesc(1), iotlbDesc(1, 0)]);
    expect(hostSees(g, high).ok).toBe(false);
    expect(hostSees(g, 0x1000n).ok).toBe(false); // the 4-level walk's leaves mean nothing at 3 levels
    expect(g.mode.domains.get(5)!.levels).toBe(3);
    g.vm.close();
  });

  it('two tables under one DID (against §9.3): when the table the domain follows loses its last binding, it follows the remaining one (fuzz finding shadow-shared-did-after-unbind)', async () => {
    const g = await bootGuest({ mode: 'shadow', devices: [{ bdf: '00:03.0', hostSid: PRID, kind: 'dma-test' }, { bdf: '00:04.0', hostSid: 0x0320, kind: 'dma-test' }] });
    const mine = g.iommu.attachLegacy(0x18, { did: 5, levels: 4 });
    mine.map(0x1000n, 0x300_0000n, 12, rw);
    const other = g.iommu.attachLegacy(0x20, { did: 5, levels: 4 });
    other.map(0x1000n, 0x310_0000n, 12, rw);
    startIommu(g);
    const mode = g.vm.modeHandler as ShadowMode;
    expect(mode.domains.get(5)!.root).toBe(Number(other.rootPointer >> 12n)); // the table bound last
    g.iommu.ctx.setContext(0x20, encodeContextEntry({}));
    g.qi.submitSync([ccDesc(1), iotlbDesc(1, 0)]);
    expect(mode.domains.get(5)!.root).toBe(Number(mine.rootPointer >> 12n));
    expect(hostSees(g, 0x1000n)).toMatchObject({ ok: true, addr: g.host.hpaOf(0x300_0000n) });
    g.vm.close();
  });

  it('a guest leaf outside guest RAM is logged and not mapped', async () => {
    const g = await shadowGuest();
    g.ss.map(0x9000n, 0x8000_0000n, 12, rw);
    expect(() => g.qi.submitSync([iotlbDesc(3, 5, 0x9000n)])).not.toThrow();
    expect(hostSees(g, 0x9000n).ok).toBe(false);
    expect(g.vm.logLines.some((l) => l.includes('outside guest RAM'))).toBe(true);
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pinnedPages: 0 });
  });
});
