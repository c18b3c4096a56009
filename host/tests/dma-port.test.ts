/**
 * The one DMA port (pci/dma-port.ts, pci/core-dma-port.ts) through the
 * machine's VT-d unit, programmed by a guest driver through MMIO and guest
 * RAM: untranslated requests with and without PASID, translate-only runs,
 * ATS translation and translated requests, page requests, and the checks
 * on what a host caller passes.
 */
import { describe, expect, it } from 'vitest';
import { bootTestbed, sidOf } from '../../firmware-tests/lib/testbed.js';
import { GuestQueue } from '../src/guest/invalidation-queue.js';
import { GuestPrq } from '../src/guest/page-request-queue.js';
import { encodeFsPte } from '../src/vtd/spec/fs-pte.js';
import { PGTT } from '../src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';
import { DMA_ABORT, DMA_OK, MAX_TRANSLATE_BYTES, REQ } from '../src/pci/dma-port.js';
import { bootVsva, VSVA } from '../src/flows/nested-vsva.js';
import { LAZY } from '../src/flows/iopf.js';
import { hostPort, type HostDmaFault } from '../src/vmm/host-port.js';

const RW = encodeSsPte({ R: true, W: true });
const RO = encodeSsPte({ R: true });
const RID = sidOf(5); // no device model there: the embedder's own device

async function legacy() {
  const tb = await bootTestbed({ profile: 'default', iommu: { awBits: 48 } });
  const g = tb.guest('legacy');
  const ss = g.attachLegacy(RID, { did: 3, levels: 4 });
  ss.map(0x1000n, 0x30_0000n, 12, RW);
  ss.map(0x2000n, 0x30_1000n, 12, RW); // contiguous with the page before
  ss.map(0x3000n, 0x50_0000n, 12, RO); // elsewhere, read-only
  ss.map(0x20_0000n, 0x60_0000n, 21, RW);
  g.start();
  return { tb, g, port: tb.m.vtd.portFor(RID) };
}

describe('DmaPort through the VT-d unit', () => {
  it('untranslated reads and writes move bytes with numbers only; a fault is recorded and described in `last`', async () => {
    const { tb, g, port } = await legacy();
    const buf = port.allocBuffer(4096);
    const want = tb.pattern(0x30_0ff0n, 32, 7);
    expect(port.dma(0x1ff0, 32, buf)).toBe(DMA_OK); // crosses into the next page
    expect([...port.buffer(buf, 32)]).toEqual([...want]);
    port.buffer(buf, 8).fill(0xa5);
    expect(port.dma(0x2008, 8, buf, REQ.WRITE)).toBe(DMA_OK);
    expect([...tb.m.ram.read(0x30_1008n, 8)]).toEqual(new Array(8).fill(0xa5));
    expect(port.dma(0x3000, 8, buf, REQ.WRITE)).toBe(5); // write to a read-only page
    expect(port.last).toMatchObject({ status: 5, recorded: true, recoverable: false, faultAddress: 0x3000 });
    expect(g.drv.readFaults()).toMatchObject([{ sid: RID, reason: 5, addr: 0x3000n, read: false }]);
    expect(port.dma64(0x1, 0, 8, buf)).toBe(6); // 2^32: not mapped
    expect(port.last.faultAddr).toBe(0x1_0000_0000n);
  });

  it('translate-only: an IOVA range becomes guest-physical runs, adjacent pages merged, no data moves', async () => {
    const { tb, port } = await legacy();
    const before = tb.m.ram.read(0x30_0000n, 16);
    expect(port.translate(0x1800, 0x2000)).toBe(DMA_OK);
    expect(port.runs.count).toBe(2);
    expect([port.runs.gpa[0], port.runs.len[0], port.runs.gpa[1], port.runs.len[1]]).toEqual([0x30_0800, 0x1800, 0x50_0000, 0x800]);
    expect(port.runs.bytes).toBe(0x2000);
    expect(port.translate(0x20_1000, 0x3000, REQ.WRITE)).toBe(DMA_OK); // inside one 2 MiB page
    expect([port.runs.count, port.runs.gpa[0], port.runs.len[0]]).toEqual([1, 0x60_1000, 0x3000]);
    expect([...tb.m.ram.read(0x30_0000n, 16)]).toEqual([...before]);
  });

  it('translate-only faults are recorded as for a DMA, with the runs before the faulting page', async () => {
    const { g, port } = await legacy();
    expect(port.translate(0x2800, 0x1000, REQ.WRITE)).toBe(5);
    expect([port.runs.count, port.runs.gpa[0], port.runs.len[0]]).toEqual([1, 0x30_1800, 0x800]);
    expect(port.last).toMatchObject({ recorded: true, faultAddress: 0x3000 });
    expect(g.drv.readFaults()).toMatchObject([{ sid: RID, reason: 5, addr: 0x3000n, read: false }]);
    expect(port.translate(0x4000, 1)).toBe(6);
    expect(port.runs.count).toBe(0);
  });

  it('length and address checks: an Error naming the argument, nothing translated', async () => {
    const { port } = await legacy();
    expect(() => port.translate(0x1000, 0)).toThrow(/^len:/);
    expect(() => port.translate(0x1000, MAX_TRANSLATE_BYTES + 1)).toThrow(/^len:/);
    expect(() => port.translate(2 ** 53 - 0x1000, 0x2000)).toThrow(/^len: .*2\^53/);
    expect(() => port.translate(-1, 8)).toThrow(/^iova:/);
    expect(() => port.translate(0.5, 8)).toThrow(/^iova:/);
    expect(() => port.dma(2 ** 53, 8, port.allocBuffer(16))).toThrow(/^iova:/);
    expect(() => port.dma(0x1000, 8, 0x7fff_0000)).toThrow(/^bufOff:/);
    expect(() => port.dma(0x1000, 8, port.allocBuffer(16), 0x4000)).toThrow(/^flags:/);
    expect(() => port.dma(0x1000, 8, port.allocBuffer(16), REQ.PASID, 1 << 20)).toThrow(/^pasid:/);
    expect(() => port.translate(0x1000, 8, REQ.PASID, -1)).toThrow(/^pasid:/);
  });

  it('PASID requests reach the PASID entry; PRI makes a recoverable fault an unrecorded one; page requests go to the queue', async () => {
    const tb = await bootTestbed({ profile: 'default', iommu: { awBits: 48, scalableMode: true } });
    const g = tb.guest('scalable');
    const { fs, pasids } = g.attachScalable(RID, { did: 4, pgtt: PGTT.FIRST_STAGE, pasid: 9 });
    g.ctx.setContext(RID, encodeSmContextEntry({ P: true, PASIDE: true, PRE: true, PASIDDIRPTR: pasids!.directory, RID_PASID: 9 }));
    fs!.map(0x7000n, 0x40_0000n, 12, encodeFsPte({ P: true, RW: true, US: true }));
    g.start();
    const qi = new GuestQueue(tb.env, { wide: true });
    qi.enable();
    const prq = new GuestPrq(tb.env, (descs) => qi.submitSync(descs), 0);
    prq.enable();
    const port = tb.m.vtd.portFor(RID);
    const buf = port.allocBuffer(64);
    const want = tb.pattern(0x40_0010n, 16, 3);
    expect(port.dma(0x7010, 16, buf, REQ.PASID, 9)).toBe(DMA_OK);
    expect([...port.buffer(buf, 16)]).toEqual([...want]);
    expect(port.dma(0x7010, 16, buf)).toBe(DMA_OK); // without PASID: the context's RID_PASID (9)
    expect(port.dma(0x7010, 16, buf, REQ.PASID, 5)).not.toBe(DMA_OK); // no PASID entry 5
    expect(g.drv.readFaults()).toMatchObject([{ sid: RID, pp: true, pv: 5 }]);
    expect(port.dma(0x8000, 16, buf, REQ.PASID | REQ.PRI, 9)).toBe(port.last.status);
    expect(port.last).toMatchObject({ recoverable: true, recorded: false, faultAddress: 0x8000 });
    expect(g.drv.readFaults()).toEqual([]);
    expect(port.acceptsPageRequests).toBe(true);
    const outcome = port.pageRequest({ sid: RID, pasid: 9, addr: 0x8000n, read: true, write: false, exec: false, priv: false, prgi: 1, lpig: true });
    expect(outcome).toBe('queued');
    expect(prq.peek()).toMatchObject([{ sid: RID, pasid: 9, addr: 0x8000n, prgi: 1, lpig: true }]);
  });

  it('ATS: a translation request answers the page, R=W=0 for an unmapped page (unrecorded); translated requests go to RAM', async () => {
    const tb = await bootTestbed({ profile: 'default', iommu: { awBits: 48 } });
    const g = tb.guest('legacy');
    const ss = g.attachLegacy(RID, { did: 3, levels: 4, tt: 1 });
    ss.map(0x20_0000n, 0x60_0000n, 21, RW);
    g.start();
    const port = tb.m.vtd.portFor(RID);
    expect(port.translationRequest(0x21_2345, REQ.WRITE)).toBe(DMA_OK);
    expect(port.completion).toMatchObject({ iovaLo: 0x20_0000, addrLo: 0x60_0000, sizeLg2: 21 });
    expect(port.completion.perms & 3).toBe(3);
    expect(port.translationRequest(0x40_0000)).toBe(DMA_OK);
    expect(port.completion).toMatchObject({ iovaLo: 0x40_0000, addrLo: 0, perms: 0 });
    expect(g.drv.readFaults()).toEqual([]);
    const buf = port.allocBuffer(64);
    const want = tb.pattern(0x61_0000n, 8, 1);
    expect(port.translated(0x61_0000, 8, buf)).toBe(DMA_OK);
    expect([...port.buffer(buf, 8)]).toEqual([...want]);
    expect(port.translated(2 ** 44, 8, buf)).toBe(DMA_ABORT); // outside RAM: master abort, all-ones
    expect([...port.buffer(buf, 8)]).toEqual(new Array(8).fill(0xff));
    expect(port.translationRequestBig(0x20_1000n, false)).toMatchObject({ ok: true, iova: 0x20_0000n, addr: 0x60_0000n, read: true, write: true });
  });

  it("buffers belong to their port: another device's buffer (or memory past one's own) is an Error naming bufOff, nothing moves", async () => {
    const { tb } = await legacy();
    const a = tb.m.vtd.portFor(RID);
    const b = tb.m.vtd.portFor(sidOf(6));
    const bufA = a.allocBuffer(64);
    const bufB = b.allocBuffer(64);
    b.buffer(bufB, 8).fill(0x77);
    expect(() => a.dma(0x1000, 8, bufB)).toThrow(/^bufOff:/);
    expect(() => a.dma(0x1000, 8, bufB, REQ.WRITE)).toThrow(/^bufOff:/);
    expect(() => a.translated(0x30_0000, 8, bufB)).toThrow(/^bufOff:/);
    expect(() => a.dma64(0x20_0000, 0, 8, bufB)).toThrow(/^bufOff:/);
    expect(() => a.buffer(bufB, 8)).toThrow(/^bufOff:/);
    expect(() => a.dma(0x1000, 65, bufA)).toThrow(/^bufOff:/); // one byte past its own buffer
    expect([...b.buffer(bufB, 8)]).toEqual(new Array(8).fill(0x77));
    expect(a.dma(0x1000, 64, bufA)).toBe(DMA_OK);
  });

  it('the BigInt layer gives the same answers as the number API', async () => {
    const { port } = await legacy();
    const buf = port.allocBuffer(64);
    expect(port.dmaBig(0x1000n, 8, false, buf)).toEqual({ ok: true });
    expect(port.dmaBig(0x3000n, 8, true, buf)).toEqual({ ok: false, reason: 5, recorded: true, addr: 0x3000n });
    expect(() => port.dmaBig(-1n, 8, false, buf)).toThrow(/^iova:/);
  });

  it("a VMM's host port: the same class over the host IOMMU; an unmapped guest PASID is blocked, faults go to the VMM", async () => {
    const g = await bootVsva();
    const prid = g.vm.device(VSVA.bdf).prid;
    const faults: HostDmaFault[] = [];
    const port = hostPort(g.host, prid, { hostPasid: (p) => g.vm.ctx.guestPasids.hostOf(p), onFault: (f) => faults.push(f) });
    const buf = port.allocBuffer(64);
    g.host.guestRam.write(VSVA.gpa + 0x10n, Uint8Array.of(7, 8, 9));
    expect(port.dma(Number(VSVA.va) + 0x10, 3, buf, REQ.PASID, VSVA.pasid)).toBe(DMA_OK);
    expect([...port.buffer(buf, 3)]).toEqual([7, 8, 9]);
    expect(port.dma(Number(VSVA.va), 3, buf, REQ.PASID, VSVA.pasid + 1)).toBe(DMA_ABORT); // no host PASID for it
    expect(port.last.recorded).toBe(false);
    expect(port.dma(Number(LAZY.va), 3, buf, REQ.PASID, VSVA.pasid)).not.toBe(DMA_OK); // not mapped yet: the VMM hears it
    expect(faults).toMatchObject([{ prid, iova: LAZY.va, write: false }]);
    expect(port.last).toMatchObject({ recorded: false, recoverable: false });
    expect(port.translationRequest(Number(LAZY.va), REQ.PASID, VSVA.pasid + 1)).toBe(DMA_ABORT); // blocked before the IOMMU
    g.vm.close();
  });
});
