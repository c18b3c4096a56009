/**
 * The work one guest access may cause through the invalidation queue is
 * bounded (QI_WORK_BUDGET, invalidation-queue.ts): a guest fills the largest
 * queue, one IQT write runs a bounded part of it, and the rest continues at
 * the unit's next register accesses, in order, with the same results as an
 * unbounded run (VT-d §6.5.2 lets hardware process the queue incrementally).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../src/machine.js';
import { GuestQueue } from '../src/guest/invalidation-queue.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import { iotlbDesc, waitDesc } from '../src/vtd/spec/descriptors.js';
import { EXTERNAL_COST, QI_WORK_BUDGET } from '../src/vtd/qi/invalidation-queue.js';

const R = { IQH: 0x80, FSTS: 0x34 } as const;

async function fullQueue() {
  const m = await createMachine({ profile: 'default', ramMib: 64 });
  const env = guestEnvFor(m);
  const q = new GuestQueue(env, { qs: 7 }); // 128 pages: 32768 128-bit descriptors
  q.enable();
  return { m, env, q };
}

describe('bounded queued invalidation', () => {
  it('one IQT write on a full queue runs at most the budget; register accesses continue in order to the end', async () => {
    const { m, env, q } = await fullQueue();
    const n = q.entries - 1;
    const status = q.statusPage;
    const descs = Array.from({ length: n - 1 }, (_, i) => iotlbDesc(3, 1, BigInt(i) << 12n, 0));
    q.place([...descs, waitDesc({ sw: true, fn: true, data: 0x5a5a, addr: status })]);
    q.ring();
    const head = (): number => m.mmioRead32(0xfed9_0000 + R.IQH) / 16;
    // The IQH read is itself an access: the queue has moved on by one budget before it returns.
    const first = head();
    expect(first).toBe(2 * QI_WORK_BUDGET);
    expect(m.ram.readU32(status)).toBe(0);
    let reads = 1;
    for (let h = first; h < n; h = head()) reads++;
    expect(head()).toBe(n);
    expect(reads).toBe(Math.ceil(n / QI_WORK_BUDGET) - 1); // the IQT write did the first share
    expect(m.ram.readU32(status)).toBe(0x5a5a);
    expect(m.mmioRead32(0xfed9_0000 + R.FSTS) & 0x10).toBe(0); // no IQE
  });

  it('a queue of at most the budget completes within the IQT write', async () => {
    const { m, env, q } = await fullQueue();
    q.place([...Array.from({ length: QI_WORK_BUDGET - EXTERNAL_COST }, () => iotlbDesc(2, 1)), waitDesc({ sw: true, fn: true, data: 7, addr: q.statusPage })]);
    q.ring();
    expect(m.ram.readU32(q.statusPage)).toBe(7);
    expect(m.vtd.saveState().qi.head).toBe(QI_WORK_BUDGET - EXTERNAL_COST + 1);
  });

  it('descriptors that call into devices (device-TLB invalidations) weigh EXTERNAL_COST each', async () => {
    const { m, env, q } = await fullQueue();
    const n = (3 * QI_WORK_BUDGET) / (2 * EXTERNAL_COST); // one budget and a half
    // Device-TLB invalidation (§6.5.2.5) for SID 0x28 (no device there: it completes at once), then a wait.
    q.place([...Array.from({ length: n }, () => [0x3n | (0x28n << 32n), 0n]), waitDesc({ sw: true, fn: true, data: 9, addr: q.statusPage })]);
    q.ring();
    expect(m.vtd.saveState().qi.head).toBe(QI_WORK_BUDGET / EXTERNAL_COST);
    expect(m.ram.readU32(q.statusPage)).toBe(0);
    m.mmioRead32(0xfed9_0000 + R.FSTS); // the next access does the rest
    expect(m.vtd.saveState().qi.head).toBe(n + 1);
    expect(m.ram.readU32(q.statusPage)).toBe(9);
  });
});
