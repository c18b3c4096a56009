/**
 * The nested-mode flows and the VMM's nested logic: each flow passes its own
 * checks, and the effects are checked here again from outside (data in
 * guest memory, host objects and PASIDs, what the guest's PRQ saw), plus
 * the guest mistakes and host refusals the VMM must survive.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { wasmPath } from '../src/core/load-node.js';
import { ACC_PASID, ACC_READ } from '../src/core/constants.js';
import { pageGroupResponseDesc, pasidCacheDesc, pasidIotlbDesc } from '../src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../src/vtd/spec/fs-pte.js';
import { PageResponseCode } from '../src/vtd/spec/page-request.js';
import { encodePasidEntry, PGTT } from '../src/vtd/spec/pasid-entry.js';
import { bootVsva, nestedVsva, VSVA } from '../src/flows/nested-vsva.js';
import { iopf, LAZY } from '../src/flows/iopf.js';
import { enqcmdFlow } from '../src/flows/enqcmd.js';
import { sharedPasid } from '../src/flows/shared-pasid.js';
import { resetFlow } from '../src/flows/reset.js';
import { revoke } from '../src/flows/revoke.js';
import { NestedMode } from '../src/vmm/nested.js';
import { DMAT_STATE } from '../src/devices/dma-test/regs.js';

const quiet = { say: () => {} };

describe.skipIf(!existsSync(wasmPath()))('nested-mode flows', () => {
  it.each([nestedVsva, iopf, enqcmdFlow, sharedPasid, resetFlow, revoke])('$name passes its checks', async (flow) => {
    const lines: string[] = [];
    const r = await flow.run({ say: (l) => lines.push(l) });
    expect(r.failures).toEqual([]);
    expect(lines.length).toBeGreaterThan(2);
  });

  it('nested-vsva: the bind is a nested HWPT on (pRID, host PASID) whose translation ends in the guest page', async () => {
    const g = await bootVsva();
    const h = g.vm.ctx.guestPasids.hostOf(VSVA.pasid)!;
    const t = g.host.core.translate(0x0318, h, VSVA.va, ACC_READ | ACC_PASID);
    expect(t).toMatchObject({ ok: true, addr: g.host.hpaOf(VSVA.gpa) });
    expect(g.host.core.translate(0x0318, VSVA.pasid === h ? h + 1 : VSVA.pasid, VSVA.va, ACC_READ | ACC_PASID).ok).toBe(false);
    g.dev.buffer().set([1, 2, 3], 0);
    expect(g.dev.write(VSVA.va + 0x10n, 3).ok).toBe(true);
    expect([...g.host.guestRam.read(VSVA.gpa + 0x10n, 3)]).toEqual([1, 2, 3]);
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0, pinnedPages: 0, boundDevices: 0 });
  });

  it('iopf: the guest sees vRID and guest PASID; its answer completes the retried DMA', async () => {
    const g = await bootVsva();
    g.dev.buffer().fill(0x31, 0, 8);
    g.dev.write(LAZY.va, 8);
    const [req] = g.prq.peek();
    expect(req).toMatchObject({ sid: 0x18, pasid: VSVA.pasid, addr: LAZY.va, lpig: true });
    expect(g.host.guestRam.read(LAZY.gpa, 1)[0]).toBe(0);
    g.prq.service(() => {
      g.fs.map(LAZY.va, LAZY.gpa, 12, encodeFsPte({ P: true, RW: true, US: true }));
      return PageResponseCode.Success;
    });
    expect(g.host.guestRam.read(LAZY.gpa, 8).every((b) => b === 0x31)).toBe(true);
    expect(g.dev.lastStatus() & 7).toBe(DMAT_STATE.DONE);
    g.vm.close();
  });

  it('iopf: a guest answering Invalid Request fails the DMA without retry', async () => {
    const g = await bootVsva();
    g.dev.write(LAZY.va, 8);
    g.prq.service(() => PageResponseCode.InvalidRequest);
    expect(g.dev.lastStatus() & 7).toBe(DMAT_STATE.FAULT);
    expect((g.vm.modeHandler as NestedMode).pageRequests.pending.size).toBe(0);
    g.vm.close();
  });

  it('a guest PASID entry the VMM does not serve (PGTT 3, ECAP.NEST = 0) is refused and logged; its DMA is not attached', async () => {
    const g = await bootVsva();
    g.pasids.setPasid(7, encodePasidEntry({ P: true, PGTT: PGTT.NESTED, DID: 4, AW: 2, SSPTPTR: 0x100_0000n }));
    g.qi.submitSync([pasidCacheDesc(1, 4, 7)]);
    const h = g.vm.ctx.guestPasids.hostOf(7);
    expect(h).toBeDefined(); // kept so the DMA reaches the host and its fault reaches the guest (vmm-modes.test.ts)
    expect(g.vm.ctx.attachedTo(g.vm.device(VSVA.bdf).devId, h)).toBeUndefined();
    expect(g.vm.logLines.some((l) => l.includes('PASID 7 -> refused (fault 0x5b)'))).toBe(true);
    g.vm.close();
  });

  it('a first-stage pointer outside guest RAM binds (the host walk faults), without throwing', async () => {
    const g = await bootVsva();
    g.pasids.setPasid(VSVA.pasid, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: VSVA.did, FSPTPTR: 0xf_0000_0000n }));
    expect(() => g.qi.submitSync([pasidCacheDesc(1, VSVA.did, VSVA.pasid), pasidIotlbDesc(2, VSVA.did, VSVA.pasid)])).not.toThrow();
    expect(g.dev.write(VSVA.va, 8).ok).toBe(false);
    g.vm.close();
    expect(g.host.platform.usage().objects).toBe(0);
  });

  it('PASID quota exhausted: the bind is refused, logged, and leaves nothing', async () => {
    const g = await bootVsva();
    const { vm } = g;
    const quota = 16;
    for (let p = 20; p < 20 + quota; p++) {
      g.pasids.setPasid(p, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: VSVA.did, FSPTPTR: g.fs.rootPointer }));
    }
    g.qi.submitSync([pasidCacheDesc(3, 0)]);
    expect(vm.ctx.guestPasids.size).toBe(quota); // PASID 5 + 15 of the new ones
    expect(vm.logLines.filter((l) => l.includes('EDQUOT')).length).toBe(1);
    expect(g.host.platform.usage().pasids).toBe(quota);
    vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });

  it('a guest page-group response for a group never forwarded reaches no device', async () => {
    const g = await bootVsva();
    g.qi.submitSync([pageGroupResponseDesc(0x18, 3, PageResponseCode.Success, { pasid: VSVA.pasid, lpig: true })]);
    expect(g.vm.machine.vtd.logLines.some((l) => l.includes('no such open group'))).toBe(true);
    expect(g.vm.machine.device('00:03.0').fn.pri?.inFlight()).toBe(0);
    g.vm.close();
  });

  it('reset: the outstanding group is answered once; the guest sees the request, the device does not wait', async () => {
    const g = await bootVsva();
    g.dev.write(LAZY.va, 8);
    expect(g.vm.resetDevice(VSVA.bdf)).toBe(1);
    expect(g.dev.pending).toBeUndefined();
    expect(g.vm.resetDevice(VSVA.bdf)).toBe(0);
    g.vm.close();
  });
});
