/**
 * Guest-driver tests of the shared work-queue device: the host driver
 * enables PASID and MSI-X through config space, programs the device's PASID
 * table and enables the queue through BAR0; "processes" submit 64-byte
 * descriptors through the portal, each tagged with its PASID, and read
 * completion records in their own address spaces.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../../host/src/machine.js';
import type { DeviceMsi } from '../../../host/src/pci/msi.js';
import { GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { GuestQueue } from '../../../host/src/guest/invalidation-queue.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { GuestPrq } from '../../../host/src/guest/page-request-queue.js';
import { attachPasids } from '../../../host/src/guest/pasid-attach.js';
import { CAP, PciDriver } from '../../../host/src/guest/pci-driver.js';
import { PageResponseCode } from '../../../host/src/vtd/spec/page-request.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

const SID = 0x30; // 00:06.0
const RW = encodeSsPte({ R: true, W: true });
const R = { CFG: 0x08n, OCC: 0x0cn, SWERR: 0x10n, COMPLETED: 0x18n, ERRORS: 0x1cn, PSTAT: 0x20n, PT: 0x100n, PORTAL: 0x1000n, MSIX: 0x2000n };
const OP = { NOP: 0, MEMMOVE: 1, FILL: 2, COMPARE: 3 };
const RCR = 1;
const RCI = 2;
const B_ = BigInt;
// Per PASID: IOVA 0x10000 source, 0x20000 destination, 0x30000 completion records.
const GPA = { 3: { src: 0x20_0000n, dst: 0x21_0000n, comp: 0x22_0000n }, 9: { src: 0x30_0000n, dst: 0x31_0000n, comp: 0x32_0000n } } as const;

interface Desc { pasid: number; priv?: boolean; op: number; flags?: number; comp?: bigint; src?: bigint; dst?: bigint; size?: number; rsvd?: bigint }

/** The driver's descriptor encoding, written out from the device's documented format. */
function encode(d: Desc): bigint[] {
  return [
    B_(d.pasid) | (d.priv ? 1n << 31n : 0n) | B_(d.op) << 32n | B_(d.flags ?? RCR) << 40n | (d.rsvd ?? 0n),
    d.comp ?? 0x30000n, d.src ?? 0x10000n, d.dst ?? 0x20000n, B_(d.size ?? 0), 0n, 0n, 0n,
  ];
}

async function boot(o: { pri?: boolean } = {}) {
  const msis: DeviceMsi[] = [];
  const m = await createMachine({ ramMib: 64, devices: [{ bdf: '00:06.0', kind: 'swq' }], onDeviceInterrupt: (x) => msis.push(x) });
  const env = guestEnvFor(m);
  const pci = new PciDriver(m);
  const bar = pci.barBase(SID, 0);
  const g = new GuestIommu(env, 'scalable');
  const pts = attachPasids(g, SID, [{ pasid: 3, did: 1 }, { pasid: 9, did: 2 }], { pre: o.pri ?? false });
  for (const pasid of [3, 9] as const) {
    const pt = pts.get(pasid)!;
    pt.map(0x30000n, GPA[pasid].comp, 12, RW);
    if (!o.pri) {
      pt.map(0x10000n, GPA[pasid].src, 12, RW);
      pt.map(0x20000n, GPA[pasid].dst, 12, RW);
    }
  }
  g.start();
  const qi = new GuestQueue(env, { wide: true });
  qi.enable();
  pci.enablePasid(SID, { priv: true });
  // MSI-X: enable, vectors 0 and 1 unmasked with their own data.
  const msix = pci.findCap(SID, CAP.MSIX);
  pci.write(SID, msix + 2, 2, 0x8000);
  for (const v of [0, 1]) {
    m.mmioWrite(bar + R.MSIX + B_(16 * v), 8, 0xfee0_0000n);
    m.mmioWrite(bar + R.MSIX + B_(16 * v + 8), 4, B_(0x60 + v));
    m.mmioWrite(bar + R.MSIX + B_(16 * v + 12), 4, 0n);
  }
  m.mmioWrite(bar + R.PT, 4, B_(0x8000_0000 | 3));
  m.mmioWrite(bar + R.PT + 4n, 4, B_(0x8000_0000 | 9));
  m.mmioWrite(bar + R.CFG, 4, 1n);
  const submit = (d: Desc): number => {
    encode(d).forEach((q, i) => m.mmioWrite(bar + R.PORTAL + B_(8 * i), 8, q));
    return Number(m.mmioRead(bar + R.PSTAT, 4));
  };
  const reg = (r: bigint, size: 4 | 8 = 4) => m.mmioRead(bar + r, size);
  const record = (pasid: 3 | 9, slot = 0) => ({
    status: m.ram.read(GPA[pasid].comp + B_(32 * slot), 1)[0], result: m.ram.read(GPA[pasid].comp + B_(32 * slot) + 1n, 1)[0],
    reason: m.ram.read(GPA[pasid].comp + B_(32 * slot) + 2n, 1)[0], bytes: m.ram.readU32(GPA[pasid].comp + B_(32 * slot) + 4n),
  });
  return { m, env, pci, bar, g, pts, qi, msis, submit, reg, record };
}

describe('shared work queue: descriptors in their PASID address spaces', () => {
  it('MEMMOVE, FILL and COMPARE run in the descriptor PASID; completion records land there', async () => {
    const t = await boot();
    const data = Uint8Array.from({ length: 0x1000 }, (_, i) => (i * 7) & 0xff);
    t.m.ram.write(GPA[3].src, data);
    expect(t.submit({ pasid: 3, op: OP.MEMMOVE, size: 0x1000, flags: RCR | RCI })).toBe(0);
    expect([...t.m.ram.read(GPA[3].dst, 0x1000)]).toEqual([...data]);
    expect(t.record(3)).toEqual({ status: 1, result: 0, reason: 0, bytes: 0x1000 });
    expect(t.msis).toEqual([{ sid: SID, address: 0xfee0_0000n, data: 0x60 }]);

    t.submit({ pasid: 9, op: OP.FILL, src: 0x1122_3344_5566_7788n, size: 24, comp: 0x30020n });
    expect(t.env.mem.readU64(GPA[9].dst + 16n)).toBe(0x1122_3344_5566_7788n);
    expect(t.env.mem.readU64(GPA[3].dst)).not.toBe(0x1122_3344_5566_7788n); // PASID 3's space untouched
    expect(t.record(9, 1).status).toBe(1);

    t.m.ram.write(GPA[9].src, data.subarray(0, 64));
    t.m.ram.write(GPA[9].dst, data.subarray(0, 64));
    t.m.ram.write(GPA[9].dst + 40n, Uint8Array.of(0xee));
    t.submit({ pasid: 9, op: OP.COMPARE, size: 64 });
    expect(t.record(9)).toEqual({ status: 1, result: 1, reason: 0, bytes: 40 });
    t.submit({ pasid: 9, op: OP.COMPARE, size: 40 });
    expect(t.record(9)).toEqual({ status: 1, result: 0, reason: 0, bytes: 40 });
    expect(Number(t.reg(R.COMPLETED))).toBe(4);
  });

  it('a PASID the device was not enabled for is rejected into SWERR with the error vector', async () => {
    const t = await boot();
    t.submit({ pasid: 4, op: OP.MEMMOVE, size: 16 });
    const swerr = t.reg(R.SWERR, 8);
    expect(swerr & 1n).toBe(1n);
    expect(Number((swerr >> 8n) & 0xffn)).toBe(1);
    expect(Number((swerr >> 16n) & 0xffn)).toBe(OP.MEMMOVE);
    expect(Number((swerr >> 32n) & 0xfffffn)).toBe(4);
    expect(t.msis.map((x) => x.data)).toEqual([0x61]);
    t.submit({ pasid: 3, priv: true, op: OP.NOP }); // privileged not allowed for PASID 3: overflow
    expect(t.reg(R.SWERR, 4) & 3n).toBe(3n);
    t.m.mmioWrite(t.bar + R.SWERR, 4, 1n);
    expect(t.reg(R.SWERR, 8)).toBe(0n);
    t.m.mmioWrite(t.bar + R.PT, 4, B_(0xc000_0000 | 3)); // privileged allowed now
    t.submit({ pasid: 3, priv: true, op: OP.NOP });
    expect(t.reg(R.SWERR, 8)).toBe(0n);
    expect(t.record(3).status).toBe(1);
    expect(Number(t.reg(R.ERRORS))).toBe(2);
  });

  it('bad descriptors complete with an error status; a translation fault is recorded by the IOMMU', async () => {
    const t = await boot();
    t.submit({ pasid: 3, op: 9, size: 8 });
    expect(t.record(3).status).toBe(0x10);
    t.submit({ pasid: 3, op: OP.MEMMOVE, size: 0 });
    expect(t.record(3).status).toBe(0x11);
    t.submit({ pasid: 3, op: OP.MEMMOVE, size: 8, rsvd: 1n << 50n });
    expect(t.record(3).status).toBe(0x12);
    t.submit({ pasid: 3, op: OP.MEMMOVE, size: 8, dst: 0x40000n }); // unmapped
    const r = t.record(3);
    expect(r.status).toBe(0x03);
    expect(r.reason).not.toBe(0);
    const faults = t.g.drv.readFaults();
    expect(faults.map((f) => [f.sid, f.pp, f.pv, f.addr])).toEqual([[SID, true, 3, 0x40000n]]);
  });

  it('a disabled queue refuses submissions (retry); bus master off rejects descriptors', async () => {
    const t = await boot();
    t.m.mmioWrite(t.bar + R.CFG, 4, 0n);
    expect(t.submit({ pasid: 3, op: OP.NOP })).toBe(1);
    t.m.mmioWrite(t.bar + R.CFG, 4, 1n);
    t.pci.command(SID, 0x4, false);
    expect(t.submit({ pasid: 3, op: OP.NOP })).toBe(0);
    expect(Number((t.reg(R.SWERR, 4) >> 8n) & 0xffn)).toBe(3);
  });
});

describe('shared work queue with PRI: several PASIDs in flight', () => {
  it('descriptors of two PASIDs fault, wait for page responses, and complete once the guest maps the pages', async () => {
    const t = await boot({ pri: true });
    t.pci.enablePri(SID, 8);
    const prq = new GuestPrq(t.env, (d) => t.qi.submitSync(d));
    prq.enable();
    t.m.ram.write(GPA[3].src, Uint8Array.of(1, 2, 3, 4));
    t.m.ram.write(GPA[9].src, Uint8Array.of(9, 8, 7, 6));
    t.submit({ pasid: 3, op: OP.MEMMOVE, size: 4 });
    t.submit({ pasid: 9, op: OP.MEMMOVE, size: 4 });
    expect(Number(t.reg(R.OCC))).toBe(2);
    // First pass: both sources are missing.
    const handler = (req: { pasid?: number; addr: bigint }) => {
      const pasid = req.pasid as 3 | 9;
      const gpa = req.addr === 0x10000n ? GPA[pasid].src : GPA[pasid].dst;
      t.pts.get(pasid)!.map(req.addr, gpa, 12, RW);
      return PageResponseCode.Success;
    };
    for (let pass = 0; pass < 3 && Number(t.reg(R.OCC)) > 0; pass++) prq.service(handler); // a retry's request waits for the next pass
    expect(Number(t.reg(R.OCC))).toBe(0);
    expect([...t.m.ram.read(GPA[3].dst, 4)]).toEqual([1, 2, 3, 4]);
    expect([...t.m.ram.read(GPA[9].dst, 4)]).toEqual([9, 8, 7, 6]);
    expect([t.record(3).status, t.record(9).status]).toEqual([1, 1]);
    expect(t.g.drv.readFaults()).toEqual([]);
  });

  it('an Invalid Request response completes the descriptor with PAGE_REQUEST_FAILED', async () => {
    const t = await boot({ pri: true });
    t.pci.enablePri(SID, 8);
    const prq = new GuestPrq(t.env, (d) => t.qi.submitSync(d));
    prq.enable();
    t.submit({ pasid: 3, op: OP.FILL, size: 8 });
    expect(Number(t.reg(R.OCC))).toBe(1);
    prq.service(() => PageResponseCode.InvalidRequest);
    expect(Number(t.reg(R.OCC))).toBe(0);
    expect(t.record(3).status).toBe(0x04);
  });
});
