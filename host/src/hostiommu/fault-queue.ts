/**
 * The fault queue object (iommufd IOMMU_FAULT_QUEUE_ALLOC): I/O page faults
 * of devices attached to a HWPT that names this queue. A host-side source
 * (the physical IOMMU's page-request path) delivers page requests with
 * `deliver`; requests of one page group (same device, PASID, group id)
 * collect until the one marked last arrives (§7.5.1 page request, LPIG),
 * then the group becomes readable under one cookie. The VMM reads records
 * with `read` and answers a group with `respond(cookie, code)`; an unknown
 * cookie is rejected (EINVAL). The answer goes back to the device through
 * the `responder` given at creation (a page group response, §7.7).
 */
import { checkInt, fail } from './errors.js';
import type { HostObject } from './objects.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import type { Pasid, Sid, Iova } from '../types.js';


/** Access bits of a fault record (iommufd IOMMU_PGFAULT_PERM_*). */
export const FAULT_PERM = { READ: 1, WRITE: 2, EXEC: 4, PRIV: 8 } as const;

/** A page request as the host-side source delivers it. */
export interface PageRequest {
  /** Device (or subdevice, for a PASID of its slice) object id in the context the queue belongs to. */
  readonly devId: number;
  /** Physical requester id (for the response). */
  readonly sid: Sid;
  /** PASID of the request, or undefined for a request without PASID. */
  readonly pasid: Pasid | undefined;
  /** Page request group index (9 bits, §7.5.1 PRGI). */
  readonly groupId: number;
  /** FAULT_PERM bits. */
  readonly perms: number;
  /** Faulting address (page aligned). */
  readonly addr: Iova;
  /** Last request of its group (LPIG). */
  readonly last: boolean;
}

/** One record as the VMM reads it. */
export interface FaultRecord {
  /** Object id of the bound device the fault came from, or of the subdevice whose PASID it carries. */
  readonly devId: number;
  /** PASID of the request (guest PASID), undefined without one. */
  readonly pasid: Pasid | undefined;
  /** Page request group index. */
  readonly groupId: number;
  /** Requested access: FAULT_PERM bits. */
  readonly perms: number;
  /** Faulting page address. */
  readonly addr: Iova;
  /** Last page of its group: the group needs a response. */
  readonly last: boolean;
  /** The cookie that names this record's group in `respond`. */
  readonly cookie: number;
}

/** Sends a page group response to the device. */
export type PageResponder = (sid: Sid, pasid: Pasid | undefined, groupId: number, code: number) => void;

interface Group { readonly sid: number; readonly pasid: number | undefined; readonly devId: number; readonly groupId: number; records: FaultRecord[] }

const groupKey = (r: PageRequest): string => `${r.devId}:${r.pasid ?? '-'}:${r.groupId}`;

/** A queue of I/O page faults awaiting the VMM's response. */
export class FaultQueue implements HostObject {
  readonly kind = 'fault-queue' as const;
  id = 0;
  users = 0;
  private nextCookie = 1;
  /** Groups still collecting requests (no LPIG yet). */
  private readonly partial = new Map<string, PageRequest[]>();
  /** Complete groups by cookie, until responded. */
  private readonly pending = new Map<number, Group>();
  /** Records not yet read. */
  private readonly unread: FaultRecord[] = [];

  /**
   * `responder` sends answers to the device; `notify` (optional) is called
   * with the cookie whenever a group becomes readable (the VMM's wakeup, as
   * iommufd's fault fd becomes readable), e.g. to forward it to a guest's
   * page-request queue.
   */
  constructor(private readonly responder: PageResponder, private readonly notify?: (cookie: number) => void) {}

  /** Takes one page request; returns the group's cookie once the group is complete. */
  deliver(req: PageRequest): number | undefined {
    checkInt(req.groupId, 0, 0x1ff, 'groupId');
    const k = groupKey(req);
    const reqs = [...(this.partial.get(k) ?? []), req];
    if (!req.last) {
      this.partial.set(k, reqs);
      return undefined;
    }
    this.partial.delete(k);
    const cookie = this.nextCookie++;
    const records = reqs.map((r) => ({ devId: r.devId, pasid: r.pasid, groupId: r.groupId, perms: r.perms, addr: r.addr, last: r.last, cookie }));
    this.pending.set(cookie, { sid: req.sid, pasid: req.pasid, devId: req.devId, groupId: req.groupId, records });
    this.unread.push(...records);
    this.notify?.(cookie);
    return cookie;
  }

  /** Reads up to `max` unread records (oldest first). */
  read(max = Infinity): FaultRecord[] {
    return this.unread.splice(0, max);
  }

  /**
   * Answers the group named by `cookie` as user space does (write to the
   * fault fd): PageResponseCode.Success or InvalidRequest only, as iommufd's
   * IOMMUFD_PAGE_RESP_SUCCESS/INVALID (ResponseFailure is the host's own
   * answer when a device goes away, `drain`);
   * EINVAL for an unknown cookie or code.
   */
  respond(cookie: number, code: number): void {
    const g = this.pending.get(cookie);
    if (g === undefined) fail('EINVAL', `cookie: ${String(cookie)} names no pending fault group`);
    if (code !== PageResponseCode.Success && code !== PageResponseCode.InvalidRequest) fail('EINVAL', `code: ${String(code)} is not a user page response code (0 success, 1 invalid)`);
    this.finish(cookie, g, code);
  }

  /** Answers every group of `devId` (and `pasid`, if given) with `code`, drops its partial groups; returns how many groups. */
  drain(devId: number, pasid: number | undefined | 'all', code: number = PageResponseCode.InvalidRequest): number {
    const match = (d: number, p: number | undefined): boolean => d === devId && (pasid === 'all' || p === pasid);
    for (const [k, reqs] of this.partial) if (match(reqs[0]!.devId, reqs[0]!.pasid)) this.partial.delete(k);
    let n = 0;
    for (const [cookie, g] of this.pending) {
      if (!match(g.devId, g.pasid)) continue;
      this.finish(cookie, g, code);
      n++;
    }
    return n;
  }

  release(): void {
    this.partial.clear();
    for (const [cookie, g] of this.pending) this.finish(cookie, g, PageResponseCode.InvalidRequest);
  }

  private finish(cookie: number, g: Group, code: number): void {
    this.pending.delete(cookie);
    for (let i = this.unread.length - 1; i >= 0; i--) if (this.unread[i]!.cookie === cookie) this.unread.splice(i, 1);
    this.responder(g.sid, g.pasid, g.groupId, code);
  }
}
