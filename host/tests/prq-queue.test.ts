/**
 * The page-request queue of the VT-d unit (§7.4-7.7 in 3.x, registers
 * §11.4.11) with a fake PRI device: descriptor layout, PQT/PRS/PECTL rules,
 * overflow and recovery, admission faults, page-group responses routed by
 * requester id, stop markers, the wait descriptor's page-request drain.
 * The guest side is the guest-driver library (MMIO and guest RAM only).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readWords } from '../src/tables/guest-ram.js';
import { type GuestEnv, GuestIommu } from '../src/guest/guest-iommu.js';
import { GuestQueue } from '../src/guest/invalidation-queue.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import { GuestPrq } from '../src/guest/page-request-queue.js';
import { PasidTableBuilder } from '../src/tables/table-builders.js';
import type { PageGroupResponse, PageResponseTarget } from '../src/vtd/prq/page-request.js';
import { pageGroupResponseDesc, waitDesc } from '../src/vtd/spec/descriptors.js';
import { decodePageRequest, encodePageRequest, type PageRequest, PageResponseCode } from '../src/vtd/spec/page-request.js';
import { PGTT } from '../src/vtd/spec/pasid-entry.js';
import { ECTL, PRS, REG } from '../src/vtd/spec/registers.js';
import { encodeSmContextEntry } from '../src/vtd/spec/sm-context-entry.js';
import { createMachine, type Machine } from '../src/machine.js';
import type { MsiMessage } from '../src/vtd/interrupts.js';

const SID = 0x18; // 00:03.0
const SID2 = 0x20; // 00:04.0
const PASID = 5;
const MSI_ADDR = 0xfee0_1000n;

/** A PRI device that only records the responses it gets. */
class FakePriDevice implements PageResponseTarget {
  readonly got: PageGroupResponse[] = [];
  pageGroupResponse(resp: PageGroupResponse): void {
    this.got.push(resp);
  }
}

interface Rig {
  m: Machine;
  env: GuestEnv;
  iommu: GuestIommu;
  prq: GuestPrq;
  qi: GuestQueue;
  msis: MsiMessage[];
  devs: Map<number, FakePriDevice>;
  /** PASID tables of SID and SID2. */
  pasids: Map<number, PasidTableBuilder>;
}

/** Scalable unit, devices SID/SID2 with PRE (unless `pre` false), QI (256-bit) and a 1-page PRQ. */
async function rig(o: { pre?: boolean; fpd?: boolean; paside?: boolean; legacy?: boolean; pqs?: number } = {}): Promise<Rig> {
  const msis: MsiMessage[] = [];
  const m = await createMachine({ profile: 'default', ramMib: 64, onInterrupt: (msi) => msis.push(msi) });
  const env = guestEnvFor(m);
  const iommu = new GuestIommu(env, o.legacy ? 'legacy' : 'scalable');
  const tables = new Map<number, PasidTableBuilder>();
  if (!o.legacy) {
    for (const sid of [SID, SID2]) {
      const { pasids } = iommu.attachScalable(sid, { did: 1, pgtt: PGTT.FIRST_STAGE, pasid: PASID });
      tables.set(sid, pasids!);
      iommu.ctx.setContext(sid, encodeSmContextEntry({
        P: true, FPD: o.fpd ?? false, PASIDE: o.paside ?? true, PRE: o.pre ?? true,
        PASIDDIRPTR: pasids!.directory, RID_PASID: 0,
      }));
    }
  }
  iommu.start();
  const qi = new GuestQueue(env, { wide: true });
  qi.enable();
  const prq = new GuestPrq(env, (d) => qi.submitSync(d), o.pqs ?? 0);
  prq.enable();
  prq.setupEvent(MSI_ADDR, 0x41);
  const devs = new Map([[SID, new FakePriDevice()], [SID2, new FakePriDevice()]]);
  m.vtd.setPageResponseRouter((sid) => devs.get(sid));
  return { m, env, iommu, prq, qi, msis, devs, pasids: tables };
}

const req = (o: Partial<PageRequest> = {}): PageRequest => ({
  sid: SID, pasid: PASID, addr: 0x7000_0000_3000n, read: true, write: false, exec: false, priv: false,
  prgi: 1, lpig: true, ...o,
});
const prqMsis = (r: Rig) => r.msis.filter((x) => x.source === 'page-request');

describe('page request descriptor (§7.4.1.1)', () => {
  it('encode/decode round trip for every field', () => {
    fc.assert(fc.property(
      fc.record({
        sid: fc.integer({ min: 0, max: 0xffff }), pasid: fc.option(fc.integer({ min: 0, max: 0xfffff }), { nil: undefined }),
        addr: fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }).map((p) => p << 12n),
        read: fc.boolean(), write: fc.boolean(), exec: fc.boolean(), priv: fc.boolean(),
        prgi: fc.integer({ min: 0, max: 0x1ff }), lpig: fc.boolean(),
      }),
      (r) => {
        const w = encodePageRequest(r);
        expect(decodePageRequest(w[0], w[1])).toEqual(r);
        // The guest's independent decoder (written from the spec) agrees.
        expect(decodePageRequest(w[0], w[1])).toMatchObject({ sid: r.sid, pasid: r.pasid, addr: r.addr, prgi: r.prgi });
      },
    ));
  });

  it('bit positions: type 1, PP 8, RID 31:16, PASID 51:32, EXE 52, PM 53; RD 0, WR 1, LPIG 2, PRGI 11:3', () => {
    const [qw0, qw1, qw2, qw3] = encodePageRequest(req({ exec: true, priv: true, write: true, prgi: 0x1ab }));
    expect(qw0).toBe(0x1n | 1n << 8n | 0x18n << 16n | 5n << 32n | 1n << 52n | 1n << 53n);
    expect(qw1).toBe(0x7000_0000_3000n | 1n | 2n | 4n | 0x1abn << 3n);
    expect([qw2, qw3]).toEqual([0n, 0n]);
  });
});

describe('page-request queue registers (§11.4.11)', () => {
  it('a request is written at PQA + PQT, PQT advances, PPR set, one event MSI while PPR stays set', async () => {
    const r = await rig();
    expect(r.m.vtd.submitPageRequest(req({ write: true, addr: 0x7000_0000_3456n }))).toBe('queued');
    const words = readWords(r.env.mem, r.prq.base, 4);
    expect(words).toEqual(encodePageRequest(req({ write: true, addr: 0x7000_0000_3000n })));
    expect(r.prq.drv.read64(REG.PQT)).toBe(32n);
    expect(r.prq.status()).toBe(PRS.PPR);
    expect(prqMsis(r)).toEqual([{ source: 'page-request', address: MSI_ADDR, data: 0x41 }]);
    r.m.vtd.submitPageRequest(req({ prgi: 2 }));
    expect(prqMsis(r)).toHaveLength(1); // PPR was already set
    r.prq.drv.write32(REG.PRS, PRS.PPR); // W1C
    r.m.vtd.submitPageRequest(req({ prgi: 3 }));
    expect(prqMsis(r)).toHaveLength(2);
    expect(r.prq.drv.read64(REG.PQT)).toBe(96n);
  });

  it('PECTL.IM holds the event (IP), unmasking sends it; clearing PRS withdraws a held event', async () => {
    const r = await rig();
    r.prq.drv.write32(REG.PECTL, ECTL.IM);
    r.m.vtd.submitPageRequest(req());
    expect(r.prq.drv.read32(REG.PECTL)).toBe((ECTL.IM | ECTL.IP) >>> 0);
    expect(prqMsis(r)).toHaveLength(0);
    r.prq.drv.write32(REG.PECTL, 0);
    expect(prqMsis(r)).toHaveLength(1);
    expect(r.prq.drv.read32(REG.PECTL)).toBe(0);
    r.prq.drv.write32(REG.PRS, PRS.PPR);
    r.prq.drv.write32(REG.PECTL, ECTL.IM);
    r.m.vtd.submitPageRequest(req({ prgi: 9 }));
    expect(r.prq.drv.read32(REG.PECTL)).toBe((ECTL.IM | ECTL.IP) >>> 0);
    r.prq.drv.write32(REG.PRS, PRS.PPR);
    expect(r.prq.drv.read32(REG.PECTL)).toBe(ECTL.IM); // withdrawn
    r.prq.drv.write32(REG.PECTL, 0);
    expect(prqMsis(r)).toHaveLength(1);
  });

  it('PQT is software-writable (drivers zero it); PQA keeps base and PQS, reserved bits read 0', async () => {
    const r = await rig();
    r.prq.drv.write64(REG.PQT, 0xffff_ffff_ffff_ffffn);
    expect(r.prq.drv.read64(REG.PQT)).toBe(0x7ffe0n);
    r.prq.drv.write64(REG.PQA, 0xffff_ffff_ffff_ffffn);
    expect(r.prq.drv.read64(REG.PQA)).toBe(0xffff_ffff_ffff_f007n);
  });

  it('a queue outside RAM drops the request, logs it, and answers the group with Response Failure', async () => {
    const r = await rig();
    r.prq.drv.write64(REG.PQA, 0x80_0000_0000n);
    expect(r.m.vtd.submitPageRequest(req())).toEqual({ autoResponse: PageResponseCode.ResponseFailure });
    expect(r.m.vtd.logLines.some((l) => l.includes('outside RAM'))).toBe(true);
    expect(r.prq.status()).toBe(0);
  });
});

describe('overflow (§7.5)', () => {
  it('full at PQT + 32 == PQH: PRO, auto-response for the last page, drops while PRO, recovery', async () => {
    const r = await rig();
    const n = r.prq.slots - 1; // one slot stays free
    for (let i = 0; i < n; i++) expect(r.m.vtd.submitPageRequest(req({ prgi: i % 512, sid: i % 2 ? SID2 : SID }))).toBe('queued');
    expect(r.prq.status()).toBe(PRS.PPR);
    expect(r.m.vtd.prq.queue.pendingCount()).toBe(n);
    expect(r.m.vtd.submitPageRequest(req({ prgi: 300, lpig: false }))).toBe('dropped');
    expect(r.prq.status()).toBe(PRS.PPR | PRS.PRO);
    expect(r.m.vtd.submitPageRequest(req({ prgi: 300 }))).toEqual({ autoResponse: PageResponseCode.Success });
    expect(r.m.vtd.submitPageRequest(req({ prgi: 301, lpig: true, read: false }))).toBe('dropped'); // stop marker
    expect(prqMsis(r)).toHaveLength(1); // PRO while PPR set: no second event
    const stats = r.m.vtd.prq.stats;
    expect(stats).toMatchObject({ queued: n, dropped: 3, overflows: 1, autoResponses: 1 });

    const pass = r.prq.service(() => PageResponseCode.Success);
    expect(pass.requests).toHaveLength(n);
    expect(pass.overflowCleared).toBe(true);
    expect(r.prq.status()).toBe(0);
    expect(r.m.vtd.prq.queue.pendingCount()).toBe(0);
    expect(r.devs.get(SID)!.got.length + r.devs.get(SID2)!.got.length).toBe(n);
    // Requests flow again; the slot after the wrap point is used.
    expect(r.m.vtd.submitPageRequest(req({ prgi: 300 }))).toBe('queued');
    expect(r.prq.peek()).toMatchObject([{ prgi: 300, offset: 32 * n }]);
    expect(r.m.vtd.prq.openGroups()).toEqual([{ sid: SID, pasid: PASID, prgi: 300, pages: 1, complete: true }]);
  });

  it('a group with pages queued before the overflow and its last page dropped: auto-answered once, the guest discards it', async () => {
    const r = await rig();
    r.m.vtd.submitPageRequest(req({ prgi: 7, lpig: false, addr: 0x1000n }));
    for (let i = 1; i < r.prq.slots - 1; i++) r.m.vtd.submitPageRequest(req({ prgi: i === 7 ? 8 : i, sid: SID2 }));
    expect(r.m.vtd.submitPageRequest(req({ prgi: 7, addr: 0x2000n }))).toEqual({ autoResponse: PageResponseCode.Success });
    expect(r.m.vtd.prq.openGroups().some((g) => g.sid === SID && g.prgi === 7)).toBe(false);
    const pass = r.prq.service(() => PageResponseCode.Success);
    expect(pass.discarded).toBe(1);
    expect(r.devs.get(SID)!.got).toEqual([]); // no second answer for group 7
  });
});

describe('page-group responses (QI type 9)', () => {
  it('reach the device by requester id with PASID, PRGI and code; unknown groups are ignored and logged', async () => {
    const r = await rig();
    r.m.vtd.submitPageRequest(req({ prgi: 4 }));
    r.m.vtd.submitPageRequest(req({ sid: SID2, pasid: undefined, prgi: 4 }));
    for (const [g, code] of [
      [{ rid: SID, pasid: PASID, prgi: 4 }, PageResponseCode.InvalidRequest],
      [{ rid: SID2, prgi: 4 }, PageResponseCode.ResponseFailure],
      [{ rid: SID, pasid: PASID, prgi: 4 }, PageResponseCode.Success], // already answered
      [{ rid: SID, pasid: 6, prgi: 4 }, PageResponseCode.Success], // other PASID
      [{ rid: 0x28, prgi: 1 }, PageResponseCode.Success], // no such device
    ] as const) {
      expect(r.qi.submitSync([pageGroupResponseDesc(g.rid, g.prgi, code, { pasid: 'pasid' in g ? g.pasid : undefined, lpig: true })])).toBe(true);
    }
    expect(r.devs.get(SID)!.got).toEqual([{ pasid: PASID, prgi: 4, code: PageResponseCode.InvalidRequest }]);
    expect(r.devs.get(SID2)!.got).toEqual([{ pasid: undefined, prgi: 4, code: PageResponseCode.ResponseFailure }]);
    expect(r.m.vtd.prq.stats).toMatchObject({ responses: 2, unknownResponses: 3 });
    expect(r.m.vtd.logLines.filter((l) => l.includes('no such open group'))).toHaveLength(3);
  });

  it('many outstanding groups from several devices and PASIDs are answered independently', async () => {
    const r = await rig();
    const sent: PageRequest[] = [];
    for (let i = 0; i < 40; i++) {
      const q = req({ sid: i % 2 ? SID2 : SID, pasid: i % 3 === 0 ? undefined : PASID, prgi: i, lpig: i % 4 !== 0 });
      expect(r.m.vtd.submitPageRequest(q)).toBe('queued');
      sent.push(q);
    }
    expect(r.m.vtd.prq.openGroups()).toHaveLength(40);
    const pass = r.prq.service((q) => (q.prgi % 5 === 0 ? PageResponseCode.InvalidRequest : PageResponseCode.Success));
    expect(pass.responses).toHaveLength(30); // groups without their last page stay partial
    const got = [...r.devs.get(SID)!.got, ...r.devs.get(SID2)!.got];
    expect(got).toHaveLength(30);
    for (const q of sent.filter((s) => s.lpig)) {
      expect(r.devs.get(q.sid)!.got).toContainEqual({ pasid: q.pasid, prgi: q.prgi, code: q.prgi % 5 === 0 ? 1 : 0 });
    }
    expect(r.m.vtd.prq.openGroups()).toHaveLength(10);
  });

  it('stop markers are queued but open no group; a wait with PD completes with every earlier request in the queue', async () => {
    const r = await rig();
    r.m.vtd.submitPageRequest(req({ prgi: 2, lpig: false }));
    expect(r.m.vtd.submitPageRequest(req({ prgi: 0, read: false, write: false, lpig: true }))).toBe('queued');
    expect(r.m.vtd.prq.openGroups()).toHaveLength(1);
    const status = r.env.alloc.alloc();
    const [w0, w1] = waitDesc({ sw: true, fn: true, data: 0x77, addr: status });
    r.qi.place([[w0! | 1n << 7n, w1!]]); // PD (ECAP.PDS)
    r.qi.ring();
    expect(r.m.ram.readU32(status)).toBe(0x77);
    expect(r.prq.peek().map((q) => [q.prgi, q.lpig, q.read])).toEqual([[2, false, true], [0, true, false]]);
  });
});

describe('PASID teardown with requests in flight', () => {
  it('drain (PASID-IOTLB, PASID device-TLB, wait with PD): the PASID\'s groups get Invalid Request, others are served', async () => {
    const r = await rig();
    for (let i = 0; i < 6; i++) r.m.vtd.submitPageRequest(req({ pasid: i % 2 ? 6 : PASID, prgi: i }));
    r.m.vtd.submitPageRequest(req({ prgi: 0, read: false, lpig: true })); // the device's stop marker for PASID 5
    r.pasids.get(SID)!.setPasid(PASID, new Array(8).fill(0n)); // tear the PASID entry down
    const drained = r.prq.drainPasid(SID, PASID, 1, () => PageResponseCode.Success);
    expect(drained.map((q) => q.prgi)).toEqual([0, 2, 4, 0]);
    expect(r.devs.get(SID)!.got).toEqual([
      { pasid: PASID, prgi: 0, code: PageResponseCode.InvalidRequest }, { pasid: 6, prgi: 1, code: PageResponseCode.Success },
      { pasid: PASID, prgi: 2, code: PageResponseCode.InvalidRequest }, { pasid: 6, prgi: 3, code: PageResponseCode.Success },
      { pasid: PASID, prgi: 4, code: PageResponseCode.InvalidRequest }, { pasid: 6, prgi: 5, code: PageResponseCode.Success },
    ]);
    expect(r.m.vtd.prq.openGroups()).toEqual([]); // nothing owed: the PASID can be freed
    expect(r.m.vtd.prq.stats.unknownResponses).toBe(0);
    expect(r.m.vtd.regs.get('FSTS') & 0x10n).toBe(0n); // the PD wait was accepted (no IQE)
  });
});

describe('admission (faults where the request enters the IOMMU)', () => {
  const frOf = (r: Rig) => r.iommu.drv.readFaults().map((f) => [f.sid, f.reason, f.pp, f.pv]);

  it('context PRE=0: fault 0x47 recorded, not queued; with FPD=1 the fault is suppressed', async () => {
    const r = await rig({ pre: false });
    expect(r.m.vtd.submitPageRequest(req())).toBe('rejected');
    expect(frOf(r)).toEqual([[SID, 0x47, true, PASID]]);
    expect(r.prq.drv.read64(REG.PQT)).toBe(0n);
    const s = await rig({ pre: false, fpd: true });
    expect(s.m.vtd.submitPageRequest(req())).toBe('rejected');
    expect(frOf(s)).toEqual([]);
  });

  it('legacy root table (TTM=00): 0x32; PASID with PASIDE=0: 0x45; PASID beyond PDTS: 0x46; no context: 0x41', async () => {
    const legacy = await rig({ legacy: true });
    expect(legacy.m.vtd.submitPageRequest(req({ pasid: undefined }))).toBe('rejected');
    expect(frOf(legacy)).toEqual([[SID, 0x32, false, 0]]);
    const noPasid = await rig({ paside: false });
    expect(noPasid.m.vtd.submitPageRequest(req())).toBe('rejected');
    expect(frOf(noPasid)[0]?.[1]).toBe(0x45);
    expect(noPasid.m.vtd.submitPageRequest(req({ pasid: undefined, sid: SID2 }))).toBe('queued');
    const r = await rig();
    expect(r.m.vtd.submitPageRequest(req({ pasid: 128 * 64 }))).toBe('rejected');
    expect(r.m.vtd.submitPageRequest(req({ sid: 0x30 }))).toBe('rejected');
    expect(frOf(r).map((f) => f[1])).toEqual([0x46, 0x41]);
  });

  it('a profile without ECAP.PRS (qemu-10.0) rejects page requests', async () => {
    const m = await createMachine({ profile: 'qemu-10.0', iommu: { scalableMode: true }, ramMib: 32 });
    expect(m.vtd.submitPageRequest(req())).toBe('rejected');
    expect(m.vtd.logLines.at(-1)).toContain('ECAP.PRS=0');
  });

  it('malformed requests from a device are host API errors naming the field', async () => {
    const r = await rig();
    expect(() => r.m.vtd.submitPageRequest(req({ prgi: 512 }))).toThrow(/req\.prgi/);
    expect(() => r.m.vtd.submitPageRequest(req({ sid: -1 }))).toThrow(/req\.sid/);
    expect(() => r.m.vtd.submitPageRequest(req({ pasid: 1 << 20 }))).toThrow(/req\.pasid/);
    expect(() => r.m.vtd.submitPageRequest(req({ addr: -1n }))).toThrow(/req\.addr/);
    expect(() => r.m.vtd.setPageResponseRouter(undefined as never)).toThrow(/router/);
  });

  it('unit reset forgets open groups and counters', async () => {
    const r = await rig();
    r.m.vtd.submitPageRequest(req());
    r.m.reset();
    expect(r.m.vtd.prq.openGroups()).toEqual([]);
    expect(r.m.vtd.prq.stats.queued).toBe(0);
    expect(r.prq.drv.read64(REG.PQA)).toBe(0n);
  });
});
