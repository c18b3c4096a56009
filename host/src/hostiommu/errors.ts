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
   *  a (device, PASID) that is already attached, a host PASID owned by another VM. */
  EBUSY: 'in use: the object has users, the device is bound, or the slot is taken',
  /** No object with that id (or it is of another kind), no mapping there, nothing attached. */
  ENOENT: 'no such object, mapping or attachment',
  /** An argument is malformed: unaligned, zero length, out of range, wrong flags,
   *  an unmap range that cuts through a mapping, an unknown fault cookie. */
  EINVAL: 'invalid argument',
  /** An allocation space is exhausted: no free IOVA hole, no free PASID in the
   *  global or per-device namespace, no free domain id. */
  ENOSPC: 'no space left in the namespace or address space',
  /** A per-set PASID quota is used up (the global space may still have room). */
  EDQUOT: 'quota exceeded',
  /** Something with that key already exists: an IOVA range already mapped, a guest
   *  PASID already mapped, a virtual RID already used, a PASID already allocated. */
  EEXIST: 'already exists',
  /** Memory could not be obtained: table pages, object ids, or the pinned-page
   *  limit of the owner. fail-nth injection reports this code. */
  ENOMEM: 'out of memory or over the pinned-page limit',
  /** The device or object cannot do that: no PASID capability, not a nesting parent,
   *  no page-request support, an unknown operation. */
  EOPNOTSUPP: 'operation not supported by this device or object',
  /** An address points outside the memory it must lie in (host memory of a mapping). */
  EFAULT: 'bad address',
  /** An address range overlaps a reserved region (e.g. the MSI window) of an attached device. */
  EADDRINUSE: 'address range is reserved',
} as const;

/** An errno code of the host API. */
export type Errno = keyof typeof ERRNO_MEANING;

/** The error every host API call throws: `errno` plus a message naming the argument. */
export class HostIommuError extends Error {
  /** The errno code (see ERRNO_MEANING). */
  readonly errno: Errno;

  /** An error with its errno; `message` names the argument or object at fault. */
  constructor(errno: Errno, message: string) {
    super(`${errno}: ${message}`);
    this.name = 'HostIommuError';
    this.errno = errno;
  }
}

/** Throws a HostIommuError. */
export function fail(errno: Errno, message: string): never {
  throw new HostIommuError(errno, message);
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

/** Checks `v` is a bigint in [0, 2^64); EINVAL naming `what` otherwise. */
export function checkU64(v: unknown, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n) fail('EINVAL', `${what}: ${String(v)} is not a 64-bit value`);
  return v;
}
