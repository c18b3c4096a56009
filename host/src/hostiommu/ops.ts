/**
 * The table-driven entry of the host IOMMU API (iommufd's single ioctl with
 * an op table): `{ op, handler }` rows and a short dispatcher. Arguments
 * arrive as a plain object (a fuzzer or the fail-nth sweep builds them);
 * handlers pass them to the typed methods, which validate everything, so a
 * malformed argument gives a HostIommuError naming it, never a crash. An
 * unknown operation is ENOTTY, as an unknown ioctl.
 */
import { fail } from './errors.js';
import type { HostIommu } from './host-iommu.js';
import type { S1Invalidation } from './hwpt.js';
import type { IovaRange } from './iova-space.js';

/** Untyped arguments of one call. */
export type OpArgs = Record<string, unknown>;

/** One row of the op table. */
export interface OpRow {
  /** Operation name (`family.verb`). */
  readonly op: string;
  /** Runs the operation on a context. */
  readonly handler: (ctx: HostIommu, a: OpArgs) => unknown;
}

// The typed methods check every value; these casts only satisfy the compiler.
const n = (a: OpArgs, k: string): number => a[k] as number;
const b = (a: OpArgs, k: string): bigint => a[k] as bigint;
const opt = <T>(a: OpArgs, k: string): T | undefined => a[k] as T | undefined;

/** Every operation of the host API. */
export const HOST_IOMMU_OPS: readonly OpRow[] = [
  { op: 'ioas.alloc', handler: (c) => c.ioasAlloc() },
  { op: 'ioas.map', handler: (c, a) => c.ioasMap(n(a, 'ioasId'), { hpa: b(a, 'hpa'), len: b(a, 'len'), perms: opt(a, 'perms'), iova: opt(a, 'iova') }) },
  { op: 'ioas.unmap', handler: (c, a) => c.ioasUnmap(n(a, 'ioasId'), b(a, 'iova'), b(a, 'len')) },
  { op: 'ioas.copy', handler: (c, a) => c.ioasCopy(n(a, 'dstId'), n(a, 'srcId'), b(a, 'srcIova'), b(a, 'len'), opt(a, 'dstIova'), opt(a, 'perms')) },
  { op: 'ioas.allowIovas', handler: (c, a) => c.ioasAllowIovas(n(a, 'ioasId'), a['ranges'] as IovaRange[]) },
  { op: 'ioas.iovaRanges', handler: (c, a) => c.ioasIovaRanges(n(a, 'ioasId'), opt(a, 'max')) },
  { op: 'ioas.addReserved', handler: (c, a) => c.ioasAddReserved(n(a, 'ioasId'), b(a, 'start'), b(a, 'length')) },
  { op: 'hwpt.allocPaging', handler: (c, a) => c.hwptAllocPaging(n(a, 'ioasId'), { nestParent: opt(a, 'nestParent'), pasid: opt(a, 'pasidCompat'), faultId: opt(a, 'faultId') }) },
  {
    op: 'hwpt.allocNested',
    handler: (c, a) => c.hwptAllocNested(n(a, 'parentId'), {
      fsptptr: b(a, 'fsptptr'), fsLevels: opt(a, 'fsLevels'), sre: opt(a, 'sre'), wpe: opt(a, 'wpe'), pasid: opt(a, 'pasidCompat'), faultId: opt(a, 'faultId'),
    }),
  },
  { op: 'hwpt.invalidate', handler: (c, a) => c.hwptInvalidate(n(a, 'hwptId'), a['entries'] as S1Invalidation[]) },
  { op: 'device.bind', handler: (c, a) => c.bindDevice(c.platform.openDevice(n(a, 'sid'))) },
  { op: 'device.attach', handler: (c, a) => c.attach(n(a, 'devId'), n(a, 'hwptId'), opt(a, 'pasid')) },
  { op: 'device.replace', handler: (c, a) => c.replace(n(a, 'devId'), n(a, 'hwptId'), opt(a, 'pasid')) },
  { op: 'device.detach', handler: (c, a) => c.detach(n(a, 'devId'), opt(a, 'pasid')) },
  { op: 'device.attachedTo', handler: (c, a) => c.attachedTo(n(a, 'devId'), opt(a, 'pasid')) },
  { op: 'device.reset', handler: (c, a) => c.reset(n(a, 'devId')) },
  { op: 'subdevice.alloc', handler: (c, a) => c.subdeviceAlloc(n(a, 'devId'), opt(a, 'pasid')) },
  { op: 'fault.alloc', handler: (c) => c.faultQueueAlloc() },
  { op: 'fault.read', handler: (c, a) => c.faultRead(n(a, 'faultId'), opt(a, 'max')) },
  { op: 'fault.respond', handler: (c, a) => c.faultRespond(n(a, 'faultId'), n(a, 'cookie'), n(a, 'code')) },
  { op: 'viommu.alloc', handler: (c, a) => c.viommuAlloc(n(a, 'devId'), n(a, 'hwptId'), opt(a, 'type')) },
  { op: 'hwpt.allocNestedArm', handler: (c, a) => c.hwptAllocNested(n(a, 'parentId'), { ste: a['ste'] as [bigint, bigint] }) },
  { op: 'veventq.alloc', handler: (c, a) => c.veventqAlloc(n(a, 'viommuId'), n(a, 'depth')) },
  { op: 'veventq.read', handler: (c, a) => c.veventqRead(n(a, 'veventqId'), opt(a, 'max')) },
  { op: 'viommu.vridOf', handler: (c, a) => c.vridOf(n(a, 'viommuId'), n(a, 'sid')) },
  { op: 'viommu.deviceOf', handler: (c, a) => c.deviceOfVrid(n(a, 'viommuId'), n(a, 'vrid')) },
  { op: 'vdevice.alloc', handler: (c, a) => c.vdeviceAlloc(n(a, 'viommuId'), n(a, 'devId'), n(a, 'vrid')) },
  { op: 'pasidSet.alloc', handler: (c, a) => c.pasidSetAlloc(n(a, 'quota')) },
  { op: 'pasid.alloc', handler: (c, a) => c.pasidAlloc(n(a, 'setId'), opt(a, 'pasid')) },
  { op: 'pasid.free', handler: (c, a) => c.pasidFree(n(a, 'setId'), n(a, 'pasid')) },
  { op: 'devicePasid.alloc', handler: (c, a) => c.devicePasidAlloc(n(a, 'devId'), opt(a, 'pasid')) },
  { op: 'devicePasid.free', handler: (c, a) => c.devicePasidFree(n(a, 'devId'), n(a, 'pasid')) },
  { op: 'guestPasid.map', handler: (c, a) => c.guestPasidMap(n(a, 'gpasid'), n(a, 'hpasid')) },
  { op: 'guestPasid.unmap', handler: (c, a) => c.guestPasidUnmap(n(a, 'gpasid')) },
  { op: 'destroy', handler: (c, a) => c.destroy(n(a, 'id')) },
];

const BY_NAME = new Map(HOST_IOMMU_OPS.map((r) => [r.op, r]));

/** Runs `op` on `ctx`; ENOTTY for an unknown op, EINVAL when `args` is not an object. */
export function callOp(ctx: HostIommu, op: string, args: OpArgs): unknown {
  const row = BY_NAME.get(op);
  if (row === undefined) fail('ENOTTY', `op: "${String(op)}" is not an operation`);
  if (typeof args !== 'object' || args === null) fail('EINVAL', `args: ${String(args)} is not an object`);
  return row.handler(ctx, args);
}
