/**
 * Second-stage rights are checked at every level as the walk goes (§3.7;
 * QEMU's vtd_iova_to_slpte does the same): an upper entry lacking the
 * requested right faults there, before the walk reads the next table.
 * Spec order per entry: not present -> reserved bits -> rights -> descend;
 * QUIRK.SS_PERM_BEFORE_RSVD swaps the middle two. Run on the reference and
 * (when built) the core. Fuzz finding ss-read-permission-before-reserved.
 */
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../../host/src/tables/page-allocator.js';
import { defaultCaps } from './reference/config.js';
import { ACC, FR, QUIRK } from './reference/constants.js';
import { FORMATS, SID, buildFixture, fixturePasid } from './helpers/formats.js';
import { RAM_BASE, RAM_SIZE, ReferenceTarget, TABLES_START, show, type Target } from './helpers/targets.js';
import { loadCoreTarget } from './helpers/core-target.js';

const core = await loadCoreTarget();
const targets: Target[] = [new ReferenceTarget(), ...(core ? [core] : [])];
const IOVA = 0x4000_0000n;
/** A page-aligned address past the end of RAM (below every HAW). */
const OUTSIDE_RAM = RAM_BASE + BigInt(RAM_SIZE) + 0x10_0000n;

interface Case {
  name: string;
  /** Bits 1:0 of the level-1 (non-leaf) entry. */
  rw: bigint;
  /** Level-1 entry points outside RAM. */
  outside: boolean;
  /** Level-1 entry has bit 62 (reserved) set. */
  rsvd: boolean;
  access: number;
  quirks: number;
  /** Expected fault: legacy and scalable (second-stage only) formats. */
  legacy: number;
  scalable: number;
}

const CASES: Case[] = [
  { name: 'R=0 upper entry, next table outside RAM, read', rw: 2n, outside: true, rsvd: false, access: ACC.READ, quirks: 0, legacy: FR.READ, scalable: FR.SGN_READ },
  { name: 'W=0 upper entry, next table outside RAM, write', rw: 1n, outside: true, rsvd: false, access: ACC.WRITE, quirks: 0, legacy: FR.WRITE, scalable: FR.SGN_WRITE },
  { name: 'R=1 upper entry, next table outside RAM, read', rw: 1n, outside: true, rsvd: false, access: ACC.READ, quirks: 0, legacy: FR.SS_ENTRY_UNREADABLE, scalable: FR.SSL_UNREADABLE },
  { name: 'R=0 upper entry with a reserved bit (spec: reserved first)', rw: 2n, outside: false, rsvd: true, access: ACC.READ, quirks: 0, legacy: FR.SS_ENTRY_RSVD, scalable: FR.SSL_RSVD },
  { name: 'R=0 upper entry with a reserved bit (QEMU: rights first)', rw: 2n, outside: false, rsvd: true, access: ACC.READ, quirks: QUIRK.SS_PERM_BEFORE_RSVD, legacy: FR.READ, scalable: FR.SGN_READ },
];

describe.each(['legacy-ss4', 'sm-ss4'])('%s', (format) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    for (const t of targets) {
      t.reset(defaultCaps({ quirks: c.quirks }), { rta: 0n, ttm: 0, enabled: true });
      const f = buildFixture(t.mem, new PageAllocator(t.mem, TABLES_START, RAM_BASE + BigInt(RAM_SIZE)), FORMATS.find((x) => x.name === format)!);
      f.table!.map(IOVA, 0x20_0000n, 12, f.leaf.rw);
      const e = f.table!.readEntry(IOVA, 1)!;
      let upper = (e & ~3n) | c.rw;
      if (c.outside) upper = (upper & 0xfffn) | OUTSIDE_RAM;
      if (c.rsvd) upper |= 1n << 62n;
      f.table!.writeEntry(IOVA, 1, upper);
      t.setRoot(f.root);
      const o = t.translate({ sid: SID, pasid: fixturePasid(f), iova: IOVA, access: c.access | f.baseAccess });
      expect(o.status, `${t.name}: ${show(o)}`).toBe(format.startsWith('legacy') ? c.legacy : c.scalable);
    }
  });
});
