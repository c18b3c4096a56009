/**
 * I/O page faults end to end inside one VT-d unit (§7.4-7.7 in 3.x): devices
 * submit page requests here; each is checked where it enters the IOMMU
 * (admission.ts), written to the guest's page-request queue (queue.ts) or,
 * on overflow, answered by the hardware itself; the guest's page-group
 * responses (queued-invalidation descriptor type 9) are matched to an open
 * group (groups.ts) and routed to the device by requester id.
 *
 * Overflow (VT-d §7.5): a request that cannot be queued is dropped; if
 * it is the last page of its group (LPIG, not a stop marker) the unit answers
 * the group with Success, so the device retries the access and, once software
 * has drained the queue and cleared PRO, asks again. Nothing is lost
 * silently: every drop and auto-response is counted and logged. (The code
 * rests on one source, Linux's drivers/iommu/intel/prq.c; QEMU 10.2 leaves the answer to
 * its PRI device layer.) Before queuing, the unit drops what it cached for
 * the page (implicit-invalidation.ts), so the retry sees the guest's fix.
 */
import type { GuestMemory } from '../../core/guest-memory.js';
import { ECAP } from '../spec/registers.js';
import type { FaultRecorder } from '../fault-recorder.js';
import type { EventInterrupts } from '../interrupts.js';
import type { RegisterFile } from '../register-file.js';
import type { Core } from '../../core/core.js';
import { admitPageRequest } from './admission.js';
import { invalidateForPageRequest } from './implicit-invalidation.js';
import type { PageRequestOutcome, PageRequestSink, PageResponseTarget } from './page-request.js';
import {
  encodePageRequest, isStopMarker, type PageRequest, PageResponseCode, PASID_MAX, PRGI_MAX,
} from '../spec/page-request.js';
import { groupName, PageGroups, type OpenGroup } from './groups.js';
import { PageRequestQueue } from './queue.js';
import type { Sid, Pasid } from '../../types.js';

/** What the service uses of its unit. */
export interface PageRequestHost {
  readonly regs: RegisterFile;
  readonly mem: GuestMemory;
  readonly events: EventInterrupts;
  readonly faults: FaultRecorder;
  /** The core: implicit invalidation of the requested page (§6.5.4 in 3.x). */
  readonly core: Core;
  readonly ecap: bigint;
  /** The root table SRTP latched: address and TTM. */
  latchedRoot(): { rootTable: bigint; ttm: number };
  log(msg: string): void;
}

/** A page-group response as the invalidation queue decoded it (descriptor type 9). */
export interface GroupResponse {
  /** Requester id the response goes to. */
  readonly rid: Sid;
  /** PASID, when the descriptor has PASID Present set. */
  readonly pasid?: Pasid;
  /** Page request group index. */
  readonly prgi: number;
  /** Response code (PageResponseCode). */
  readonly code: number;
}

/** Finds the device (PRI target) with a requester id; the machine wires it to its PCI bus. */
export type PageResponseRouter = (sid: Sid) => PageResponseTarget | undefined;

/** Counters of the page-request path (since the last reset). */
export interface PageRequestStats {
  /** Requests written to the queue. */
  queued: number;
  /** Requests refused at admission (a non-recoverable fault was reported). */
  rejected: number;
  /** Requests not queued: queue full, PRO set, or queue outside RAM. */
  dropped: number;
  /** Times the queue filled up (PRO set). */
  overflows: number;
  /** Groups the unit answered itself. */
  autoResponses: number;
  /** Software responses delivered to a device. */
  responses: number;
  /** Software responses for groups that were not open (ignored). */
  unknownResponses: number;
}

/** Most pages a restored group may have (a guest never lets one grow near this). */
const MAX_GROUP_PAGES = 1 << 20;

/** The page-request state the registers do not hold (snapshots): open groups and counters. */
export interface PageRequestState {
  /** Groups waiting for a response, oldest first. */
  readonly groups: readonly OpenGroup[];
  /** The counters. */
  readonly stats: PageRequestStats;
}

const zeroStats = (): PageRequestStats => ({
  queued: 0, rejected: 0, dropped: 0, overflows: 0, autoResponses: 0, responses: 0, unknownResponses: 0,
});

function checkInt(v: unknown, max: number, what: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new Error(`${what}: ${String(v)} is not an integer in 0..${max}`);
  }
}

/** Throws an `Error` naming the field when a device passes a malformed request. */
function checkRequest(r: PageRequest): void {
  checkInt(r.sid, 0xffff, 'req.sid');
  checkInt(r.prgi, PRGI_MAX, 'req.prgi');
  if (r.pasid !== undefined) checkInt(r.pasid, PASID_MAX, 'req.pasid');
  if (typeof r.addr !== 'bigint' || r.addr < 0n || r.addr >= 1n << 64n) {
    throw new Error(`req.addr: ${String(r.addr)} is not a 64-bit address`);
  }
  for (const f of ['read', 'write', 'exec', 'priv', 'lpig'] as const) {
    if (typeof r[f] !== 'boolean') throw new Error(`req.${f}: ${String(r[f])} is not a boolean`);
  }
}

/** The page-request path of one unit. */
export class PageRequestService implements PageRequestSink {
  /** The page-request queue in guest memory (PQH/PQT/PQA). */
  readonly queue: PageRequestQueue;
  /** Counters of what became of requests and responses. */
  readonly stats: PageRequestStats = zeroStats();
  private readonly groups: PageGroups;
  private router: PageResponseRouter = () => undefined;

  /** The page-request path over the unit parts `host` gives (registers, guest memory, events, faults). */
  constructor(private readonly host: PageRequestHost) {
    this.queue = new PageRequestQueue(host.regs, host.mem, host.events, (m) => host.log(m));
    this.groups = new PageGroups((m) => host.log(m));
  }

  /** Sets how responses find their device (by requester id). */
  setRouter(router: PageResponseRouter): void {
    if (typeof router !== 'function') throw new Error('router: not a function');
    this.router = router;
  }

  /** A device's page request: admission, then queue or auto-response. */
  submitPageRequest(req: PageRequest): PageRequestOutcome {
    checkRequest(req);
    const name = groupName(req);
    if ((this.host.ecap & ECAP.PRS) === 0n) {
      this.host.log(`page request ${name}: unit does not support page requests (ECAP.PRS=0)`);
      this.stats.rejected++;
      return 'rejected';
    }
    if (!this.admit(req)) return 'rejected';
    invalidateForPageRequest({ mem: this.host.mem, ...this.host.latchedRoot() }, this.host.core, req);
    const result = this.queue.enqueue(encodePageRequest(req));
    if (result === 'queued') {
      this.stats.queued++;
      if (!isStopMarker(req)) this.groups.noteQueued(req);
      return 'queued';
    }
    this.stats.dropped++;
    if (result === 'overflow') this.stats.overflows++;
    if (!req.lpig || isStopMarker(req)) {
      this.host.log(`page request ${name} dropped (${result}); no response owed`);
      return 'dropped';
    }
    // The group's other pages (if queued earlier) are software's to discard (§7.5, PRO recovery).
    this.groups.close(req);
    this.stats.autoResponses++;
    const code = result === 'unwritable' ? PageResponseCode.ResponseFailure : PageResponseCode.Success;
    this.host.log(`page request ${name} dropped (${result}): unit answered the group with code ${code}`);
    return { autoResponse: code };
  }

  /** A guest page-group response: delivered to the device if the group is open, else logged and ignored. */
  deliverResponse(resp: GroupResponse): void {
    const name = groupName({ sid: resp.rid, pasid: resp.pasid, prgi: resp.prgi });
    const group = this.groups.close({ sid: resp.rid, pasid: resp.pasid, prgi: resp.prgi });
    if (!group) {
      this.stats.unknownResponses++;
      this.host.log(`page-group response for ${name}: no such open group, ignored`);
      return;
    }
    if (!group.complete) this.host.log(`page-group response for ${name} before its last page (LPIG)`);
    const target = this.router(resp.rid);
    if (!target) {
      this.host.log(`page-group response for ${name}: no PRI device at that requester id`);
      return;
    }
    this.stats.responses++;
    target.pageGroupResponse({ pasid: resp.pasid, prgi: resp.prgi, code: resp.code as PageResponseCode });
  }

  /** Groups waiting for a response, oldest first. */
  openGroups(): OpenGroup[] {
    return this.groups.list();
  }

  /** After a guest write of one of the page-request registers. */
  afterRegisterWrite(name: string): void {
    if (name === 'PRS') this.queue.afterPrsWrite();
    else if (name === 'PQH' || name === 'PQT' || name === 'PQA') this.queue.afterQueueRegWrite(name);
  }

  /** The service's state for a snapshot (the queue itself is guest RAM and registers). */
  saveState(): PageRequestState {
    return { groups: this.groups.list().map((g) => ({ ...g })), stats: { ...this.stats } };
  }

  /** Restores a state saved by `saveState`; throws an Error naming the field that is malformed. */
  loadState(s: PageRequestState): void {
    if (!Array.isArray(s?.groups)) throw new Error('state.groups: not an array');
    const stats = zeroStats();
    for (const k of Object.keys(s.stats ?? {})) if (!Object.hasOwn(stats, k)) throw new Error(`state.stats.${k}: no such counter`);
    for (const k of Object.keys(stats) as (keyof PageRequestStats)[]) {
      const v = s.stats?.[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`state.stats.${k}: ${String(v)} is not a count`);
      stats[k] = v;
    }
    s.groups.forEach((g, i) => {
      checkInt(g?.sid, 0xffff, `state.groups[${i}].sid`);
      checkInt(g.prgi, PRGI_MAX, `state.groups[${i}].prgi`);
      if (g.pasid !== undefined) checkInt(g.pasid, PASID_MAX, `state.groups[${i}].pasid`);
      checkInt(g.pages, MAX_GROUP_PAGES, `state.groups[${i}].pages`);
      if (g.pages < 1) throw new Error(`state.groups[${i}].pages: an open group has at least one page`);
      if (typeof g.complete !== 'boolean') throw new Error(`state.groups[${i}].complete: not a boolean`);
    });
    this.groups.restore(s.groups);
    Object.assign(this.stats, stats);
  }

  /** Unit reset: open groups and counters are forgotten (registers are reset by the register file). */
  reset(): void {
    this.groups.clear();
    Object.assign(this.stats, zeroStats());
  }

  /** Admission checks; a refused request is reported to the fault recorder. */
  private admit(req: PageRequest): boolean {
    const f = admitPageRequest({ mem: this.host.mem, ...this.host.latchedRoot() }, req);
    if (!f) return true;
    this.stats.rejected++;
    const what = f.suppressed ? 'suppressed by FPD' : this.host.faults.record({
      sid: req.sid, reason: f.reason, addr: req.addr, read: !req.write,
      pp: req.pasid !== undefined, pv: req.pasid ?? 0, exec: req.exec, priv: req.priv,
    });
    this.host.log(`page request ${groupName(req)} refused: fault 0x${f.reason.toString(16)} (${what})`);
    return false;
  }
}
