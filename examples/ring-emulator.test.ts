/** Runs the embedding example (ring-emulator.ts) and checks what its guest and device saw. */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { DST_IOVA, ENGINE_RID, runRingEmulator } from './ring-emulator.js';

const haveWasm = existsSync(new URL('../build/viommu.wasm', import.meta.url));

describe.skipIf(!haveWasm)('example: ring emulator', () => {
  it('copies through the IOMMU, then faults on the unmapped page and interrupts the guest', async () => {
    const run = await runRingEmulator(12);
    expect(run.completed).toBe(4);
    expect(run.copiesCorrect).toBe(true);
    // The fifth copy targets the page the guest unmapped and invalidated: a write fault (§7.1.3 reason 5).
    expect(run.engineStopped).toBe(true);
    expect(run.faults).toEqual([{ reason: 5, addr: DST_IOVA + 3n * 0x1000n, sid: ENGINE_RID }]);
    expect(run.interrupts).toHaveLength(1);
    expect(run.interrupts[0]).toMatchObject({ source: 'fault', address: 0xfee0_0000n, data: 0x51 });
    // Ring and buffers were translated by walks first, then IOTLB hits.
    expect(run.stats['iotlb_hits']).toBeGreaterThan(0);
    expect(run.stats['walks']).toBeGreaterThan(0);
  });

  it('without the unmap step nothing faults (the fault above is caused by the guest)', async () => {
    const run = await runRingEmulator(6); // stops before tick 6
    expect(run.completed).toBe(4);
    expect(run.faults).toEqual([]);
    expect(run.interrupts).toEqual([]);
  });
});
