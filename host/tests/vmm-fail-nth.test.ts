/**
 * fail-nth sweep over the nested-vsva setup sequence: VM creation (IOAS,
 * guest RAM map, fault queue, nesting parent, device bind, vIOMMU, vDEVICE,
 * PASID set) and the guest's PASID bind (host PASID, gPASID map, nested
 * HWPT, attach). For every n, the n-th allocation point fails: creation
 * either throws and leaves nothing, or the bind is refused (the guest's DMA
 * stays blocked, the VMM logs it); after teardown no object, pinned page,
 * PASID, DID, table page or binding is left.
 *
 * The same over the set-up of a VM with a VFIO and a vDPA device on one
 * guest PASID (vfio-vdpa-pasid): a failure in the vDPA side's space or its
 * replay refuses that device's attach; neither device ever sees a wrong
 * page, and the subsystems' spaces of the domain hold the same mappings.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { wasmPath } from '../src/core/load-node.js';
import { isHostIommuError } from '../src/hostiommu/errors.js';
import { bootHost } from '../src/flows/guest-side.js';
import { bootVsva, VSVA } from '../src/flows/nested-vsva.js';
import { bootMixed, G } from '../src/flows/vfio-vdpa-pasid.js';
import { ACC_PASID, ACC_READ } from '../src/core/constants.js';
import type { HwptPaging } from '../src/hostiommu/hwpt.js';
import type { ShadowMode } from '../src/vmm/shadow.js';

const CLEAN = { objects: 0, pinnedPages: 0, pasids: 0, tablePages: 1, dids: 0, boundDevices: 0 };

describe.skipIf(!existsSync(wasmPath()))('fail-nth over the nested-vsva setup', () => {
  it('every injected failure unwinds completely', async () => {
    const dry = await bootHost();
    dry.platform.injector.failAt(0);
    const g = await bootVsva(undefined, undefined, dry);
    const points = dry.platform.injector.reached;
    expect(g.dev.write(VSVA.va, 8).ok).toBe(true);
    g.vm.close();
    expect(dry.platform.usage()).toEqual(CLEAN);
    expect(points).toBeGreaterThan(8);

    const outcomes = { create: 0, bind: 0 };
    for (let n = 1; n <= points; n++) {
      const host = await bootHost();
      host.platform.injector.failAt(n);
      let vsva: Awaited<ReturnType<typeof bootVsva>> | undefined;
      try {
        vsva = await bootVsva(undefined, undefined, host);
      } catch (e) {
        expect(isHostIommuError(e, 'ENOMEM'), `n=${n}: ${String(e)}`).toBe(true);
        expect(host.platform.usage(), `n=${n} (${host.platform.injector.sites.at(-1)})`).toEqual(CLEAN);
        outcomes.create++;
        continue;
      }
      expect(host.platform.injector.fired, `n=${n}`).toBe(true);
      outcomes.bind++;
      expect(vsva.dev.write(VSVA.va, 8).ok, `n=${n}: DMA must stay blocked after a refused bind`).toBe(false);
      expect(vsva.vm.logLines.some((l) => l.includes('refused by the host')), `n=${n}`).toBe(true);
      expect(vsva.vm.ctx.guestPasids.size, `n=${n}: no gPASID mapping left by a refused bind`).toBe(0);
      vsva.vm.close();
      expect(host.platform.usage(), `n=${n} (${host.platform.injector.sites.at(-1)})`).toEqual(CLEAN);
    }
    expect(outcomes.create).toBeGreaterThan(0);
    expect(outcomes.bind).toBeGreaterThan(0);
  }, 60_000);
});

describe.skipIf(!existsSync(wasmPath()))('fail-nth over a VM with a VFIO and a vDPA device on one guest PASID', () => {
  it('every injected failure unwinds completely; the two subsystems never disagree', async () => {
    const dry = await bootHost();
    dry.platform.injector.failAt(0);
    (await bootMixed(dry)).g.vm.close();
    const points = dry.platform.injector.reached;
    expect(dry.platform.usage()).toEqual(CLEAN);
    expect(points).toBeGreaterThan(8);

    const outcomes = { create: 0, degraded: 0 };
    for (let n = 1; n <= points; n++) {
      const host = await bootHost();
      host.platform.injector.failAt(n);
      let g: Awaited<ReturnType<typeof bootMixed>>['g'] | undefined;
      try {
        g = (await bootMixed(host)).g;
      } catch (e) {
        expect(isHostIommuError(e, 'ENOMEM'), `n=${n}: ${String(e)}`).toBe(true);
        expect(host.platform.usage(), `n=${n}`).toEqual(CLEAN);
        outcomes.create++;
        continue;
      }
      // A refused attach (the vDPA side's space, its replay, a PASID) or a blocked domain: never a wrong page.
      expect(host.platform.injector.fired, `n=${n}`).toBe(true);
      outcomes.degraded++;
      const hpasid = g.vm.ctx.guestPasids.hostOf(G.pasid);
      for (const d of G.devices) {
        const t = host.core.translate(d.hostSid, hpasid, G.iova, ACC_READ | ACC_PASID);
        expect(!t.ok || t.addr === host.hpaOf(G.gpa.first), `n=${n}: ${d.bdf} sees 0x${t.addr.toString(16)}`).toBe(true);
      }
      const dom = (g.vm.modeHandler as ShadowMode).domains.get(G.did);
      const spaces = (dom?.space.hwpts() ?? []).map((h) => {
        const hwpt = g!.vm.ctx.objectsOf<HwptPaging>('hwpt-paging').find((x) => x.id === h)!;
        return hwpt.ioas.mappings.map((a) => `${a.iova}+${a.len}->${a.hpa}/${a.perms}`).join();
      });
      expect(new Set(spaces).size <= 1, `n=${n}: the subsystems disagree: ${spaces.join(' vs ')}`).toBe(true);
      g.vm.close();
      expect(host.platform.usage(), `n=${n} (${host.platform.injector.sites.at(-1)})`).toEqual(CLEAN);
    }
    expect(outcomes.create).toBeGreaterThan(0);
    expect(outcomes.degraded).toBeGreaterThan(0);
  }, 60_000);
});
