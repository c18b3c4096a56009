import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FailInjector } from '../src/hostiommu/fail-nth.js';
import { HostPages, hostRam, PAGE } from '../src/hostiommu/host-pages.js';
import { PERM, SsPageTable } from '../src/hostiommu/ss-table.js';
import { Ioas, PinAccount, type IoasDomain } from '../src/hostiommu/ioas.js';
import type { Errno } from '../src/hostiommu/errors.js';
import { hostErrorOf } from '../src/hostiommu/testing.js';
import { ArrayGuestMemory } from '../src/tables/guest-ram.js';
import { decodeSsPte } from '../src/vtd/spec/ss-pte.js';

function expectErr(fn: () => unknown, errno: Errno, what?: string): void {
  const e = hostErrorOf(fn);
  expect(e.errno).toBe(errno);
  if (what) expect(e.message).toContain(what);
}

const TB = 0x100_0000n;
function pages(n = 256, inj = new FailInjector()): HostPages {
  const mem = new ArrayGuestMemory(TB, n * 4096);
  return new HostPages(hostRam(mem), TB, TB + BigInt(n) * PAGE, inj);
}

describe('SsPageTable (host second stage, §9.8)', () => {
  it('maps 4 KiB and 2 MiB leaves with R/W bits the firmware-tests decoder reads back', () => {
    const p = pages();
    const t = new SsPageTable(p, 4);
    t.map(0x20_0000n, 0x4000_0000n, 0x20_1000n, PERM.READ | PERM.WRITE);
    expect(t.lookup(0x20_0123n)).toEqual({ hpa: 0x4000_0123n, perms: 3, pageLg2: 21 });
    expect(t.lookup(0x40_0fffn)).toEqual({ hpa: 0x4020_0fffn, perms: 3, pageLg2: 12 });
    expect(t.lookup(0x40_1000n)).toBeUndefined();
    t.map(0x1000n, 0x9000n, 0x1000n, PERM.READ);
    expect(t.lookup(0x1008n)).toEqual({ hpa: 0x9008n, perms: 1, pageLg2: 12 });
    // the leaf as the spec encodes it
    const l3 = p.mem.readU64(t.root) & ~0xfffn;
    const l2 = p.mem.readU64(l3) & ~0xfffn;
    const pde = decodeSsPte(p.mem.readU64(l2 + 8n));
    expect(pde).toMatchObject({ R: true, W: true, PS: true });
  });

  it('unmap frees tables that become empty; the root stays', () => {
    const p = pages();
    const t = new SsPageTable(p, 4);
    const base = p.allocated;
    t.map(0x8000_0000n, 0x1000n, 0x3000n, PERM.READ);
    expect(p.allocated).toBe(base + 3);
    t.unmap(0x8000_0000n, 0x3000n);
    expect(p.allocated).toBe(base);
    expect(t.tablePages).toBe(1);
    t.destroy();
    expect(p.allocated).toBe(0);
  });

  it('rejects overlap (EEXIST), misalignment and empty permissions (EINVAL), ranges above the table (EINVAL)', () => {
    const t = new SsPageTable(pages(), 3);
    t.map(0n, 0n, 0x20_0000n, PERM.READ);
    expectErr(() => t.map(0x1000n, 0x1000n, 0x1000n, PERM.READ), 'EEXIST', 'leaf');
    expectErr(() => t.map(0x40_0800n, 0n, 0x1000n, PERM.READ), 'EINVAL', 'aligned');
    expectErr(() => t.map(0x40_0000n, 0n, 0x1000n, 0), 'EINVAL', 'perms');
    expectErr(() => t.map(1n << 39n, 0n, 0x1000n, PERM.READ), 'EINVAL', 'above');
  });

  it('a table-page allocation failure mid-map leaves no pages and no leaves behind', () => {
    const inj = new FailInjector();
    const p = pages(256, inj);
    const t = new SsPageTable(p, 4);
    const base = p.allocated;
    for (let n = 1; n <= 4; n++) {
      inj.failAt(n);
      expectErr(() => t.map(0x3fe000n, 0x1000n, 0x4000n, PERM.READ), 'ENOMEM', 'injected');
      expect(p.allocated).toBe(base);
      expect(t.lookup(0x3fe000n)).toBeUndefined();
    }
    inj.reset();
  });

  it('lookup agrees with a reference map over random map/unmap sequences', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(63), fc.integer({ min: 1, max: 8 }), fc.boolean()), { maxLength: 30 }), (ops) => {
      const p = pages(512);
      const t = new SsPageTable(p, 4, 12);
      const ref = new Map<bigint, bigint>();
      const live: [bigint, bigint][] = [];
      for (const [slot, n, unmap] of ops) {
        const iova = BigInt(slot) * 0x10_0000n;
        const len = BigInt(n) * PAGE;
        const hit = live.findIndex(([s]) => s === iova);
        if (unmap && hit >= 0) {
          t.unmap(iova, live[hit]![1]);
          for (let a = iova; a < iova + live[hit]![1]; a += PAGE) ref.delete(a);
          live.splice(hit, 1);
        } else if (hit < 0) {
          t.map(iova, iova + 0x1_0000_0000n, len, PERM.READ);
          for (let a = iova; a < iova + len; a += PAGE) ref.set(a, a + 0x1_0000_0000n);
          live.push([iova, len]);
        }
      }
      for (let s = 0n; s < 64n * 0x10_0000n; s += 0x10_0000n) {
        for (let a = s; a < s + 9n * PAGE; a += PAGE) expect(t.lookup(a)?.hpa).toBe(ref.get(a));
      }
      for (const [s, l] of live) t.unmap(s, l);
      expect(p.allocated).toBe(1);
    }), { numRuns: 40 });
  });
});

function ioas(limitPages = 1 << 20, inj = new FailInjector()): { io: Ioas; acct: PinAccount } {
  const acct = new PinAccount('vm', limitPages);
  return { io: new Ioas(acct, inj, (h, l) => h + l <= 1n << 40n), acct };
}

/** A domain that records what it holds (as a HWPT would mirror it). */
function recordingDomain(limit = 1n << 48n, failOnMap = -1): IoasDomain & { held: Map<bigint, bigint> } {
  let calls = 0;
  const held = new Map<bigint, bigint>();
  return {
    limit,
    held,
    map(iova, hpa, len) {
      if (++calls === failOnMap) throw new Error('domain map failed');
      held.set(iova, len);
      void hpa;
    },
    unmap(iova) {
      held.delete(iova);
    },
  };
}

describe('IOAS', () => {
  it('maps at a fixed IOVA and at allocated ones (lowest hole, 2 MiB aligned when it can)', () => {
    const { io } = ioas();
    expect(io.map({ iova: 0n, hpa: 0x1000n, len: 0x2000n })).toBe(0n);
    expect(io.map({ hpa: 0x10_0000n, len: 0x1000n })).toBe(0x2000n);
    expect(io.map({ hpa: 0x20_0000n, len: 0x20_0000n })).toBe(0x20_0000n);
    expect(io.lookup(0x2010n)).toBe(0x10_0010n);
    expect(io.mappings.map((a) => a.iova)).toEqual([0n, 0x2000n, 0x20_0000n]);
  });

  it('map errors: EEXIST overlap, EINVAL length/perms/reserved, EOPNOTSUPP unknown perms, EOVERFLOW wrap, EFAULT outside host memory', () => {
    const { io } = ioas();
    io.map({ iova: 0x10_000n, hpa: 0n, len: 0x2000n });
    expectErr(() => io.map({ iova: 0x11_000n, hpa: 0n, len: 0x1000n }), 'EEXIST', 'iova');
    expectErr(() => io.map({ hpa: 0n, len: 0n }), 'EINVAL', 'len');
    expectErr(() => io.map({ hpa: 0n, len: 0x1000n, perms: 0 }), 'EINVAL', 'perms');
    expectErr(() => io.map({ hpa: 0n, len: 0x1000n, perms: 1.5 }), 'EINVAL', 'perms');
    expectErr(() => io.map({ hpa: 0n, len: 0x1000n, perms: 4 }), 'EOPNOTSUPP', 'perms');
    expectErr(() => io.map({ hpa: 1n << 40n, len: 0x1000n }), 'EFAULT', 'hpa');
    expectErr(() => io.map({ hpa: -1n, len: 0x1000n }), 'EINVAL', 'hpa');
    expectErr(() => io.map({ hpa: 0n, len: 0x1000n, iova: 'x' as unknown as bigint }), 'EINVAL', 'iova');
    expectErr(() => io.map({ iova: (1n << 64n) - 0x1000n, hpa: 0n, len: 0x2000n }), 'EOVERFLOW', 'iova');
    expectErr(() => io.map({ iova: (1n << 64n) - 1n, hpa: 0n, len: 1n }), 'EOVERFLOW', 'iova');
    io.reserve(io, 'test', 0x40_0000n, 0x40_0fffn);
    expectErr(() => io.map({ iova: 0x3f_f000n, hpa: 0n, len: 0x2000n }), 'EINVAL', 'reserved');
    expect(io.mappings).toHaveLength(1);
  });

  it('without a domain the IOVA alignment is one byte; a domain makes it 4 KiB and refuses unaligned areas (EADDRINUSE)', () => {
    const { io } = ioas();
    expect(io.iovaAlignment).toBe(1n);
    io.map({ iova: 0x800n, hpa: 0x10n, len: 0x10n });
    expectErr(() => io.addDomain(recordingDomain()), 'EADDRINUSE', 'aligned');
    expect(io.unmap(0x800n, 0x10n)).toBe(0x10n);
    io.addDomain(recordingDomain());
    expect(io.iovaAlignment).toBe(0x1000n);
    expectErr(() => io.map({ iova: 0x800n, hpa: 0n, len: 0x1000n }), 'EINVAL', 'iova');
    expectErr(() => io.map({ iova: 0x1000n, hpa: 0n, len: 0x800n }), 'EINVAL', 'len');
    expectErr(() => io.map({ iova: 0x1000n, hpa: 0x10n, len: 0x1000n }), 'EINVAL', 'hpa');
  });

  it('pins against the owner limit: ENOMEM over it, pages come back on unmap', () => {
    const { io, acct } = ioas(4);
    io.map({ iova: 0n, hpa: 0n, len: 0x3000n });
    expect(acct.pinned).toBe(3);
    expectErr(() => io.map({ hpa: 0n, len: 0x2000n }), 'ENOMEM', 'limit of 4');
    expect(acct.pinned).toBe(3);
    expect(io.unmap(0n, 0x3000n)).toBe(0x3000n);
    expect(acct.pinned).toBe(0);
  });

  it('unmap: ENOENT on nothing mapped or when cutting a mapping (nothing is unmapped then), whole areas otherwise', () => {
    const { io } = ioas();
    io.map({ iova: 0x1000n, hpa: 0n, len: 0x2000n });
    io.map({ iova: 0x8000n, hpa: 0n, len: 0x1000n });
    expectErr(() => io.unmap(0x4000n, 0x1000n), 'ENOENT', 'nothing is mapped');
    expectErr(() => io.unmap(0x2000n, 0x1000n), 'ENOENT', 'cuts');
    expectErr(() => io.unmap(0n, 0x8800n), 'ENOENT', 'cuts'); // the first area would fit, the last is cut
    expect(io.mappings).toHaveLength(2);
    expectErr(() => io.unmap(0n, 0n), 'EINVAL', 'len');
    expectErr(() => io.unmap(0x1000n, (1n << 64n) - 0x800n), 'EOVERFLOW', 'iova');
    expect(io.unmap(0n, 0x10000n)).toBe(0x3000n);
    expect(io.mappings).toHaveLength(0);
    expect(io.unmap(0n, (1n << 64n) - 1n)).toBe(0n); // "unmap everything" succeeds on an empty IOAS
  });

  it('version counts every change of the areas, and nothing else (a refused map or unmap leaves it)', () => {
    const { io } = ioas(4);
    const v0 = io.version;
    io.map({ iova: 0x1000n, hpa: 0n, len: 0x2000n });
    const v1 = io.version;
    expect(v1).toBeGreaterThan(v0);
    expectErr(() => io.map({ iova: 0x2000n, hpa: 0n, len: 0x1000n }), 'EEXIST', 'iova');
    expectErr(() => io.map({ hpa: 0n, len: 0x3000n }), 'ENOMEM', 'limit of 4');
    expectErr(() => io.unmap(0x2000n, 0x1000n), 'ENOENT', 'cuts');
    void io.mappings;
    expect(io.version).toBe(v1);
    io.unmap(0x1000n, 0x2000n);
    expect(io.version).toBeGreaterThan(v1);
    const v2 = io.version;
    io.map({ iova: 0x1000n, hpa: 0n, len: 0x2000n }); // the same area again: still a change
    expect(io.version).toBeGreaterThan(v2);
  });

  it('copy maps the same pages again without charging pins twice', () => {
    const a = ioas(8);
    const b = new Ioas(a.acct, new FailInjector(), () => true);
    a.io.map({ iova: 0x10000n, hpa: 0x50000n, len: 0x2000n });
    a.io.map({ iova: 0x12000n, hpa: 0x90000n, len: 0x1000n, perms: PERM.READ });
    expect(b.copy(a.io, 0x11000n, 0x2000n, 0x4000n)).toBe(0x4000n);
    expect(b.lookup(0x4000n)).toBe(0x51000n);
    expect(b.lookup(0x5000n)).toBe(0x90000n);
    expect(a.acct.pinned).toBe(3);
    expect(b.pinnedPages).toBe(3); // the pages objects it uses, whole
    a.io.unmapAll();
    expect(a.acct.pinned).toBe(3); // both pinned ranges stay, still charged once, while the copy uses them
    b.unmapAll();
    expect(a.acct.pinned).toBe(0);
  });

  it('copy errors: ENOENT over a hole, EPERM writing read-only pages, EINVAL misalignment, EEXIST at the destination', () => {
    const src = ioas().io;
    const dst = ioas().io;
    src.map({ iova: 0n, hpa: 0n, len: 0x1000n, perms: PERM.READ });
    dst.map({ iova: 0x5000n, hpa: 0n, len: 0x1000n });
    expectErr(() => dst.copy(src, 0n, 0x2000n), 'ENOENT', 'srcIova');
    expectErr(() => dst.copy(src, 0n, 0x1000n, undefined, PERM.WRITE), 'EPERM', 'read-only');
    expectErr(() => dst.copy(src, 0n, 0n), 'EINVAL', 'len');
    expectErr(() => dst.copy(src, 0n, 0x1000n, 0x5000n), 'EEXIST', 'iova');
    dst.addDomain(recordingDomain());
    expectErr(() => dst.copy(src, 0x10n, 0x800n), 'EINVAL', 'len');
    expect(dst.mappings).toHaveLength(1);
  });

  it('IOVA allocation avoids reserved regions; a fixed map into one is EINVAL; ENOSPC when full', () => {
    const { io } = ioas();
    const dev = {};
    io.reserve(dev, 'dev', 0x1000n, 0x1fffn);
    expect(io.map({ hpa: 0n, len: 0x1000n })).toBe(0x2000n);
    expectErr(() => io.map({ iova: 0x1000n, hpa: 0n, len: 0x1000n }), 'EINVAL', 'reserved');
    expectErr(() => io.reserve({}, 'dev2', 0x2000n, 0x2fffn), 'EADDRINUSE', 'dev2');
    io.unreserve(dev);
    expect(io.map({ iova: 0n, hpa: 0n, len: 0x1000n })).toBe(0n);
    io.addDomain(recordingDomain(0x4000n)); // IOVAs from 0x4000 up are outside its aperture
    expectErr(() => io.map({ hpa: 0n, len: 0x2000n }), 'ENOSPC', 'len'); // 0x2000 free bytes, but not 0x2000-aligned together
    expect(io.map({ hpa: 0n, len: 0x1000n })).toBe(0x1000n);
    expect(io.map({ hpa: 0n, len: 0x1000n })).toBe(0x3000n);
    expectErr(() => io.map({ hpa: 0n, len: 0x1000n }), 'ENOSPC', 'len');
  });

  it('mirrors maps into every domain; a failing domain rolls the map back everywhere', () => {
    const { io, acct } = ioas();
    const d1 = recordingDomain();
    const d2 = recordingDomain(1n << 48n, 2);
    io.map({ iova: 0n, hpa: 0n, len: 0x1000n });
    io.addDomain(d1);
    io.addDomain(d2);
    expect([...d1.held.keys()]).toEqual([0n]);
    expect(() => io.map({ iova: 0x1000n, hpa: 0n, len: 0x1000n })).toThrow('domain map failed');
    expect(d1.held.has(0x1000n)).toBe(false);
    expect(io.mappings).toHaveLength(1);
    expect(acct.pinned).toBe(1);
    io.map({ iova: 0x2000n, hpa: 0n, len: 0x1000n });
    expect(d2.held.has(0x2000n)).toBe(true);
    io.removeDomain(d1);
    expect(d1.held.size).toBe(0);
  });

  it('addDomain refuses a domain whose aperture excludes a mapping (EADDRINUSE) and rolls back a failed fill', () => {
    const { io } = ioas();
    io.map({ iova: 1n << 40n, hpa: 0n, len: 0x1000n });
    expectErr(() => io.addDomain(recordingDomain(1n << 39n)), 'EADDRINUSE', 'aperture');
    expect(io.space.usableRanges()).toEqual([{ start: 0n, last: (1n << 64n) - 1n }]);
    io.map({ iova: 0n, hpa: 0n, len: 0x1000n });
    const d = recordingDomain(1n << 48n, 2);
    expect(() => io.addDomain(d)).toThrow('domain map failed');
    expect(d.held.size).toBe(0);
  });

  it('an injected failure while pinning charges nothing', () => {
    const inj = new FailInjector();
    const { io, acct } = ioas(100, inj);
    inj.failAt(1);
    expectErr(() => io.map({ hpa: 0n, len: 0x1000n }), 'ENOMEM', 'pin pages');
    expect(acct.pinned).toBe(0);
    expect(io.mappings).toHaveLength(0);
  });
});
