/**
 * Measures what each embedding choice of docs/EMBEDDING.md costs, on the
 * machine the ring example boots (legacy mode, 4-level second stage, 4 KiB
 * pages, translations hitting the IOTLB). Every number is ns per operation
 * (machine creation: ms). Run: `npx vitest run examples` prints the table.
 */
import { ACC_READ, BREQ_ACCESS, BREQ_IOVA_LO, BREQ_SID, BREQ_WORDS, createMachine, VTD_BASE, type Machine } from '../host/src/index.js';
import { CopyEngine, ENGINE_RID, GuestDriver, SRC_IOVA } from './ring-emulator.js';

/** One measured cost. */
export interface Cost {
  readonly what: string;
  readonly value: number;
  readonly unit: 'ns/op' | 'ns/translation' | 'ms';
}

/** ns per call of `fn`, repeated for at least `minMs` after a warm-up. */
function nsPerOp(fn: (i: number) => void, minMs = 60): number {
  for (let i = 0; i < 2000; i++) fn(i);
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    for (let i = 0; i < 1000; i++) fn(n + i);
    n += 1000;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / n;
}

async function bootedMachine(): Promise<{ m: Machine; engine: CopyEngine }> {
  const m = await createMachine({ profile: 'default', ramMib: 64 });
  const engine = new CopyEngine(m.vtd.portFor(ENGINE_RID));
  new GuestDriver(m, engine).boot();
  return { m, engine };
}

function translationCosts(m: Machine): Cost[] {
  const core = m.core;
  const iovaLo = (i: number) => Number(SRC_IOVA) + (i & 3) * 0x1000 + (i & 0xff0);
  const batchN = 4096;
  const b = core.batch;
  const reqs = new Uint32Array(batchN * BREQ_WORDS);
  for (let i = 0; i < batchN; i++) {
    reqs[i * BREQ_WORDS + BREQ_SID] = ENGINE_RID;
    reqs[i * BREQ_WORDS + BREQ_IOVA_LO] = iovaLo(i);
    reqs[i * BREQ_WORDS + BREQ_ACCESS] = ACC_READ;
  }
  const batch = nsPerOp(() => { b.set(reqs); core.translateBatch(batchN); }, 100) / batchN;
  return [
    { what: 'Core.translate (object result)', value: nsPerOp((i) => core.translate(ENGINE_RID, undefined, BigInt(iovaLo(i)), ACC_READ)), unit: 'ns/translation' },
    { what: 'Core.translateRaw + out view', value: nsPerOp((i) => core.translateRaw(ENGINE_RID, 0, 0, iovaLo(i), ACC_READ)), unit: 'ns/translation' },
    { what: 'translateBatch (4096 per call, incl. copying requests in)', value: batch, unit: 'ns/translation' },
  ];
}

function dmaCosts(m: Machine): Cost[] {
  const port = m.vtd.portFor(ENGINE_RID);
  const buf = port.allocBuffer(4096);
  const dma = (len: number) => nsPerOp((i) => port.dma(Number(SRC_IOVA) + (i & 3) * 4096, len, buf));
  return [
    { what: 'device DMA read through the port, 64 bytes', value: dma(64), unit: 'ns/op' },
    { what: 'device DMA read through the port, 4096 bytes', value: dma(4096), unit: 'ns/op' },
  ];
}

function mmioAndRamCosts(m: Machine): Cost[] {
  const view = m.ram.view(0x90_0000, 4096);
  const own = new Uint8Array(4096);
  return [
    { what: 'MMIO read (GSTS) via Machine.mmioRead', value: nsPerOp(() => m.mmioRead(VTD_BASE + 0x1cn, 4)), unit: 'ns/op' },
    { what: 'MMIO write (FEDATA) via Machine.mmioWrite', value: nsPerOp((i) => m.mmioWrite(VTD_BASE + 0x3cn, 4, BigInt(i & 0xffff))), unit: 'ns/op' },
    { what: 'guest RAM u64 read via GuestMemory.readU64', value: nsPerOp((i) => m.ram.readU64(0x90_0000n + BigInt((i & 511) * 8))), unit: 'ns/op' },
    { what: 'guest RAM 4 KiB copy emulator buffer -> model RAM (not sharing)', value: nsPerOp(() => view.set(own)), unit: 'ns/op' },
  ];
}

/** Runs every measurement; the order is the table's order. */
export async function measureEmbeddingCosts(): Promise<Cost[]> {
  const t0 = performance.now();
  const { m } = await bootedMachine();
  const boot = performance.now() - t0;
  return [
    { what: 'createMachine + boot (load core, 64 MiB RAM, tables)', value: boot, unit: 'ms' },
    ...translationCosts(m), ...dmaCosts(m), ...mmioAndRamCosts(m),
  ];
}

/** The costs as a markdown table. */
export function costTable(costs: readonly Cost[]): string {
  return ['| operation | cost |', '|---|---|', ...costs.map((c) => `| ${c.what} | ${c.value.toFixed(1)} ${c.unit} |`)].join('\n');
}
