/**
 * Ports of the kernel's iommufd selftests on IOAS behaviour
 * (tools/testing/selftests/iommu/iommufd.c: FIXTURE(iommufd) and
 * FIXTURE(iommufd_ioas) with its no_domain / mock_domain / two_mock_domain
 * variants), each named after the selftest it comes from. The selftest's
 * IOMMU_TEST_OP_ADD_RESERVED is `ioasAddReserved`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PERM } from '../../src/hostiommu/ss-table.js';
import {
  BUFFER, BUFFER_SIZE, DOMAIN_LAST, MOCK_APERTURE_START, PAGE_SIZE, U64_MAX, expectErrno, lowBit, openIommufd, teardown, type Iommufd,
} from './fixture.js';

const P = PAGE_SIZE;

describe('iommufd', () => {
  it('iommufd.cmd_fail', () => {
    const f = openIommufd();
    expectErrno('ENOENT', () => f.ctx.destroy(0)); // object id is invalid
    expectErrno('ENOTTY', () => f.ctx.call('ioas.frobnicate', {})); // unknown ioctl
    teardown(f);
  });
});

/** FIXTURE_VARIANT(iommufd_ioas): how many mock domains the fixture attaches. */
const VARIANTS = [
  { name: 'no_domain', mockDomains: 0 },
  { name: 'mock_domain', mockDomains: 1 },
  { name: 'two_mock_domain', mockDomains: 2 },
] as const;

describe.each(VARIANTS)('iommufd_ioas ($name)', ({ mockDomains }) => {
  let f: Iommufd;
  let ioas: number;
  let stdevId = 0;
  let hwptId = 0;
  let baseIova = 0n;

  function setup(): void {
    f = openIommufd();
    ioas = f.ctx.ioasAlloc();
    stdevId = 0;
    hwptId = 0;
    baseIova = 0n;
    for (let i = 0; i < mockDomains; i++) {
      ({ devId: stdevId, hwptId } = f.mockDomain(ioas));
      baseIova = MOCK_APERTURE_START;
    }
  }
  afterEach(() => teardown(f));

  const mapFixed = (hpa: bigint, len: bigint, iova: bigint, id = ioas): void => {
    expect(f.ctx.ioasMap(id, { hpa, len, iova })).toBe(iova);
  };

  it('iommufd_ioas.ioas_destroy', () => {
    setup();
    if (stdevId) expectErrno('EBUSY', () => f.ctx.destroy(ioas)); // a device has a HWPT using it
    else f.ctx.destroy(ioas);
  });

  it('iommufd_ioas.hwpt_attach', () => {
    setup();
    if (stdevId) f.mockDomain(hwptId); // a device attached directly to the HWPT
    else expectErrno('ENOENT', () => f.mockDomain(hwptId));
  });

  it('iommufd_ioas.ioas_area_destroy', () => {
    setup();
    mapFixed(BUFFER, P, baseIova);
    if (stdevId) expectErrno('EBUSY', () => f.ctx.destroy(ioas));
    else f.ctx.destroy(ioas);
  });

  it('iommufd_ioas.ioas_area_auto_destroy', () => {
    setup();
    for (let i = 0n; i < 10n; i++) mapFixed(BUFFER, P, baseIova + i * P);
  });

  it('iommufd_ioas.area', () => {
    setup();
    for (let i = 0n; i < 10n; i++) expectErrno('ENOENT', () => f.ctx.ioasUnmap(ioas, i * P, P)); // nothing mapped
    for (let i = 0n; i < 10n; i++) mapFixed(BUFFER, P, baseIova + i * P);
    for (let i = 0n; i < 10n; i++) f.ctx.ioasUnmap(ioas, baseIova + i * P, P);
    // split fails
    mapFixed(BUFFER, P * 2n, baseIova + 16n * P);
    expectErrno('ENOENT', () => f.ctx.ioasUnmap(ioas, baseIova + 16n * P, P));
    expectErrno('ENOENT', () => f.ctx.ioasUnmap(ioas, baseIova + 17n * P, P));
    // over map fails
    for (const [len, at] of [[2n, 16n], [1n, 16n], [1n, 17n], [2n, 15n], [3n, 15n]] as const) {
      expectErrno('EEXIST', () => f.ctx.ioasMap(ioas, { hpa: BUFFER, len: P * len, iova: baseIova + at * P }));
    }
    f.ctx.ioasUnmap(ioas, 0n, U64_MAX); // unmap all works
    expect(f.ctx.ioasUnmap(ioas, 0n, U64_MAX)).toBe(0n); // and succeeds on an empty IOAS
  });

  it('iommufd_ioas.unmap_fully_contained_areas', () => {
    setup();
    baseIova += 4n * P; // gives no_domain room to rewind
    for (let i = 0n; i < 4n; i++) mapFixed(BUFFER, 8n * P, baseIova + i * 16n * P);
    // unmapping a not fully contained area does not work
    expectErrno('ENOENT', () => f.ctx.ioasUnmap(ioas, baseIova - 4n * P, 8n * P));
    expectErrno('ENOENT', () => f.ctx.ioasUnmap(ioas, baseIova + 3n * 16n * P + 8n * P - 4n * P, 8n * P));
    // unmapping fully contained areas works
    expect(f.ctx.ioasUnmap(ioas, baseIova - 4n * P, 3n * 16n * P + 8n * P + 4n * P)).toBe(32n * P);
  });

  it('iommufd_ioas.area_auto_iova', () => {
    setup();
    const resv = { start: P * 4n, length: P * 100n };
    const iovas: bigint[] = [];
    // simple 4k pages
    for (let i = 0; i < 10; i++) iovas[i] = f.ctx.ioasMap(ioas, { hpa: BUFFER, len: P });
    for (let i = 0; i < 10; i++) f.ctx.ioasUnmap(ioas, iovas[i]!, P);
    // the IOVAs come aligned to the length's lowest set bit
    for (let i = 0; i < 10; i++) {
      const len = P * BigInt(i + 1);
      iovas[i] = f.ctx.ioasMap(ioas, { hpa: stdevId ? BUFFER : 1n << 27n, len });
      expect(iovas[i]! % lowBit(len)).toBe(0n);
    }
    for (let i = 0; i < 10; i++) f.ctx.ioasUnmap(ioas, iovas[i]!, P * BigInt(i + 1));
    // allocation avoids a reserved region
    f.ctx.ioasAddReserved(ioas, resv.start, resv.length);
    for (let i = 0; i < 10; i++) {
      const len = P * BigInt(i + 1);
      iovas[i] = f.ctx.ioasMap(ioas, { hpa: BUFFER, len });
      expect(iovas[i]! % lowBit(len)).toBe(0n);
      expect(iovas[i]! > resv.start && iovas[i]! < resv.start + resv.length).toBe(false);
    }
    for (let i = 0; i < 10; i++) f.ctx.ioasUnmap(ioas, iovas[i]!, P * BigInt(i + 1));
    // an allowed region intersecting a reserved region
    expectErrno('EADDRINUSE', () => f.ctx.ioasAllowIovas(ioas, [{ start: P, last: P * 600n }]));
    // allocation from an allowed region
    const range = stdevId ? { start: MOCK_APERTURE_START + P, last: MOCK_APERTURE_START + P * 600n - 1n } : { start: P * 200n, last: P * 600n - 1n };
    f.ctx.ioasAllowIovas(ioas, [range]);
    for (let i = 0; i < 10; i++) {
      const len = P * BigInt(i + 1);
      iovas[i] = f.ctx.ioasMap(ioas, { hpa: BUFFER, len });
      expect(iovas[i]! % lowBit(len)).toBe(0n);
      expect(iovas[i]! >= range.start && iovas[i]! + len <= range.last + 1n).toBe(true);
    }
    for (let i = 0; i < 10; i++) f.ctx.ioasUnmap(ioas, iovas[i]!, P * BigInt(i + 1));
  });

  it('iommufd_ioas.reserved_overflow', () => {
    setup();
    f.ctx.ioasAddReserved(ioas, 6n, 0xffff_ffff_ffff_8001n);
    expectErrno('ENOSPC', () => f.ctx.ioasMap(ioas, { hpa: BUFFER, len: 0x5000n }));
  });

  it('iommufd_ioas.area_allowed', () => {
    setup();
    // a reserved region intersecting an allowed range
    f.ctx.ioasAllowIovas(ioas, [{ start: baseIova, last: baseIova + P * 600n }]);
    expectErrno('EADDRINUSE', () => f.ctx.ioasAddReserved(ioas, baseIova + P, P));
    f.ctx.ioasAllowIovas(ioas, []);
    // an allowed range intersecting a reserved region
    f.ctx.ioasAddReserved(ioas, baseIova + P, P);
    expectErrno('EADDRINUSE', () => f.ctx.ioasAllowIovas(ioas, [{ start: baseIova, last: baseIova + P * 600n }]));
  });

  it('iommufd_ioas.copy_area', () => {
    setup();
    mapFixed(BUFFER, P, baseIova);
    // copy inside a single IOAS
    expect(f.ctx.ioasCopy(ioas, ioas, baseIova, P, baseIova + P, PERM.WRITE)).toBe(baseIova + P);
    // copy between IOASes
    expect(f.ctx.ioasCopy(f.ctx.ioasAlloc(), ioas, baseIova, P, 0n, PERM.WRITE)).toBe(0n);
  });

  it('iommufd_ioas.iova_ranges', () => {
    setup();
    // the range can be read
    let r = f.ctx.ioasIovaRanges(ioas);
    if (!stdevId) expect(r).toEqual({ ranges: [{ start: 0n, last: U64_MAX }], alignment: 1n });
    else expect(r).toEqual({ ranges: [{ start: 0n, last: DOMAIN_LAST }], alignment: P });
    // buffer too small
    expect(expectErrno('EMSGSIZE', () => f.ctx.ioasIovaRanges(ioas, 0)).count).toBe(1);
    // two ranges
    f.ctx.ioasAddReserved(ioas, P, P);
    r = f.ctx.ioasIovaRanges(ioas);
    expect(r.ranges).toEqual([{ start: 0n, last: P - 1n }, { start: P * 2n, last: stdevId ? DOMAIN_LAST : U64_MAX }]);
    expect(expectErrno('EMSGSIZE', () => f.ctx.ioasIovaRanges(ioas, 1)).count).toBe(2);
  });

  it('iommufd_ioas.ioas_iova_alloc', () => {
    setup();
    for (let len = 1n; len !== P * 2n; len++) {
      if (mockDomains && len % P) {
        expectErrno('EINVAL', () => f.ctx.ioasMap(ioas, { hpa: BUFFER, len }));
      } else {
        const iova = f.ctx.ioasMap(ioas, { hpa: BUFFER, len });
        f.ctx.ioasUnmap(ioas, iova, len);
      }
    }
  });

  it('iommufd_ioas.copy_sweep', () => {
    setup();
    const dst = f.ctx.ioasAlloc();
    const length = 2048n; // MOCK_PAGE_SIZE
    const lastIova = mockDomains ? MOCK_APERTURE_START + BUFFER_SIZE - 1n : MOCK_APERTURE_START + BUFFER_SIZE - 2n;
    mapFixed(BUFFER, lastIova - MOCK_APERTURE_START + 1n, MOCK_APERTURE_START);
    for (let iova = MOCK_APERTURE_START - P; iova <= lastIova; iova += 511n) {
      if (iova < MOCK_APERTURE_START || iova + length - 1n > lastIova) {
        expectErrno('ENOENT', () => f.ctx.ioasCopy(dst, ioas, iova, length, MOCK_APERTURE_START, PERM.WRITE));
      } else {
        f.ctx.ioasCopy(dst, ioas, iova, length, MOCK_APERTURE_START, PERM.WRITE);
        f.ctx.ioasUnmap(dst, MOCK_APERTURE_START, length);
      }
    }
    f.ctx.destroy(dst);
  });
});
