import { describe, expect, it } from 'vitest';
import { FailInjector } from '../src/hostiommu/fail-nth.js';
import { DevicePasidSpace, GlobalPasidSpace, GuestPasidTable, PASID_MAX } from '../src/hostiommu/pasid.js';
import { ERRNO_MEANING, HostIommuError, type Errno } from '../src/hostiommu/errors.js';
import { hostErrorOf } from '../src/hostiommu/testing.js';

/** Expects `fn` to throw a HostIommuError with `errno` whose message names `what`. */
function expectErr(fn: () => unknown, errno: Errno, what?: string): void {
  const e = hostErrorOf(fn);
  expect(e.errno).toBe(errno);
  if (what) expect(e.message).toContain(what);
}

describe('errors', () => {
  it('every errno has its meaning written once and the message starts with the code', () => {
    for (const [k, v] of Object.entries(ERRNO_MEANING)) expect(v.length, k).toBeGreaterThan(5);
    expect(new HostIommuError('EDQUOT', 'x').message).toBe('EDQUOT: x');
  });
});

describe('global PASID space with sets', () => {
  it('allocates distinct PASIDs from 1 up, never 0 (RID_PASID)', () => {
    const g = new GlobalPasidSpace(new FailInjector());
    const s = g.createSet(10, 'vm1');
    const got = Array.from({ length: 10 }, () => s.alloc());
    expect(new Set(got).size).toBe(10);
    expect(got).not.toContain(0);
    expect(g.allocated).toBe(10);
  });

  it('a set over its quota gets EDQUOT while the space still has room', () => {
    const g = new GlobalPasidSpace(new FailInjector(), { first: 1, last: 100 });
    const s = g.createSet(2, 'vm1');
    s.alloc();
    s.alloc();
    expectErr(() => s.alloc(), 'EDQUOT', 'vm1');
    expect(g.createSet(5).alloc()).toBeGreaterThan(0);
  });

  it('an exhausted space gives ENOSPC, distinct from EDQUOT', () => {
    const g = new GlobalPasidSpace(new FailInjector(), { first: 1, last: 3 });
    const a = g.createSet(3, 'a');
    const b = g.createSet(3, 'b');
    a.alloc();
    a.alloc();
    b.alloc();
    expectErr(() => b.alloc(), 'ENOSPC', 'global PASID space');
    expectErr(() => a.alloc(), 'ENOSPC');
  });

  it('tearing down a set frees all its PASIDs for others', () => {
    const g = new GlobalPasidSpace(new FailInjector(), { first: 1, last: 4 });
    const a = g.createSet(4, 'a');
    for (let i = 0; i < 4; i++) a.alloc();
    const b = g.createSet(4, 'b');
    expectErr(() => b.alloc(), 'ENOSPC');
    a.destroy();
    expect(g.allocated).toBe(0);
    expect(g.setCount).toBe(1);
    for (let i = 0; i < 4; i++) b.alloc();
    expectErr(() => a.alloc(), 'ENOENT', 'live set');
    expectErr(() => a.destroy(), 'ENOENT');
  });

  it('a wanted PASID: EEXIST when taken, EINVAL out of range', () => {
    const g = new GlobalPasidSpace(new FailInjector(), { first: 1, last: 50 });
    const a = g.createSet(5, 'a');
    expect(a.alloc(7)).toBe(7);
    expectErr(() => g.createSet(5, 'b').alloc(7), 'EEXIST', 'pasid');
    expectErr(() => a.alloc(0), 'EINVAL', 'pasid');
    expectErr(() => a.alloc(51), 'EINVAL', 'pasid');
    expect(g.ownerOf(7)).toBe(a);
  });

  it('free: ENOENT for a PASID the set does not hold; freed numbers come back', () => {
    const g = new GlobalPasidSpace(new FailInjector(), { first: 1, last: 2 });
    const a = g.createSet(2, 'a');
    const b = g.createSet(2, 'b');
    const p = a.alloc();
    expectErr(() => b.free(p), 'ENOENT', 'not held by b');
    a.free(p);
    expectErr(() => a.free(p), 'ENOENT');
    b.alloc();
    b.alloc();
    expect(g.allocated).toBe(2);
  });

  it('bad quota and range arguments are EINVAL naming them', () => {
    const g = new GlobalPasidSpace(new FailInjector(), { first: 1, last: 8 });
    expectErr(() => g.createSet(0), 'EINVAL', 'quota');
    expectErr(() => g.createSet(9), 'EINVAL', 'quota');
    expectErr(() => new GlobalPasidSpace(new FailInjector(), { first: 5, last: 4 }), 'EINVAL', 'range.last');
    expectErr(() => new GlobalPasidSpace(new FailInjector(), { first: 1, last: PASID_MAX + 1 }), 'EINVAL', 'range.last');
  });

  it('an injected failure allocates nothing', () => {
    const inj = new FailInjector();
    const g = new GlobalPasidSpace(inj, { first: 1, last: 8 });
    const s = g.createSet(8);
    inj.failAt(1);
    expectErr(() => s.alloc(), 'ENOMEM', 'injected');
    expect(g.allocated).toBe(0);
    expect(s.pasids.size).toBe(0);
  });
});

describe('per-device PASID namespaces', () => {
  it('the same number lives on two devices; each space is bounded by the PASID width', () => {
    const inj = new FailInjector();
    const d1 = new DevicePasidSpace(inj, 2);
    const d2 = new DevicePasidSpace(inj, 2);
    expect(d1.alloc(1)).toBe(1);
    expect(d2.alloc(1)).toBe(1);
    d1.alloc();
    d1.alloc();
    expectErr(() => d1.alloc(), 'ENOSPC', 'device PASID space');
    expectErr(() => d2.alloc(4), 'EINVAL', 'pasid');
    d1.free(2);
    expectErr(() => d1.free(2), 'ENOENT');
    expect(d1.alloc()).toBe(2);
    expectErr(() => new DevicePasidSpace(inj, 0), 'EINVAL', 'bits');
  });
});

describe('gPASID -> hPASID table', () => {
  it('maps one to one and rejects a guest PASID mapped twice (EEXIST)', () => {
    const owners = new Map<number, string>();
    const t = new GuestPasidTable('vm1', owners);
    t.map(5, 100);
    expect(t.hostOf(5)).toBe(100);
    expect(t.guestOf(100)).toBe(5);
    expectErr(() => t.map(5, 101), 'EEXIST', 'gpasid');
    expectErr(() => t.map(6, 100), 'EEXIST', 'hpasid');
    expect(t.size).toBe(1);
  });

  it('rejects a host PASID another VM owns (EBUSY) until that VM unmaps it', () => {
    const owners = new Map<number, string>();
    const a = new GuestPasidTable('vm-a', owners);
    const b = new GuestPasidTable('vm-b', owners);
    a.map(1, 200);
    expectErr(() => b.map(1, 200), 'EBUSY', 'vm-a');
    expect(a.unmap(1)).toBe(200);
    b.map(1, 200);
    expectErr(() => a.unmap(1), 'ENOENT', 'gpasid');
    b.clear();
    expect(owners.size).toBe(0);
    expectErr(() => a.map(-1, 3), 'EINVAL', 'gpasid');
    expectErr(() => a.map(1, PASID_MAX + 1), 'EINVAL', 'hpasid');
  });
});
