/**
 * Native SVA beside a guest (issue 24, "native SVA page faults"): one
 * physical host runs a nested VM whose guest driver owns a page-request
 * queue (host/src/guest/page-request-queue.ts) and a host process bound to
 * another device with SVA (hostiommu/sva.ts). A page request on the
 * process's PASID is served by the host itself and never reaches the
 * guest; one on the guest's PASID is forwarded to the guest, which maps the
 * page in its first-stage table (guest RAM) and answers through its
 * invalidation queue (MMIO). Each device's retried DMA lands where its own
 * owner put the page.
 */
import { describe, expect, it } from 'vitest';
import { DMAT_STATE } from '../../../host/src/devices/dma-test/regs.js';
import { LAZY } from '../../../host/src/flows/iopf.js';
import { PROC_MEM, svaProcess } from '../../../host/src/flows/native-sva-iopf.js';
import { bootVsva } from '../../../host/src/flows/nested-vsva.js';
import { bootHost } from '../../../host/src/flows/guest-side.js';
import { encodeFsPte } from '../../../host/src/vtd/spec/fs-pte.js';
import { PageResponseCode } from '../../../host/src/vtd/spec/page-request.js';

/** The host process's device (the VM has 0x0318) and its lazily populated buffer. */
const PROC_DEV = 0x0320;
const BUF = 0x7f20_0000_0000n;

async function hostAndGuest() {
  const host = await bootHost();
  const g = await bootVsva(undefined, undefined, host);
  const { dev: procDev, ...rest } = svaProcess(host, PROC_DEV, BUF);
  return { host, g, procDev, ...rest };
}

const state = (d: { lastStatus(): number }): number => d.lastStatus() & 7;

describe('native SVA page faults beside a guest that handles its own', () => {
  it('the process\'s page request is served by the host; the guest\'s PRQ sees only its own device', async () => {
    const { host, g, proc, sva, procDev } = await hostAndGuest();
    procDev.buffer().set([1, 2, 3, 4], 0);
    procDev.write(BUF + 0x2010n, 4);
    expect(state(procDev)).toBe(DMAT_STATE.DONE); // served and retried within the request
    expect(sva.stats()).toEqual({ served: 1, refused: 0 });
    expect([...host.mem.read(proc.physical(BUF + 0x2010n)!, 4)]).toEqual([1, 2, 3, 4]);
    expect(g.prq.peek()).toEqual([]); // nothing reached the guest

    g.dev.buffer().fill(0x5a, 0, 8);
    g.dev.write(LAZY.va, 8);
    expect(state(g.dev)).toBe(DMAT_STATE.PAGE_WAIT);
    const seen = g.prq.peek();
    expect(seen.map((r) => [r.sid, r.pasid, r.addr])).toEqual([[g.vm.device('00:03.0').vrid, 5, LAZY.va]]);
    expect(sva.stats().served).toBe(1); // the host did not touch the guest's fault

    g.prq.service((req) => {
      g.fs.map(req.addr, LAZY.gpa, 12, encodeFsPte({ P: true, RW: true, US: true }));
      return PageResponseCode.Success;
    });
    expect(state(g.dev)).toBe(DMAT_STATE.DONE);
    expect([...host.guestRam.read(LAZY.gpa, 8)]).toEqual(Array(8).fill(0x5a));
    // The process's page is host memory outside the VM's RAM.
    const hpa = proc.physical(BUF + 0x2010n)!;
    expect(hpa >= PROC_MEM.start && hpa < PROC_MEM.end).toBe(true);
    g.vm.close();
  });

  it('a guest answering Invalid fails only its own device; the host refuses what the process has not mapped, unseen by the guest', async () => {
    const { g, proc, sva, procDev } = await hostAndGuest();
    g.dev.write(LAZY.va, 8);
    g.prq.service(() => PageResponseCode.InvalidRequest);
    expect(state(g.dev)).not.toBe(DMAT_STATE.DONE);
    expect(state(g.dev)).not.toBe(DMAT_STATE.PAGE_WAIT);
    procDev.write(BUF + 0x20_0000n, 4); // outside every area of the process
    expect(state(procDev)).not.toBe(DMAT_STATE.DONE);
    expect(sva.stats()).toEqual({ served: 0, refused: 1 });
    expect(proc.counts).toEqual({ populated: 0, refused: 1 });
    expect(g.prq.peek()).toEqual([]);
    procDev.write(BUF, 4);
    expect(state(procDev)).toBe(DMAT_STATE.DONE);
    g.vm.close();
  });

  it('the process unbinding leaves the guest\'s PASID working; the VM closing leaves the process working', async () => {
    const { host, g, ctx, sva, devId, procDev } = await hostAndGuest();
    const hpasid = g.vm.ctx.guestPasids.hostOf(5);
    expect(hpasid).not.toBe(sva.pasid); // one global PASID space: distinct host PASIDs
    g.vm.close();
    procDev.write(BUF + 0x1000n, 4);
    expect(state(procDev)).toBe(DMAT_STATE.DONE);
    sva.unbind(devId);
    procDev.write(BUF + 0x1000n, 4);
    expect(state(procDev)).not.toBe(DMAT_STATE.DONE);
    sva.close();
    ctx.close();
    expect(host.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });
});
