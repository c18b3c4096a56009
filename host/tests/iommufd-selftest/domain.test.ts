/**
 * Ports of the kernel's iommufd selftests on domains (iommufd.c:
 * FIXTURE(iommufd_mock_domain) and the HWPT cases of FIXTURE(iommufd_ioas)),
 * each named after the selftest it comes from. Attaching a mock device to an
 * IOAS gives it an automatic domain; `checkMockIova` reads the domain's
 * second-stage table as IOMMU_TEST_OP_MD_CHECK_MAP does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PERM } from '../../src/hostiommu/ss-table.js';
import { FAULT_PERM } from '../../src/hostiommu/fault-queue.js';
import { S1_INVALIDATE_ALL } from '../../src/hostiommu/hwpt.js';
import {
  BUFFER, BUFFER_SIZE, HOST_RAM_END, MOCK_APERTURE_START, PAGE_SIZE, checkMockIova, expectErrno, openIommufd, teardown, type Iommufd,
} from './fixture.js';

const P = PAGE_SIZE;

describe.each([{ name: 'one_domain', mockDomains: 1 }, { name: 'two_domains', mockDomains: 2 }])('iommufd_mock_domain ($name)', ({ mockDomains }) => {
  let f: Iommufd;
  let ioas: number;
  const stdevIds: number[] = [];
  const hwptIds: number[] = [];

  function setup(): void {
    f = openIommufd();
    ioas = f.ctx.ioasAlloc();
    stdevIds.length = 0;
    hwptIds.length = 0;
    for (let i = 0; i < mockDomains; i++) {
      const d = f.mockDomain(ioas);
      stdevIds.push(d.devId);
      hwptIds.push(d.hwptId);
    }
  }
  afterEach(() => teardown(f));

  const checkAll = (hpa: bigint, iova: bigint, len: bigint): void => {
    for (const h of new Set(hwptIds)) checkMockIova(f, h, hpa, iova, len);
  };

  it('iommufd_mock_domain.basic', () => {
    setup();
    const iova = f.ctx.ioasMap(ioas, { hpa: BUFFER, len: P }); // simple one page map
    checkAll(BUFFER, iova, P);
    const buf = HOST_RAM_END - 4n * P; // 8 pages, the second half outside host memory
    expectErrno('EFAULT', () => f.ctx.ioasMap(ioas, { hpa: buf, len: 8n * P })); // EFAULT half way through mapping
    expectErrno('EFAULT', () => f.ctx.ioasMap(ioas, { hpa: HOST_RAM_END, len: 8n * P })); // EFAULT on the first page
    expect(f.ctx.ioasIovaRanges(ioas).alignment).toBe(P);
  });

  /** Maps every (start, length) of an 8-page buffer in 4 KiB steps, runs `check`, unmaps; no pins are left. */
  const allAligns = (check: (hpa: bigint, iova: bigint, len: bigint) => void): void => {
    const bufSize = 8n * P;
    for (let start = 0n; start < bufSize; start += P) {
      for (let end = start + P; end < bufSize; end += P) {
        const len = end - start;
        const iova = f.ctx.ioasMap(ioas, { hpa: BUFFER + start, len });
        check(BUFFER + start, iova, len);
        f.ctx.ioasUnmap(ioas, iova, len);
      }
    }
    expect(f.platform.usage().pinnedPages).toBe(0);
  };

  it('iommufd_mock_domain.all_aligns', () => {
    setup();
    allAligns((hpa, iova, len) => {
      checkAll(hpa, iova, len);
      expect(f.platform.usage().pinnedPages).toBe(Number(len / P)); // check_refs
    });
  });

  it('iommufd_mock_domain.all_aligns_copy', () => {
    setup();
    allAligns((hpa, iova, len) => {
      // add and destroy a domain while the area exists
      const extra = f.ctx.hwptAllocPaging(ioas);
      const { devId } = f.mockDomain(extra);
      checkMockIova(f, extra, hpa, iova, len);
      f.ctx.destroy(devId);
      f.ctx.destroy(extra);
    });
  });

  it('iommufd_mock_domain.user_copy', () => {
    setup();
    // pin the pages in an IOAS with no domains, then copy into the IOAS with domains
    const src = f.ctx.ioasAlloc();
    const srcIova = f.ctx.ioasMap(src, { hpa: BUFFER, len: BUFFER_SIZE });
    const pinned = f.platform.usage().pinnedPages;
    f.ctx.ioasCopy(ioas, src, srcIova, BUFFER_SIZE, MOCK_APERTURE_START, PERM.READ | PERM.WRITE);
    checkAll(BUFFER, MOCK_APERTURE_START, BUFFER_SIZE);
    expect(f.platform.usage().pinnedPages).toBe(pinned); // the copy shares the pinned pages
    f.ctx.ioasUnmap(ioas, MOCK_APERTURE_START, BUFFER_SIZE);
    f.ctx.destroy(src);
  });

  it('iommufd_mock_domain.replace', () => {
    setup();
    const other = f.ctx.ioasAlloc();
    f.ctx.replace(stdevIds[0]!, other);
    // replacing the IOAS deallocates the prior automatic HWPT when nothing else uses it
    if (mockDomains === 1) expectErrno('ENOENT', () => f.ctx.replace(stdevIds[0]!, hwptIds[0]!));
    f.ctx.replace(stdevIds[0]!, other);
    if (mockDomains >= 2) {
      f.ctx.replace(stdevIds[0]!, hwptIds[1]!);
      f.ctx.replace(stdevIds[0]!, hwptIds[1]!);
      f.ctx.replace(stdevIds[0]!, hwptIds[0]!);
    }
    f.ctx.replace(stdevIds[0]!, ioas);
    f.ctx.destroy(other);
  });

  it('iommufd_mock_domain.alloc_hwpt', () => {
    setup();
    for (let i = 0; i < mockDomains; i++) {
      const h0 = f.ctx.hwptAllocPaging(ioas);
      const h1 = f.ctx.hwptAllocPaging(ioas, { nestParent: true });
      // a hw_pagetable rotation
      f.ctx.replace(stdevIds[i]!, h0);
      expectErrno('EBUSY', () => f.ctx.destroy(h0));
      f.ctx.replace(stdevIds[i]!, h1);
      expectErrno('EBUSY', () => f.ctx.destroy(h1));
      f.ctx.replace(stdevIds[i]!, ioas);
      f.ctx.destroy(h1);
      const { devId } = f.mockDomain(h0);
      f.ctx.destroy(devId);
      f.ctx.destroy(h0);
    }
  });

  it('two devices on one IOAS share one automatic domain (iommufd_device_auto_get_domain)', () => {
    setup();
    expect(new Set(hwptIds).size).toBe(1);
    expect(f.ctx.counts()['hwpt-paging']).toBe(1);
  });
});

describe('iommufd_ioas (mock_domain): HWPT allocation', () => {
  let f: Iommufd;
  afterEach(() => teardown(f));

  it('iommufd_ioas.alloc_hwpt_nested', () => {
    f = openIommufd();
    const ioas = f.ctx.ioasAlloc();
    const { devId } = f.mockDomain(ioas);
    // negative tests
    expectErrno('EINVAL', () => f.ctx.hwptAllocNested(devId, { fsptptr: 0x1000n })); // the parent is a device
    const fault = f.ctx.faultQueueAlloc();
    expectErrno('EOPNOTSUPP', () => f.ctx.hwptAllocPaging(ioas, { nestParent: true, faultId: fault }));
    const parent = f.ctx.hwptAllocPaging(ioas, { nestParent: true });
    const notParent = f.ctx.hwptAllocPaging(ioas);
    expectErrno('EINVAL', () => f.ctx.hwptAllocNested(notParent, { fsptptr: 0x1000n }));
    // two nested HWPTs sharing one parent
    const n0 = f.ctx.hwptAllocNested(parent, { fsptptr: 0x1000n });
    const n1 = f.ctx.hwptAllocNested(parent, { fsptptr: 0x2000n });
    expectErrno('ENOENT', () => f.ctx.hwptAllocNested(parent, { fsptptr: 0x3000n, faultId: 0x7fff_ffff }));
    const iopf = f.ctx.hwptAllocNested(parent, { fsptptr: 0x3000n, faultId: fault });
    expectErrno('EINVAL', () => f.ctx.hwptAllocNested(n0, { fsptptr: 0x1000n })); // a nested HWPT on a nested HWPT
    expectErrno('EBUSY', () => f.ctx.destroy(parent));
    // invalidation does not take a parent HWPT
    expect(expectErrno('EINVAL', () => f.ctx.hwptInvalidate(parent, [{ addr: 0n, npages: 1n }])).count).toBe(0);
    expect(f.ctx.hwptInvalidate(n0, [])).toBe(0); // zero-length array
    expect(expectErrno('EINVAL', () => f.ctx.hwptInvalidate(n0, [{ addr: 0x1000n, npages: 0n }])).count).toBe(0);
    // the first entry is applied, the second is malformed
    expect(expectErrno('EINVAL', () => f.ctx.hwptInvalidate(n0, [{ addr: 0n, npages: 1n }, { addr: 0x10n, npages: 1n }])).count).toBe(1);
    expect(expectErrno('EINVAL', () => f.ctx.hwptInvalidate(n0, [{ addr: 0n, npages: 1n }, 5 as never])).count).toBe(1);
    expect(f.ctx.hwptInvalidate(n0, [{ addr: 0x2000n, npages: 1n }, { addr: 0x3000n, npages: 1n }])).toBe(2);
    expect(f.ctx.hwptInvalidate(n1, [{ addr: 0n, npages: S1_INVALIDATE_ALL }])).toBe(1);
    // attach the device to n0, which is then busy
    f.ctx.replace(devId, n0);
    expectErrno('EBUSY', () => f.ctx.destroy(n0));
    f.ctx.replace(devId, n1);
    expectErrno('EBUSY', () => f.ctx.destroy(n1));
    f.ctx.destroy(n0);
    f.ctx.replace(devId, iopf);
    expectErrno('EBUSY', () => f.ctx.destroy(iopf));
    // trigger an IOPF on the device
    const sid = 0x0100;
    expect(f.platform.pageRequest(sid, { pasid: undefined, groupId: 1, perms: FAULT_PERM.READ, addr: 0n, last: true })).toBe(true);
    expect(f.ctx.faultRead(fault)).toHaveLength(1);
    f.ctx.replace(devId, parent);
    f.ctx.destroy(n1);
    f.ctx.destroy(iopf);
    f.ctx.replace(devId, ioas);
    f.ctx.destroy(parent);
    f.ctx.destroy(notParent);
    f.ctx.destroy(fault);
  });

  it('a nested HWPT cannot sit on an automatic domain (iommufd_hwpt_nested_alloc)', () => {
    f = openIommufd();
    const ioas = f.ctx.ioasAlloc();
    const { hwptId } = f.mockDomain(ioas);
    expectErrno('EINVAL', () => f.ctx.hwptAllocNested(hwptId, { fsptptr: 0x1000n }));
    expectErrno('EINVAL', () => f.ctx.hwptAllocPaging(hwptId)); // a paging HWPT is built from an IOAS
  });
});
