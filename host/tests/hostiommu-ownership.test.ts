/**
 * Issue 19's classes in the host objects: PASID ownership enforced where a
 * PASID is used, and public entry points that validate their arguments and
 * leave nothing half-done. Each case failed before the fix.
 */
import { describe, expect, it } from 'vitest';
import { createTestPlatform, hostErrorOf } from '../src/hostiommu/testing.js';
import { isHostIommuError, type Errno } from '../src/hostiommu/errors.js';
import { HOST_IOMMU_OPS } from '../src/hostiommu/ops.js';

const SID_A = 0x0018;
const SID_B = 0x0020;

function expectErr(fn: () => unknown, errno: Errno, what?: string): void {
  const e = hostErrorOf(fn);
  expect(e.errno, e.message).toBe(errno);
  if (what) expect(e.message).toContain(what);
}

/** Two VMs on one platform; vm1 has a PASID-capable device attached to a PASID-compatible HWPT. */
function twoVms() {
  const t = createTestPlatform();
  t.platform.addDevice(SID_A, { pasidBits: 10, pri: true });
  t.platform.addDevice(SID_B, { pasidBits: 10 });
  const vm1 = t.platform.createContext('vm1');
  const vm2 = t.platform.createContext('vm2');
  const ioas = vm1.ioasAlloc();
  const hwpt = vm1.hwptAllocPaging(ioas, { pasid: true });
  const dev = vm1.bindDevice(t.platform.openDevice(SID_A));
  return { ...t, vm1, vm2, ioas, hwpt, dev };
}

describe('PASID ownership is enforced where a PASID is used (issue 19)', () => {
  it('attach refuses a PASID never allocated (ENOENT) and one of another VM (EBUSY)', () => {
    const { vm1, vm2, hwpt, dev, platform } = twoVms();
    expectErr(() => vm1.attach(dev, hwpt, 7), 'ENOENT', 'not allocated');
    const theirs = vm2.pasidAlloc(vm2.pasidSetAlloc(4));
    expectErr(() => vm1.attach(dev, hwpt, theirs), 'EBUSY', 'vm2');
    expect(vm1.attachedTo(dev, theirs)).toBeUndefined();
    const mine = vm1.pasidAlloc(vm1.pasidSetAlloc(4));
    vm1.attach(dev, hwpt, mine);
    expect(vm1.attachedTo(dev, mine)).toBe(hwpt);
    vm1.close();
    vm2.close();
    expect(platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });

  it('replace into a PASID checks nothing new; a PASID cannot be freed while attached (EBUSY)', () => {
    const { vm1, hwpt, dev, ioas } = twoVms();
    const set = vm1.pasidSetAlloc(4);
    const p = vm1.pasidAlloc(set);
    vm1.attach(dev, hwpt, p);
    expectErr(() => vm1.pasidFree(set, p), 'EBUSY', 'attached');
    expectErr(() => vm1.destroy(set), 'EBUSY', 'attached');
    const own = vm1.devicePasidAlloc(dev, 9);
    vm1.attach(dev, hwpt, own);
    expectErr(() => vm1.devicePasidFree(dev, own), 'EBUSY', 'attached');
    vm1.replace(dev, vm1.hwptAllocPaging(ioas, { pasid: true }), p);
    vm1.detach(dev, p);
    vm1.pasidFree(set, p);
    vm1.detach(dev, own);
    vm1.devicePasidFree(dev, own);
  });

  it('a device namespace never hands out a number the device uses as a global PASID', () => {
    const { vm1, hwpt, dev } = twoVms();
    const set = vm1.pasidSetAlloc(4);
    const g = vm1.pasidAlloc(set, 1); // global PASID 1
    vm1.attach(dev, hwpt, g);
    expect(vm1.devicePasidAlloc(dev)).toBe(2); // 1 is in use on the device
    expectErr(() => vm1.devicePasidAlloc(dev, 1), 'EBUSY', 'global PASID');
  });

  it('a guest PASID maps only to a host PASID this VM allocated', () => {
    const { vm1, vm2 } = twoVms();
    expectErr(() => vm1.guestPasidMap(5, 77), 'ENOENT', 'not an allocated');
    const theirs = vm2.pasidAlloc(vm2.pasidSetAlloc(1));
    expectErr(() => vm1.guestPasidMap(5, theirs), 'EBUSY', 'vm2');
    expect(vm1.guestPasids.size).toBe(0);
  });
});

describe('public entry points validate their arguments and leave nothing half-done (issue 19)', () => {
  it('ioasCopy with perms 0 or 1.5 is EINVAL and copies nothing; later HWPTs are unaffected', () => {
    const { vm1, platform } = twoVms();
    const src = vm1.ioasAlloc();
    const dst = vm1.ioasAlloc();
    vm1.ioasMap(src, { iova: 0x1000n, hpa: 0x10_0000n, len: 0x2000n });
    const before = platform.usage();
    expectErr(() => vm1.ioasCopy(dst, src, 0x1000n, 0x2000n, 0x4000n, 0), 'EINVAL', 'perms');
    expectErr(() => vm1.ioasCopy(dst, src, 0x1000n, 0x2000n, 0x4000n, 1.5), 'EINVAL', 'perms');
    expectErr(() => vm1.ioasCopy(dst, src, 0x1000n, 0x2000n, 0x4000n, 8), 'EOPNOTSUPP', 'perms');
    expect(platform.usage()).toEqual(before);
    vm1.hwptAllocPaging(dst); // used to fail: an area with no permissions could not be mirrored
  });

  it('an unaligned ioasUnmap answers as the kernel does: whole areas inside the range go, a cut is ENOENT', () => {
    const { vm1, ioas, hwpt } = twoVms();
    void hwpt; // the IOAS has a domain: 4 KiB IOVA alignment
    vm1.ioasMap(ioas, { iova: 0x1000n, hpa: 0x10_0000n, len: 0x1000n });
    expectErr(() => vm1.ioasUnmap(ioas, 0x1800n, 0x1000n), 'ENOENT', 'cuts');
    expectErr(() => vm1.ioasUnmap(ioas, 0x1000n, 0x800n), 'ENOENT', 'cuts');
    expect(vm1.ioasUnmap(ioas, 0x800n, 0x1800n)).toBe(0x1000n); // iopt_unmap_iova checks containment only
    expectErr(() => vm1.ioasUnmap(ioas, 0x800n, 0x1800n), 'ENOENT', 'nothing');
  });

  it('every operation given an argument of the wrong type throws a HostIommuError naming it and changes nothing', () => {
    const { vm1, platform, ioas, hwpt, dev } = twoVms();
    const parent = vm1.hwptAllocPaging(ioas, { nestParent: true });
    const viommuId = vm1.viommuAlloc(dev, parent);
    const setId = vm1.pasidSetAlloc(2);
    const good: Record<string, unknown> = {
      ioasId: ioas, hwptId: hwpt, devId: dev, parentId: parent, srcId: ioas, dstId: ioas, faultId: undefined, viommuId, setId, id: 99,
      hpa: 0x1000n, len: 0x1000n, iova: 0x9000n, srcIova: 0x9000n, dstIova: 0xa000n, start: 0x5000_0000n, length: 0x1000n, fsptptr: 0x1000n,
      entries: [], ranges: [], sid: SID_B, vrid: 1, quota: 1, gpasid: 1, hpasid: 1, cookie: 1, code: 0,
    };
    for (const { op } of HOST_IOMMU_OPS) {
      for (const key of Object.keys(good)) {
        const before = platform.usage();
        const counts = JSON.stringify(vm1.counts());
        try {
          vm1.call(op, { ...good, [key]: 'x' });
          continue;
        } catch (e) {
          if (!isHostIommuError(e)) throw e;
        }
        expect(platform.usage(), `${op} with ${key}: 'x'`).toEqual(before);
        expect(JSON.stringify(vm1.counts())).toBe(counts);
      }
    }
    for (const [op, key] of [['ioas.map', 'hpa'], ['ioas.unmap', 'len'], ['ioas.copy', 'srcIova'], ['ioas.allowIovas', 'ranges'], ['ioas.addReserved', 'start'],
      ['hwpt.allocNested', 'fsptptr'], ['hwpt.invalidate', 'entries'], ['device.attach', 'hwptId'], ['vdevice.alloc', 'vrid'], ['pasidSet.alloc', 'quota']] as const) {
      const e = hostErrorOf(() => vm1.call(op, { ...good, [key]: 'x' }));
      expect(e.errno, `${op} ${key}`).toBe('EINVAL');
      expect(e.message, `${op} ${key}`).toContain(key);
    }
  });

  it('the platform checks device descriptions, page requests and owners (EINVAL naming the field)', () => {
    const { platform } = createTestPlatform();
    expectErr(() => platform.addDevice(0x30, { reserved: { start: 'x' } as never }), 'EINVAL', 'info.reserved');
    expectErr(() => platform.addDevice(0x30, { reserved: { start: 0x2000n, last: 0x1000n } }), 'EINVAL', 'info.reserved');
    expectErr(() => platform.addDevice(0x30, { pri: 1 as never }), 'EINVAL', 'info.pri');
    expectErr(() => platform.addDevice(0x30, { quiesce: 5 as never }), 'EINVAL', 'info.quiesce');
    platform.addDevice(0x30, {});
    const req = { pasid: undefined, groupId: 1, perms: 1, addr: 0n, last: true };
    expectErr(() => platform.pageRequest(0x30, { ...req, groupId: 0x200 }), 'EINVAL', 'req.groupId');
    expectErr(() => platform.pageRequest(0x30, { ...req, addr: 5 as never }), 'EINVAL', 'req.addr');
    expectErr(() => platform.pageRequest(0x30, { ...req, last: 'yes' as never }), 'EINVAL', 'req.last');
    expect(platform.pageRequest(0x30, req)).toBe(false); // nobody takes it: answered INVALID
    expectErr(() => platform.createContext(7 as never), 'EINVAL', 'owner');
  });
});
