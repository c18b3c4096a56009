// The cache-scope oracle's rules (fuzz/cache-scope-oracle.ts) on hand-made
// cache contents: which entries an invalidation may leave (VT-d §6.5.2.3,
// §6.5.2.4) and which it may not.
import { describe, expect, it } from 'vitest';
import type { CacheContents, IotlbEntry, PscEntry } from '../../host/src/core/cache-contents.js';
import type { InvalidationEvent } from '../../host/src/vtd/cache-invalidation.js';
import { scopeViolation } from '../cache-scope-oracle.js';

const V = 0x4000_0000n;

const tlb = (o: Partial<IotlbEntry>): IotlbEntry => ({
  did: 3, pasid: 0, sid: 0x18, iova: V, addr: 0x30_0000n, pageLg2: 12, perms: 3, firstStage: false, supervisor: false, ...o,
});
const psc = (o: Partial<PscEntry>): PscEntry => ({
  stage: 'first', did: 3, pasid: 0, level: 1, iova: V, table: 0x50_0000n, perms: 3, ...o,
});
const caches = (iotlb: IotlbEntry[], pscs: PscEntry[] = []): CacheContents => ({ iotlb, psc: pscs, context: [], pasid: [] });
const page = (did: number, addr: bigint, ih = 0): InvalidationEvent => ({ kind: 'iotlbPage', did, addr, am: 0, ih });

describe('cache-scope oracle', () => {
  it('page-selective IOTLB in scalable mode: a first-stage entry of the domain may not stay, whatever its address', () => {
    const c = caches([tlb({ firstStage: true })]);
    expect(scopeViolation(page(3, 0x8000_0000n), c, true)).toMatch(/left IOTLB entry/);
    expect(scopeViolation(page(4, V), c, true)).toBeUndefined(); // another domain
    expect(scopeViolation(page(3, 0x8000_0000n), caches([tlb({})]), true)).toBeUndefined(); // second stage, outside the range
    expect(scopeViolation(page(3, V), caches([tlb({})]), true)).toMatch(/left IOTLB entry/);
  });

  it('page-selective IOTLB: first-stage paging-structure entries go whatever IH; second-stage ones over the range with IH=0', () => {
    expect(scopeViolation(page(3, 0x8000_0000n, 1), caches([], [psc({})]), true)).toMatch(/left paging-structure entry/);
    const ss = caches([], [psc({ stage: 'second' })]);
    expect(scopeViolation(page(3, V, 1), ss, true)).toBeUndefined();
    expect(scopeViolation(page(3, V, 0), ss, true)).toMatch(/left paging-structure entry/);
    expect(scopeViolation(page(3, 0x8000_0000n, 0), ss, true)).toBeUndefined();
  });

  it('domain-selective IOTLB: every entry of the domain, first stage and paging-structure entries included', () => {
    const inv: InvalidationEvent = { kind: 'iotlbDomain', did: 3 };
    expect(scopeViolation(inv, caches([tlb({ firstStage: true, pasid: 9 })]), true)).toMatch(/left IOTLB entry/);
    expect(scopeViolation(inv, caches([], [psc({ pasid: 9 })]), true)).toMatch(/left paging-structure entry/);
    expect(scopeViolation(inv, caches([tlb({ did: 4 })], [psc({ did: 4 })]), true)).toBeUndefined();
  });

  it('PASID-based page-selective: first-stage entries in the range; their paging-structure entries only with IH=0', () => {
    const inv = (ih: number): InvalidationEvent => ({ kind: 'pasidIotlbPage', did: 3, pasid: 0, addr: V, am: 0, ih });
    expect(scopeViolation(inv(1), caches([tlb({ firstStage: true })]), true)).toMatch(/left IOTLB entry/);
    expect(scopeViolation(inv(1), caches([tlb({})]), true)).toBeUndefined(); // second stage: not its scope
    expect(scopeViolation(inv(1), caches([], [psc({})]), true)).toBeUndefined();
    expect(scopeViolation(inv(0), caches([], [psc({})]), true)).toMatch(/left paging-structure entry/);
    expect(scopeViolation(inv(0), caches([], [psc({ pasid: 5 })]), true)).toBeUndefined();
  });
});
