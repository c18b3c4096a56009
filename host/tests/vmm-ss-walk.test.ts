import { describe, expect, it } from 'vitest';
import { GuestMemory } from '../src/core/guest-memory.js';
import { loadCore } from '../src/core/load-node.js';
import { ssFault, ssRuns, type SsLimits } from '../src/vmm/ss-walk.js';

// The VMM's guest second-stage walk (vmm/ss-walk.ts) against the reserved
// rules of VT-d §9.8, entry by entry: a present entry with a reserved bit is
// never mapped (ssRuns) and faults 'reserved' (ssFault), at every level.
const LIMITS: SsLimits = { haw: 39, sslps: 1, snoopControl: false }; // 2 MiB leaves only, no SNP
const TOP = 0x100; // L3 table page; L2 0x101, L1 0x102, L0 0x103
const entry = (page: number, flags: number): bigint => (BigInt(page) << 12n) | BigInt(flags);

async function tables(): Promise<{ mem: GuestMemory; set: (table: number, i: number, v: bigint) => void }> {
  const core = await loadCore();
  core.addRam(0, 16 << 20);
  const mem = new GuestMemory(core);
  const set = (table: number, i: number, v: bigint): void => mem.writeU64(BigInt(table * 4096 + i * 8), v);
  set(TOP, 0, entry(0x101, 3));
  set(0x101, 0, entry(0x102, 3));
  set(0x102, 0, entry(0x103, 3));
  set(0x103, 0, entry(0x200, 3)); // IOVA page 0: a good leaf
  return { mem, set };
}

/** [IOVA page, GPA page, pages, perms] of every run of the whole domain. */
const runsOf = (mem: GuestMemory) => ssRuns(mem, TOP, 4, 0, 512 ** 4, LIMITS, { left: 1e6 })!.map((r) => [r.iova, r.gpa, r.pages, r.perms]);

describe('ss-walk reserved entries (§9.8)', () => {
  const cases: [string, number, number, bigint, number][] = [
    // [what, table, index, entry, IOVA page it would map]
    ['bit 62 in a leaf', 0x103, 1, entry(0x201, 3) | (1n << 62n), 1],
    ['an address at or above the host address width', 0x103, 2, entry(2 ** 27, 3), 2],
    ['SNP in a leaf without ECAP.SC', 0x103, 3, entry(0x203, 3) | 0x800n, 3],
    ['SNP in a non-leaf entry', 0x102, 1, entry(0x104, 3) | 0x800n, 512],
    ['PS at the 1 GiB level without CAP.SSLPS bit 1', 0x101, 1, entry(0x4_0000, 3) | 0x80n, 512 * 512],
    ['a 2 MiB leaf whose address is not 2 MiB aligned', 0x102, 2, entry(0x1001, 3) | 0x80n, 2 * 512],
    ['PS at the top level', TOP, 1, entry(0x8_0000, 3) | 0x80n, 512 ** 3],
  ];
  for (const [what, table, i, v, page] of cases) {
    it(`${what}: not mapped, faults 'reserved'`, async () => {
      const { mem, set } = await tables();
      set(table, i, v);
      expect(runsOf(mem)).toEqual([[0, 0x200, 1, 3]]);
      expect(ssFault(mem, TOP, 4, page, false, LIMITS)).toBe('reserved');
      expect(ssFault(mem, TOP, 4, 0, true, LIMITS)).toBeUndefined();
    });
  }

  it('the same entries without the reserved bit are mapped (a 2 MiB leaf as 512 pages)', async () => {
    const { mem, set } = await tables();
    set(0x103, 1, entry(0x201, 1));
    set(0x102, 2, entry(0x1000, 3) | 0x80n);
    expect(runsOf(mem)).toEqual([[0, 0x200, 1, 3], [1, 0x201, 1, 1], [1024, 0x1000, 512, 3]]);
    expect(ssFault(mem, TOP, 4, 1, true, LIMITS)).toBe('write');
    expect(ssFault(mem, TOP, 4, 1024 + 7, true, LIMITS)).toBeUndefined();
  });
});
