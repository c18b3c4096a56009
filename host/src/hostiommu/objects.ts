/**
 * The object id table of one host IOMMU context (iommufd's xarray of
 * objects): every object gets a numeric id from one table, lowest free id
 * first (as xa_alloc does). Objects count their users (dependents holding a
 * reference); destroying an object that still has users fails with EBUSY.
 */
import { fail } from './errors.js';
import type { FailInjector } from './fail-nth.js';

/** The kinds of objects a context holds. */
export type ObjectKind = 'ioas' | 'hwpt-paging' | 'hwpt-nested' | 'device' | 'fault-queue' | 'viommu' | 'vdevice' | 'pasid-set';

/** What every object in the table provides. */
export interface HostObject {
  /** The object's kind (checked by `get`). */
  readonly kind: ObjectKind;
  /** Its id, set by the table when added (0 before). */
  id: number;
  /** Number of other objects / attachments holding a reference to it. */
  users: number;
  /** Releases what the object owns and drops its references to others (called by `destroy`). */
  release(): void;
}

/** Largest object id (31 bits, as iommufd's xa_limit_31b). */
export const MAX_OBJECT_ID = 0x7fff_ffff;

/** Numeric ids -> objects, with kind checks and refcount-guarded destroy. */
export class ObjectTable {
  private readonly objects = new Map<number, HostObject>();

  /** An empty table; `injector` fails allocations on request (fail-nth), ids go up to `maxId`. */
  constructor(private readonly injector: FailInjector, private readonly maxId = MAX_OBJECT_ID) {}

  /** Number of live objects. */
  get size(): number {
    return this.objects.size;
  }

  /** Gives `obj` the lowest free id and stores it (an allocation point; ENOSPC when ids run out). */
  add<T extends HostObject>(obj: T): T {
    this.injector.point(`object id for ${obj.kind}`);
    let id = 1;
    while (this.objects.has(id)) id++;
    if (id > this.maxId) fail('ENOSPC', `object id: all ${this.maxId} ids are in use`);
    obj.id = id;
    this.objects.set(id, obj);
    return obj;
  }

  /** The object `id` of one of `kinds`; ENOENT naming `what` if missing or of another kind. */
  get<T extends HostObject>(id: unknown, kinds: readonly ObjectKind[], what: string): T {
    if (typeof id !== 'number' || !Number.isInteger(id)) fail('EINVAL', `${what}: ${String(id)} is not an object id`);
    const obj = this.objects.get(id);
    if (obj === undefined) fail('ENOENT', `${what}: no object ${id}`);
    if (!kinds.includes(obj.kind)) fail('ENOENT', `${what}: object ${id} is a ${obj.kind}, not a ${kinds.join(' or ')}`);
    return obj as T;
  }

  /** The object `id` of any kind, or undefined. */
  peek(id: number): HostObject | undefined {
    return this.objects.get(id);
  }

  /** The kind of object `id`, or undefined. */
  kindOf(id: number): ObjectKind | undefined {
    return this.objects.get(id)?.kind;
  }

  /** Destroys object `id`: EBUSY while it has users, ENOENT if missing. */
  destroy(id: unknown): void {
    if (typeof id !== 'number' || !Number.isInteger(id)) fail('EINVAL', `id: ${String(id)} is not an object id`);
    const obj = this.objects.get(id);
    if (obj === undefined) fail('ENOENT', `id: no object ${id}`);
    if (obj.users > 0) fail('EBUSY', `id: ${obj.kind} ${id} still has ${obj.users} user(s)`);
    obj.release();
    this.objects.delete(id);
    obj.id = 0;
  }

  /** Ids of live objects, newest-created last (insertion order). */
  ids(): number[] {
    return [...this.objects.keys()];
  }

  /** Live object counts by kind (for leak checks). */
  countsByKind(): Partial<Record<ObjectKind, number>> {
    const out: Partial<Record<ObjectKind, number>> = {};
    for (const o of this.objects.values()) out[o.kind] = (out[o.kind] ?? 0) + 1;
    return out;
  }
}
