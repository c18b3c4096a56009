/**
 * fail-nth sweep (iommufd selftest style): a successful setup sequence is
 * run once to count its allocation points, then once per n with the n-th
 * point failing. After each injected failure: the failing call left every
 * counter (objects, pinned pages, PASIDs, table pages, DIDs, bound devices)
 * where it was before the call, and after the caller's cleanup everything
 * is back to the baseline, with the physical IOMMU's root table empty.
 */
import { describe, expect, it } from 'vitest';
import { createTestPlatform, TEST_LAYOUT, type TestPlatform } from '../src/hostiommu/testing.js';
import { isHostIommuError } from '../src/hostiommu/errors.js';
import type { HostIommu } from '../src/hostiommu/host-iommu.js';
import { PERM } from '../src/hostiommu/ss-table.js';

const SID_A = 0x0018;
const SID_B = 0x0120; // bus 1: a second context table
const SID_C = 0x0200; // bus 2

interface State { [k: string]: number }

/** The setup sequence: each step one host API call. */
const STEPS: [string, (c: HostIommu, s: State) => void][] = [
  ['ioas alloc', (c, s) => { s.ioas = c.ioasAlloc(); }],
  ['map fixed 4 MiB', (c, s) => { c.ioasMap(s.ioas!, { iova: 0n, hpa: 0x40_0000n, len: 0x40_0000n }); }],
  ['map allocated', (c, s) => { c.ioasMap(s.ioas!, { hpa: 0x1000n, len: 0x3000n, perms: PERM.READ }); }],
  ['fault queue', (c, s) => { s.fq = c.faultQueueAlloc(); }],
  ['hwpt nest parent', (c, s) => { s.parent = c.hwptAllocPaging(s.ioas!, { nestParent: true, pasid: true }); }],
  ['hwpt paging #2', (c, s) => { s.hp2 = c.hwptAllocPaging(s.ioas!, { faultId: s.fq!, pasid: true }); }],
  ['map with domains', (c, s) => { c.ioasMap(s.ioas!, { iova: 0x8000_0000n, hpa: 0x10_0000n, len: 0x2000n }); }],
  ['ioas #2', (c, s) => { s.ioas2 = c.ioasAlloc(); }],
  ['allow iovas', (c, s) => { c.ioasAllowIovas(s.ioas2!, [{ start: 0x100_0000n, last: 0x1ff_ffffn }]); }],
  ['reserved', (c, s) => { c.ioasAddReserved(s.ioas2!, 0xfe00_0000n, 0x10_0000n); }],
  ['copy', (c, s) => { c.ioasCopy(s.ioas2!, s.ioas!, 0x20_0000n, 0x20_0000n); }],
  ['bind A', (c, s) => { s.devA = c.bindDevice(c.platform.openDevice(SID_A)); }],
  ['attach A', (c, s) => { c.attach(s.devA!, s.hp2!); }],
  ['pasid set', (c, s) => { s.set = c.pasidSetAlloc(4); }],
  ['pasid alloc', (c, s) => { s.pasid = c.pasidAlloc(s.set!); }],
  ['device pasid', (c, s) => { c.devicePasidAlloc(s.devA!, 200); }],
  ['viommu', (c, s) => { s.vi = c.viommuAlloc(s.devA!, s.parent!); }],
  ['vdevice', (c, s) => { c.vdeviceAlloc(s.vi!, s.devA!, 8); }],
  ['hwpt nested', (c, s) => { s.hn = c.hwptAllocNested(s.vi!, { fsptptr: 0x5000n, faultId: s.fq!, pasid: true }); }],
  ['attach A pasid', (c, s) => { c.attach(s.devA!, s.hn!, s.pasid!); }],
  ['replace A', (c, s) => { c.replace(s.devA!, s.parent!); }],
  ['guest pasid', (c, s) => { c.guestPasidMap(1, s.pasid!); }],
  ['bind B', (c, s) => { s.devB = c.bindDevice(c.platform.openDevice(SID_B)); }],
  ['vdevice B', (c, s) => { c.vdeviceAlloc(s.vi!, s.devB!, 9); }],
  ['device pasid B', (c, s) => { c.devicePasidAlloc(s.devB!, 0x45); }],
  ['attach B pasid', (c, s) => { c.attach(s.devB!, s.hn!, 0x45); }],
  ['invalidate', (c, s) => { c.hwptInvalidate(s.hn!, [{ addr: 0n, npages: 1n }]); }],
  ['bind C', (c, s) => { s.devC = c.bindDevice(c.platform.openDevice(SID_C)); }],
  ['attach C to an IOAS (automatic domain)', (c, s) => { c.attach(s.devC!, s.ioas2!); }],
  ['unbind B (its vDEVICE becomes a tombstone)', (c, s) => { c.destroy(s.devB!); }],
];

function platform(): TestPlatform & { ctx: HostIommu } {
  const t = createTestPlatform({ pasidRange: { first: 1, last: 255 } });
  t.platform.addDevice(SID_A, { pasidBits: 8, pri: true });
  t.platform.addDevice(SID_B, { pasidBits: 8, pri: true });
  t.platform.addDevice(SID_C, {});
  return { ...t, ctx: t.platform.createContext('vm1', 4096) };
}

/** Runs STEPS; returns the index of the step that threw (or -1) after checking that step left no trace. */
function runSteps(ctx: HostIommu, t: TestPlatform): number {
  const s: State = {};
  for (let i = 0; i < STEPS.length; i++) {
    const before = t.platform.usage();
    const counts = JSON.stringify(ctx.counts());
    try {
      STEPS[i]![1](ctx, s);
    } catch (e) {
      if (!isHostIommuError(e, 'ENOMEM')) throw e;
      expect(t.platform.usage(), `after failing step "${STEPS[i]![0]}"`).toEqual(before);
      expect(JSON.stringify(ctx.counts())).toBe(counts);
      return i;
    }
  }
  return -1;
}

/** Cleanup by hand, as a VMM would: detach, then destroy in reverse creation order. */
function destroyByHand(ctx: HostIommu): void {
  for (const id of [...Array(64).keys()].reverse()) {
    if (ctx.kindOf(id) !== 'device') continue;
    for (const p of [undefined, 1, 2, 3, 4, 0x45, 200]) {
      try { ctx.detach(id, p); } catch (e) { if (!isHostIommuError(e, 'EINVAL')) throw e; /* a device without PASIDs */ }
    }
  }
  for (let round = 0; round < 8; round++) {
    for (const id of [...Array(64).keys()].reverse()) {
      if (ctx.kindOf(id) === undefined) continue;
      try { ctx.destroy(id); } catch (e) { if (!isHostIommuError(e, 'EBUSY')) throw e; }
    }
  }
}

function expectBaseline(t: TestPlatform): void {
  expect(t.platform.usage()).toEqual({ objects: 0, pinnedPages: 0, pasids: 0, tablePages: 1, dids: 0, boundDevices: 0 });
  for (let off = 0n; off < 4096n; off += 8n) expect(t.mem.readU64(TEST_LAYOUT.tableBase + off)).toBe(0n); // root table empty
}

describe('fail-nth sweep over the setup sequence', () => {
  it('the sequence succeeds without injection and passes many allocation points', () => {
    const t = platform();
    t.injector.failAt(0);
    expect(runSteps(t.ctx, t)).toBe(-1);
    expect(t.injector.reached).toBeGreaterThan(30);
    t.ctx.close();
    expectBaseline(t);
  });

  it('every injected failure unwinds its call completely; cleanup returns to the baseline', () => {
    const dry = platform();
    dry.injector.failAt(0);
    runSteps(dry.ctx, dry);
    const total = dry.injector.reached;
    const failedSteps = new Set<string>();
    for (let n = 1; n <= total; n++) {
      const t = platform();
      t.injector.failAt(n);
      const at = runSteps(t.ctx, t);
      expect(at, `fail-nth ${n} (${t.injector.sites.at(-1)}) must fail some step`).toBeGreaterThanOrEqual(0);
      expect(t.injector.fired).toBe(true);
      failedSteps.add(STEPS[at]![0]);
      t.injector.reset();
      if (n % 2 === 0) t.ctx.close();
      else destroyByHand(t.ctx);
      expectBaseline(t);
    }
    expect(failedSteps.size).toBeGreaterThan(15); // nearly every step has an allocation point
  });
});
