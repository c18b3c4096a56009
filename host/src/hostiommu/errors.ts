/**
 * Errors of the host IOMMU API (iommufd-like). Every failing call throws a
 * `HostIommuError` carrying an errno-style code and a message naming the
 * argument. The meaning of each code is written down once, here, and the
 * rest of hostiommu/ uses the codes only in these meanings.
 */

/**
 * Each errno the host API returns and what it means in this API (as
 * iommufd's uAPI documents its codes once, in include/uapi/linux/iommufd.h).
 */
export const ERRNO_MEANING = {
  /** An object or resource is in use: destroying an object others depend on,
   *  binding a device another context (or this one) already bound, attaching
   *  a (device, PASID) that is already attached, a host PASID owned by another
   *  VM, freeing a PASID that is attached. */
  EBUSY: 'in use: the object has users, the device is bound, or the slot is taken',
  /** No object with that id (or, for an argument that takes one kind, an object
   *  of another kind; or a tombstone), no mapping that an unmap range covers
   *  exactly (nothing mapped there, or the range cuts through a mapping), a
   *  copy source with a hole, a PASID never allocated, no vDEVICE for a device
   *  attached to a vIOMMU's nested HWPT. */
  ENOENT: 'no such object, mapping or allocation',
  /** An argument is malformed (not an integer, unaligned, zero length, out of
   *  range), or an object cannot serve as the target it is given as: a target
   *  of the wrong kind where several kinds are possible (HWPT parent, attach
   *  target, invalidation target), a parent that is not a nesting parent or is
   *  an automatic domain, a HWPT not allocated PASID-compatible on a PASID (or
   *  on the RID while PASIDs are attached), a device without PASID support
   *  asked for a PASID, a replace with nothing attached, a fixed IOVA range
   *  over a reserved region, an unknown fault cookie. */
  EINVAL: 'invalid argument',
  /** An allocation space is exhausted: no free IOVA hole at the required
   *  alignment, no free PASID in the global or per-device namespace, no free
   *  domain id or object id. */
  ENOSPC: 'no space left in the namespace or address space',
  /** A per-set PASID quota is used up (the global space may still have room). */
  EDQUOT: 'quota exceeded',
  /** Something with that key already exists: an IOVA range already mapped, a guest
   *  PASID already mapped, a virtual RID already used, a device that already has
   *  a vDEVICE, a PASID already allocated. */
  EEXIST: 'already exists',
  /** Memory could not be obtained: table pages, object ids, or the pinned-page
   *  limit of the owner. fail-nth injection reports this code. */
  ENOMEM: 'out of memory or over the pinned-page limit',
  /** The device or object cannot do that: unknown flag bits, a fault queue on a
   *  nesting-parent HWPT, no page-request support, an invalidation the target
   *  does not implement. */
  EOPNOTSUPP: 'operation not supported by this device or object',
  /** An address points outside the memory it must lie in (host memory of a mapping). */
  EFAULT: 'bad address',
  /** A range would take IOVA space that is promised elsewhere: reserving over a
   *  mapping or an allowed range, allowing a range that is reserved, attaching a
   *  domain whose aperture or page size excludes an existing mapping. */
  EADDRINUSE: 'address range is reserved or in use',
  /** A value does not fit the 64-bit IOVA space: `start + length` wraps past
   *  2^64, or an address or length is 2^64 - 1 or more where the uAPI takes one. */
  EOVERFLOW: 'value too large for the address space',
  /** The access asked for is not allowed: a writable copy of pages mapped read-only. */
  EPERM: 'operation not permitted',
  /** The answer does not fit the space the caller gave (IOVA ranges beyond `max`);
   *  `HostIommuError.count` tells how many there are. */
  EMSGSIZE: 'result too large for the caller\'s buffer',
  /** No such operation (an unknown command of the table-driven entry). */
  ENOTTY: 'unknown command',
  /** Data a guest handed through is not allowed (iommufd's code for invalid
   *  SMMUv3 STE data and invalidation commands): a field or opcode a guest
   *  may not use, a virtual StreamID with no vDEVICE. */
  EIO: 'invalid guest data (an STE field or command the host does not take)',
} as const;

/** An errno code of the host API. */
export type Errno = keyof typeof ERRNO_MEANING;

/** The error every host API call throws: `errno` plus a message naming the argument. */
export class HostIommuError extends Error {
  /** The errno code (see ERRNO_MEANING). */
  readonly errno: Errno;
  /**
   * For calls that take or return an array: how many entries were handled
   * before the failure (cache invalidation), or how many results exist
   * (EMSGSIZE). Undefined otherwise.
   */
  readonly count: number | undefined;

  /** An error with its errno; `message` names the argument or object at fault. */
  constructor(errno: Errno, message: string, count?: number) {
    super(`${errno}: ${message}`);
    this.name = 'HostIommuError';
    this.errno = errno;
    this.count = count;
  }
}

/** Throws a HostIommuError (`count` as HostIommuError.count). */
export function fail(errno: Errno, message: string, count?: number): never {
  throw new HostIommuError(errno, message, count);
}

/** True when `e` is a HostIommuError (optionally with that errno). */
export function isHostIommuError(e: unknown, errno?: Errno): e is HostIommuError {
  return e instanceof HostIommuError && (errno === undefined || e.errno === errno);
}

/** Checks `v` is an integer in [min, max]; EINVAL naming `what` otherwise. */
export function checkInt(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail('EINVAL', `${what}: ${String(v)} is not an integer in ${min}..${max}`);
  }
  return v;
}

/** True when `v` is a bigint in [0, 2^64). */
export function isU64(v: unknown): v is bigint {
  return typeof v === 'bigint' && v >= 0n && v < 1n << 64n;
}

/** Checks `v` is a bigint in [0, 2^64); EINVAL naming `what` otherwise. */
export function checkU64(v: unknown, what: string): bigint {
  if (!isU64(v)) fail('EINVAL', `${what}: ${String(v)} is not a 64-bit value`);
  return v;
}
