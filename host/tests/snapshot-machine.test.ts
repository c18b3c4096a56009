import { describe, expect, it } from 'vitest';
import { createMachine, type Machine, type MachineConfig } from '../src/machine.js';
import { encodeSnapshot, decodeSnapshot } from '../src/snapshot/format.js';
import { GuestIommu } from '../../firmware-tests/lib/guest.js';
import { guestEnvFor } from '../../firmware-tests/lib/machine-env.js';
import { PciDriver } from '../../firmware-tests/lib/pci-driver.js';
import { encodeSsPte } from '../../firmware-tests/lib/tables.js';
import { GuestQueue } from '../../firmware-tests/cases/invalidation/qi-guest.js';

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
});
