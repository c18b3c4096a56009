/**
 * What an emulator pays per call through the public embedding API (issue
 * 17): MMIO register reads and writes of the VT-d unit, a 64-byte DMA
 * through the DMA port (IOTLB hit, legacy 4-level second stage), BAR
 * dispatch as the PCI hierarchy grows (1, 64, 1024 devices), each through
 * the number API with the BigInt convenience API beside it; and the targets
 * on them (`mmio-read`, `mmio-write`, `dma-64`, `devices`, `qi` from
 * embedding-qi.ts). Times are the fastest of several rounds of a tight
 * loop over one call site (the machine is shared: preemption only ever adds
 * time), so they include the call itself and nothing else.
 */
import { createMachine, VTD_BASE, type Machine } from '../host/src/machine.js';
import { DMA_OK, REQ, type DmaPort } from '../host/src/pci/dma-port.js';
import { GuestIommu } from '../host/src/guest/guest-iommu.js';
import { guestEnvFor } from '../host/src/guest/machine-env.js';
import { encodeSsPte } from '../host/src/vtd/spec/ss-pte.js';
import { nowNs } from './harness/target.js';
import type { QiResult, TargetCheck } from './report/schema.js';

/** One measured operation: ns per call through the number API and, where there is one, the BigInt API. */
export interface EmbeddingPoint {
  id: string;
  description: string;
  ns: number;
  bigintNs?: number;
}

/** BAR dispatch cost with `devices` devices on the bus (MMIO reads of a register of 8 devices spread over the bus, in turn). */
export interface DevicesPoint {
  devices: number;
  ns: number;
  bigintNs: number;
}

/** The embedding section of a bench result. */
export interface EmbeddingResult {
  points: EmbeddingPoint[];
  devices: DevicesPoint[];
}

/** Iterations: rounds of `calls` calls; the fastest round counts. */
export interface EmbeddingSizes { rounds: number; calls: number }
type Sizes = EmbeddingSizes;

/** ns per call of `loop(n)` (which makes n calls): the fastest of `rounds` rounds, after a warm-up round. */
function measure(s: Sizes, loop: (n: number) => void): number {
  loop(s.calls);
  let best = Infinity;
  for (let r = 0; r < s.rounds; r++) {
    const t0 = nowNs();
    loop(s.calls);
    best = Math.min(best, (nowNs() - t0) / s.calls);
  }
  return best;
}

const BASE = Number(VTD_BASE);
const REG = { GSTS: 0x1c, GCMD: 0x18, FEDATA: 0x3c } as const;
/** Requester id of the measured DMA (an embedder's own device, no model device there). */
const RID = 0x28;
const IOVA = 0x4000_0000;
const GPA = 0x80_0000n;

function mmioPoints(m: Machine, s: Sizes): EmbeddingPoint[] {
  let sink = 0;
  const read = measure(s, (n) => { for (let i = 0; i < n; i++) sink ^= m.mmioRead32(BASE + REG.GSTS); });
  const readBig = measure(s, (n) => { for (let i = 0; i < n; i++) sink ^= Number(m.mmioRead(VTD_BASE + 0x1cn, 4)); });
  const write = measure(s, (n) => { for (let i = 0; i < n; i++) m.mmioWrite32(BASE + REG.FEDATA, i & 0xffff); });
  const writeBig = measure(s, (n) => { for (let i = 0; i < n; i++) m.mmioWrite(VTD_BASE + 0x3cn, 4, BigInt(i & 0xffff)); });
  // GCMD with the current enables: the command handler runs, nothing changes state.
  const gsts = m.mmioRead32(BASE + REG.GSTS) & 0x8600_0000;
  const gcmd = measure(s, (n) => { for (let i = 0; i < n; i++) m.mmioWrite32(BASE + REG.GCMD, gsts); });
  const gcmdBig = measure(s, (n) => { for (let i = 0; i < n; i++) m.mmioWrite(VTD_BASE + 0x18n, 4, BigInt(gsts)); });
  if (sink === 0.5) throw new Error('unreachable');
  return [
    { id: 'mmio-read', description: 'MMIO read of GSTS (Machine.mmioRead32)', ns: read, bigintNs: readBig },
    { id: 'mmio-write', description: 'MMIO write of FEDATA, a plain register (Machine.mmioWrite32)', ns: write, bigintNs: writeBig },
    { id: 'mmio-write-gcmd', description: 'MMIO write of GCMD, a side-effect register (command handler runs)', ns: gcmd, bigintNs: gcmdBig },
  ];
}

/** A legacy-mode guest mapping IOVA -> GPA (4-level, 4 KiB pages) for requester RID. */
function mapForDma(m: Machine): void {
  const g = new GuestIommu(guestEnvFor(m), 'legacy');
  const ss = g.attachLegacy(RID, { did: 1, levels: 4 });
  for (let p = 0; p < 4; p++) ss.map(BigInt(IOVA + p * 4096), GPA + BigInt(p * 4096), 12, encodeSsPte({ R: true, W: true }));
  g.start();
}

function dmaPoints(port: DmaPort, s: Sizes): EmbeddingPoint[] {
  const buf = port.allocBuffer(4096);
  if (port.dma(IOVA, 64, buf) !== DMA_OK) throw new Error(`the measured DMA faulted (${port.last.status})`);
  let bad = 0;
  const num = measure(s, (n) => { for (let i = 0; i < n; i++) bad |= port.dma(IOVA + (i & 3) * 4096, 64, buf); });
  const write = measure(s, (n) => { for (let i = 0; i < n; i++) bad |= port.dma(IOVA + (i & 3) * 4096, 64, buf, REQ.WRITE); });
  const big = measure(s, (n) => { for (let i = 0; i < n; i++) if (!port.dmaBig(BigInt(IOVA + (i & 3) * 4096), 64, false, buf).ok) bad = 1; });
  const tr = measure(s, (n) => { for (let i = 0; i < n; i++) bad |= port.translate(IOVA + (i & 3) * 4096, 512); });
  if (bad !== 0) throw new Error('a measured DMA faulted');
  return [
    { id: 'dma-64', description: '64-byte DMA read through the DMA port, IOTLB hit (DmaPort.dma)', ns: num, bigintNs: big },
    { id: 'dma-64-write', description: '64-byte DMA write through the DMA port, IOTLB hit', ns: write },
    { id: 'translate-512', description: 'translate-only request of 512 bytes (one run), IOTLB hit (DmaPort.translate)', ns: tr },
  ];
}

/** BDF of the i-th device: buses 1.. behind root ports, 256 functions each. */
const bdfOf = (i: number): string => `${(1 + (i >> 8)).toString(16).padStart(2, '0')}:${((i >> 3) & 31).toString(16).padStart(2, '0')}.${i & 7}`;

async function devicesPoint(count: number, s: Sizes): Promise<DevicesPoint> {
  const m = await createMachine({ ramMib: 4, devices: Array.from({ length: count }, (_, i) => ({ bdf: bdfOf(i), kind: 'dma-test' as const })) });
  // Round-robin over up to 8 devices spread over the bus (the ID register of each: a constant).
  const list = m.deviceList();
  const addrs = Array.from({ length: 8 }, (_, k) => Number(list[Math.floor((k * (list.length - 1)) / 7)]!.fn.config.barBase(0)));
  const big = addrs.map(BigInt);
  let sink = 0;
  const ns = measure(s, (n) => { for (let i = 0; i < n; i++) sink ^= m.mmioRead32(addrs[i & 7]!); });
  const bigintNs = measure(s, (n) => { for (let i = 0; i < n; i++) sink ^= Number(m.mmioRead(big[i & 7]!, 4)); });
  if (sink === 0.5) throw new Error('unreachable');
  return { devices: count, ns, bigintNs };
}

/** Runs every embedding measurement, `s.rounds` rounds of `s.calls` calls each. */
export async function measureEmbedding(s: EmbeddingSizes): Promise<EmbeddingResult> {
  const m = await createMachine({ profile: 'default', ramMib: 64 });
  mapForDma(m);
  const points = [...mmioPoints(m, s), ...dmaPoints(m.vtd.portFor(RID), s)];
  const devices: DevicesPoint[] = [];
  for (const count of [1, 64, 1024]) devices.push(await devicesPoint(count, s));
  return { points, devices };
}

/** Limits of the targets (issue 17). */
export const EMBEDDING_LIMITS = { mmioReadNs: 15, mmioWriteNs: 40, dma64Ns: 60, qiPerSecond: 20e6, devicesRatio: 2 } as const;

function check(id: string, description: string, measured: number | null, limit: number, sense: 'max' | 'min', note?: string): TargetCheck {
  const pass = measured === null ? null : sense === 'max' ? measured <= limit : measured >= limit;
  return { id, description, measured, limit, sense, pass, ...(note ? { note } : {}) };
}

/** The embedding targets on a result (and the queue's rate from embedding-qi.ts). */
export function embeddingTargets(r: EmbeddingResult | { missing: string }, qi: QiResult): TargetCheck[] {
  const ok = 'points' in r;
  const ns = (id: string): number | null => (ok ? r.points.find((p) => p.id === id)?.ns ?? null : null);
  const big = (id: string): string => (ok ? `BigInt API ${r.points.find((p) => p.id === id)?.bigintNs?.toFixed(1)} ns` : r.missing);
  const dev = ok ? r.devices : [];
  const one = dev.find((d) => d.devices === 1), most = dev.at(-1);
  const L = EMBEDDING_LIMITS;
  return [
    check('mmio-read', `MMIO read (number API) <= ${L.mmioReadNs} ns`, ns('mmio-read'), L.mmioReadNs, 'max', big('mmio-read')),
    check('mmio-write', `MMIO write of a plain register (number API) <= ${L.mmioWriteNs} ns`, ns('mmio-write'), L.mmioWriteNs, 'max', big('mmio-write')),
    check('dma-64', `64-byte DMA through the DMA port (number API) <= ${L.dma64Ns} ns`, ns('dma-64'), L.dma64Ns, 'max', big('dma-64')),
    check('qi', `queued invalidation through MMIO >= ${L.qiPerSecond / 1e6} M descriptors/s`, 'missing' in qi ? null : qi.descriptorsPerSecond, L.qiPerSecond, 'min', 'missing' in qi ? qi.missing : qi.note),
    check('devices', `BAR dispatch with ${most?.devices ?? 1024} devices / with 1 device <= ${L.devicesRatio}x (flat or logarithmic)`,
      one && most ? most.ns / one.ns : null, L.devicesRatio, 'max', dev.map((d) => `${d.devices}: ${d.ns.toFixed(1)} ns`).join(', ')),
  ];
}

/** Text lines for the table and the report. */
export function embeddingLines(r: EmbeddingResult | { missing: string } | undefined): string[] {
  if (!r) return [];
  if ('missing' in r) return [`embedding API: not measured (${r.missing})`];
  const f = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(1));
  return [
    'embedding API (ns per call; number API, BigInt API):',
    ...r.points.map((p) => `- ${p.id}: ${f(p.ns)} ns, ${f(p.bigintNs)} ns (${p.description})`),
    `- BAR dispatch: ${r.devices.map((d) => `${d.devices} devices ${f(d.ns)} ns (BigInt ${f(d.bigintNs)})`).join(', ')}`,
  ];
}
