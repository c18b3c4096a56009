/**
 * What the ports of the kernel's iommufd selftests
 * (tools/testing/selftests/iommu/iommufd.c, iommufd_fail_nth.c) share: the
 * selftest's constants re-expressed for this model, and its helpers.
 *
 * - A "mock device" (test_cmd_mock_domain) is a physical device bound to
 *   the context and attached to an IOAS or HWPT; its device id plays both
 *   the selftest's stdev_id and device_id. Mock devices have PRI, no MSI
 *   window (the mock driver reports no reserved region) and, with
 *   MOCK_FLAGS_DEVICE_PASID, a 20-bit PASID space.
 * - The mock domain's aperture and 2 KiB page differ from a VT-d second
 *   stage: our domains cover [0, 2^48) with 4 KiB pages. Ports use
 *   MOCK_APERTURE_START as a base address inside both, and PAGE_SIZE where
 *   the selftest's page granularity is the domain's.
 * - The selftest's `buffer` is host memory at BUFFER (2 MiB aligned, as the
 *   selftest aligns its buffer to a huge page).
 */
import { expect } from 'vitest';
import { createTestPlatform, hostErrorOf, type TestPlatform } from '../../src/hostiommu/testing.js';
import type { Errno, HostIommuError } from '../../src/hostiommu/errors.js';
import type { HostIommu } from '../../src/hostiommu/host-iommu.js';
import type { HwptPaging } from '../../src/hostiommu/hwpt.js';

/** PAGE_SIZE. */
export const PAGE_SIZE = 0x1000n;
/** BUFFER_SIZE: 16 pages. */
export const BUFFER_SIZE = 16n * PAGE_SIZE;
/** Host address of the selftest's `buffer`. */
export const BUFFER = 0x20_0000n;
/** MOCK_APERTURE_START: the base IOVA the selftests map at when a domain is attached. */
export const MOCK_APERTURE_START = 1n << 24n;
/** U64_MAX / UINT64_MAX. */
export const U64_MAX = (1n << 64n) - 1n;
/** Last address of our domains' aperture (a 4-level second stage). */
export const DOMAIN_LAST = (1n << 48n) - 1n;
/** Host memory ends here: `hostMemory` refuses addresses at or above (EFAULT). */
export const HOST_RAM_END = 0x1000_0000n;

/** An open iommufd with the mock devices the selftests create. */
export interface Iommufd extends TestPlatform {
  readonly ctx: HostIommu;
  /** test_cmd_mock_domain(_flags): a new mock device attached to `ptId`; its id and the HWPT it landed on. */
  mockDomain(ptId: number, opts?: { pasid?: boolean; pri?: boolean }): { devId: number; hwptId: number };
}

/** FIXTURE_SETUP(iommufd): a platform, one context (optionally with a pinned-page limit). */
export function openIommufd(limitPages?: number): Iommufd {
  const t = createTestPlatform({ hostMemory: (hpa, len) => hpa + len <= HOST_RAM_END });
  const ctx = t.platform.createContext('selftest', limitPages);
  let nextSid = 0x0100;
  const mockDomain: Iommufd['mockDomain'] = (ptId, opts = {}) => {
    const sid = nextSid;
    nextSid += 8;
    t.platform.addDevice(sid, { pasidBits: opts.pasid ? 20 : 0, pri: opts.pri ?? true, reserved: null });
    const devId = ctx.bindDevice(t.platform.openDevice(sid));
    const hwptId = ctx.attach(devId, ptId);
    return { devId, hwptId };
  };
  return { ...t, ctx, mockDomain };
}

/** FIXTURE_TEARDOWN's teardown_iommufd: closing leaves nothing behind. */
export function teardown(f: Iommufd): void {
  f.ctx.close();
  expect(f.platform.usage()).toEqual({ objects: 0, pinnedPages: 0, pasids: 0, tablePages: 1, dids: 0, boundDevices: 0 });
}

/** EXPECT_ERRNO: `fn` fails with `errno`; returns the error. */
export function expectErrno(errno: Errno, fn: () => unknown): HostIommuError {
  const e = hostErrorOf(fn);
  expect(e.errno, e.message).toBe(errno);
  return e;
}

/** check_mock_iova: HWPT `hwptId`'s second stage maps `[iova, iova + len)` to `[hpa, hpa + len)`. */
export function checkMockIova(f: Iommufd, hwptId: number, hpa: bigint, iova: bigint, len: bigint): void {
  const table = (f.ctx as unknown as { table: { peek(id: number): HwptPaging } }).table.peek(hwptId).table;
  for (let off = 0n; off < len; off += PAGE_SIZE) expect(table.lookup(iova + off)?.hpa).toBe(hpa + off);
}

/** The lowest set bit of `v` (1 << (ffs(v) - 1)). */
export function lowBit(v: bigint): bigint {
  return v & -v;
}
