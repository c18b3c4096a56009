import { describe, expect, it } from 'vitest';
import { AtsDevice } from '../src/devices/ats/device.js';
import { ATS, ATS_STATE } from '../src/devices/ats/regs.js';
import { FakeDmaPort } from '../src/devices/common/testing.js';
import { DmaTestDevice } from '../src/devices/dma-test/device.js';
import { DMAT, DMAT_STATE } from '../src/devices/dma-test/regs.js';
import { EXT_CAP_ID } from '../src/pci/capabilities.js';
import { encodeDescriptor, SWQ_OP } from '../src/devices/swq/descriptor.js';
import { SwqDevice } from '../src/devices/swq/device.js';
import { SWQ } from '../src/devices/swq/regs.js';
import { PageResponseCode } from '../src/vtd/spec/page-request.js';
import { sid } from '../src/types.js';

/** Firmware + driver: bus master on, PASID and PRI enabled with `alloc` outstanding requests. */
function enable(dev: { config: DmaTestDevice['config'] }, alloc: number): void {
  const c = dev.config;
  c.write(0x04, 2, 0x6);
  c.write(c.findExtCapability(EXT_CAP_ID.PASID) + 6, 2, 0x7);
  const pri = c.findExtCapability(EXT_CAP_ID.PRI);
  c.write(pri + 0xc, 4, alloc);
  c.write(pri + 4, 2, 1);
}
const priStatus = (dev: { config: DmaTestDevice['config'] }): number => dev.config.read(dev.config.findExtCapability(EXT_CAP_ID.PRI) + 6, 2);

describe('PRI in the devices (fake page-request sink)', () => {
  it('a recoverable fault becomes a page request; Success retries the DMA', () => {
    const port = new FakeDmaPort();
    const dev = new DmaTestDevice(sid(0x18), port);
    enable(dev, 4);
    port.notPresent.add(0x2000n);
    port.memory.set([5, 6, 7], 0x2010);
    dev.barWrite(DMAT.PASID, 4, BigInt(0x8000_0000 | 42));
    dev.read(0x2010n, 3);
    expect(dev.lastStatus() & 7).toBe(DMAT_STATE.PAGE_WAIT);
    const req = port.pageRequests!.requests[0]!;
    expect(req).toMatchObject({ sid: 0x18, pasid: 42, addr: 0x2000n, read: true, write: false, lpig: true });
    expect(dev.read(0n, 1)).toMatchObject({ ok: false }); // busy: refused
    expect(dev.lastStatus() & 7).toBe(DMAT_STATE.BAD_COMMAND);
    port.notPresent.clear();
    dev.pageGroupResponse({ pasid: 42, prgi: req.prgi, code: PageResponseCode.Success });
    expect(dev.lastStatus()).toBe(DMAT_STATE.DONE);
    expect([...dev.buffer().subarray(0, 3)]).toEqual([5, 6, 7]);
  });

  it('Invalid Request fails the command; Response Failure also sets RF and stops PRI', () => {
    const port = new FakeDmaPort();
    const dev = new DmaTestDevice(sid(0x18), port);
    enable(dev, 4);
    port.notPresent.add(0x3000n);
    dev.write(0x3000n, 8);
    dev.pageGroupResponse({ prgi: port.pageRequests!.requests[0]!.prgi, code: PageResponseCode.InvalidRequest });
    expect(dev.lastStatus() & 7).toBe(DMAT_STATE.FAULT);
    dev.write(0x3000n, 8);
    dev.pageGroupResponse({ prgi: port.pageRequests!.requests[1]!.prgi, code: PageResponseCode.ResponseFailure });
    expect(priStatus(dev) & 1).toBe(1);
    dev.write(0x3000n, 8); // PRI stopped: the fault is not recoverable any more
    expect(port.pageRequests!.requests).toHaveLength(2);
    expect(dev.lastStatus() & 7).toBe(DMAT_STATE.FAULT);
  });

  it('an unexpected PRG index sets UPRGI; an immediate auto-response completes at once', () => {
    const port = new FakeDmaPort();
    const dev = new DmaTestDevice(sid(0x18), port);
    enable(dev, 4);
    dev.pageGroupResponse({ prgi: 77, code: PageResponseCode.Success });
    expect(priStatus(dev) & 2).toBe(2);
    port.notPresent.add(0x4000n);
    port.pageRequests!.outcome = { autoResponse: PageResponseCode.InvalidRequest };
    dev.read(0x4000n, 4);
    expect(dev.lastStatus() & 7).toBe(DMAT_STATE.FAULT);
  });

  it('ATS device: R=W=0 translations become page requests, retried page by page', () => {
    const port = new FakeDmaPort();
    const dev = new AtsDevice(sid(0x28), port);
    enable(dev, 4);
    dev.config.write(dev.config.findExtCapability(EXT_CAP_ID.ATS) + 6, 2, 0x8000);
    port.notPresent.add(0x1000n);
    port.notPresent.add(0x2000n);
    dev.read(0x1800n, 0x1000); // spans two missing pages
    expect(dev.barRead(ATS.STATUS, 4) & 7n).toBe(BigInt(ATS_STATE.PAGE_WAIT));
    expect(port.pageRequests!.requests.map((r) => r.addr)).toEqual([0x1000n]);
    port.notPresent.delete(0x1000n);
    dev.pageGroupResponse({ prgi: port.pageRequests!.requests[0]!.prgi, code: PageResponseCode.Success });
    expect(port.pageRequests!.requests.map((r) => r.addr)).toEqual([0x1000n, 0x2000n]);
    port.notPresent.delete(0x2000n);
    dev.pageGroupResponse({ prgi: port.pageRequests!.requests[1]!.prgi, code: PageResponseCode.Success });
    expect(Number(dev.barRead(ATS.STATUS, 4))).toBe(ATS_STATE.DONE);
    expect(dev.tlb.size).toBe(2);
  });

  it('respects the outstanding-request allocation: a group beyond it waits for a response; 0 means none', () => {
    const port = new FakeDmaPort();
    const dev = new SwqDevice(sid(0x30), port);
    enable(dev, 1);
    dev.barWrite(SWQ.PASID_TABLE, 4, BigInt(0x8000_0000 | 3));
    dev.barWrite(SWQ.WQ_CFG, 4, 1n);
    port.notPresent.add(0x1000n);
    port.notPresent.add(0x2000n);
    const desc = (dst: bigint) => encodeDescriptor({ pasid: 3, priv: false, op: SWQ_OP.FILL, flags: 0, completion: 0n, src: 0xabn, dst, size: 8 });
    expect(dev.enqueue(desc(0x1000n))).toBe('accepted');
    expect(dev.enqueue(desc(0x2000n))).toBe('accepted');
    expect(dev.jobs).toHaveLength(2);
    expect(port.pageRequests!.requests.map((r) => r.addr)).toEqual([0x1000n]); // allocation 1
    port.notPresent.clear();
    dev.pageGroupResponse({ pasid: 3, prgi: port.pageRequests!.requests[0]!.prgi, code: PageResponseCode.Success });
    expect(port.pageRequests!.requests.map((r) => r.addr)).toEqual([0x1000n, 0x2000n]);
    dev.pageGroupResponse({ pasid: 3, prgi: port.pageRequests!.requests[1]!.prgi, code: PageResponseCode.Success });
    expect(dev.jobs).toHaveLength(0);
    expect(port.memory[0x1000]).toBe(0xab);
    expect(port.memory[0x2000]).toBe(0xab);
    const other = new AtsDevice(sid(0x28), port);
    enable(other, 0);
    other.config.write(other.config.findExtCapability(EXT_CAP_ID.ATS) + 6, 2, 0x8000);
    port.notPresent.add(0x5000n);
    expect(other.read(0x5000n, 4) & 7).toBe(ATS_STATE.NO_PERMISSION);
  });
});
