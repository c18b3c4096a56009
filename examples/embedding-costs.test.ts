/**
 * Runs the cost measurements of docs/EMBEDDING.md and prints the table.
 * Checks the paths it times do what they claim: the three translation paths
 * give the same answer, the port's DMA succeeds, the copy lands in RAM.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { ACC_READ, BREQ_ACCESS, BREQ_IOVA_LO, BREQ_SID, BREQ_WORDS, OUT_ADDR_LO, createMachine } from '../host/src/index.js';
import { costTable, measureEmbeddingCosts } from './embedding-costs.js';
import { CopyEngine, ENGINE_RID, GuestDriver, SRC_IOVA } from './ring-emulator.js';

const haveWasm = existsSync(new URL('../build/viommu.wasm', import.meta.url));

describe.skipIf(!haveWasm)('example: embedding costs', () => {
  it('object, raw and batch translation agree on the booted machine', async () => {
    const m = await createMachine({ profile: 'default', ramMib: 64 });
    new GuestDriver(m, new CopyEngine(m.vtd.portFor(ENGINE_RID))).boot();
    const iova = SRC_IOVA + 0x1234n;
    const t = m.core.translate(ENGINE_RID, undefined, iova, ACC_READ);
    expect(t.ok).toBe(true);
    expect(t.addr).toBe(0x90_1234n);
    expect(m.core.translateRaw(ENGINE_RID, 0, 0, Number(iova), ACC_READ)).toBe(0);
    expect(m.core.out[OUT_ADDR_LO]).toBe(0x90_1234);
    const b = m.core.batch;
    b.fill(0, 0, BREQ_WORDS);
    b[BREQ_SID] = ENGINE_RID;
    b[BREQ_IOVA_LO] = Number(iova);
    b[BREQ_ACCESS] = ACC_READ;
    expect(m.core.translateBatch(1)).toBe(1);
    expect(b[1]).toBe(0x90_1234); // result word 1: address low
  });

  it('measures every embedding cost', async () => {
    const costs = await measureEmbeddingCosts();
    console.log(`\n${costTable(costs)}\n`);
    expect(costs.length).toBeGreaterThanOrEqual(10);
    for (const c of costs) expect(Number.isFinite(c.value) && c.value > 0, c.what).toBe(true);
  }, 60_000);
});
