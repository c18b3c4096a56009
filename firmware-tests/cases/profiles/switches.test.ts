/**
 * Both sides of every profile switch (docs/PROFILES.md): the same guest
 * program, written only as MMIO and guest-RAM accesses, runs on the default
 * (spec) profile and on a `qemu-*` profile, and the two observable results
 * differ the way the switch says. QEMU's side is also pinned by the recorded
 * scenarios (host/tests/profile-switch-evidence.test.ts); here the spec's
 * side is the point.
 */
import { describe, expect, it } from 'vitest';
import { PGTT, PageTableBuilder, decodeFsPte, encodeContextEntry, encodeSmContextEntry, readWords, writeWords } from '../../lib/tables.js';
import type { Testbed } from '../../lib/testbed.js';
import { GuestQueue, D, IQERCD, FSTS_IQE } from '../invalidation/qi-guest.js';
import {
  DEV, FS_RW, SID, SS_RO, SS_RW, attachSm, boot, buf64, dmaRead, dmaWrite, type ProfileName,
} from './profile-guest.js';

const FS_OPTS = { scalableMode: true, awBits: 48, firstStage: true } as const;
const SM_OPTS = { scalableMode: true, awBits: 48 } as const;
const LEGACY = { scalableMode: false, awBits: 39 } as const;
const V = 0x4000_0000n; // first-stage IOVA (canonical, below the reference DMA mask)

/** Runs `program` on each profile (fresh machine) and returns the results by profile. */
async function onEach<T>(profiles: readonly ProfileName[], opts: object, program: (tb: Testbed) => T): Promise<Record<string, T>> {
  const out: Record<string, T> = {};
  for (const p of profiles) out[p] = program(await boot(p, opts));
  return out;
}

/** Puts the 8-byte value `v` at `gpa`. */
const put = (tb: Testbed, gpa: bigint, v: bigint): void => tb.m.ram.writeU64(gpa, v);

describe('first stage (default vs qemu-10.0)', () => {
  it('FS_AD_IF_A_CLEAR: a write to an already-accessed page sets D on default, never on qemu-10.0', async () => {
    const r = await onEach(['default', 'qemu-10.0'], FS_OPTS, (tb) => {
      const g = tb.guest('scalable');
      const { fs } = attachSm(g, { did: 3, pgtt: PGTT.FIRST_STAGE });
      fs.map(V, 0x30_0000n, 12, FS_RW);
      g.start();
      expect(dmaRead(tb, g, V).ok).toBe(true); // leaf gets A
      g.drv.iotlbInvalidateDomain(3); // the write walks again
      expect(dmaWrite(tb, g, V).ok).toBe(true);
      return decodeFsPte(fs.readEntry(V, 0)!);
    });
    expect(r['default']).toMatchObject({ A: true, D: true });
    expect(r['qemu-10.0']).toMatchObject({ A: true, D: false });
  });

  it('FS_ALL_USER: a supervisor request (RID_PRIV, SRE) to a U/S=0 page succeeds on default, faults 0x81 on qemu-10.0', async () => {
    // Requests without PASID take their privilege from the context entry's RID_PRIV (§9.4).
    const r = await onEach(['default', 'qemu-10.0'], FS_OPTS, (tb) => {
      const g = tb.guest('scalable');
      const { fs } = attachSm(g, { did: 3, pgtt: PGTT.FIRST_STAGE, ridPriv: true, sre: true });
      fs.map(V, 0x30_0000n, 12, FS_RW & ~4n); // U/S = 0: supervisor only
      g.start();
      return dmaRead(tb, g, V);
    });
    expect(r['default']).toMatchObject({ ok: true, records: 0 });
    expect(r['qemu-10.0']).toMatchObject({ ok: false, reason: 0x81, pp: true, pv: 0 });
  });

  it('FS_ALL_USER: without SRE the spec refuses the supervisor request (0x5D); qemu-10.0 never checks', async () => {
    const r = await onEach(['default', 'qemu-10.0'], FS_OPTS, (tb) => {
      const g = tb.guest('scalable');
      const { fs } = attachSm(g, { did: 3, pgtt: PGTT.FIRST_STAGE, ridPriv: true, sre: false });
      fs.map(V, 0x30_0000n, 12, FS_RW);
      g.start();
      return dmaRead(tb, g, V);
    });
    expect(r['default']).toMatchObject({ ok: false, reason: 0x5d });
    expect(r['qemu-10.0']).toMatchObject({ ok: true, records: 0 });
  });

  it('NO_PASID_CACHE: default uses the cached PASID entry until a PASID-cache invalidation; qemu-10.0 reads it every time', async () => {
    const r = await onEach(['default', 'qemu-10.0'], FS_OPTS, (tb) => {
      const g = tb.guest('scalable');
      const dev = attachSm(g, { did: 3, pgtt: PGTT.FIRST_STAGE });
      dev.fs.map(V, 0x30_0000n, 12, FS_RW);
      put(tb, 0x30_0000n, 0xaaaa_aaaan);
      put(tb, 0x31_0000n, 0xbbbb_bbbbn);
      g.start();
      const q = new GuestQueue(g.env, { wide: true });
      q.enable();
      const seen: bigint[] = [];
      const look = (): void => void seen.push(dmaRead(tb, g, V).ok ? buf64(tb) : -1n);
      look();
      // A second first-stage table maps V elsewhere; the PASID entry now names it.
      const other = new PageTableBuilder(g.env.mem, g.env.alloc, { stage: 'fs', levels: 4 });
      other.map(V, 0x31_0000n, 12, FS_RW);
      dev.setEntry({ pgtt: PGTT.FIRST_STAGE, fsRoot: other.rootPointer });
      expect(q.submitSync([D.iotlb(2, 3)])).toBe(true); // IOTLB only
      look();
      expect(q.submitSync([D.pc(1, 3, 0), D.piotlb(2, 3, 0)])).toBe(true); // §6.5.2.2 PASID cache, then PASID-IOTLB
      look();
      return seen;
    });
    expect(r['default']).toEqual([0xaaaa_aaaan, 0xaaaa_aaaan, 0xbbbb_bbbbn]);
    expect(r['qemu-10.0']).toEqual([0xaaaa_aaaan, 0xbbbb_bbbbn, 0xbbbb_bbbbn]);
  });

  it('NO_PDIR_FPD: FPD in a not-present PASID directory entry suppresses the fault on default; QEMU records 0x51', async () => {
    const r = await onEach(['default', 'qemu-10.0'], FS_OPTS, (tb) => {
      const g = tb.guest('scalable');
      const dev = attachSm(g, { did: 3, pgtt: PGTT.FIRST_STAGE });
      put(tb, dev.dirEntry, 0x2n); // P=0, FPD=1 (§9.5)
      g.start();
      return dmaRead(tb, g, V);
    });
    expect(r['default']).toMatchObject({ ok: false, records: 0 });
    expect(r['qemu-10.0']).toMatchObject({ ok: false, reason: 0x51, pp: false });
  });
});
