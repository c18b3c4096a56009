/**
 * The object id table of one host IOMMU context (iommufd's xarray of
 * objects): every object gets a numeric id from one table, lowest free id
 * first (as xa_alloc does). Objects count their users (dependents holding a
 * reference); destroying an object that still has users fails with EBUSY.
 *
 * A *tombstone* is an object destroyed on the kernel's initiative (a
 * vDEVICE whose device was unbound): it is gone, its id gives ENOENT, and
 * the id is not handed out again until the context closes
 * (iommufd_object_tombstone_user).
 */
import { fail } from './errors.js';
import type { FailInjector } from './fail-nth.js';
import { MinHeap } from '../min-heap.js';

/** The kinds of objects a context holds. */
export type ObjectKind = 'ioas' | 'hwpt-paging' | 'hwpt-nested' | 'device' | 'subdevice' | 'fault-queue' | 'viommu' | 'vdevice' | 'veventq' | 'pasid-set';

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

/** Numeric ids -> objects, with kind checks, refcount-guarded destroy and tombstones. */
export class ObjectTable {
  private readonly objects = new Map<number, HostObject>();
  private readonly tombstones = new Set<number>();
  private readonly freed = new MinHeap(); // freed ids: the lowest free id in O(log n)
  private nextId = 1;

  /** An empty table; `injector` fails allocations on request (fail-nth), ids go up to `maxId`. */
  constructor(private readonly injector: FailInjector, private readonly maxId = MAX_OBJECT_ID) {}

  /** Number of live objects. */
  get size(): number {
    return this.objects.size;
  }

  /** Gives `obj` the lowest free id and stores it (an allocation point; ENOSPC when ids run out). */
  add<T extends HostObject>(obj: T): T {
    this.injector.point(`object id for ${obj.kind}`);
    if (this.freed.size === 0 && this.nextId > this.maxId) fail('ENOSPC', `object id: all ${this.maxId} ids are in use`);
    const id = this.freed.pop() ?? this.nextId++;
    obj.id = id;
    this.objects.set(id, obj);
    return obj;
  }

  /** The object `id` of one of `kinds`; ENOENT naming `what` if missing, a tombstone or of another kind. */
  get<T extends HostObject>(id: unknown, kinds: readonly ObjectKind[], what: string): T {
    const obj = this.getAny(id, what);
    if (!kinds.includes(obj.kind)) fail('ENOENT', `${what}: object ${obj.id} is a ${obj.kind}, not a ${kinds.join(' or ')}`);
    return obj as T;
  }

  /** The object `id` of any kind (the caller dispatches on its kind); EINVAL not an id, ENOENT missing. */
  getAny(id: unknown, what: string): HostObject {
    if (typeof id !== 'number' || !Number.isInteger(id)) fail('EINVAL', `${what}: ${String(id)} is not an object id`);
    const obj = this.objects.get(id);
    if (obj === undefined) fail('ENOENT', this.tombstones.has(id) ? `${what}: object ${id} was destroyed with its device` : `${what}: no object ${id}`);
    return obj;
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
    const obj = this.getAny(id, 'id');
    if (obj.users > 0) fail('EBUSY', `id: ${obj.kind} ${obj.id} still has ${obj.users} user(s)`);
    obj.release();
    this.objects.delete(obj.id);
    this.freed.push(obj.id);
    obj.id = 0;
  }

  /** Destroys object `id` but keeps its id taken: it then gives ENOENT (see the file comment). */
  tombstone(id: number): void {
    const obj = this.getAny(id, 'id');
    obj.release();
    this.objects.delete(id);
    this.tombstones.add(id);
    obj.id = 0;
  }

  /** Frees the ids of every tombstone (the context closes). */
  clearTombstones(): void {
    for (const id of this.tombstones) this.freed.push(id);
    this.tombstones.clear();
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
