/**
 * fail-nth sweep over the nested-vsva setup sequence: VM creation (IOAS,
 * guest RAM map, fault queue, nesting parent, device bind, vIOMMU, vDEVICE,
 * PASID set) and the guest's PASID bind (host PASID, gPASID map, nested
 * HWPT, attach). For every n, the n-th allocation point fails: creation
 * either throws and leaves nothing, or the bind is refused (the guest's DMA
 * stays blocked, the VMM logs it); after teardown no object, pinned page,
 * PASID, DID, table page or binding is left.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { wasmPath } from '../src/core/load-node.js';
import { isHostIommuError } from '../src/hostiommu/errors.js';
import { bootHost } from '../src/flows/guest-side.js';
import { bootVsva, VSVA } from '../src/flows/nested-vsva.js';

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
