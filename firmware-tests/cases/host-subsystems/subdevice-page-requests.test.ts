/**
 * Page requests of subdevices (VmDeviceConfig.subdevice), guest-driven: two
 * guest functions are slices of one physical device (parent RID 0x0320),
 * each with its own default PASID. The guest runs its caching-mode vIOMMU in
 * scalable mode through MMIO and guest RAM: per function a context entry
 * with PRE = 1 and a RID_PASID entry (PGTT 2) of its own domain, PRI enabled
 * in config space, a page-request queue (VT-d §7.4.1.1 in 3.x). Both
 * functions fault at the same time with the same PRG index; on the host the
 * two requests are the parent's RID told apart only by the default PASIDs.
 * Each must reach the guest as its own function's request, and each guest
 * page-group response (§6.5.2.9) must complete that function's group and
 * no other, whatever RID, PASID or PRG index a hostile response names.
 */
import { describe, expect, it } from 'vitest';
import { bootGuest, setDevicePasid, startIommu, type Guest } from '../../../host/src/flows/guest-side.js';
import { attachPasids } from '../../../host/src/guest/pasid-attach.js';
import { DMAT_STATE } from '../../../host/src/devices/dma-test/regs.js';
import { iotlbDesc, pageGroupResponseDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { PageResponseCode } from '../../../host/src/vtd/spec/page-request.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';
import type { ShadowMode } from '../../../host/src/vmm/shadow.js';
import type { PageTableBuilder } from '../../../host/src/tables/table-builders.js';

const RW = encodeSsPte({ R: true, W: true });
const PARENT = 0x0320;
const IOVA = 0x4000_0000n;
const GPA = [0x300_0000n, 0x310_0000n] as const;
const DID = [3, 4] as const;
const BDF = ['00:03.0', '00:04.0'] as const;
const PRI_STS_UPRGI = 2;
/** A guest PASID function 0 tags its own DMA with (not its default PASID). */
const OWN_PASID = 9;

/** The guest with both subdevices in scalable mode, PRE set, nothing mapped at IOVA yet. */
async function faultingGuest() {
  const g = await bootGuest({ name: 'vm-siov-prq', mode: 'shadow', devices: BDF.map((bdf) => ({ bdf, hostSid: PARENT, kind: 'dma-test' as const, subdevice: true })) }, undefined, { scalable: true });
  const vrid = BDF.map((bdf) => g.vm.device(bdf).vrid);
  // Function 0 also has PASID 9 (its own address space, domain 5); both requests without PASID use their RID_PASID entry.
  const specs = [[{ pasid: 0, did: DID[0] }, { pasid: OWN_PASID, did: 5 }], [{ pasid: 0, did: DID[1] }]];
  const all = vrid.map((v, i) => attachPasids(g.iommu, v, specs[i]!, { pre: true }));
  const tables: PageTableBuilder[] = all.map((m) => m.get(0)!);
  const own = all[0]!.get(OWN_PASID)!;
  startIommu(g);
  const dev = (i: number) => g.vm.machine.dmaTest(BDF[i]!);
  /** Function `i` writes `byte` x 8 at IOVA: true when it completed at once. */
  const write = (i: number, byte: number): boolean => {
    dev(i).buffer().fill(byte, 0, 8);
    return dev(i).write(IOVA, 8).ok;
  };
  const state = (i: number) => dev(i).lastStatus() & 7;
  /** The guest maps IOVA in function `i`'s domain and invalidates that page (caching mode). */
  const mapFor = (i: number) => {
    tables[i]!.map(IOVA, GPA[i]!, 12, RW);
    g.qi.submitSync([iotlbDesc(3, DID[i]!, IOVA)]);
  };
  const respond = (rid: number, prgi: number, code: number, pasid?: number) => g.qi.submitSync([pageGroupResponseDesc(rid, prgi, code, { pasid, lpig: true })]);
  return { g, vrid, dev, write, state, mapFor, respond, own, pasids: BDF.map((bdf) => g.vm.device(bdf).defaultPasid!) };
}

/** Both functions fault at IOVA at once; returns the requests the guest's queue holds. */
function faultBoth(t: Awaited<ReturnType<typeof faultingGuest>>) {
  expect(t.write(0, 0xa0)).toBe(false);
  expect(t.write(1, 0xa1)).toBe(false);
  expect([t.state(0), t.state(1)]).toEqual([DMAT_STATE.PAGE_WAIT, DMAT_STATE.PAGE_WAIT]);
  return t.g.prq.peek();
}

const pending = (g: Guest) => [...(g.vm.modeHandler as ShadowMode).pageRequests.pending.keys()].sort();

describe('page requests of two subdevices of one parent', () => {
  it('reach the guest as each function\'s own request; the host keeps them as two groups under the subdevices\' ids and PASIDs', async () => {
    const t = await faultingGuest();
    const seen = faultBoth(t);
    expect(seen.map((r) => [r.sid, r.pasid, r.prgi, r.addr, r.write, r.lpig])).toEqual([
      [t.vrid[0], undefined, 0, IOVA, true, true],
      [t.vrid[1], undefined, 0, IOVA, true, true],
    ]);
    expect(t.pasids[0]).not.toBe(t.pasids[1]);
    expect(pending(t.g)).toEqual([`${t.vrid[0]}:-:0`, `${t.vrid[1]}:-:0`]);
    t.g.vm.close();
    expect([t.state(0), t.state(1)]).toEqual([DMAT_STATE.FAULT, DMAT_STATE.FAULT]); // teardown answers what was left
    expect(t.g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0, boundDevices: 0 });
  });

  it('the guest answering one function completes that function\'s group only; the other answered later completes its own', async () => {
    const t = await faultingGuest();
    faultBoth(t);
    t.mapFor(0);
    t.respond(t.vrid[0]!, 0, PageResponseCode.Success);
    expect(t.state(0)).toBe(DMAT_STATE.DONE);
    expect(t.g.host.guestRam.read(GPA[0], 8)).toEqual(new Uint8Array(8).fill(0xa0));
    expect(t.state(1)).toBe(DMAT_STATE.PAGE_WAIT); // same PRG index, same parent RID: still waiting
    expect(t.dev(1).pending).toBeDefined();

    t.mapFor(1);
    t.respond(t.vrid[1]!, 0, PageResponseCode.Success);
    expect(t.state(1)).toBe(DMAT_STATE.DONE);
    expect(t.g.host.guestRam.read(GPA[1], 8)).toEqual(new Uint8Array(8).fill(0xa1));
    expect(pending(t.g)).toEqual([]);
    for (const i of [0, 1]) expect(t.g.pci.priStatus(t.vrid[i]!) & PRI_STS_UPRGI).toBe(0);
    t.g.vm.close();
  });

  it('hostile responses naming the sibling\'s RID, a PASID or another PRG index complete nothing', async () => {
    const t = await faultingGuest();
    faultBoth(t);
    t.mapFor(0);
    t.mapFor(1);
    t.respond(t.vrid[0]!, 0, PageResponseCode.Success, t.pasids[1]); // A's RID with B's host PASID
    t.respond(t.vrid[0]!, 0, PageResponseCode.Success, t.pasids[0]); // A's RID with its own default PASID (its request had none)
    t.respond(t.vrid[0]!, 1, PageResponseCode.Success); // a PRG index A has not used
    t.respond(0x0500, 0, PageResponseCode.Success); // a RID that is no function of the VM
    expect([t.state(0), t.state(1)]).toEqual([DMAT_STATE.PAGE_WAIT, DMAT_STATE.PAGE_WAIT]);
    // The same through the VMM's door directly (as if the guest's unit had passed them on).
    const mode = t.g.vm.modeHandler as ShadowMode;
    mode.onGuestResponse(t.vrid[0]!, { pasid: t.pasids[1], prgi: 0, code: PageResponseCode.Success });
    mode.onGuestResponse(t.vrid[1]!, { prgi: 1, code: PageResponseCode.Success });
    expect([t.state(0), t.state(1)]).toEqual([DMAT_STATE.PAGE_WAIT, DMAT_STATE.PAGE_WAIT]);
    expect(pending(t.g)).toEqual([`${t.vrid[0]}:-:0`, `${t.vrid[1]}:-:0`]);

    t.respond(t.vrid[1]!, 0, PageResponseCode.Success);
    expect([t.state(0), t.state(1)]).toEqual([DMAT_STATE.PAGE_WAIT, DMAT_STATE.DONE]);
    t.respond(t.vrid[0]!, 0, PageResponseCode.InvalidRequest);
    expect(t.state(0)).toBe(DMAT_STATE.FAULT);
    expect(t.g.host.guestRam.read(GPA[0], 1)[0]).not.toBe(0xa0);
    t.g.vm.close();
  });

  it('a host response naming one slice\'s PASID reaches that slice only; one naming no slice reaches none', async () => {
    const t = await faultingGuest();
    faultBoth(t);
    t.g.host.platform.respondPage(PARENT, 0x7f, 0, PageResponseCode.Success); // no subdevice has PASID 0x7f
    t.g.host.platform.respondPage(PARENT, undefined, 0, PageResponseCode.Success); // the parent's RID: no function of the VM
    expect([t.state(0), t.state(1)]).toEqual([DMAT_STATE.PAGE_WAIT, DMAT_STATE.PAGE_WAIT]);
    t.g.host.platform.respondPage(PARENT, t.pasids[1], 0, PageResponseCode.InvalidRequest);
    expect([t.state(0), t.state(1)]).toEqual([DMAT_STATE.PAGE_WAIT, DMAT_STATE.FAULT]);
    expect(t.g.vm.logLines.filter((l) => /names no subdevice/.test(l))).toHaveLength(2);
    t.g.vm.close();
  });

  it('a request a subdevice tags with a guest PASID of its own reaches the guest with that PASID; the answer finds that slice', async () => {
    const t = await faultingGuest();
    expect(t.write(1, 0xb1)).toBe(false); // the sibling waits on its own group meanwhile
    setDevicePasid(t.g, BDF[0], OWN_PASID);
    expect(t.write(0, 0xb0)).toBe(false);
    const seen = t.g.prq.peek().map((r) => [r.sid, r.pasid, r.prgi]);
    expect(seen).toEqual([[t.vrid[1], undefined, 0], [t.vrid[0], OWN_PASID, 0]]);
    const hpasid = t.g.vm.ctx.guestPasids.hostOf(OWN_PASID)!;
    expect(t.pasids).not.toContain(hpasid);
    t.own.map(IOVA, GPA[0], 12, RW);
    t.g.qi.submitSync([iotlbDesc(3, 5, IOVA)]);
    t.respond(t.vrid[0]!, 0, PageResponseCode.Success, OWN_PASID);
    expect([t.state(0), t.state(1)]).toEqual([DMAT_STATE.DONE, DMAT_STATE.PAGE_WAIT]);
    expect(t.g.host.guestRam.read(GPA[0], 1)[0]).toBe(0xb0);
    t.g.vm.close();
    expect(t.g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });

  it('resetting one subdevice answers its group (Response Failure) and leaves the sibling\'s pending', async () => {
    const t = await faultingGuest();
    faultBoth(t);
    expect(t.g.vm.resetDevice(BDF[0])).toBe(1);
    expect(pending(t.g)).toEqual([`${t.vrid[1]}:-:0`]);
    expect(t.state(1)).toBe(DMAT_STATE.PAGE_WAIT);
    t.mapFor(1);
    t.respond(t.vrid[1]!, 0, PageResponseCode.Success);
    expect(t.state(1)).toBe(DMAT_STATE.DONE);
    t.g.vm.close();
    expect(t.g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });
});
