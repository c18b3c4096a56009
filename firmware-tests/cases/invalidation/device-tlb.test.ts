/**
 * Guest-driver tests of device-TLB invalidation through the machine
 * (§6.5.2.5, §6.5.2.6) and its errors (§6.5.2.10 ITE, ICE), with ATS devices
 * on the PCI bus. The guest programs everything through MMIO, config space
 * and guest RAM; what a device-TLB still holds is seen only through the
 * device's DMA: every page is first mapped to a "stale" data page and read
 * (the device caches it), then remapped to a "fresh" page with the IOTLB
 * invalidated, so after a device-TLB invalidation a page reads fresh exactly
 * when the invalidation removed it.
 *
 * ICE needs a completion that matches no request, which a working device
 * never sends: the test uses the ATS device's test-only knob
 * (host/src/devices/ats/testing.ts).
 */
import { describe, expect, it } from 'vitest';
import { sendStrayInvalidationCompletion } from '../../../host/src/devices/ats/testing.js';
import { createMachine, type Machine } from '../../../host/src/machine.js';
import type { MsiMessage } from '../../../host/src/vtd/interrupts.js';
import { type GuestEnv, GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { GuestQueue } from '../../../host/src/guest/invalidation-queue.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { attachPasids } from '../../../host/src/guest/pasid-attach.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';
import type { PageTableBuilder } from '../../../host/src/tables/table-builders.js';
import { devTlbDesc, iotlbDesc, pasidDevTlbDesc, waitDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { FSTS, REG as VTD_REG } from '../../../host/src/vtd/spec/registers.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

const B = BigInt;
const DEV_A = 0x28; // 00:05.0
const DEV_B = 0x30; // 00:06.0
/** ATS device BAR0 registers (host/src/devices/ats/regs.ts, written out as a driver would). */
const REG = { IOVA: 0x08n, LEN: 0x10n, CMD: 0x14n, STATUS: 0x18n, PASID: 0x24n, CTL: 0x28n, INV: 0x30n, TR: 0x34n, TIMEOUTS: 0x3cn, BUF: 0x1000n };
const CMD_READ = 1;
const CMD_FLUSH = 4;
const CTL_NO_INV_RESPONSE = 2;
const RW = encodeSsPte({ R: true, W: true });
/** Eight 4 KiB pages the device reads, from IOVA 0x40000. */
const WINDOW = 0x40000n;
const PAGES = 8;
const FAULT_MSI = { address: 0xfee0_0000n, data: 0x4d };


/** One ATS device as its guest driver sees it. */
class AtsDriver {
  readonly bar: bigint;
  constructor(readonly m: Machine, pci: PciDriver, readonly sid: number) {
    this.bar = pci.barBase(sid, 0);
    pci.command(sid, 0x6, true);
    pci.enableAts(sid);
  }
  reg(r: bigint): number {
    return Number(this.m.mmioRead(this.bar + r, 4));
  }
  set(r: bigint, v: number): void {
    this.m.mmioWrite(this.bar + r, 4, B(v >>> 0));
  }
  /** Reads 8 bytes at `iova` (PASID register `pasid`, 0 = none); returns the first qword or undefined on failure. */
  read(iova: bigint, pasid = 0): bigint | undefined {
    this.set(REG.PASID, pasid ? 0x8000_0000 | pasid : 0);
    this.m.mmioWrite(this.bar + REG.IOVA, 8, iova);
    this.set(REG.LEN, 8);
    this.set(REG.CMD, CMD_READ);
    return (this.reg(REG.STATUS) & 7) === 1 ? this.m.mmioRead(this.bar + REG.BUF, 8) : undefined;
  }
  flush(): void {
    this.set(REG.CMD, CMD_FLUSH);
  }
}

/** Stale / fresh data pages, one pair per IOVA page; `seed` keeps PASIDs apart. */
function dataPages(env: GuestEnv, seed: number): { stale: bigint[]; fresh: bigint[] } {
  const page = (v: number) => {
    const gpa = env.alloc.alloc();
    env.mem.writeU64(gpa, 0x0101_0101_0101_0101n * B(v & 0xff));
    return gpa;
  };
  return {
    stale: Array.from({ length: PAGES }, (_, i) => page(seed + i)),
    fresh: Array.from({ length: PAGES }, (_, i) => page(seed + 0x80 + i)),
  };
}

/** A window of PAGES pages of one address space (a page table, optionally a PASID) the device caches. */
interface Space {
  readonly pt: PageTableBuilder;
  readonly pasid: number;
  readonly data: { stale: bigint[]; fresh: bigint[] };
}

/** Maps the window to the stale pages and lets the device cache every page (after a device flush). */
function cacheStale(dev: AtsDriver, spaces: readonly Space[], q: GuestQueue, iotlbInv: bigint[]): void {
  dev.flush();
  for (const s of spaces) for (let i = 0; i < PAGES; i++) s.pt.map(WINDOW + B(i * 0x1000), s.data.stale[i]!, 12, RW);
  expect(q.submitSync([iotlbInv])).toBe(true);
  for (const s of spaces) for (let i = 0; i < PAGES; i++) expect(dev.read(WINDOW + B(i * 0x1000), s.pasid)).toBe(dev.m.ram.readU64(s.data.stale[i]!));
}

/** Remaps the window to the fresh pages and invalidates the IOTLB (not the device-TLB). */
function remapFresh(spaces: readonly Space[], q: GuestQueue, iotlbInv: bigint[]): void {
  for (const s of spaces) for (let i = 0; i < PAGES; i++) s.pt.map(WINDOW + B(i * 0x1000), s.data.fresh[i]!, 12, RW);
  expect(q.submitSync([iotlbInv])).toBe(true);
}

/** Indices of the window pages the device now reads fresh (the ones its device-TLB lost). */
function freshPages(dev: AtsDriver, s: Space): number[] {
  const out: number[] = [];
  for (let i = 0; i < PAGES; i++) {
    const v = dev.read(WINDOW + B(i * 0x1000), s.pasid);
    if (v === dev.m.ram.readU64(s.data.fresh[i]!)) out.push(i);
    else expect(v).toBe(dev.m.ram.readU64(s.data.stale[i]!));
  }
  return out;
}

/** Legacy machine: two ATS devices in domain 1 with device-TLB contexts (TT=01), QI on, fault event programmed. */
async function legacyRig() {
  const msis: MsiMessage[] = [];
  const m = await createMachine({
    ramMib: 64, devices: [{ bdf: '00:05.0', kind: 'ats' }, { bdf: '00:06.0', kind: 'ats' }], onInterrupt: (x) => msis.push(x),
  });
  const env = guestEnvFor(m);
  const pci = new PciDriver(m);
  const g = new GuestIommu(env, 'legacy');
  const ptA = g.attachLegacy(DEV_A, { did: 1, tt: 1 });
  const ptB = g.attachLegacy(DEV_B, { did: 2, tt: 1 });
  g.start();
  g.drv.setupFaultEvent(FAULT_MSI.address, FAULT_MSI.data);
  const q = new GuestQueue(env);
  expect(q.enable() & (1 << 26)).not.toBe(0);
  const a = new AtsDriver(m, pci, DEV_A);
  const b = new AtsDriver(m, pci, DEV_B);
  const spaceA: Space = { pt: ptA, pasid: 0, data: dataPages(env, 0x10) };
  const spaceB: Space = { pt: ptB, pasid: 0, data: dataPages(env, 0x30) };
  return { m, env, g, q, a, b, spaceA, spaceB, msis, faultMsis: () => msis.filter((x) => x.source === 'fault') };
}

describe('device-TLB invalidation (type 3) through an ATS device', () => {
  // [address | S, expected fresh page indices]; S=1 sizes come from the address's low set bits (§6.5.2.5).
  const CASES: [string, bigint, number, number[]][] = [
    ['one page', WINDOW + 0x3000n, 0, [3]],
    ['8 KiB (bit 12 clear)', WINDOW + 0x2000n, 1, [2, 3]],
    ['16 KiB (bit 12 set, 13 clear)', WINDOW + 0x5000n, 1, [4, 5, 6, 7]],
    ['32 KiB (bits 12-13 set)', WINDOW + 0x3000n, 1, [0, 1, 2, 3, 4, 5, 6, 7]],
    ['a range next to the window', WINDOW + 0x8000n, 0, []],
  ];

  it.each(CASES)('%s: exactly the named range is re-translated, the rest stays stale', async (_n, addr, s, fresh) => {
    const t = await legacyRig();
    const iotlb = iotlbDesc(2, 1);
    cacheStale(t.a, [t.spaceA], t.q, iotlb);
    remapFresh([t.spaceA], t.q, iotlb);
    const tr = t.a.reg(REG.TR);
    expect(t.q.submitSync([devTlbDesc(DEV_A, addr, s)])).toBe(true);
    expect(freshPages(t.a, t.spaceA)).toEqual(fresh);
    expect(t.a.reg(REG.TR) - tr).toBe(fresh.length); // one translation request per lost page
  });

  it('the SID selects the device: the other ATS device keeps its stale translations', async () => {
    const t = await legacyRig();
    cacheStale(t.a, [t.spaceA], t.q, iotlbDesc(2, 1));
    cacheStale(t.b, [t.spaceB], t.q, iotlbDesc(2, 2));
    remapFresh([t.spaceA], t.q, iotlbDesc(2, 1));
    remapFresh([t.spaceB], t.q, iotlbDesc(2, 2));
    expect(t.q.submitSync([devTlbDesc(DEV_B, WINDOW, 1)])).toBe(true);
    expect(freshPages(t.a, t.spaceA)).toEqual([]);
    expect(freshPages(t.b, t.spaceB)).toEqual([0, 1]);
  });
});

describe('PASID-based device-TLB invalidation (type 8) through an ATS device', () => {
  async function scalableRig() {
    const m = await createMachine({ ramMib: 64, devices: [{ bdf: '00:05.0', kind: 'ats' }] });
    const env = guestEnvFor(m);
    const pci = new PciDriver(m);
    const g = new GuestIommu(env, 'scalable');
    const pts = attachPasids(g, DEV_A, [{ pasid: 0, did: 1 }, { pasid: 5, did: 2 }, { pasid: 9, did: 3 }], { dte: true });
    g.start();
    const q = new GuestQueue(env, { wide: true });
    q.enable();
    const dev = new AtsDriver(m, pci, DEV_A);
    pci.enablePasid(DEV_A);
    const space = (pasid: number, seed: number): Space => ({ pt: pts.get(pasid)!, pasid, data: dataPages(env, seed) });
    // Requests without PASID use RID_PASID 0 in the IOMMU, but the device tags them "no PASID".
    return { m, q, dev, noPasid: space(0, 0x10), p5: space(5, 0x30), p9: space(9, 0x50) };
  }
  const allIotlb = iotlbDesc(1);

  it('removes the named range of the named PASID only; no-PASID and other PASIDs stay stale', async () => {
    const t = await scalableRig();
    const spaces = [t.noPasid, t.p5, t.p9];
    cacheStale(t.dev, spaces, t.q, allIotlb);
    remapFresh(spaces, t.q, allIotlb);
    expect(t.q.submitSync([pasidDevTlbDesc(DEV_A, 5, WINDOW + 0x2000n, { size: 1 })])).toBe(true); // 8 KiB at +0x2000
    expect(freshPages(t.dev, t.p5)).toEqual([2, 3]);
    expect(freshPages(t.dev, t.p9)).toEqual([]);
    expect(freshPages(t.dev, t.noPasid)).toEqual([]);
  });

  it('a type-3 invalidation removes only the translations of requests without PASID', async () => {
    const t = await scalableRig();
    const spaces = [t.noPasid, t.p5];
    cacheStale(t.dev, spaces, t.q, allIotlb);
    remapFresh(spaces, t.q, allIotlb);
    expect(t.q.submitSync([devTlbDesc(DEV_A, WINDOW + 0x4000n)])).toBe(true);
    expect(freshPages(t.dev, t.noPasid)).toEqual([4]);
    expect(freshPages(t.dev, t.p5)).toEqual([]);
  });
});

describe('device-TLB invalidation time-out (ITE, §6.5.2.10)', () => {
  it('sets FSTS.ITE and ITESID, sends the fault event, aborts the wait, halts until ITE is cleared; the resubmitted batch completes', async () => {
    const t = await legacyRig();
    const iotlbB = iotlbDesc(2, 2);
    cacheStale(t.b, [t.spaceB], t.q, iotlbB);
    remapFresh([t.spaceB], t.q, iotlbB);
    t.b.set(REG.CTL, CTL_NO_INV_RESPONSE); // device B stops answering invalidation requests
    const msisBefore = t.faultMsis().length;

    // Linux qi_submit_sync: descriptors, then a wait with a status write the guest polls.
    const batch = [devTlbDesc(DEV_A, WINDOW), devTlbDesc(DEV_B, WINDOW, 1)];
    expect(t.q.submitSync(batch)).toBe(false);
    const drv = t.g.drv;
    expect(drv.faultStatus() & FSTS.ITE).toBe(FSTS.ITE);
    expect(Number((drv.read64(VTD_REG.IQERCD) >> 32n) & 0xffffn)).toBe(DEV_B); // ITESID: the device that timed out
    expect(t.faultMsis().slice(msisBefore)).toEqual([{ source: 'fault', ...FAULT_MSI }]);
    expect(t.b.reg(REG.INV)).toBe(0);
    expect(freshPages(t.b, t.spaceB)).toEqual([]); // nothing was invalidated in device B

    // Work queued while ITE is set is not fetched: IQH stays, its wait is not written.
    const headAtIte = t.q.head();
    const waitStatus = t.q.statusPage + 0x800n;
    t.env.mem.writeU64(waitStatus, 0n);
    t.q.place([waitDesc({ sw: true, fn: true, data: 0x1234, addr: waitStatus })]);
    t.q.ring();
    expect(t.q.head()).toBe(headAtIte);
    expect(t.env.mem.readU64(waitStatus)).toBe(0n);

    // Recovery: the device answers again, the guest clears ITE (W1C): fetching resumes at IQH.
    t.b.set(REG.CTL, 0);
    drv.write32(VTD_REG.FSTS, FSTS.ITE);
    expect(drv.faultStatus() & FSTS.ITE).toBe(0);
    expect(t.env.mem.readU64(waitStatus)).toBe(0x1234n);
    expect(t.q.head()).toBe(t.q.tail);
    // ... and resubmits the aborted batch, which now completes and invalidates device B.
    expect(t.q.submitSync(batch)).toBe(true);
    expect(freshPages(t.b, t.spaceB)).toEqual([0, 1]);
    expect(t.faultMsis().length).toBe(msisBefore + 1);
  });

  it('the wait after the timed-out descriptor gets no status write and no completion interrupt', async () => {
    const t = await legacyRig();
    t.g.drv.write32(VTD_REG.IECTL, 0); // unmask the invalidation event
    t.b.set(REG.CTL, CTL_NO_INV_RESPONSE);
    const waitStatus = t.q.statusPage + 0x900n;
    t.env.mem.writeU64(waitStatus, 0n);
    t.q.place([devTlbDesc(DEV_B, WINDOW), waitDesc({ sw: true, fn: true, if: true, data: 0x77, addr: waitStatus })]);
    t.q.ring();
    expect(t.env.mem.readU64(waitStatus)).toBe(0n);
    expect(t.g.drv.read32(VTD_REG.ICS) & 1).toBe(0);
    expect(t.msis.filter((x) => x.source === 'invalidation')).toEqual([]);
    expect(t.b.reg(REG.TIMEOUTS)).toBe(1); // the device counted one unanswered request
  });
});

describe('invalidation completion error (ICE, §6.5.2.10)', () => {
  it('a stray completion sets FSTS.ICE and ICESID, sends the fault event; the queue keeps running', async () => {
    const t = await legacyRig();
    const drv = t.g.drv;
    sendStrayInvalidationCompletion(t.m, '00:06.0', 3);
    expect(drv.faultStatus() & FSTS.ICE).toBe(FSTS.ICE);
    expect(Number(drv.read64(VTD_REG.IQERCD) >> 48n)).toBe(DEV_B);
    expect(t.faultMsis()).toEqual([{ source: 'fault', ...FAULT_MSI }]);
    // ICE does not stop the queue: invalidation still works while it is set.
    const iotlb = iotlbDesc(2, 1);
    cacheStale(t.a, [t.spaceA], t.q, iotlb);
    remapFresh([t.spaceA], t.q, iotlb);
    expect(t.q.submitSync([devTlbDesc(DEV_A, WINDOW)])).toBe(true);
    expect(freshPages(t.a, t.spaceA)).toEqual([0]);
    // ICESID stays valid while ICE is set: a second error from another device does not overwrite it.
    sendStrayInvalidationCompletion(t.m, '00:05.0');
    expect(Number(drv.read64(VTD_REG.IQERCD) >> 48n)).toBe(DEV_B);
    expect(t.faultMsis().length).toBe(1); // FSTS already had an event condition
    drv.write32(VTD_REG.FSTS, FSTS.ICE);
    expect(drv.faultStatus() & FSTS.ICE).toBe(0);
    sendStrayInvalidationCompletion(t.m, '00:05.0');
    expect(Number(drv.read64(VTD_REG.IQERCD) >> 48n)).toBe(DEV_A);
    expect(t.faultMsis().length).toBe(2);
  });

  it('the knob refuses what is not an ATS device or not an ITag', async () => {
    const m = await createMachine({ ramMib: 16, devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:05.0', kind: 'ats' }] });
    expect(() => sendStrayInvalidationCompletion(m, '00:03.0')).toThrow(/bdf/);
    expect(() => sendStrayInvalidationCompletion(m, '00:05.0', 32)).toThrow(/itag/);
  });
});
