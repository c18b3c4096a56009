/**
 * Translated requests (ATS, AT=10b) are checked by the unit (VT-d §4.2.5):
 * a guest that withdraws a device's right to send them — context entry
 * TT=00 (§9.3), P=0, root entry cleared, scalable DTE=0 (§9.4) — and
 * invalidates the context cache and IOTLB (but not the device-TLB, which a
 * buggy or hostile device may ignore anyway) gets the spec's fault (§7.1.3:
 * LCT.5 0xD, LCT.2 0x2, LRT.2 0x1, SCT.5 0x44) recorded, and the page the
 * device still has cached — re-used by the guest meanwhile — keeps the
 * guest's data. With translation off the request is an Unsupported Request
 * (§4.2.1): blocked, nothing recorded.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../../host/src/machine.js';
import { ATS, ATS_CMD, ATS_STATE } from '../../../host/src/devices/ats/regs.js';
import { GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';
import { attachPasids } from '../../../host/src/guest/pasid-attach.js';
import { awForLevels, encodeContextEntry } from '../../../host/src/vtd/spec/context-entry.js';
import { encodeSmContextEntry } from '../../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

const SID = 0x28; // 00:05.0
const RW = encodeSsPte({ R: true, W: true });
const IOVA = 0x10000n;
const PAGE = 0x20_0000n; // the page the device caches, later re-used by the guest
const SECRET = 0x5ec2_e75e_c2e7_5ec2n;
const B = BigInt;

async function boot(mode: 'legacy' | 'scalable') {
  const m = await createMachine({ ramMib: 64, devices: [{ bdf: '00:05.0', kind: 'ats' }] });
  const env = guestEnvFor(m);
  const pci = new PciDriver(m);
  const bar = pci.barBase(SID, 0);
  const g = new GuestIommu(env, mode);
  const cmd = (c: number): number => {
    m.mmioWrite(bar + B(ATS.IOVA), 8, IOVA);
    m.mmioWrite(bar + B(ATS.LEN), 4, 8n);
    m.mmioWrite(bar + B(ATS.CMD), 4, B(c));
    return Number(m.mmioRead(bar + B(ATS.STATUS), 4));
  };
  const hits = () => Number(m.mmioRead(bar + B(ATS.HITS), 4));
  return { m, env, pci, bar, g, cmd, hits };
}

/** Legacy TT=01, one page mapped; the device caches it (a translation request) and writes once. */
async function legacyCached() {
  const t = await boot('legacy');
  const ss = t.g.attachLegacy(SID, { did: 1, levels: 4, tt: 1 });
  ss.map(IOVA, PAGE, 12, RW);
  t.g.start();
  t.pci.enableAts(SID);
  expect(t.cmd(ATS_CMD.WRITE) & 7).toBe(ATS_STATE.DONE); // translation request + translated write
  return { ...t, ss };
}

/** The guest re-uses the page and then checks what a device write through its stale device-TLB entry did. */
function reuseThenWrite(t: Awaited<ReturnType<typeof boot>>): number {
  t.env.mem.writeU64(PAGE, SECRET);
  const before = t.hits();
  const status = t.cmd(ATS_CMD.WRITE);
  expect(t.hits()).toBe(before + 1); // the device did use its cached translation: a translated request
  expect(t.env.mem.readU64(PAGE)).toBe(SECRET);
  return status;
}

describe('translated requests are checked against the context the guest programmed', () => {
  it('legacy TT=00 after context-cache and IOTLB invalidation: fault 0xD (LCT.5) recorded, the re-used page untouched', async () => {
    const t = await legacyCached();
    t.g.ctx.setContext(SID, encodeContextEntry({ P: true, TT: 0, SSPTPTR: t.ss.rootPointer, AW: awForLevels(4), DID: 1 }));
    t.g.drv.contextInvalidateDevice(1, SID);
    t.g.drv.iotlbInvalidateDomain(1);
    const status = reuseThenWrite(t);
    expect(status & 7).toBe(ATS_STATE.FAULT);
    expect((status >> 8) & 0xff).toBe(0xd);
    expect(t.g.drv.readFaults()).toMatchObject([{ sid: SID, reason: 0xd, addr: PAGE, read: false }]);
  });

  it('legacy context P=0: fault 0x2 (LCT.2)', async () => {
    const t = await legacyCached();
    t.g.ctx.setContext(SID, [0n, 0n]);
    t.g.drv.contextInvalidateDevice(1, SID);
    t.g.drv.iotlbInvalidateDomain(1);
    expect((reuseThenWrite(t) >> 8) & 0xff).toBe(0x2);
    expect(t.g.drv.readFaults()).toMatchObject([{ sid: SID, reason: 0x2 }]);
  });

  it('legacy root entry cleared: fault 0x1 (LRT.2)', async () => {
    const t = await legacyCached();
    t.env.mem.writeU64(t.g.ctx.rootTable, 0n); // root entry of bus 0
    t.g.drv.contextInvalidateGlobal();
    t.g.drv.iotlbInvalidateGlobal();
    expect((reuseThenWrite(t) >> 8) & 0xff).toBe(0x1);
    expect(t.g.drv.readFaults()).toMatchObject([{ sid: SID, reason: 0x1 }]);
  });

  it('translation off: an Unsupported Request, blocked and not recorded', async () => {
    const t = await legacyCached();
    t.g.drv.disableTranslation();
    expect(reuseThenWrite(t) & 7).toBe(ATS_STATE.ABORTED);
    expect(t.g.drv.readFaults()).toEqual([]);
  });

  it('a context that still allows them (TT=01, cached translation) lets them through', async () => {
    const t = await legacyCached();
    t.env.mem.writeU64(PAGE, SECRET);
    expect(t.cmd(ATS_CMD.WRITE) & 7).toBe(ATS_STATE.DONE);
    expect(t.env.mem.readU64(PAGE)).not.toBe(SECRET); // the device's buffer landed: allowed by the tables
  });

  it('scalable DTE=0 after context-cache and PASID/IOTLB invalidation: fault 0x44 (SCT.5)', async () => {
    const t = await boot('scalable');
    const pts = attachPasids(t.g, SID, [{ pasid: 0, did: 1 }], { dte: true });
    pts.get(0)!.map(IOVA, PAGE, 12, RW);
    t.g.start();
    t.pci.enableAts(SID);
    expect(t.cmd(ATS_CMD.WRITE) & 7).toBe(ATS_STATE.DONE);
    const ce = t.env.mem.readU64(t.g.ctx.contextEntryAddress(SID));
    t.env.mem.writeU64(t.g.ctx.contextEntryAddress(SID), ce & ~(1n << 2n)); // DTE off
    expect(encodeSmContextEntry({ DTE: true })[0]).toBe(1n << 2n);
    t.g.drv.contextInvalidateGlobal();
    t.g.drv.iotlbInvalidateGlobal();
    expect((reuseThenWrite(t) >> 8) & 0xff).toBe(0x44);
    expect(t.g.drv.readFaults()).toMatchObject([{ sid: SID, reason: 0x44 }]);
  });
});
