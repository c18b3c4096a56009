/**
 * An exception the model catches while serving the guest is a bug, not a
 * guest programming error: it reaches the embedder's `onInternalError` (and
 * so the fuzzer's exception oracle) by construction, beside a log line that
 * says "internal error"; guest programming errors never do.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../src/machine.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import { GuestQueue } from '../src/guest/invalidation-queue.js';
import { GuestIommu } from '../src/guest/guest-iommu.js';

/** §6.5.2.5 device-TLB invalidate for `sid`. */
const devTlb = (sid: number): bigint[] => [0x3n | BigInt(sid) << 32n, 0n];

async function boot() {
  const internal: { where: string; err: unknown }[] = [];
  const logs: string[] = [];
  const m = await createMachine({
    ramMib: 64, devices: [{ bdf: '00:05.0', kind: 'ats' }],
    log: (l) => logs.push(l), onInternalError: (where, err) => internal.push({ where, err }),
  });
  const env = guestEnvFor(m);
  new GuestIommu(env, 'legacy').start();
  const q = new GuestQueue(env);
  q.enable();
  return { m, q, internal, logs };
}

describe('internal errors', () => {
  it('a queued-invalidation handler that throws reaches onInternalError; the queue carries on', async () => {
    const t = await boot();
    t.m.vtd.deviceTlbTarget = () => ({ deviceTlbInvalidate: () => { throw new Error('device model bug'); } });
    expect(t.q.submitSync([devTlb(0x28)])).toBe(true); // the wait after it still completes
    expect(t.internal).toHaveLength(1);
    expect(t.internal[0]!.where).toMatch(/^qi: /);
    expect((t.internal[0]!.err as Error).message).toBe('device model bug');
    expect(t.logs.some((l) => l.startsWith('internal error in qi: '))).toBe(true);
  });

  it('guest programming errors are logged only, never reported as internal errors', async () => {
    const t = await boot();
    t.m.mmioWrite(0xfed9_0000n + 0x84n, 4, 0x10n); // IQH is read-only: ignored, logged
    t.m.mmioWrite(0xfed9_0000n + 0xff0n, 4, 1n); // no register there
    t.q.place([[0xfn, 0n]]); // a reserved descriptor type: IQE
    t.q.ring();
    expect(t.logs.length).toBeGreaterThan(0);
    expect(t.internal).toEqual([]);
  });

  it('onInternalError must be a function', async () => {
    await expect(createMachine({ onInternalError: 1 as never })).rejects.toThrow(/^onInternalError: /);
  });
});
