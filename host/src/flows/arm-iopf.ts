/**
 * arm-iopf: I/O page faults on the SMMUv3, served by the guest that owns
 * the SMMU (the shape of arm-bind-pasid-table's guest: it builds its own CD
 * table in its RAM and allocates the SubstreamIDs itself). The ATS device
 * touches pages the guest has not mapped; its ATS Translation Request gets
 * R = W = 0 (IHI 0070 §3.9.1.2), its PRI engine sends a page request, the
 * SMMU writes the record to the guest's PRI queue (chapter 8); the guest
 * maps the page and answers CMD_PRI_RESP Success + CMD_SYNC (§4.5.2) and the
 * device's retried translation and DMA succeed, or answers InvalidRequest
 * and the device fails the access. Then the PRI queue overflows (§8.1):
 * OVFLG toggles, the SMMU answers a discarded Last request itself
 * (Success: "ask again"), and the guest recovers by draining the queue and
 * acknowledging with OVACKFLG (§8.1.1).
 *
 * The VT-d counterpart is native-sva-iopf (the page-request queue of VT-d
 * §7.4-7.5, answered with page-group response descriptors).
 */
import { ARM_ECAM_BASE, ARM_RAM_BASE, createArmMachine, SMMU_BASE } from '../arm-machine.js';
import { ATS, ATS_CMD, ATS_STATE } from '../devices/ats/regs.js';
import { PASID_REG } from '../devices/common/function.js';
import { PciDriver } from '../guest/pci-driver.js';
import { SmmuDriver, SR } from '../guest/smmu/driver.js';
import { LpaeTables } from '../guest/smmu/lpae.js';
import { CONFIG, encodeSte, s1Cd } from '../guest/smmu/structures.js';
import { PRI_RESP } from '../smmu/spec/priq.js';
import { PageAllocator } from '../tables/page-allocator.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';

/** The two ATS devices (requester id = StreamID), the guest's SSID, VAs and pages. */
const IOPF = { a: 0x18, b: 0x20, ssid: 1, va: 0x7000_0000n, gpa: ARM_RAM_BASE + 0x200_0000n, gpa2: ARM_RAM_BASE + 0x201_0000n } as const;

const state = (status: number): number => status & 7;
const STATE_NAME: Readonly<Record<number, string>> = { [ATS_STATE.DONE]: 'done', [ATS_STATE.PAGE_WAIT]: 'waiting on a page request', [ATS_STATE.NO_PERMISSION]: 'failed (no permission)' };
const said = (status: number): string => STATE_NAME[state(status)] ?? `status ${hex(status)}`;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const m = await createArmMachine({ profile: 'default', ramMib: 64, devices: [{ bdf: '00:03.0', kind: 'ats' }, { bdf: '00:04.0', kind: 'ats' }] });
  const alloc = new PageAllocator(m.ram, ARM_RAM_BASE + 0x100_0000n, ARM_RAM_BASE + 0x200_0000n);
  const drv = new SmmuDriver(m, m.ram, alloc, SMMU_BASE);
  const pci = new PciDriver(m, ARM_ECAM_BASE);
  drv.init({ sidBits: 8 });
  drv.enablePriq(0); // one record: small enough to show an overflow below
  const idr0 = drv.read32(SR.IDR0);
  io.say(`guest: SMMUv3 with ATS ${(idr0 >>> 10) & 1} and PRI ${(idr0 >>> 16) & 1} (IDR0 ${hex(idr0)}), PRIQS ${(drv.read32(SR.IDR1) >>> 11) & 0x1f}; PRI queue of 1 record at GPA ${hex(drv.read64(SR.PRIQ_BASE) & ~0x1fn)}, CR0.PRIQEN set`);
  c.that(((idr0 >>> 16) & 1) === 1 && (drv.read32(SR.CR0ACK) & 2) === 2, 'the default SMMU offers PRI and the guest enabled its PRI queue');

  // The guest's own CD table: SSID 1 of each device with an empty stage 1 (nothing mapped yet).
  const s1 = new LpaeTables(m.ram, alloc, 1, 48);
  const cdTable = alloc.alloc();
  s1Cd(s1.root, IOPF.ssid).forEach((w, i) => m.ram.writeU64(cdTable + BigInt(64 * IOPF.ssid + 8 * i), w));
  for (const sid of [IOPF.a, IOPF.b]) {
    drv.setSte(sid, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cdTable, S1CDMax: 1, EATS: 1 }));
    pci.enableAts(sid);
    pci.enablePasid(sid);
    pci.enablePri(sid, 16);
  }
  io.say(`guest: CD table at GPA ${hex(cdTable)} with SSID ${IOPF.ssid} (stage 1 empty); STEs of ${hex(IOPF.a)} and ${hex(IOPF.b)} with EATS = 1; ATS, PASID and PRI enabled in both devices`);
  // The guest drives each device through its BAR: address, length, PASID register, command; STATUS after it.
  const bars = new Map<number, bigint>([IOPF.a, IOPF.b].map((sid) => [sid, pci.barBase(sid, 0)]));
  const reg = (sid: number, off: number): number => Number(m.mmioRead(bars.get(sid)! + BigInt(off), 4));
  const cmd = (sid: number, kind: number, iova: bigint): number => {
    const bar = bars.get(sid)!;
    m.mmioWrite(bar + BigInt(ATS.IOVA), 8, iova);
    m.mmioWrite(bar + BigInt(ATS.LEN), 4, 4n);
    m.mmioWrite(bar + BigInt(ATS.PASID), 4, BigInt((PASID_REG.PV | IOPF.ssid) >>> 0));
    m.mmioWrite(bar + BigInt(ATS.CMD), 4, BigInt(kind));
    return reg(sid, ATS.STATUS);
  };
  const status = (sid: number): number => reg(sid, ATS.STATUS);

  // 1. A read of a page that is not mapped: page request, the guest maps it, Success.
  m.ram.write(IOPF.gpa, new Uint8Array([0x11, 0x22, 0x33, 0x44]));
  const w1 = cmd(IOPF.a, ATS_CMD.READ, IOPF.va);
  const r1 = drv.pageRequests().records;
  io.say(`device ${hex(IOPF.a)}: read VA ${hex(IOPF.va)} with SSID ${IOPF.ssid} -> ${said(w1)}; guest PRI queue: ${r1.map((r) => `sid ${hex(r.sid)} ssid ${r.ssid} addr ${hex(r.addr)} PRG ${r.prgi}${r.last ? ' Last' : ''}${r.read ? ' R' : ''}${r.write ? ' W' : ''}`).join('; ')}`);
  c.that(state(w1) === ATS_STATE.PAGE_WAIT && r1.length === 1 && r1[0]!.sid === IOPF.a && r1[0]!.ssid === IOPF.ssid && r1[0]!.addr === IOPF.va && r1[0]!.last, 'the ATS miss became one page request in the guest\'s PRI queue (SID, SSID, address, Last)');
  s1.map(IOPF.va, IOPF.gpa, 12);
  drv.respond(r1[0]!, PRI_RESP.SUCCESS);
  const data = reg(IOPF.a, ATS.BUFFER);
  io.say(`guest: mapped VA ${hex(IOPF.va)} -> GPA ${hex(IOPF.gpa)}, CMD_PRI_RESP Success + CMD_SYNC; device: ${said(status(IOPF.a))}, its buffer holds ${hex(data)}`);
  c.that(state(status(IOPF.a)) === ATS_STATE.DONE && data === 0x4433_2211, 'after Success the retried translation and read succeeded with the page\'s bytes');

  // 2. A write the guest refuses: InvalidRequest.
  const w2 = cmd(IOPF.a, ATS_CMD.WRITE, IOPF.va + 0x10_0000n);
  const [r2] = drv.pageRequests().records;
  drv.respond(r2!, PRI_RESP.INVALID_REQUEST);
  io.say(`device ${hex(IOPF.a)}: write VA ${hex(IOPF.va + 0x10_0000n)} -> ${said(w2)}; guest answered InvalidRequest -> ${said(status(IOPF.a))}`);
  c.that(state(w2) === ATS_STATE.PAGE_WAIT && state(status(IOPF.a)) === ATS_STATE.NO_PERMISSION, 'after InvalidRequest the device failed the access');

  // 3. Overflow: A's request fills the queue, B's is discarded and answered by the SMMU itself.
  cmd(IOPF.a, ATS_CMD.READ, IOPF.va + 0x2000n);
  const before = m.smmu.priq.stats.autoResponses;
  const wB = cmd(IOPF.b, ATS_CMD.READ, IOPF.va + 0x3000n);
  const ovflg = drv.read32(SR.PRIQ_PROD) >>> 31;
  const auto = m.smmu.priq.stats.autoResponses - before;
  io.say(`device ${hex(IOPF.b)}: read with the queue full -> PRIQ_PROD.OVFLG ${ovflg}; the SMMU answered Success itself ${auto} times (the device asked again at once each time) -> ${said(wB)}`);
  c.that(ovflg === 1 && auto > 0 && state(wB) === ATS_STATE.NO_PERMISSION, 'the overflow toggled OVFLG and its Last requests got automatic answers; nothing was written while it was active');
  const drained = drv.pageRequests();
  s1.map(IOPF.va + 0x2000n, IOPF.gpa2, 12);
  s1.map(IOPF.va + 0x3000n, IOPF.gpa2, 12);
  for (const r of drained.records) drv.respond(r, PRI_RESP.SUCCESS);
  const again = cmd(IOPF.b, ATS_CMD.READ, IOPF.va + 0x3000n);
  const [rB] = drv.pageRequests().records;
  io.say(`guest: drained ${drained.records.length} record (overflow seen: ${drained.overflowed}), wrote PRIQ_CONS with OVACKFLG = OVFLG, mapped both pages, answered; device ${hex(IOPF.a)} ${said(status(IOPF.a))}; device ${hex(IOPF.b)} runs its read again -> ${said(again)}${rB ? ' (a page request was written)' : ''}`);
  c.that(drained.overflowed && state(status(IOPF.a)) === ATS_STATE.DONE && state(again) === ATS_STATE.DONE && rB === undefined, 'after the guest acknowledged the overflow both devices completed (the mapped page needed no new request)');
  io.say(`smmu: PRI queue counters ${JSON.stringify(m.smmu.priq.stats)}`);
  return c.result();
}

/** The flow. */
export const armIopf: Flow = {
  name: 'arm-iopf',
  summary: 'SMMUv3 I/O page faults: ATS misses become page requests in the guest\'s PRI queue; the guest maps and answers CMD_PRI_RESP; overflow and recovery',
  run,
};
