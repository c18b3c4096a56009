// PRI on the SMMUv3 (IHI 0070 chapter 8, CMD_PRI_RESP §4.5.2) driven as a
// guest drives it: the guest programs the PRI queue through MMIO, the ATS
// device's PRI engine sends page requests through its DMA port, the guest
// reads the records from its RAM and answers with CMD_PRI_RESP, and the
// device's page-request group completes (or not) with that answer.
// Every case fails on a tree without PRI (SMMU_IDR0.PRI = 0: the device's
// requests fail at once, PRI_RESP is CERROR_ILL).
import { describe, expect, it } from 'vitest';
import { ARM_ECAM_BASE, ARM_RAM_BASE, createArmMachine, SMMU_BASE, type ArmMachine } from '../../../host/src/arm-machine.js';
import type { AtsDevice } from '../../../host/src/devices/ats/device.js';
import type { PageFault } from '../../../host/src/devices/common/pri-engine.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';
import { CR0_BITS, SmmuDriver, SR } from '../../../host/src/guest/smmu/driver.js';
import { CONFIG, encodeSte, s1Cd } from '../../../host/src/guest/smmu/structures.js';
import type { SmmuOptions } from '../../../host/src/smmu/profiles.js';
import type { SmmuInterrupt } from '../../../host/src/smmu/smmu-unit.js';
import { PRI_RESP } from '../../../host/src/smmu/spec/priq.js';
import { PageAllocator } from '../../../host/src/tables/page-allocator.js';
import { PageResponseCode } from '../../../host/src/vtd/spec/page-request.js';
import { PRI } from '../../../host/src/pci/capabilities.js';

const BDF = 0x18; // 00:03.0
const PAGE = 0x7000_0000n;

interface Bed {
  readonly m: ArmMachine;
  readonly drv: SmmuDriver;
  readonly pci: PciDriver;
  readonly dev: AtsDevice;
  readonly irqs: SmmuInterrupt[];
  readonly alloc: PageAllocator;
  /** Response codes the device's page-request groups completed with, in order. */
  readonly codes: PageResponseCode[];
  /** Sends a one-page group from the device's PRI engine; 'pending' or 'failed'. */
  request(f?: Partial<PageFault>): 'pending' | 'failed';
}

/** An Arm machine with the ATS device at 00:03.0 (PASID and PRI enabled), an S1 STE with `ste` extra fields, the PRI queue on unless `priq` is false. */
async function boot(o: { profile?: string; smmu?: SmmuOptions; priqLog2?: number; priq?: boolean; allocation?: number; ste?: Record<string, number | boolean> } = {}): Promise<Bed> {
  const irqs: SmmuInterrupt[] = [];
  const m = await createArmMachine({ profile: o.profile ?? 'default', smmu: o.smmu, ramMib: 64, devices: [{ bdf: '00:03.0', kind: 'ats' }], onInterrupt: (i) => irqs.push(i) });
  const alloc = new PageAllocator(m.ram, ARM_RAM_BASE + 0x100_0000n, ARM_RAM_BASE + 0x400_0000n);
  const drv = new SmmuDriver(m, m.ram, alloc, SMMU_BASE);
  const pci = new PciDriver(m, ARM_ECAM_BASE);
  drv.init();
  const cd = alloc.alloc();
  s1Cd(alloc.alloc(), 1).forEach((w, i) => m.ram.writeU64(cd + BigInt(8 * i), w));
  drv.setSte(BDF, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd, ...o.ste }));
  if (o.priq !== false && m.smmu.caps.pri) drv.enablePriq(o.priqLog2 ?? 4);
  pci.enablePasid(BDF, { exec: true, priv: true });
  pci.enablePri(BDF, o.allocation ?? 16);
  const dev = m.device(BDF) as AtsDevice;
  const codes: PageResponseCode[] = [];
  const request = (f: Partial<PageFault> = {}): 'pending' | 'failed' =>
    dev.fn.pri!.request({ addr: PAGE, write: false, exec: false, priv: false, ...f }, (c) => codes.push(c));
  return { m, drv, pci, dev, irqs, alloc, codes, request };
}

/**
 * The PRI queue interrupt on (IRQ_CTRL.PRIQ_IRQEN; `lastOnly`: PRIQ_IRQ_CFG2.LO):
 * an MSI writing `msi.data` into a guest word when `msi` is given, else the wired line.
 */
function priqIrq(b: Bed, o: { lastOnly?: boolean; msi?: { data: number } } = {}): bigint {
  const word = o.msi ? b.alloc.alloc() : 0n;
  b.drv.write64(SR.PRIQ_IRQ_CFG0, word);
  b.drv.write32(SR.PRIQ_IRQ_CFG1, o.msi?.data ?? 0);
  b.drv.write32(SR.PRIQ_IRQ_CFG2, o.lastOnly ? 0x8000_0000 : 0);
  b.drv.write32(SR.IRQ_CTRL, b.drv.read32(SR.IRQ_CTRL) | 2);
  return word;
}

/** Wired PRI queue interrupts signalled so far. */
const priqIrqs = (b: Bed): number => b.irqs.filter((i) => i.source === 'priq' && i.msi === undefined).length;

describe('SMMUv3 PRI: the guest serves page requests through its PRI queue', () => {
  it('the default profile advertises PRI (IDR0.PRI, IDR1.PRIQS) and has the PRI queue registers; QEMU profiles do not', async () => {
    const b = await boot();
    expect((b.drv.read32(SR.IDR0) >>> 16) & 1).toBe(1);
    expect((b.drv.read32(SR.IDR1) >>> 11) & 0x1f).toBe(19);
    expect(b.drv.read64(SR.PRIQ_BASE) & 0x1fn).toBe(4n);
    expect(b.drv.read32(SR.CR0ACK) & CR0_BITS.PRIQEN).toBe(CR0_BITS.PRIQEN);
    for (const profile of ['qemu-7.2', 'qemu-10.0']) {
      const q = await boot({ profile, ste: { S1CDMax: 0 } });
      expect((q.drv.read32(SR.IDR0) >>> 16) & 1).toBe(0);
      q.drv.write64(SR.PRIQ_BASE, 0x4000_0000n);
      expect(q.drv.read64(SR.PRIQ_BASE)).toBe(0n); // RES0 without PRI
      expect(q.request()).toBe('failed'); // no PRI path: the device's request cannot be sent
    }
  });

  it('a page request becomes a PRI record (SID, SSID, PRGIndex, Last, R/W/X/Priv, address) with a PRIQ MSI; PRI_RESP Success completes the group', async () => {
    const b = await boot();
    const word = priqIrq(b, { msi: { data: 0x55 } });
    expect(b.request({ addr: PAGE + 0x123n, pasid: 7, write: true, exec: false, priv: true })).toBe('pending');
    expect(b.codes).toEqual([]);
    expect(b.m.ram.readU32(word)).toBe(0x55); // the PRIQ MSI (PRIQ_IRQ_CFG0/1) wrote its data
    const { records, overflowed } = b.drv.pageRequests();
    expect(overflowed).toBe(false);
    expect(records).toEqual([{ sid: BDF, ssid: 7, addr: PAGE, prgi: 0, last: true, read: true, write: true, exec: false, priv: true }]);
    expect(b.drv.respond(records[0]!, PRI_RESP.SUCCESS)).toBe(0);
    expect(b.codes).toEqual([PageResponseCode.Success]);
    expect(b.dev.fn.pri!.inFlight()).toBe(0);
    expect(b.m.smmu.priq.stats).toMatchObject({ queued: 1, responses: 1, autoResponses: 0 });
  });

  it('InvalidRequest and ResponseFailure reach the device; ResponseFailure sets PRI Status.RF and stops its page requests', async () => {
    const b = await boot();
    b.request({ pasid: 1 });
    b.request({ addr: PAGE + 0x1000n });
    const [r1, r2] = b.drv.pageRequests().records;
    expect([r1!.prgi, r2!.prgi, r2!.ssid]).toEqual([0, 1, undefined]);
    b.drv.respond(r1!, PRI_RESP.INVALID_REQUEST);
    expect(b.pci.priStatus(BDF) & PRI.STS_RF).toBe(0);
    b.drv.respond(r2!, PRI_RESP.RESPONSE_FAILURE);
    expect(b.codes).toEqual([PageResponseCode.InvalidRequest, PageResponseCode.ResponseFailure]);
    expect(b.pci.priStatus(BDF) & PRI.STS_RF).toBe(PRI.STS_RF);
    expect(b.request()).toBe('failed');
  });

  it('Resp 0b11 is CERROR_ILL; with SMMUEN = 0 PRI_RESP is IGNORED (nothing reaches the device)', async () => {
    const b = await boot();
    b.request();
    const [r] = b.drv.pageRequests().records;
    expect(b.drv.respond(r!, 3)).toBe(1);
    b.drv.recoverCommandError();
    b.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN | CR0_BITS.PRIQEN); // SMMUEN = 0
    expect(b.drv.respond(r!, PRI_RESP.SUCCESS)).toBe(0);
    expect(b.codes).toEqual([]);
    b.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN | CR0_BITS.PRIQEN | CR0_BITS.SMMUEN);
    expect(b.drv.respond(r!, PRI_RESP.SUCCESS)).toBe(0);
    expect(b.codes).toEqual([PageResponseCode.Success]);
  });

  it('hostile responses complete nothing: another StreamID, a PRGIndex not outstanding, another SSID; the right one still does', async () => {
    const b = await boot();
    b.request({ pasid: 5 });
    const [r] = b.drv.pageRequests().records;
    expect(b.drv.respond({ ...r!, sid: BDF + 1 }, PRI_RESP.SUCCESS)).toBe(0); // no device there
    expect(b.drv.respond({ ...r!, sid: 0xffff_ffff }, PRI_RESP.SUCCESS)).toBe(0);
    expect(b.m.smmu.priq.stats.unrouted).toBe(2);
    expect(b.pci.priStatus(BDF) & PRI.STS_UPRGI).toBe(0);
    b.drv.respond({ ...r!, prgi: 0x1ff }, PRI_RESP.SUCCESS);
    expect(b.pci.priStatus(BDF) & PRI.STS_UPRGI).toBe(PRI.STS_UPRGI);
    b.drv.respond({ ...r!, ssid: 6 }, PRI_RESP.SUCCESS);
    expect([b.codes, b.dev.fn.pri!.inFlight()]).toEqual([[], 1]);
    b.drv.respond(r!, PRI_RESP.SUCCESS);
    expect([b.codes, b.dev.fn.pri!.inFlight()]).toEqual([[PageResponseCode.Success], 0]);
  });

  it('PRIQEN = 0 or SMMUEN = 0: every page request gets an automatic Response Failure and nothing is written (§8.2)', async () => {
    const b = await boot({ priq: false });
    expect(b.request()).toBe('pending'); // sent, and answered at once
    expect(b.codes).toEqual([PageResponseCode.ResponseFailure]);
    expect(b.pci.priStatus(BDF) & PRI.STS_RF).toBe(PRI.STS_RF);
    const c = await boot();
    c.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN | CR0_BITS.PRIQEN); // PRIQEN without SMMUEN
    c.request();
    expect(c.codes).toEqual([PageResponseCode.ResponseFailure]);
    expect((c.drv.read32(SR.PRIQ_PROD) & 0xfffff)).toBe(0);
    expect(c.m.smmu.priq.stats).toMatchObject({ queued: 0, autoResponses: 1 });
  });

  it('a PRI queue outside RAM activates GERROR.PRIQ_ABT_ERR and answers Response Failure; until GERRORN acknowledges it no record is written', async () => {
    const b = await boot();
    b.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN | CR0_BITS.SMMUEN);
    b.drv.write64(SR.PRIQ_BASE, 0x8000_0000_0000n | 4n);
    b.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN | CR0_BITS.SMMUEN | CR0_BITS.PRIQEN);
    b.request();
    expect(b.codes).toEqual([PageResponseCode.ResponseFailure]);
    expect((b.drv.read32(SR.GERROR) ^ b.drv.read32(SR.GERRORN)) & 8).toBe(8);
    b.pci.enablePri(BDF, 16); // clears RF
    b.drv.enablePriq(4); // a good queue, but the error is still active
    b.request();
    expect(b.codes).toEqual([PageResponseCode.ResponseFailure, PageResponseCode.ResponseFailure]);
    b.drv.write32(SR.GERRORN, b.drv.read32(SR.GERROR));
    b.pci.enablePri(BDF, 16);
    expect(b.request()).toBe('pending');
    expect(b.drv.pageRequests().records).toHaveLength(1);
  });

  it('PRI requests are not gated by the STE (§8.2: not by STE.EATS or CR0.ATSCHK): an abort STE\'s device still queues them', async () => {
    const b = await boot();
    b.drv.setSte(BDF, encodeSte({ V: true, Config: CONFIG.ABORT }));
    b.request();
    expect(b.drv.pageRequests().records.map((r) => r.sid)).toEqual([BDF]);
  });

  it('PRIQ_PROD is read-only while PRIQEN = 1 (§6.3.97)', async () => {
    const b = await boot();
    b.request();
    b.drv.write32(SR.PRIQ_PROD, 0);
    expect(b.drv.read32(SR.PRIQ_PROD) & 0xfffff).toBe(1);
  });
});

describe('SMMUv3 PRI queue overflow (§8.1)', () => {
  it('a full queue toggles PRIQ_PROD.OVFLG once; Last = 1 requests get an automatic Success; nothing is written until OVACKFLG acknowledges it', async () => {
    const b = await boot({ priqLog2: 1, allocation: 16 });
    for (let i = 0; i < 2; i++) b.request({ addr: PAGE + BigInt(i) * 0x1000n });
    expect(b.codes).toEqual([]);
    b.request({ addr: PAGE + 0x2000n }); // full: overflow, auto Success
    expect(b.codes).toEqual([PageResponseCode.Success]);
    expect(b.drv.read32(SR.PRIQ_PROD) >>> 31).toBe(1);
    b.request({ addr: PAGE + 0x3000n });
    expect(b.drv.read32(SR.PRIQ_PROD) >>> 31).toBe(1); // not toggled again while active
    expect(b.codes).toHaveLength(2);
    // The guest consumes one record without acknowledging: the overflow stays active, nothing is written.
    b.drv.write32(SR.PRIQ_CONS, 1);
    b.request({ addr: PAGE + 0x4000n });
    expect(b.drv.read32(SR.PRIQ_PROD) & 0xfffff).toBe(2);
    expect(b.codes).toHaveLength(3);
    // pageRequests() reads from its own index (0): both records, and acknowledges.
    const read = b.drv.pageRequests();
    expect([read.overflowed, read.records.map((r) => r.addr)]).toEqual([true, [PAGE, PAGE + 0x1000n]]);
    b.drv.respond(read.records[0]!, PRI_RESP.SUCCESS);
    b.drv.respond(read.records[1]!, PRI_RESP.SUCCESS);
    expect(b.request({ addr: PAGE + 0x5000n })).toBe('pending');
    expect(b.drv.pageRequests()).toEqual({ overflowed: false, records: [expect.objectContaining({ addr: PAGE + 0x5000n })] });
    expect(b.m.smmu.priq.stats).toMatchObject({ overflows: 1, autoResponses: 3, queued: 3 });
  });

  it('in overflow: Last = 0 requests and Stop Markers are discarded silently; the PASID of the auto-response follows STE.PPAR (IDR3.PPS = 0), Failure when the STE is invalid', async () => {
    for (const ppar of [true, false]) {
      const b = await boot({ priqLog2: 0, ste: { PPAR: ppar } });
      const port = b.m.smmu.portFor(BDF);
      const req = { sid: BDF, addr: PAGE, read: true, write: false, exec: false, priv: false, prgi: 3, lpig: true };
      expect(port.pageRequest(req)).toBe('queued'); // the one entry
      expect(port.pageRequest({ ...req, lpig: false })).toBe('dropped');
      expect(port.pageRequest({ ...req, pasid: 9, read: false })).toBe('dropped'); // Stop Marker
      expect(port.pageRequest(req)).toEqual({ autoResponse: PageResponseCode.Success });
      expect(port.pageRequest({ ...req, pasid: 9 })).toEqual(ppar ? { autoResponse: PageResponseCode.Success, pasid: 9 } : { autoResponse: PageResponseCode.Success });
      b.drv.setSte(BDF, encodeSte({ V: false }));
      expect(port.pageRequest({ ...req, pasid: 9 })).toEqual({ autoResponse: PageResponseCode.ResponseFailure });
      expect(port.pageRequest(req)).toEqual({ autoResponse: PageResponseCode.Success }); // no PASID: no STE check
      expect(b.m.smmu.priq.stats).toMatchObject({ queued: 1, discarded: 2, overflows: 1, autoResponses: 4 });
    }
  });

  it('outside overflow a Stop Marker is written (SSV, Last, R = W = 0) and answered by nobody; without a PASID LWR = 0b100 is a page request', async () => {
    const b = await boot();
    const port = b.m.smmu.portFor(BDF);
    const stop = { sid: BDF, pasid: 4, addr: 0n, read: false, write: false, exec: false, priv: false, prgi: 0, lpig: true };
    expect(port.pageRequest(stop)).toBe('queued');
    b.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN | CR0_BITS.SMMUEN);
    expect(port.pageRequest(stop)).toBe('dropped'); // PRIQEN = 0: no answer to a Stop Marker
    expect(port.pageRequest({ ...stop, pasid: undefined })).toEqual({ autoResponse: PageResponseCode.ResponseFailure });
    b.drv.setCr0(CR0_BITS.CMDQEN | CR0_BITS.EVENTQEN | CR0_BITS.SMMUEN | CR0_BITS.PRIQEN);
    expect(b.drv.pageRequests().records).toEqual([{ sid: BDF, ssid: 4, addr: 0n, prgi: 0, last: true, read: false, write: false, exec: false, priv: false }]);
  });
});

describe('SMMUv3 PRI queue interrupt (PRIQ_IRQ_CFG2.LO, §6.3.36)', () => {
  it('LO = 0: one interrupt when the queue goes from empty to non-empty; LO = 1: one per Last = 1 request, also when an overflow discards it', async () => {
    const b = await boot({ priqLog2: 1 });
    priqIrq(b);
    b.request();
    b.request({ addr: PAGE + 0x1000n });
    expect(priqIrqs(b)).toBe(1);
    const c = await boot({ priqLog2: 1 });
    priqIrq(c, { lastOnly: true });
    const port = c.m.smmu.portFor(BDF);
    const req = { sid: BDF, addr: PAGE, read: true, write: false, exec: false, priv: false, prgi: 1, lpig: false };
    port.pageRequest(req);
    expect(priqIrqs(c)).toBe(0);
    port.pageRequest({ ...req, lpig: true });
    port.pageRequest({ ...req, lpig: true }); // full: overflow, discarded, still signalled
    expect(priqIrqs(c)).toBe(2);
  });

  it('without a PRIQ MSI address the wired PRI queue line is signalled', async () => {
    const b = await boot();
    b.drv.write32(SR.IRQ_CTRL, 2);
    b.request();
    expect(b.irqs.filter((i) => i.source === 'priq')).toEqual([{ source: 'priq' }]);
  });
});

describe('SMMUv3 PRI without substreams', () => {
  it('SSIDSIZE = 0: records have SSV = 0 (no X, no Priv), PRI_RESP SSV is ignored and the response has no PASID', async () => {
    const b = await boot({ smmu: { ssidBits: 0 } });
    const port = b.m.smmu.portFor(BDF);
    expect(port.pageRequest({ sid: BDF, pasid: 3, addr: PAGE, read: true, write: false, exec: true, priv: true, prgi: 2, lpig: true })).toBe('queued');
    const [r] = b.drv.pageRequests().records;
    expect(r).toEqual({ sid: BDF, addr: PAGE, prgi: 2, last: true, read: true, write: false, exec: false, priv: false });
    expect(b.m.smmu.caps.pps).toBe(false);
    // The device's own request with PASID 3: answered with SSV = 1 and SSID 5, which the SMMU drops (§4.5.2), so it matches.
    b.request({ pasid: 3 });
    const [own] = b.drv.pageRequests().records;
    expect(own!.ssid).toBeUndefined();
    expect(b.drv.respond({ ...own!, ssid: 5 }, PRI_RESP.SUCCESS)).toBe(0);
    expect([b.codes, b.pci.priStatus(BDF) & PRI.STS_UPRGI]).toEqual([[PageResponseCode.Success], 0]);
  });
});

describe('SMMUv3 PRI host API', () => {
  it('a malformed page request is an Error naming the field; a port stamps its own StreamID', async () => {
    const b = await boot();
    const port = b.m.smmu.portFor(BDF);
    const req = { sid: BDF, addr: PAGE, read: true, write: false, exec: false, priv: false, prgi: 0, lpig: true };
    expect(() => b.m.smmu.pageRequest({ ...req, prgi: 512 })).toThrow(/^req\.prgi: /);
    expect(() => b.m.smmu.pageRequest({ ...req, addr: -1n })).toThrow(/^req\.addr: /);
    expect(() => b.m.smmu.pageRequest({ ...req, pasid: 1 << 20 })).toThrow(/^req\.pasid: /);
    expect(() => b.m.smmu.pageRequest({ ...req, lpig: 1 as never })).toThrow(/^req\.lpig: /);
    expect(() => port.pageRequest(null as never)).toThrow(/^req: /);
    expect(port.pageRequest({ ...req, sid: 0x99 })).toBe('queued');
    expect(b.drv.pageRequests().records[0]!.sid).toBe(BDF);
    // Every field at its widest: a 32-bit StreamID, 20-bit SubstreamID, 9-bit PRG index, a page address above 2^32.
    const wide = { ...req, sid: 0xffff_fffe, pasid: 0xf_ffff, addr: 0xfedc_ba98_7654_3000n, prgi: 0x1ff, read: false, write: true, exec: true, priv: true, lpig: false };
    expect(b.m.smmu.pageRequest(wide)).toBe('queued');
    expect(b.drv.pageRequests().records).toEqual([{ sid: 0xffff_fffe, ssid: 0xf_ffff, addr: 0xfedc_ba98_7654_3000n, prgi: 0x1ff, last: false, read: false, write: true, exec: true, priv: true }]);
    expect(b.m.smmu.priq.stats.queued).toBe(2);
  });
});
