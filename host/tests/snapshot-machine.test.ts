import { describe, expect, it } from 'vitest';
import { createMachine, type Machine, type MachineConfig } from '../src/machine.js';
import { encodeSnapshot, decodeSnapshot } from '../src/snapshot/format.js';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import { GuestQueue } from '../src/guest/invalidation-queue.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import { GuestPrq } from '../src/guest/page-request-queue.js';
import { attachPasids } from '../src/guest/pasid-attach.js';
import { PciDriver } from '../src/guest/pci-driver.js';
import { iotlbDesc, pageGroupResponseDesc, waitDesc } from '../src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../src/vtd/spec/fs-pte.js';
import { decodePageRequest, PageResponseCode } from '../src/vtd/spec/page-request.js';
import { PGTT } from '../src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';
import { CMD, GuestDmaTest } from '../../firmware-tests/cases/page-requests/pri-guest.js';

const CONFIG: MachineConfig = {
  ramMib: 32,
  devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:05.0', kind: 'ats' }, { bdf: '01:00.0', kind: 'swq' }],
};
const RW = encodeSsPte({ R: true, W: true });

/** Boots A, maps 16 pages for both DMA devices (one left unmapped), enables ATS and QI. */
async function bootA(): Promise<Machine> {
  const m = await createMachine(CONFIG);
  const env = guestEnvFor(m);
  const g = new GuestIommu(env, 'legacy');
  const dma = g.attachLegacy(0x18, { did: 1 });
  const ats = g.attachLegacy(0x28, { did: 2, tt: 1 });
  for (let i = 0n; i < 16n; i++) {
    if (i === 7n) continue;
    dma.map(0x10000n + i * 0x1000n, 0x80_0000n + i * 0x1000n, 12, RW);
    ats.map(0x10000n + i * 0x1000n, 0x90_0000n + i * 0x1000n, 12, RW);
  }
  g.start();
  new GuestQueue(env).enable();
  new PciDriver(m).enableAts(0x28);
  return m;
}

/** A deterministic DMA stream (LCG): reads and writes through both devices; returns what the guest would see. */
function stream(m: Machine, seed: number, steps: number): string[] {
  let x = seed;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const out: string[] = [];
  const dma = m.dmaTest('00:03.0');
  const ats = m.device('00:05.0') as unknown as { read(i: bigint, l: number, o?: number): number; write(i: bigint, l: number, o?: number): number };
  for (let s = 0; s < steps; s++) {
    const iova = 0x10000n + BigInt(rnd(16 * 0x1000 - 64));
    const len = 1 + rnd(64);
    const buf = rnd(4000);
    for (let k = 0; k < len; k++) dma.buffer()[buf + k] = rnd(256);
    if (rnd(2)) dma.write(iova, len, buf);
    else dma.read(iova, len, buf);
    const st = rnd(2) ? ats.read(iova, len, buf) : ats.write(iova, len, buf);
    out.push(`${dma.lastStatus()}:${st}`);
  }
  out.push(`fsts=${m.mmioRead(0xfed9_0034n, 4)} frcd=${m.mmioRead(0xfed9_0408n, 8).toString(16)}`);
  let h = 0;
  for (const b of m.ram.read(0x80_0000n, 0x20_0000)) h = (h * 31 + b) >>> 0;
  out.push(`ram=${h} buf=${[...dma.buffer().subarray(0, 64)].join(',')}`);
  return out;
}

describe('machine snapshot', () => {
  it('a fresh machine restored from a snapshot continues the same DMA stream identically', async () => {
    const a = await bootA();
    stream(a, 1, 200);
    const snap = a.snapshot();
    const restoredB = await createMachine(CONFIG);
    restoredB.restore(snap);
    const expected = stream(a, 2, 300);
    const got = stream(restoredB, 2, 300);
    expect(got).toEqual(expected);
    expect(expected.some((l) => (Number(l.split(':')[0]) & 7) === 2)).toBe(true); // the stream includes faults
    // Registers read the same through MMIO.
    for (let off = 0n; off < 0x100n; off += 8n) expect(restoredB.mmioRead(0xfed9_0000n + off, 8)).toBe(a.mmioRead(0xfed9_0000n + off, 8));
    // Snapshots of both are byte-identical.
    expect(restoredB.snapshot()).toEqual(a.snapshot());
  });

  it('keeps device-TLB contents: a stale translation survives the restore until invalidated', async () => {
    const a = await bootA();
    const ats = a.device('00:05.0') as unknown as { read(i: bigint, l: number): number; tlb: { size: number } };
    ats.read(0x10000n, 8);
    const b = await createMachine(CONFIG);
    b.restore(a.snapshot());
    expect((b.device('00:05.0') as unknown as { tlb: { size: number } }).tlb.size).toBe(ats.tlb.size);
  });

  it('rejects bad input with an Error naming what is wrong', async () => {
    const a = await bootA();
    const snap = a.snapshot();
    const b = await createMachine(CONFIG);
    expect(() => b.restore(snap.subarray(0, 10))).toThrow(/truncated/);
    const bad = snap.slice();
    bad[0] = 0x58;
    expect(() => b.restore(bad)).toThrow(/bad magic/);
    const ver = snap.slice();
    ver[8] = 99;
    expect(() => b.restore(ver)).toThrow(/version 99/);
    expect(() => b.restore(snap.subarray(0, snap.length - 1))).toThrow(/truncated/);
    const other = await createMachine({ ...CONFIG, ramMib: 64 });
    expect(() => other.restore(snap)).toThrow(/config differs/);
    const sections = decodeSnapshot(snap);
    sections.delete('VTD ');
    expect(() => b.restore(encodeSnapshot([...sections]))).toThrow(/section "VTD " is missing/);
    expect(() => b.restore(new Uint8Array([...snap, 0]))).toThrow(/trailing/);
  });

  it('the unit state API names the field it refuses and changes nothing then', async () => {
    const a = await bootInFlight();
    const s = a.vtd.saveState();
    const b = await createMachine(IN_FLIGHT_CONFIG);
    const before = b.vtd.saveState();
    expect(() => b.vtd.loadState({ ...s, prq: { ...s.prq, stats: { ...s.prq.stats, queued: -1 } } })).toThrow(/^state\.prq\.stats\.queued: /);
    expect(() => b.vtd.loadState({ ...s, qi: { ...s.qi, head: s.qi.entries } })).toThrow(/^state\.qi\.head: /);
    expect(() => b.vtd.loadState({ ...s, faults: { next: 999 } })).toThrow(/^state\.faults\.next: /);
    expect(() => b.vtd.loadState({ ...s, registers: { ...s.registers, NOPE: 0n } })).toThrow(/^state\.registers\.NOPE: /);
    expect(b.vtd.saveState()).toEqual(before);
    b.vtd.loadState(s);
    expect(b.vtd.saveState()).toEqual(s);
  });

  it('work in flight crosses the snapshot: a halted invalidation queue (ITE, an aborted wait owed) and an unanswered page request', async () => {
    const a = await bootInFlight();
    const b = await createMachine(IN_FLIGHT_CONFIG);
    b.restore(a.snapshot());
    const expected = finishInFlight(a);
    expect(finishInFlight(b)).toEqual(expected);
    expect(expected).toMatchObject({ waitAborted: 0n, waitAfter: 0x22n, dmaState: 1, written: 0x1122_3344_5566_7788n, prqEmpty: true });
    expect(b.snapshot()).toEqual(a.snapshot());
  });

  it('a restored waiting command must lie inside the device\'s own buffer (else its retry would DMA into a neighbour\'s)', async () => {
    const a = await bootInFlight();
    const dev = a.dmaTest('00:03.0');
    expect(dev.pending).toBeDefined();
    dev.pending = { ...dev.pending!, op: { ...dev.pending!.op, bufOffset: 4000, len: 200 } };
    const b = await createMachine(IN_FLIGHT_CONFIG);
    const before = b.snapshot();
    expect(() => b.restore(a.snapshot())).toThrow(/pending command moves 200 bytes at buffer offset 4000, outside its 4096-byte buffer/);
    expect(b.snapshot()).toEqual(before);
  });
});

const IN_FLIGHT_CONFIG: MachineConfig = { ramMib: 32, devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:05.0', kind: 'ats' }] };
const VTD = 0xfed9_0000n;
const PRI_IOVA = 0x7000_0000_3000n;
const PRI_PAGE = 0xa0_0000n;
const STATUS_ABORTED = 0xb0_0000n;
const STATUS_AFTER = 0xb0_0008n;

/**
 * Scalable mode: the DMA test device (PASID 5, first stage, PRE) has written to an
 * unmapped page and waits for a page response (the guest mapped the page but has not
 * answered); the ATS device stopped answering invalidations, so a device-TLB
 * invalidation timed out (ITE) and the batch behind it (IOTLB, wait) is halted.
 */
async function bootInFlight(): Promise<Machine> {
  const m = await createMachine(IN_FLIGHT_CONFIG);
  const env = guestEnvFor(m);
  const pci = new PciDriver(m);
  const g = new GuestIommu(env, 'scalable');
  const { pasids, fs } = g.attachScalable(0x18, { did: 1, pgtt: PGTT.FIRST_STAGE, pasid: 5 });
  g.ctx.setContext(0x18, encodeSmContextEntry({ P: true, PASIDE: true, PRE: true, PASIDDIRPTR: pasids!.directory, RID_PASID: 5 }));
  attachPasids(g, 0x28, [{ pasid: 0, did: 2 }], { dte: true }).get(0)!.map(0x10000n, 0x90_0000n, 12, RW);
  g.start();
  const q = new GuestQueue(env, { wide: true });
  q.enable();
  new GuestPrq(env, (d) => q.submitSync(d)).enable();
  pci.enablePasid(0x18);
  pci.enablePri(0x18, 8);
  pci.enableAts(0x28);
  const dev = new GuestDmaTest(env.platform, 0x18);
  dev.fillBuffer(0, Uint8Array.of(0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11));
  expect(dev.start(CMD.WRITE, PRI_IOVA, 8, 5) & 7).toBe(4); // page wait
  fs!.map(PRI_IOVA, PRI_PAGE, 12, encodeFsPte({ P: true, RW: true, US: true }));
  const ats = m.device('00:05.0') as unknown as { read(i: bigint, l: number): number };
  expect(ats.read(0x10000n, 8) & 7).toBe(1);
  const bar = pci.barBase(0x28, 0);
  m.mmioWrite(bar + 0x28n, 4, 2n); // CTL: ignore invalidation requests
  q.place([[0x3n | 0x28n << 32n, 0x10000n]]); // device-TLB invalidation: times out
  q.ring();
  q.place([iotlbDesc(2, 2), waitDesc({ sw: true, fn: true, data: 0x11, addr: STATUS_ABORTED })]);
  q.ring();
  expect(Number(m.mmioRead(VTD + 0x34n, 4)) & 0x40).toBe(0x40); // FSTS.ITE: the queue is halted
  return m;
}

/** Writes descriptors at IQT (256-bit queue) and rings, through MMIO and RAM only. */
function submitRaw(m: Machine, descs: readonly bigint[][]): void {
  const iqa = m.mmioRead(VTD + 0x90n, 8);
  const entries = (4096 << Number(iqa & 7n)) / 32;
  let tail = Number(m.mmioRead(VTD + 0x88n, 8) >> 5n);
  for (const d of descs) {
    d.forEach((w, i) => m.ram.writeU64((iqa & ~0xfffn) + BigInt(tail * 32 + 8 * i), w));
    tail = (tail + 1) % entries;
  }
  m.mmioWrite(VTD + 0x88n, 8, BigInt(tail * 32));
}

/** The guest finishes what was in flight (same MMIO/RAM steps on any machine); returns what it observes. */
function finishInFlight(m: Machine) {
  const bar = new PciDriver(m).barBase(0x28, 0);
  m.mmioWrite(bar + 0x28n, 4, 0n); // the ATS device answers again
  m.mmioWrite(VTD + 0x34n, 4, 0x40n); // W1C ITE: fetching resumes (the wait behind the time-out is aborted)
  submitRaw(m, [waitDesc({ sw: true, fn: true, data: 0x22, addr: STATUS_AFTER })]);
  const pqh = m.mmioRead(VTD + 0xc0n, 8);
  const pqa = m.mmioRead(VTD + 0xd0n, 8) & ~0xfffn;
  const req = decodePageRequest(m.ram.readU64(pqa + pqh), m.ram.readU64(pqa + pqh + 8n))!;
  m.mmioWrite(VTD + 0xc0n, 8, m.mmioRead(VTD + 0xc8n, 8));
  submitRaw(m, [pageGroupResponseDesc(req.sid, req.prgi, PageResponseCode.Success, { pasid: req.pasid, lpig: true })]);
  return {
    waitAborted: m.ram.readU64(STATUS_ABORTED), waitAfter: m.ram.readU64(STATUS_AFTER),
    fsts: m.mmioRead(VTD + 0x34n, 4), iqh: m.mmioRead(VTD + 0x80n, 8), iqt: m.mmioRead(VTD + 0x88n, 8),
    request: req, dmaState: Number(m.mmioRead(new PciDriver(m).barBase(0x18, 0) + 0x18n, 4)) & 7,
    written: m.ram.readU64(PRI_PAGE), prqEmpty: m.mmioRead(VTD + 0xc0n, 8) === m.mmioRead(VTD + 0xc8n, 8),
    openGroups: m.vtd.prq.openGroups(), stats: { ...m.vtd.prq.stats },
  };
}
