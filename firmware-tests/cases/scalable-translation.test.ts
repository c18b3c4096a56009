/**
 * Guest-driver suite: scalable-mode translation (§3.6-3.8, §9.2-9.7) for
 * requests without PASID through the RID_PASID entry: second stage (PGTT=2),
 * first stage (PGTT=1, with A/D updates), nested (PGTT=3) and pass-through
 * (PGTT=4). Default (spec) profile.
 */
import { describe, expect, it } from 'vitest';
import { bootTestbed, sidOf, type Testbed } from '../lib/testbed.js';
import { TABLE_POOL } from '../../host/src/guest/machine-env.js';
import { decodeFsPte, encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { PGTT } from '../../host/src/vtd/spec/pasid-entry.js';
import { encodeSsPte } from '../../host/src/vtd/spec/ss-pte.js';

const SS_RW = encodeSsPte({ R: true, W: true });
const FS_RW = encodeFsPte({ P: true, RW: true, US: true });
const FS_RO = encodeFsPte({ P: true, US: true });

async function scalable(): Promise<Testbed> {
  return bootTestbed({ profile: 'default', iommu: { scalableMode: true, awBits: 48 } });
}

function roundTrip(tb: Testbed, slot: number, iova: bigint, gpa: bigint, seed: number): void {
  const want = tb.pattern(gpa, 32, seed);
  expect(tb.dev(slot).read(iova, 32)).toEqual({ ok: true });
  expect([...tb.dev(slot).buffer().subarray(0, 32)]).toEqual([...want]);
  tb.dev(slot).buffer().fill(0xe7, 0, 8);
  expect(tb.dev(slot).write(iova + 32n, 8)).toEqual({ ok: true });
  expect([...tb.m.ram.read(gpa + 32n, 8)]).toEqual(new Array(8).fill(0xe7));
}

describe('scalable-mode translation (default profile)', () => {
  it('second stage through the RID_PASID entry (PGTT=2), 4 KiB and 2 MiB', async () => {
    const tb = await scalable();
    const g = tb.guest('scalable');
    const { ss } = g.attachScalable(sidOf(3), { did: 5, pgtt: PGTT.SECOND_STAGE, ssLevels: 4 });
    ss!.map(0x1000n, 0x30_0000n, 12, SS_RW);
    ss!.map(0x20_0000n, 0x60_0000n, 21, SS_RW);
    expect(g.start() >>> 0).toBe(0xc000_0000);
    roundTrip(tb, 3, 0x1000n, 0x30_0000n, 1);
    roundTrip(tb, 3, 0x2f_f000n, 0x6f_f000n, 2);
  });

  it('first stage (PGTT=1): 4-level x86 tables, Accessed on every level, Dirty on a written leaf', async () => {
    const tb = await scalable();
    const g = tb.guest('scalable');
    const { fs } = g.attachScalable(sidOf(3), { did: 6, pgtt: PGTT.FIRST_STAGE });
    fs!.map(0x7000_0000_0000n, 0x30_0000n, 12, FS_RW);
    fs!.map(0x7000_0000_1000n, 0x31_0000n, 12, FS_RO);
    g.start();
    roundTrip(tb, 3, 0x7000_0000_0000n, 0x30_0000n, 3);
    const leaf = decodeFsPte(fs!.readEntry(0x7000_0000_0000n, 0)!);
    expect(leaf.A).toBe(true);
    expect(leaf.D).toBe(true);
    for (let level = 1; level < 4; level++) expect(decodeFsPte(fs!.readEntry(0x7000_0000_0000n, level)!).A).toBe(true);
    expect(tb.dev(3).read(0x7000_0000_1000n, 8).ok).toBe(true);
    expect(decodeFsPte(fs!.readEntry(0x7000_0000_1000n, 0)!).D).toBe(false);
    expect(tb.dev(3).write(0x7000_0000_1000n, 8)).toMatchObject({ ok: false });
    expect(g.drv.readFaults()).toMatchObject([{ addr: 0x7000_0000_1000n, read: false }]);
  });

  it('nested (PGTT=3): first-stage tables and output go through the second stage', async () => {
    const tb = await scalable();
    const g = tb.guest('scalable');
    const { ss, fs } = g.attachScalable(sidOf(3), { did: 7, pgtt: PGTT.NESTED, ssLevels: 4 });
    // The guest's first-stage tables live in the table pool: map it identity in the second stage.
    for (let a = TABLE_POOL.start; a < TABLE_POOL.end; a += 0x20_0000n) ss!.map(a, a, 21, SS_RW);
    fs!.map(0x5000n, 0x100_0000_0000n, 12, FS_RW); // first-stage output: a guest-physical address
    ss!.map(0x100_0000_0000n, 0x30_0000n, 12, SS_RW); // ... that the second stage maps to RAM
    g.start();
    roundTrip(tb, 3, 0x5000n, 0x30_0000n, 4);
    ss!.unmap(0x100_0000_0000n, 12);
    g.drv.iotlbInvalidateDomain(7);
    expect(tb.dev(3).read(0x5000n, 8).ok).toBe(false);
  });

  it('pass-through (PGTT=4) is identity; a device without a context entry faults', async () => {
    const tb = await scalable();
    const g = tb.guest('scalable');
    g.attachScalable(sidOf(3), { did: 8, pgtt: PGTT.PASS_THROUGH });
    g.start();
    roundTrip(tb, 3, 0x30_0000n, 0x30_0000n, 5);
    expect(tb.dev(4).read(0x30_0000n, 8).ok).toBe(false);
    expect(g.drv.readFaults()).toMatchObject([{ sid: sidOf(4) }]);
  });
});
