import { describe, expect, it } from 'vitest';
import { createTestPlatform, hostErrorOf, TEST_LAYOUT } from '../src/hostiommu/testing.js';
import type { Errno } from '../src/hostiommu/errors.js';
import { FAULT_PERM } from '../src/hostiommu/fault-queue.js';
import { PageResponseCode } from '../src/vtd/spec/page-request.js';
import { S1_INVALIDATE_ALL } from '../src/hostiommu/hwpt.js';
import { HOST_IOMMU_OPS } from '../src/hostiommu/ops.js';
import { MSI_WINDOW } from '../src/hostiommu/device.js';
import { readWords } from '../src/tables/guest-ram.js';
import { decodePasidEntry, pasidDirEntryAddress, pasidEntryAddress, PGTT } from '../src/vtd/spec/pasid-entry.js';
import { decodeSmContextEntry, smContextEntryAddress } from '../src/vtd/spec/sm-context-entry.js';

function expectErr(fn: () => unknown, errno: Errno, what?: string): void {
  const e = hostErrorOf(fn);
  expect(e.errno).toBe(errno);
  if (what) expect(e.message).toContain(what);
}

const SID_A = 0x0018; // 00:03.0
const SID_B = 0x0020; // 00:04.0

/** A platform with two PASID/PRI-capable devices and one context. */
function setup() {
  const t = createTestPlatform();
  t.platform.addDevice(SID_A, { pasidBits: 8, pri: true });
  t.platform.addDevice(SID_B, { pasidBits: 0 });
  const ctx = t.platform.createContext('vm1');
  return { ...t, ctx };
}

/** The PASID entry (sid, pasid) as the physical IOMMU wrote it (walks root -> context -> directory -> table). */
function pasidEntryOf(t: Pick<ReturnType<typeof setup>, 'iommu' | 'mem'>, sid: number, pasid: number) {
  const root = t.iommu.rootTable;
  const re = t.mem.readU64(root + BigInt(sid >> 8) * 16n + ((sid & 0x80) ? 8n : 0n));
  if ((re & 1n) === 0n) return undefined; // LP / UP clear
  const ctp = re & ~0xfffn;
  const ce = decodeSmContextEntry(readWords(t.mem, smContextEntryAddress(ctp, sid & 0xff), 4));
  if (!ce.P) return undefined;
  const de = t.mem.readU64(pasidDirEntryAddress(ce.PASIDDIRPTR, pasid));
  if ((de & 1n) === 0n) return undefined;
  return decodePasidEntry(readWords(t.mem, pasidEntryAddress(de & ~0xfffn, pasid), 8));
}

describe('objects, ids and destroy', () => {
  it('ids come from one table, lowest free first; wrong kind is ENOENT; destroy frees the id', () => {
    const { ctx } = setup();
    const a = ctx.ioasAlloc();
    const f = ctx.faultQueueAlloc();
    expect([a, f]).toEqual([1, 2]);
    expectErr(() => ctx.ioasMap(f, { hpa: 0n, len: 0x1000n }), 'ENOENT', 'fault-queue, not a ioas');
    expectErr(() => ctx.ioasMap(99, { hpa: 0n, len: 0x1000n }), 'ENOENT', 'no object 99');
    expectErr(() => ctx.ioasMap(1.5, { hpa: 0n, len: 0x1000n }), 'EINVAL', 'ioasId');
    ctx.destroy(a);
    expectErr(() => ctx.destroy(a), 'ENOENT', 'id');
    expect(ctx.ioasAlloc()).toBe(1);
  });

  it('destroying an object in use is EBUSY: IOAS under a HWPT, HWPT attached, parent under nested, fault queue under a HWPT', () => {
    const { ctx, platform } = setup();
    const ioas = ctx.ioasAlloc();
    const fq = ctx.faultQueueAlloc();
    const hp = ctx.hwptAllocPaging(ioas, { nestParent: true });
    const hn = ctx.hwptAllocNested(hp, { fsptptr: 0x5000n, faultId: fq, pasid: true });
    const dev = ctx.bindDevice(platform.openDevice(SID_A));
    ctx.devicePasidAlloc(dev, 3);
    ctx.attach(dev, hn, 3);
    for (const id of [ioas, fq, hp, hn]) expectErr(() => ctx.destroy(id), 'EBUSY', 'user');
    ctx.detach(dev, 3);
    ctx.destroy(hn);
    ctx.destroy(hp);
    ctx.destroy(fq);
    ctx.destroy(ioas);
    ctx.destroy(dev);
    expect(platform.usage()).toMatchObject({ objects: 0, dids: 0, boundDevices: 0 });
  });
});

describe('HWPT paging', () => {
  it('builds a second-stage table mirroring the IOAS, and follows later maps and unmaps with flushes', () => {
    const t = setup();
    const { ctx } = t;
    const ioas = ctx.ioasAlloc();
    ctx.ioasMap(ioas, { iova: 0x10_0000n, hpa: 0x80_0000n, len: 0x2000n });
    const hp = ctx.hwptAllocPaging(ioas);
    const table = (ctx as unknown as { table: { peek(id: number): { table: { lookup(i: bigint): { hpa: bigint } | undefined }; did: number } } }).table.peek(hp)!;
    expect(table.table.lookup(0x10_1004n)?.hpa).toBe(0x80_1004n);
    ctx.ioasMap(ioas, { iova: 0x40_0000n, hpa: 0x20_0000n, len: 0x1000n });
    expect(table.table.lookup(0x40_0000n)?.hpa).toBe(0x20_0000n);
    t.caches.log.length = 0;
    ctx.ioasUnmap(ioas, 0x10_0000n, 0x2000n);
    expect(table.table.lookup(0x10_0000n)).toBeUndefined();
    expect(t.caches.log).toEqual([`iotlbPage did=${table.did} addr=0x100000 am=1 ih=0`]);
  });

  it('one IOAS backs two domains with distinct DIDs and tables; a DID space of 1 gives ENOSPC', () => {
    const t = createTestPlatform({ maxDid: 2 });
    const ctx = t.platform.createContext('vm');
    const ioas = ctx.ioasAlloc();
    ctx.ioasMap(ioas, { iova: 0n, hpa: 0x1000n, len: 0x1000n });
    ctx.hwptAllocPaging(ioas);
    ctx.hwptAllocPaging(ioas);
    expect(t.platform.usage().dids).toBe(2);
    expectErr(() => ctx.hwptAllocPaging(ioas), 'ENOSPC', 'did');
    expect(ctx.objectCount).toBe(3);
  });
});

describe('devices: bind, attach, replace, detach, reset', () => {
  it('binding is exclusive across contexts (EBUSY) until unbind; a closed file is EINVAL', () => {
    const { ctx, platform } = setup();
    const other = platform.createContext('vm2');
    const f1 = platform.openDevice(SID_A);
    expect(f1.state).toBe('parked');
    const dev = ctx.bindDevice(f1);
    expect(f1.state).toBe('bound');
    expectErr(() => other.bindDevice(platform.openDevice(SID_A)), 'EBUSY', '00:03.0');
    expectErr(() => ctx.bindDevice(f1), 'EBUSY');
    expectErr(() => f1.close(), 'EBUSY', 'bound');
    ctx.destroy(dev);
    expect(f1.state).toBe('parked');
    const f2 = platform.openDevice(SID_A);
    other.bindDevice(f2);
    f1.close();
    expectErr(() => ctx.bindDevice(f1), 'EINVAL', 'closed');
    expectErr(() => platform.openDevice(0x99), 'ENOENT', 'sid');
    expectErr(() => platform.addDevice(SID_A), 'EEXIST', 'sid');
  });

  it('attach programs the PASID entry (PGTT second stage / nested) per device and per (device, PASID)', () => {
    const t = setup();
    const { ctx, platform } = t;
    const ioas = ctx.ioasAlloc();
    const hp = ctx.hwptAllocPaging(ioas, { nestParent: true, pasid: true });
    const hn = ctx.hwptAllocNested(hp, { fsptptr: 0x7000n, sre: true, pasid: true });
    const dev = ctx.bindDevice(platform.openDevice(SID_A));
    ctx.devicePasidAlloc(dev, 5);
    expect(pasidEntryOf(t, SID_A, 0)).toBeUndefined(); // parked: no context entry
    ctx.attach(dev, hp);
    ctx.attach(dev, hn, 5);
    const rid = pasidEntryOf(t, SID_A, 0)!;
    const p5 = pasidEntryOf(t, SID_A, 5)!;
    expect(rid).toMatchObject({ P: true, PGTT: PGTT.SECOND_STAGE, AW: 2 });
    expect(p5).toMatchObject({ P: true, PGTT: PGTT.NESTED, FSPTPTR: 0x7000n, SRE: true, SSPTPTR: rid.SSPTPTR });
    expect(p5.DID).not.toBe(rid.DID);
    expectErr(() => ctx.attach(dev, hp), 'EBUSY', 'already attached');
    ctx.detach(dev, 5);
    expect(pasidEntryOf(t, SID_A, 5)?.P).toBe(false); // entry cleared, its PASID table still holds RID_PASID
    ctx.detach(dev);
    expect(pasidEntryOf(t, SID_A, 0)).toBeUndefined();
    ctx.detach(dev); // nothing attached: not an error
    ctx.detach(dev, 5);
  });

  it('attach errors: EINVAL for PASIDs on a device without them or out of range, or a target of another kind; EOPNOTSUPP for faults without PRI', () => {
    const { ctx, platform } = setup();
    const ioas = ctx.ioasAlloc();
    const fq = ctx.faultQueueAlloc();
    const hp = ctx.hwptAllocPaging(ioas, { pasid: true });
    const hf = ctx.hwptAllocPaging(ioas, { faultId: fq, pasid: true });
    const a = ctx.bindDevice(platform.openDevice(SID_A));
    const b = ctx.bindDevice(platform.openDevice(SID_B));
    expectErr(() => ctx.attach(b, hp, 1), 'EINVAL', 'PASID capability');
    expectErr(() => ctx.attach(b, hf), 'EOPNOTSUPP', 'PRI');
    expectErr(() => ctx.attach(a, hp, 256), 'EINVAL', 'pasid');
    expectErr(() => ctx.attach(a, hp, 0), 'EINVAL', 'pasid');
    expectErr(() => ctx.attach(a, fq), 'EINVAL', 'fault-queue');
    expectErr(() => ctx.attach(a, 99), 'ENOENT', 'hwptId');
    expectErr(() => ctx.attach(a, hf, 1), 'ENOENT', 'not allocated');
    ctx.devicePasidAlloc(a, 1);
    ctx.attach(a, hf, 1);
  });

  it('attaching to a paging domain reserves the MSI window in its IOAS (EADDRINUSE if mapped)', () => {
    const { ctx, platform } = setup();
    const ioas = ctx.ioasAlloc();
    const hp = ctx.hwptAllocPaging(ioas);
    const dev = ctx.bindDevice(platform.openDevice(SID_A));
    ctx.ioasMap(ioas, { iova: MSI_WINDOW.start, hpa: 0n, len: 0x1000n });
    expectErr(() => ctx.attach(dev, hp), 'EADDRINUSE', 'reserved');
    ctx.ioasUnmap(ioas, MSI_WINDOW.start, 0x1000n);
    ctx.attach(dev, hp);
    expectErr(() => ctx.ioasMap(ioas, { iova: MSI_WINDOW.start, hpa: 0n, len: 0x1000n }), 'EINVAL', '00:03.0');
    ctx.detach(dev);
    ctx.ioasMap(ioas, { iova: MSI_WINDOW.start, hpa: 0n, len: 0x1000n });
  });

  it('replace swaps the domain atomically (new DID in the entry, old HWPT released); EINVAL when not attached', () => {
    const t = setup();
    const { ctx, platform } = t;
    const i1 = ctx.ioasAlloc();
    const i2 = ctx.ioasAlloc();
    const h1 = ctx.hwptAllocPaging(i1);
    const h2 = ctx.hwptAllocPaging(i2);
    const dev = ctx.bindDevice(platform.openDevice(SID_A));
    expectErr(() => ctx.replace(dev, h2), 'EINVAL', 'not attached');
    ctx.attach(dev, h1);
    const before = pasidEntryOf(t, SID_A, 0)!.DID;
    t.caches.log.length = 0;
    ctx.replace(dev, h2);
    const after = pasidEntryOf(t, SID_A, 0)!.DID;
    expect(after).not.toBe(before);
    expect(t.caches.log).toEqual([`pasidCache g=1 did=${before} pasid=0`, `pasidIotlb did=${before} pasid=0`]);
    ctx.destroy(h1); // no longer in use
    expectErr(() => ctx.destroy(h2), 'EBUSY');
  });

  it('reset quiesces the device, drains page requests and answers its pending fault groups before returning', () => {
    const t = createTestPlatform();
    const order: string[] = [];
    t.platform.addDevice(SID_A, { pasidBits: 8, pri: true, quiesce: () => order.push('quiesce') });
    const ctx = t.platform.createContext('vm');
    const ioas = ctx.ioasAlloc();
    const fq = ctx.faultQueueAlloc();
    const hp = ctx.hwptAllocPaging(ioas, { faultId: fq, pasid: true });
    const dev = ctx.bindDevice(t.platform.openDevice(SID_A));
    ctx.devicePasidAlloc(dev, 2);
    ctx.attach(dev, hp, 2);
    t.platform.pageRequest(SID_A, { pasid: 2, groupId: 7, perms: FAULT_PERM.READ, addr: 0x1000n, last: true });
    t.platform.pageRequest(SID_A, { pasid: 2, groupId: 8, perms: FAULT_PERM.READ, addr: 0x2000n, last: false });
    expect(ctx.reset(dev)).toBe(1);
    expect(order).toEqual(['quiesce']);
    expect(t.drained).toEqual([SID_A]);
    expect(t.responses).toEqual([[SID_A, 2, 7, PageResponseCode.ResponseFailure]]);
    expect(ctx.faultRead(fq)).toEqual([]);
    expect(pasidEntryOf(t, SID_A, 2)?.P).toBe(true); // attachments stay
  });
});

describe('HWPT nested and stage-1 invalidation', () => {
  it('needs a nesting parent and a 4 KiB aligned first-stage pointer', () => {
    const { ctx } = setup();
    const ioas = ctx.ioasAlloc();
    const plain = ctx.hwptAllocPaging(ioas);
    const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
    expectErr(() => ctx.hwptAllocNested(plain, { fsptptr: 0x1000n }), 'EINVAL', 'nesting parent');
    expectErr(() => ctx.hwptAllocNested(parent, { fsptptr: 0x1001n }), 'EINVAL', 'fsptptr');
    expectErr(() => ctx.hwptAllocNested(parent, { fsptptr: 0x1000n, fsLevels: 3 as 4 }), 'EINVAL', 'fsLevels');
    expectErr(() => ctx.hwptAllocNested(ioas, { fsptptr: 0x1000n }), 'EINVAL', 'parentId');
    expectErr(() => ctx.hwptAllocNested(99, { fsptptr: 0x1000n }), 'ENOENT', 'parentId');
    // A misspelt option is refused, naming it, rather than silently ignored.
    expectErr(() => ctx.hwptAllocNested(parent, { fsptptr: 0x1000n, fsLevel: 5 } as never), 'EOPNOTSUPP', 'opts.fsLevel');
    expectErr(() => ctx.hwptAllocPaging(ioas, { nestparent: true } as never), 'EOPNOTSUPP', 'opts.nestparent');
    expect(ctx.counts()).toEqual({ ioas: 1, 'hwpt-paging': 2 });
  });

  it('passes the guest invalidations through to every (device, PASID) it is installed at', () => {
    const t = setup();
    const { ctx, platform } = t;
    const ioas = ctx.ioasAlloc();
    const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
    const hn = ctx.hwptAllocNested(parent, { fsptptr: 0x3000n, pasid: true });
    const dev = ctx.bindDevice(platform.openDevice(SID_A));
    ctx.devicePasidAlloc(dev, 4);
    ctx.devicePasidAlloc(dev, 9);
    ctx.attach(dev, hn, 4);
    ctx.attach(dev, hn, 9);
    const did = pasidEntryOf(t, SID_A, 4)!.DID;
    t.caches.log.length = 0;
    expect(ctx.hwptInvalidate(hn, [{ addr: 0x40_0000n, npages: 2n, leafOnly: true }, { addr: 0n, npages: S1_INVALIDATE_ALL }])).toBe(2);
    expect(t.caches.log).toEqual([
      `pasidIotlbPage did=${did} pasid=4 addr=0x400000 am=1 ih=1`,
      `pasidIotlbPage did=${did} pasid=9 addr=0x400000 am=1 ih=1`,
      `pasidIotlb did=${did} pasid=4`,
      `pasidIotlb did=${did} pasid=9`,
    ]);
    t.caches.log.length = 0;
    const e = hostErrorOf(() => ctx.hwptInvalidate(hn, [{ addr: 0n, npages: 1n }, { addr: 0x10n, npages: 1n }]));
    expect([e.errno, e.count]).toEqual(['EINVAL', 1]); // entry 1 applied, entry 2 malformed
    expect(e.message).toContain('entries[1].addr');
    expect(t.caches.log).toEqual([`pasidIotlbPage did=${did} pasid=4 addr=0x0 am=0 ih=0`, `pasidIotlbPage did=${did} pasid=9 addr=0x0 am=0 ih=0`]);
    expectErr(() => ctx.hwptInvalidate(hn, [{ addr: 0n, npages: 0n }]), 'EINVAL', 'entries[0].npages');
    expectErr(() => ctx.hwptInvalidate(hn, [{ addr: 0x1000n, npages: S1_INVALIDATE_ALL }]), 'EINVAL', 'entries[0].addr');
    expectErr(() => ctx.hwptInvalidate(parent, []), 'EINVAL', 'hwpt-paging');
    expectErr(() => ctx.hwptInvalidate(99, []), 'ENOENT', 'hwptId');
  });

  it('an unmap in the parent also flushes the nested domains built on it', () => {
    const t = setup();
    const { ctx } = t;
    const ioas = ctx.ioasAlloc();
    ctx.ioasMap(ioas, { iova: 0n, hpa: 0n, len: 0x1000n });
    const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
    ctx.hwptAllocNested(parent, { fsptptr: 0x3000n });
    t.caches.log.length = 0;
    ctx.ioasUnmap(ioas, 0n, 0x1000n);
    expect(t.caches.log).toEqual(['iotlbPage did=1 addr=0x0 am=0 ih=0', 'iotlbDomain did=2']);
  });
});

describe('fault queue', () => {
  function faulting() {
    const t = setup();
    const { ctx, platform } = t;
    const ioas = ctx.ioasAlloc();
    const fq = ctx.faultQueueAlloc();
    const hp = ctx.hwptAllocPaging(ioas, { faultId: fq, pasid: true });
    const dev = ctx.bindDevice(platform.openDevice(SID_A));
    ctx.devicePasidAlloc(dev, 1);
    ctx.attach(dev, hp, 1);
    return { ...t, fq, dev, hp };
  }

  it('notify hears the cookie of each complete group', () => {
    const t = setup();
    const heard: number[] = [];
    const fq = t.ctx.faultQueueAlloc((c) => heard.push(c));
    const hp = t.ctx.hwptAllocPaging(t.ctx.ioasAlloc(), { faultId: fq });
    t.ctx.attach(t.ctx.bindDevice(t.platform.openDevice(SID_A)), hp);
    t.platform.pageRequest(SID_A, { pasid: undefined, groupId: 1, perms: 1, addr: 0n, last: false });
    expect(heard).toEqual([]);
    t.platform.pageRequest(SID_A, { pasid: undefined, groupId: 1, perms: 1, addr: 0x1000n, last: true });
    expect(heard).toEqual([t.ctx.faultRead(fq)[0]!.cookie]);
    expectErr(() => t.ctx.faultQueueAlloc(5 as unknown as () => void), 'EINVAL', 'notify');
  });

  it('records {device id, PASID, group, permissions, address, cookie}; a group is readable when its last request arrives', () => {
    const { ctx, platform, fq, dev } = faulting();
    expect(platform.pageRequest(SID_A, { pasid: 1, groupId: 3, perms: FAULT_PERM.READ, addr: 0x1000n, last: false })).toBe(true);
    expect(ctx.faultRead(fq)).toEqual([]);
    platform.pageRequest(SID_A, { pasid: 1, groupId: 3, perms: FAULT_PERM.WRITE, addr: 0x2000n, last: true });
    const recs = ctx.faultRead(fq);
    expect(recs).toHaveLength(2);
    expect(recs[0]).toEqual({ devId: dev, pasid: 1, groupId: 3, perms: FAULT_PERM.READ, addr: 0x1000n, last: false, cookie: recs[1]!.cookie });
    expect(ctx.faultRead(fq)).toEqual([]); // read once
  });

  it('the response names the cookie and goes back to the device; unknown cookies and codes are EINVAL', () => {
    const { ctx, platform, fq, responses } = faulting();
    platform.pageRequest(SID_A, { pasid: 1, groupId: 5, perms: FAULT_PERM.READ, addr: 0x1000n, last: true });
    const [rec] = ctx.faultRead(fq);
    expectErr(() => ctx.faultRespond(fq, rec!.cookie + 1, PageResponseCode.Success), 'EINVAL', 'cookie');
    expectErr(() => ctx.faultRespond(fq, rec!.cookie, 7), 'EINVAL', 'code');
    expectErr(() => ctx.faultRespond(fq, rec!.cookie, PageResponseCode.ResponseFailure), 'EINVAL', 'code'); // not a user response (IOMMUFD_PAGE_RESP_*)
    ctx.faultRespond(fq, rec!.cookie, PageResponseCode.Success);
    expect(responses).toEqual([[SID_A, 1, 5, PageResponseCode.Success]]);
    expectErr(() => ctx.faultRespond(fq, rec!.cookie, PageResponseCode.Success), 'EINVAL', 'cookie'); // answered once
  });

  it('requests nobody takes are answered INVALID at once; detach answers pending groups INVALID', () => {
    const { ctx, platform, fq, dev, responses } = faulting();
    expect(platform.pageRequest(SID_A, { pasid: 2, groupId: 1, perms: 1, addr: 0n, last: true })).toBe(false);
    expect(platform.pageRequest(SID_B, { pasid: undefined, groupId: 2, perms: 1, addr: 0n, last: true })).toBe(false);
    platform.pageRequest(SID_A, { pasid: 1, groupId: 3, perms: 1, addr: 0n, last: true });
    ctx.detach(dev, 1);
    expect(responses).toEqual([[SID_A, 2, 1, 1], [SID_B, undefined, 2, 1], [SID_A, 1, 3, 1]]);
    expect(ctx.faultRead(fq)).toEqual([]);
  });
});

describe('vIOMMU and vDEVICE', () => {
  it('translates physical RIDs to the guest RIDs; vRIDs are unique per vIOMMU (EEXIST)', () => {
    const { ctx, platform } = setup();
    const ioas = ctx.ioasAlloc();
    const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
    const a = ctx.bindDevice(platform.openDevice(SID_A));
    const b = ctx.bindDevice(platform.openDevice(SID_B));
    const vi = ctx.viommuAlloc(a, parent);
    const va = ctx.vdeviceAlloc(vi, a, 0x0008);
    expect(ctx.vridOf(vi, SID_A)).toBe(0x0008);
    expect(ctx.deviceOfVrid(vi, 0x0008)).toBe(a);
    expectErr(() => ctx.deviceOfVrid(vi, 0x0009), 'ENOENT', 'vrid');
    expectErr(() => ctx.vridOf(vi, SID_B), 'ENOENT', 'sid');
    expectErr(() => ctx.vdeviceAlloc(vi, b, 0x0008), 'EEXIST', 'vrid');
    expectErr(() => ctx.vdeviceAlloc(vi, a, 0x0010), 'EEXIST', 'devId');
    expectErr(() => ctx.vdeviceAlloc(vi, b, 0x10000), 'EINVAL', 'vrid');
    ctx.vdeviceAlloc(vi, b, 0x0010);
    expect(ctx.vridOf(vi, SID_B)).toBe(0x0010);
    expectErr(() => ctx.destroy(vi), 'EBUSY');
    ctx.destroy(va);
    expectErr(() => ctx.vridOf(vi, SID_A), 'ENOENT');
  });

  it('needs a nesting parent; a nested HWPT allocated on a vIOMMU uses its parent and holds the vIOMMU', () => {
    const t = setup();
    const { ctx, platform } = t;
    const ioas = ctx.ioasAlloc();
    const plain = ctx.hwptAllocPaging(ioas);
    const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
    const a = ctx.bindDevice(platform.openDevice(SID_A));
    expectErr(() => ctx.viommuAlloc(a, plain), 'EINVAL', 'nesting parent');
    const vi = ctx.viommuAlloc(a, parent);
    const hn = ctx.hwptAllocNested(vi, { fsptptr: 0x2000n, pasid: true });
    ctx.devicePasidAlloc(a, 1);
    expectErr(() => ctx.attach(a, hn, 1), 'ENOENT', 'vDEVICE');
    ctx.vdeviceAlloc(vi, a, 0x10);
    ctx.attach(a, hn, 1);
    const rid = pasidEntryOf(t, SID_A, 1)!;
    expect(rid.PGTT).toBe(PGTT.NESTED);
    expectErr(() => ctx.destroy(vi), 'EBUSY');
  });
});

describe('PASIDs through the context', () => {
  it('sets are objects: quota EDQUOT, destroying the set frees its PASIDs and their guest mappings', () => {
    const { ctx, platform } = setup();
    const s = ctx.pasidSetAlloc(2);
    const p1 = ctx.pasidAlloc(s);
    ctx.pasidAlloc(s);
    expectErr(() => ctx.pasidAlloc(s), 'EDQUOT');
    ctx.guestPasidMap(1, p1);
    expect(platform.usage().pasids).toBe(2);
    ctx.destroy(s);
    expect(platform.usage().pasids).toBe(0);
    expect(ctx.guestPasids.size).toBe(0);
  });

  it('a host PASID allocated to another VM cannot be mapped (EBUSY); per-device PASIDs need PASID support', () => {
    const { ctx, platform } = setup();
    const vm2 = platform.createContext('vm2');
    const p = vm2.pasidAlloc(vm2.pasidSetAlloc(1));
    expectErr(() => ctx.guestPasidMap(1, p), 'EBUSY', 'vm2');
    const a = ctx.bindDevice(platform.openDevice(SID_A));
    const b = ctx.bindDevice(platform.openDevice(SID_B));
    expect(ctx.devicePasidAlloc(a, 1)).toBe(1);
    expectErr(() => ctx.devicePasidAlloc(b), 'EOPNOTSUPP', 'PASID');
    expect(platform.usage().pasids).toBe(2);
    ctx.destroy(a); // unbind frees the device namespace
    expect(platform.usage().pasids).toBe(1);
  });
});

describe('table-driven call()', () => {
  it('runs every operation by name and rejects unknown ones (ENOTTY) and non-object args (EINVAL)', () => {
    const { ctx } = setup();
    expect(HOST_IOMMU_OPS.length).toBeGreaterThan(20);
    expect(new Set(HOST_IOMMU_OPS.map((r) => r.op)).size).toBe(HOST_IOMMU_OPS.length);
    const ioas = ctx.call('ioas.alloc') as number;
    expect(ctx.call('ioas.map', { ioasId: ioas, hpa: 0x1000n, len: 0x1000n })).toBe(0x1000n); // IOVA 0 is never handed out
    const dev = ctx.call('device.bind', { sid: SID_A }) as number;
    const hp = ctx.call('hwpt.allocPaging', { ioasId: ioas }) as number;
    ctx.call('device.attach', { devId: dev, hwptId: hp });
    expectErr(() => ctx.call('ioas.frobnicate', {}), 'ENOTTY', 'op');
    expectErr(() => ctx.call('ioas.map', null as unknown as Record<string, unknown>), 'EINVAL', 'args');
    expectErr(() => ctx.call('ioas.map', { ioasId: ioas, hpa: 'x', len: 1 }), 'EINVAL', 'hpa');
    expectErr(() => ctx.call('device.attach', { devId: dev, hwptId: hp, pasid: 'x' }), 'EINVAL', 'pasid');
    expectErr(() => ctx.call('ioas.map', { ioasId: ioas, hpa: TEST_LAYOUT.ramEnd, len: 0x1000n }), 'EFAULT', 'hpa');
  });

  it('close destroys everything in dependency order', () => {
    const { ctx, platform } = setup();
    const ioas = ctx.ioasAlloc();
    ctx.ioasMap(ioas, { hpa: 0n, len: 0x4000n });
    const fq = ctx.faultQueueAlloc();
    const parent = ctx.hwptAllocPaging(ioas, { nestParent: true, pasid: true });
    const a = ctx.bindDevice(platform.openDevice(SID_A));
    const vi = ctx.viommuAlloc(a, parent);
    ctx.vdeviceAlloc(vi, a, 1);
    const hn = ctx.hwptAllocNested(vi, { fsptptr: 0x1000n, faultId: fq, pasid: true });
    const p = ctx.pasidAlloc(ctx.pasidSetAlloc(4));
    ctx.attach(a, hn, p);
    ctx.attach(a, parent);
    ctx.attach(ctx.bindDevice(platform.openDevice(SID_B)), ioas); // an automatic domain
    const base = platform.iommu.pages.allocated;
    expect(base).toBeGreaterThan(1);
    ctx.close();
    expect(platform.usage()).toEqual({ objects: 0, pinnedPages: 0, pasids: 0, tablePages: 1, dids: 0, boundDevices: 0 });
    expectErr(() => ctx.ioasAlloc(), 'EINVAL', 'closed');
    expect(platform.usage().objects).toBe(0);
  });
});

describe('call() under random input', () => {
  it('any op with any arguments either succeeds or throws a HostIommuError; close always reaches the baseline', async () => {
    const fc = (await import('fast-check')).default;
    const value = fc.oneof(
      fc.integer({ min: -2, max: 12 }), fc.bigInt({ min: -1n, max: 1n << 33n }).map((v) => (v > 0n ? v & ~0xfffn : v)),
      fc.constantFrom(undefined, null, 'x', true, 1.5, 0x0018, 0x0020, 0x1000n, 0x20_0000n, (1n << 64n) - 1n, [{ addr: 0n, npages: 1n }], [{ start: 0x1000n, last: 0xffffn }]),
    );
    const keys = ['ioasId', 'hpa', 'len', 'iova', 'perms', 'srcId', 'dstId', 'srcIova', 'dstIova', 'nestParent', 'faultId', 'parentId', 'fsptptr',
      'fsLevels', 'hwptId', 'entries', 'sid', 'devId', 'pasid', 'max', 'cookie', 'code', 'viommuId', 'vrid', 'quota', 'setId', 'gpasid', 'hpasid', 'id',
      'ranges', 'start', 'length', 'pasidCompat'];
    const call = fc.tuple(fc.constantFrom(...HOST_IOMMU_OPS.map((r) => r.op), 'bogus'), fc.dictionary(fc.constantFrom(...keys), value));
    fc.assert(fc.property(fc.array(call, { maxLength: 40 }), (calls) => {
      const { ctx, platform } = setup();
      for (const [op, args] of calls) {
        try {
          ctx.call(op, args);
        } catch (e) {
          if (!(e instanceof Error) || e.name !== 'HostIommuError') throw e;
        }
      }
      ctx.close();
      expect(platform.usage()).toEqual({ objects: 0, pinnedPages: 0, pasids: 0, tablePages: 1, dids: 0, boundDevices: 0 });
    }), { numRuns: 300 });
  });
});
