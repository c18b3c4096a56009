/**
 * Ports of the kernel's iommufd_fail_nth.c: each sequence is run once to
 * count its allocation points after fail_nth_enable(), then once per n with
 * the n-th point failing (ENOMEM). The sequence stops at the call that
 * fails, as the selftest returns -1, and closing the context must leave
 * nothing behind (objects, pinned pages, PASIDs, table pages, DIDs, bound
 * devices). Parts the model has no equivalent for (access objects, vEVENTQ,
 * HW queues) are left out.
 */
import { describe, expect, it } from 'vitest';
import { isHostIommuError } from '../../src/hostiommu/errors.js';
import { PERM } from '../../src/hostiommu/ss-table.js';
import { BUFFER, BUFFER_SIZE, MOCK_APERTURE_START, PAGE_SIZE, openIommufd, teardown, type Iommufd } from './fixture.js';

/** A TEST_FAIL_NTH body: `enable()` is fail_nth_enable(). */
type NthBody = (f: Iommufd, enable: () => void) => void;

/** Runs `body` with no failure, then with every n-th allocation point failing; returns how many points it swept. */
function sweep(body: NthBody): number {
  let total = 0;
  const dry = openIommufd();
  body(dry, () => dry.injector.failAt(0));
  total = dry.injector.reached;
  teardown(dry);
  for (let n = 1; n <= total; n++) {
    const f = openIommufd();
    try {
      body(f, () => f.injector.failAt(n));
    } catch (e) {
      if (!isHostIommuError(e, 'ENOMEM')) throw e;
    }
    expect(f.injector.fired, `fail-nth ${n} of ${total} (${f.injector.sites.at(-1)})`).toBe(true);
    f.injector.reset();
    teardown(f);
  }
  return total;
}

describe('basic_fail_nth', () => {
  it('basic_fail_nth.basic (ioas.c)', () => {
    const n = sweep((f, enable) => {
      enable();
      const ioas = f.ctx.ioasAlloc();
      f.ctx.ioasIovaRanges(ioas, 10);
      f.ctx.ioasAllowIovas(ioas, [{ start: 16n * 1024n, last: BUFFER_SIZE + 16n * 1024n * 600n - 1n }]);
      const iova = f.ctx.ioasMap(ioas, { hpa: BUFFER, len: BUFFER_SIZE });
      f.ctx.ioasCopy(ioas, ioas, iova, 160n, undefined, PERM.READ | PERM.WRITE);
      f.ctx.ioasUnmap(ioas, iova, BUFFER_SIZE);
      try {
        f.ctx.ioasUnmap(ioas, iova, BUFFER_SIZE); // the failure path of no IOVA to unmap
      } catch (e) {
        if (!isHostIommuError(e, 'ENOENT')) throw e;
      }
    });
    expect(n).toBeGreaterThanOrEqual(3);
  });

  it('basic_fail_nth.map_domain (iopt_area_fill_domains)', () => {
    sweep((f, enable) => {
      const ioas = f.ctx.ioasAlloc();
      enable();
      let { devId } = f.mockDomain(ioas);
      f.ctx.ioasMap(ioas, { hpa: BUFFER, len: 262144n });
      f.ctx.destroy(devId);
      ({ devId } = f.mockDomain(ioas));
    });
  });

  it('basic_fail_nth.map_two_domains', () => {
    sweep((f, enable) => {
      const ioas = f.ctx.ioasAlloc();
      const a = f.ctx.hwptAllocPaging(ioas);
      const d1 = f.mockDomain(a).devId;
      enable();
      const b = f.ctx.hwptAllocPaging(ioas); // a second domain on the IOAS
      const d2 = f.mockDomain(b).devId;
      f.ctx.ioasMap(ioas, { hpa: BUFFER, len: 262144n });
      f.ctx.destroy(d1);
      f.ctx.destroy(d2);
      f.mockDomain(a);
      f.mockDomain(ioas);
    });
  });

  it('basic_fail_nth.device (device.c)', () => {
    const n = sweep((f, enable) => {
      const { ctx } = f;
      const ioas = ctx.ioasAlloc();
      const ioas2 = ctx.ioasAlloc();
      ctx.ioasMap(ioas, { hpa: BUFFER, len: PAGE_SIZE, iova: MOCK_APERTURE_START });
      ctx.ioasMap(ioas2, { hpa: BUFFER, len: PAGE_SIZE, iova: MOCK_APERTURE_START });
      enable();
      const dev = f.mockDomain(ioas, { pasid: true }).devId;
      let hwpt = ctx.hwptAllocPaging(ioas, { pasid: true });
      ctx.replace(dev, ioas2);
      ctx.replace(dev, hwpt);
      hwpt = ctx.hwptAllocPaging(ioas, { nestParent: true, pasid: true });
      const viommu = ctx.viommuAlloc(dev, hwpt);
      ctx.vdeviceAlloc(viommu, dev, 0);
      const fault = ctx.faultQueueAlloc();
      ctx.hwptAllocNested(hwpt, { fsptptr: 0x1000n, faultId: fault });
      const test = ctx.hwptAllocPaging(ioas, { pasid: true });
      // PASID attach / replace / detach
      ctx.devicePasidAlloc(dev, 200);
      ctx.attach(dev, hwpt, 200);
      ctx.replace(dev, test, 200);
      ctx.detach(dev, 200);
    });
    expect(n).toBeGreaterThan(15);
  });
});
