/**
 * Guest-driver suite: I/O page faults end to end (VT-d §7.4-7.7 in 3.x, PCIe
 * PRI). DMA test devices with PASID and PRI enabled DMA into first-stage
 * pages the guest has not mapped; the unit queues page requests; the guest's
 * handler (host/src/guest/page-request-queue.ts) reads the queue, maps the pages, answers the
 * groups through the invalidation queue; the devices retry and complete.
 * Also: several devices and PASIDs at once, overflow and recovery, failure
 * responses, PASID teardown with requests in flight, and PRE=0.
 * The guest programs everything through MMIO (VT-d registers, ECAM, BARs)
 * and guest RAM only.
 */
import { describe, expect, it } from 'vitest';
import * as K from '../../../host/src/core/constants.js';
import { createMachine, type Machine } from '../../../host/src/machine.js';
import type { MsiMessage } from '../../../host/src/vtd/interrupts.js';
import { type GuestEnv, GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { GuestQueue } from '../../../host/src/guest/invalidation-queue.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { type GuestPageRequest, GuestPrq } from '../../../host/src/guest/page-request-queue.js';
import { PageTableBuilder, type PasidTableBuilder } from '../../../host/src/tables/table-builders.js';
import { awForLevels } from '../../../host/src/vtd/spec/context-entry.js';
import { pageGroupResponseDesc, pasidCacheDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../../../host/src/vtd/spec/fs-pte.js';
import { PageResponseCode } from '../../../host/src/vtd/spec/page-request.js';
import { encodePasidEntry, PGTT } from '../../../host/src/vtd/spec/pasid-entry.js';
import { PRS } from '../../../host/src/vtd/spec/registers.js';
import { encodeSmContextEntry } from '../../../host/src/vtd/spec/sm-context-entry.js';
import { CMD, GuestDmaTest, PRI_STS, STATE } from './pri-guest.js';

const FS_RW = encodeFsPte({ P: true, RW: true, US: true });
const IOVA = 0x7000_0000_0000n;
const PRQ_MSI = 0xfee0_2000n;

/** One device function as the guest manages it. */
interface GuestDev {
  readonly dev: GuestDmaTest;
  /** Domain id of the device's PASID entries (one address space per DID: the IOTLB and PSC are tagged by it). */
  readonly did: number;
  readonly pasids: PasidTableBuilder;
  /** First-stage table per PASID. */
  readonly fs: Map<number, PageTableBuilder>;
}

interface Bed {
  m: Machine;
  env: GuestEnv;
  prq: GuestPrq;
  qi: GuestQueue;
  msis: MsiMessage[];
  devs: GuestDev[];
  /** Data pages the handler mapped, by (rid, pasid, page). */
  mapped: Map<string, bigint>;
}

const slotRid = (slot: number) => slot << 3;
const pageKey = (rid: number, pasid: number | undefined, addr: bigint) => `${rid}:${pasid}:${addr}`;

/** A first-stage PASID entry for `pasid` of `d` (PGTT=1, 4-level). */
function addPasid(env: GuestEnv, d: GuestDev, pasid: number): void {
  const fs = new PageTableBuilder(env.mem, env.alloc, { stage: 'fs', levels: 4 });
  d.pasids.setPasid(pasid, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: d.did + pasid, AW: awForLevels(4), FSPTPTR: fs.rootPointer }));
  d.fs.set(pasid, fs);
}

/**
 * Boots a machine with DMA test devices in `slots`, each with PASIDs
 * `pasids` (first stage, nothing mapped), PRE as asked, PASID and PRI
 * enabled in the device, QI on, the page-request queue at 2^pqs pages.
 */
async function boot(o: { slots?: number[]; pasids?: number[]; pre?: boolean; pqs?: number } = {}): Promise<Bed> {
  const slots = o.slots ?? [3, 4];
  const msis: MsiMessage[] = [];
  const m = await createMachine({
    profile: 'default', ramMib: 128, onInterrupt: (x) => msis.push(x),
    devices: slots.map((s) => ({ bdf: `00:${s.toString(16).padStart(2, '0')}.0`, kind: 'dma-test' as const })),
  });
  const env = guestEnvFor(m);
  const iommu = new GuestIommu(env, 'scalable');
  const devs: GuestDev[] = slots.map((slot) => {
    const rid = slotRid(slot);
    const [first, ...rest] = o.pasids ?? [5];
    const { pasids, fs } = iommu.attachScalable(rid, { did: rid + first!, pgtt: PGTT.FIRST_STAGE, pasid: first });
    iommu.ctx.setContext(rid, encodeSmContextEntry({
      P: true, PASIDE: true, PRE: o.pre ?? true, PASIDDIRPTR: pasids!.directory, RID_PASID: first,
    }));
    const d: GuestDev = { dev: new GuestDmaTest(env.platform, rid), did: rid, pasids: pasids!, fs: new Map([[first!, fs!]]) };
    for (const p of rest) addPasid(env, d, p);
    d.dev.enablePasid();
    d.dev.enablePri(16);
    return d;
  });
  iommu.start();
  const qi = new GuestQueue(env, { wide: true });
  qi.enable();
  const prq = new GuestPrq(env, (descs) => qi.submitSync(descs), o.pqs ?? 0);
  prq.enable();
  prq.setupEvent(PRQ_MSI, 0x51);
  return { m, env, prq, qi, msis, devs, mapped: new Map() };
}

/** The guest's fault handler: maps a fresh zeroed page at the faulting address, answers Success. */
function mapOnFault(b: Bed, code: (q: GuestPageRequest) => number = () => PageResponseCode.Success) {
  return (q: GuestPageRequest): number => {
    const d = b.devs.find((x) => x.dev.rid === q.sid);
    const fs = q.pasid === undefined ? undefined : d?.fs.get(q.pasid);
    if (!fs) return PageResponseCode.InvalidRequest;
    const want = code(q);
    if (want !== PageResponseCode.Success) return want;
    const key = pageKey(q.sid, q.pasid, q.addr);
    if (!b.mapped.has(key)) {
      const page = b.env.alloc.alloc();
      b.env.mem.fill(page, 4096, 0);
      fs.map(q.addr, page, 12, FS_RW);
      b.mapped.set(key, page);
    }
    return PageResponseCode.Success;
  };
}

/** Services the queue while page-request interrupts arrive (each MSI is one pass). */
function serviceOnInterrupts(b: Bed, handle: (q: GuestPageRequest) => number): GuestPageRequest[] {
  const seen: GuestPageRequest[] = [];
  for (let i = 0; i < 64; i++) {
    const n = b.msis.filter((x) => x.source === 'page-request').length;
    if (b.prq.peek().length === 0 && !(b.prq.status() & PRS.PRO)) break;
    seen.push(...b.prq.service(handle).requests);
    if (b.msis.filter((x) => x.source === 'page-request').length === n && b.prq.peek().length === 0) break;
  }
  return seen;
}

const state = (s: number) => s & 7;
const reason = (s: number) => (s >> 8) & 0xff;
const pattern = (seed: number, len: number) => Uint8Array.from({ length: len }, (_, i) => (seed * 7 + i) & 0xff);

describe('I/O page faults end to end (default profile)', () => {
  it('a DMA write into an unmapped first-stage page: page request, guest maps and answers, device completes', async () => {
    const b = await boot();
    const [{ dev }] = b.devs as [GuestDev];
    const data = pattern(1, 256);
    dev.fillBuffer(0, data);
    const s = dev.start(CMD.WRITE, IOVA + 0x3100n, 256, 5);
    expect([state(s), reason(s)]).toEqual([STATE.PAGE_WAIT, 0x71]); // waiting; first-stage not present
    expect(b.msis.filter((x) => x.source === 'page-request')).toEqual([{ source: 'page-request', address: PRQ_MSI, data: 0x51 }]);
    const reqs = serviceOnInterrupts(b, mapOnFault(b));
    expect(reqs).toMatchObject([{ sid: dev.rid, pasid: 5, addr: IOVA + 0x3000n, write: true, lpig: true, priv: false }]);
    expect(state(dev.status())).toBe(STATE.DONE);
    const page = b.mapped.get(pageKey(dev.rid, 5, IOVA + 0x3000n))!;
    expect([...b.m.ram.read(page + 0x100n, 256)]).toEqual([...data]);
    expect(b.devs[0]!.dev.priStatus() & PRI_STS.RF).toBe(0);
    expect(b.m.vtd.mmioRead(0x34, 4) & 2n).toBe(0n); // FSTS.PPF: a served page fault is not a recorded fault
  });

  it('a DMA read of an unmapped page gets the data the guest put there', async () => {
    const b = await boot();
    const [{ dev }] = b.devs as [GuestDev];
    expect(state(dev.start(CMD.READ, IOVA + 0x8000n, 64, 5))).toBe(STATE.PAGE_WAIT);
    const data = pattern(9, 64);
    serviceOnInterrupts(b, (q) => {
      const code = mapOnFault(b)(q);
      b.m.ram.write(b.mapped.get(pageKey(q.sid, q.pasid, q.addr))!, data);
      return code;
    });
    expect(state(dev.status())).toBe(STATE.DONE);
    expect(dev.readBuffer(0, 64)).toEqual([...data]);
  });

  it('a response that makes the device fault again at once: the new request stays in the ring for the next pass', async () => {
    // Regression: the handler used to set PQH = PQT re-read at the end of its pass, skipping the
    // request the retry sent during the pass; the device then waited forever (Linux uses the tail it read first).
    const b = await boot();
    const [{ dev }] = b.devs as [GuestDev];
    dev.fillBuffer(0, pattern(3, 0x100));
    expect(state(dev.start(CMD.WRITE, IOVA + 0x3f80n, 0x100, 5))).toBe(STATE.PAGE_WAIT); // crosses into page 4: two unmapped pages
    const first = b.prq.service(mapOnFault(b));
    expect(first.requests.map((q) => q.addr)).toEqual([IOVA + 0x3000n]);
    // The Success response made the device retry inside the pass: page 4 faulted and was queued after the tail.
    expect(state(dev.status())).toBe(STATE.PAGE_WAIT);
    expect(b.prq.peek().map((q) => q.addr)).toEqual([IOVA + 0x4000n]);
    expect(b.prq.status() & 1).toBe(1); // PRS.PPR set again by the new request
    const second = b.prq.service(mapOnFault(b));
    expect(second.requests.map((q) => q.addr)).toEqual([IOVA + 0x4000n]);
    expect(state(dev.status())).toBe(STATE.DONE);
    const page4 = b.mapped.get(pageKey(dev.rid, 5, IOVA + 0x4000n))!;
    expect([...b.m.ram.read(page4, 0x80)]).toEqual([...pattern(3, 0x100).subarray(0x80)]);
  });

  it('implicit invalidation (§6.5.4 in 3.x): a page request drops the page\'s cached translation; the guest upgrades a read-only PTE without invalidating', async () => {
    const b = await boot();
    const [d] = b.devs as [GuestDev];
    const page = b.env.alloc.alloc();
    d.fs.get(5)!.map(IOVA, page, 12, encodeFsPte({ P: true, US: true }));
    expect(state(d.dev.start(CMD.READ, IOVA, 8, 5))).toBe(STATE.DONE); // the IOTLB now holds a read-only entry
    d.dev.fillBuffer(0, pattern(3, 8));
    const probe = () => b.m.core.translate(d.dev.rid, 5, IOVA, K.ACC_READ | K.ACC_PASID | K.ACC_NO_AD).source;
    expect(probe()).toBe(1); // IOTLB hit
    expect(state(d.dev.start(CMD.WRITE, IOVA, 8, 5))).toBe(STATE.PAGE_WAIT);
    expect(probe()).toBe(0); // the page request dropped the cached entry: walked again
    serviceOnInterrupts(b, (q) => {
      expect(q).toMatchObject({ addr: IOVA, write: true });
      d.fs.get(5)!.map(IOVA, page, 12, FS_RW); // Linux SVA: make it writable, no invalidation
      return PageResponseCode.Success;
    });
    expect(state(d.dev.status())).toBe(STATE.DONE);
    expect([...b.m.ram.read(page, 8)]).toEqual([...pattern(3, 8)]);
  });

  it('many outstanding groups from several devices and PASIDs, answered in one pass', async () => {
    const slots = [3, 4, 5, 6, 7, 8];
    const b = await boot({ slots, pasids: [5, 9] });
    b.devs.forEach((d, i) => {
      d.dev.fillBuffer(0, pattern(i, 32));
      expect(state(d.dev.start(CMD.WRITE, IOVA + BigInt(i) * 0x1000n, 32, i % 2 ? 9 : 5))).toBe(STATE.PAGE_WAIT);
    });
    expect(b.m.vtd.prq.openGroups()).toHaveLength(slots.length);
    expect(b.msis.filter((x) => x.source === 'page-request')).toHaveLength(1); // PPR stayed set
    const pass = b.prq.service(mapOnFault(b));
    expect(pass.requests.map((q) => [q.sid, q.pasid])).toEqual(slots.map((s, i) => [slotRid(s), i % 2 ? 9 : 5]));
    b.devs.forEach((d, i) => {
      expect(state(d.dev.status())).toBe(STATE.DONE);
      const page = b.mapped.get(pageKey(d.dev.rid, i % 2 ? 9 : 5, IOVA + BigInt(i) * 0x1000n))!;
      expect([...b.m.ram.read(page, 32)]).toEqual([...pattern(i, 32)]);
    });
    expect(b.m.vtd.prq.openGroups()).toEqual([]);
  });

  it('overflow: the full queue sets PRO and the unit answers the device; after the guest drains, requests flow again', async () => {
    const b = await boot();
    const [{ dev }] = b.devs as [GuestDev];
    const cap = b.prq.slots - 1;
    // A lazy guest: answers each request from the ring but never moves PQH.
    const handle = mapOnFault(b);
    for (let i = 0; i < cap; i++) {
      expect(state(dev.start(CMD.WRITE, IOVA + BigInt(i) * 0x1000n, 8, 5))).toBe(STATE.PAGE_WAIT);
      const q = b.prq.peek().at(-1)!;
      b.qi.submitSync([pageGroupResponseDesc(q.sid, q.prgi, handle(q), { pasid: q.pasid, lpig: true })]);
      expect(state(dev.status())).toBe(STATE.DONE);
    }
    const s = dev.start(CMD.WRITE, IOVA + BigInt(cap) * 0x1000n, 8, 5);
    expect(state(s)).toBe(STATE.FAULT); // auto-answered (Success) on every retry while PRO is set
    expect(b.prq.status() & PRS.PRO).toBe(PRS.PRO);
    expect(b.m.vtd.prq.stats).toMatchObject({ queued: cap, overflows: 1 });
    expect(b.m.vtd.prq.stats.autoResponses).toBeGreaterThan(0);

    const pass = b.prq.service(handle); // re-answers what it already answered: unknown groups, ignored
    expect(pass.requests).toHaveLength(cap);
    expect(pass.overflowCleared).toBe(true);
    expect(b.m.vtd.prq.stats.unknownResponses).toBe(cap);
    expect(dev.priStatus() & PRI_STS.UPRGI).toBe(0); // the device never saw a stray response

    expect(state(dev.start(CMD.WRITE, IOVA + BigInt(cap) * 0x1000n, 8, 5))).toBe(STATE.PAGE_WAIT);
    serviceOnInterrupts(b, handle);
    expect(state(dev.status())).toBe(STATE.DONE);
  });

  it('Invalid Request fails the DMA; Response Failure also stops the device\'s PRI (RF) so faults are recorded', async () => {
    const b = await boot();
    const [{ dev }] = b.devs as [GuestDev];
    dev.start(CMD.WRITE, IOVA, 8, 5);
    serviceOnInterrupts(b, mapOnFault(b, () => PageResponseCode.InvalidRequest));
    expect([state(dev.status()), reason(dev.status())]).toEqual([STATE.FAULT, 0x71]);
    expect(dev.priStatus() & PRI_STS.RF).toBe(0);

    dev.start(CMD.WRITE, IOVA + 0x1000n, 8, 5);
    serviceOnInterrupts(b, mapOnFault(b, () => PageResponseCode.ResponseFailure));
    expect(state(dev.status())).toBe(STATE.FAULT);
    expect(dev.priStatus() & PRI_STS.RF).toBe(PRI_STS.RF);
    const queuedBefore = b.m.vtd.prq.stats.queued;
    expect(state(dev.start(CMD.WRITE, IOVA + 0x2000n, 8, 5))).toBe(STATE.FAULT);
    expect(b.m.vtd.prq.stats.queued).toBe(queuedBefore);
    expect(Number(b.m.vtd.mmioRead(0x34, 4)) & 2).toBe(2); // FSTS.PPF: recorded as a non-recoverable fault
  });

  it('PASID teardown with a request in flight: drained with Invalid Request, the other PASID is served, the PASID is reused', async () => {
    const b = await boot({ pasids: [5, 9] });
    const [a, c] = b.devs as [GuestDev, GuestDev];
    a.dev.start(CMD.WRITE, IOVA, 8, 5);
    c.dev.start(CMD.WRITE, IOVA, 8, 9);
    // Tear PASID 5 of device A down: PASID entry cleared, PASID cache invalidated, then drained.
    a.pasids.setPasid(5, new Array(8).fill(0n));
    b.qi.submitSync([pasidCacheDesc(1, a.did + 5, 5)]);
    const drained = b.prq.drainPasid(a.dev.rid, 5, a.did + 5, mapOnFault(b));
    expect(drained).toMatchObject([{ sid: a.dev.rid, pasid: 5, addr: IOVA }]);
    expect(state(a.dev.status())).toBe(STATE.FAULT);
    expect(state(c.dev.status())).toBe(STATE.DONE);
    expect(b.m.vtd.prq.openGroups()).toEqual([]);
    // Reuse: a new address space under the same PASID.
    addPasid(b.env, a, 5);
    b.qi.submitSync([pasidCacheDesc(1, a.did + 5, 5)]);
    expect(state(a.dev.start(CMD.WRITE, IOVA, 8, 5))).toBe(STATE.PAGE_WAIT);
    serviceOnInterrupts(b, mapOnFault(b));
    expect(state(a.dev.status())).toBe(STATE.DONE);
  });

  it('PRE=0 in the context entry: the fault is not recoverable and goes to fault recording, no page request', async () => {
    const b = await boot({ pre: false });
    const [{ dev }] = b.devs as [GuestDev];
    expect([state(dev.start(CMD.WRITE, IOVA, 8, 5)), reason(dev.status())]).toEqual([STATE.FAULT, 0x71]);
    expect(b.prq.peek()).toEqual([]);
    expect(b.m.vtd.prq.stats.queued).toBe(0);
    const frcd = b.m.vtd.mmioRead(0x228, 8);
    expect([Number(frcd & 0xffffn), Number((frcd >> 32n) & 0xffn)]).toEqual([dev.rid, 0x71]);
  });
});
