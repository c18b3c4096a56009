/**
 * Page request groups awaiting a page-group response (PCIe PRI; VT-d §7.5-7.7
 * in 3.x). A group, named by (requester id, PASID if present, PRGI), is open
 * from its first queued page until software answers it or the IOMMU answers it
 * itself (overflow auto-response). A response for a group that is not open is
 * "unknown": the unit ignores and logs it, so a device never sees a response
 * it did not ask for (or one twice).
 *
 * Stop markers are not groups: they get no response.
 */
import type { PageRequest } from '../spec/page-request.js';
import type { Pasid, Sid } from '../../types.js';

/** An open group as embedders and tests see it. */
export interface OpenGroup {
  /** Requester id. */
  readonly sid: Sid;
  /** PASID, when the group's requests carry one. */
  readonly pasid?: Pasid;
  /** Page request group index. */
  readonly prgi: number;
  /** Pages of the group written to the queue so far. */
  readonly pages: number;
  /** The last page (LPIG) has been queued: software may answer now. */
  readonly complete: boolean;
}

/** The identity of a group. */
export interface GroupId {
  readonly sid: Sid;
  readonly pasid?: Pasid;
  readonly prgi: number;
}

/** Most groups the unit tracks; beyond it new groups are logged and not tracked (responses to them are then unknown). */
export const MAX_OPEN_GROUPS = 1 << 16;

const keyOf = (g: GroupId): string => `${g.sid}:${g.pasid ?? '-'}:${g.prgi}`;

/** Human-readable group name for logs: rid 0x18 pasid 5 prgi 3. */
export function groupName(g: GroupId): string {
  return `rid 0x${g.sid.toString(16)}${g.pasid === undefined ? '' : ` pasid ${g.pasid}`} prgi ${g.prgi}`;
}

/** The open groups of one unit. */
export class PageGroups {
  private readonly open = new Map<string, OpenGroup>();

  constructor(private readonly log: (msg: string) => void) {}

  /** A page of `req`'s group was written to the queue. */
  noteQueued(req: PageRequest): void {
    const key = keyOf(req);
    const old = this.open.get(key);
    if (!old && this.open.size >= MAX_OPEN_GROUPS) {
      this.log(`page request ${groupName(req)}: ${MAX_OPEN_GROUPS} groups already open; not tracked`);
      return;
    }
    const group: OpenGroup = {
      sid: req.sid, pasid: req.pasid, prgi: req.prgi,
      pages: (old?.pages ?? 0) + 1, complete: (old?.complete ?? false) || req.lpig,
    };
    this.open.set(key, group);
  }

  /** Closes a group (answered); returns it, or undefined when it was not open. */
  close(g: GroupId): OpenGroup | undefined {
    const key = keyOf(g);
    const group = this.open.get(key);
    this.open.delete(key);
    return group;
  }

  /** Every open group, oldest first. */
  list(): OpenGroup[] {
    return [...this.open.values()];
  }

  /**
   * Replaces the open groups with `groups` (a snapshot's, oldest first), as
   * they are: one step per group, whatever their page counts. Throws naming
   * the index of a group that is already in the list, or when there are more
   * than MAX_OPEN_GROUPS; nothing changes then.
   */
  restore(groups: readonly OpenGroup[]): void {
    if (groups.length > MAX_OPEN_GROUPS) throw new Error(`state.groups: ${groups.length} open groups, at most ${MAX_OPEN_GROUPS} can be`);
    const next = new Map<string, OpenGroup>();
    groups.forEach((g, i) => {
      const key = keyOf(g);
      if (next.has(key)) throw new Error(`state.groups[${i}]: ${groupName(g)} is open twice`);
      next.set(key, { sid: g.sid, pasid: g.pasid, prgi: g.prgi, pages: g.pages, complete: g.complete });
    });
    this.open.clear();
    for (const [k, g] of next) this.open.set(k, g);
  }

  /** Forgets every group (unit reset). */
  clear(): void {
    this.open.clear();
  }
}
