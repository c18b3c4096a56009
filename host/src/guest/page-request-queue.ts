/**
 * A guest page-request handler, written the way Linux's
 * drivers/iommu/intel/prq.c services the page-request queue: the queue is a
 * guest RAM ring the IOMMU fills at PQT; the handler clears PRS.PPR, reads
 * PQH/PQT, hands every descriptor to a fault handler (which maps pages),
 * answers each finished group with a page-group response descriptor through
 * the invalidation queue, moves PQH, and after an overflow discards partial
 * groups and clears PRS.PRO once the queue is empty.
 *
 * Programs the unit only through MMIO and guest RAM. Register offsets
 * (§11.4.11), the page request record (§7.4.1.1) and the response
 * descriptor (§6.5.2.9) come from the spec layer (host/src/vtd/spec/).
 */
import {
  pageGroupResponseDesc, pasidDevTlbDesc, pasidIotlbDesc, PIOTLB, waitDesc,
} from '../vtd/spec/descriptors.js';
import { decodePageRequest, isStopMarker, PageResponseCode, PQ, type PageRequest } from '../vtd/spec/page-request.js';
import { ECTL, PRS, REG } from '../vtd/spec/registers.js';
import type { GuestEnv } from './guest-iommu.js';
import { VtdDriver } from './vtd-driver.js';
import type { Did, Gpa, Pasid, Sid } from '../types.js';

/** A page request as the guest reads it from the queue: the record and the queue offset it was read at. */
export interface GuestPageRequest extends PageRequest {
  /** Queue offset the descriptor was read at. */
  readonly offset: number;
}

/**
 * The guest OS's fault handler: called for every request in queue
 * order; for the last page of a group it returns the response code (a stop
 * marker's return value is ignored).
 */
export type PageFaultHandler = (req: GuestPageRequest) => number;

/** What one service pass did. */
export interface ServiceResult {
  readonly requests: GuestPageRequest[];
  /** Responses submitted: the group and the code. */
  readonly responses: { sid: number; pasid?: number; prgi: number; code: number }[];
  /** PRO was set and has been cleared (queue drained). */
  readonly overflowCleared: boolean;
  /** Partial groups discarded on overflow recovery. */
  readonly discarded: number;
}

const groupKey = (r: { sid: number; pasid?: number; prgi: number }) => `${r.sid}:${r.pasid ?? '-'}:${r.prgi}`;

/** The guest's page-request queue for one unit. */
export class GuestPrq {
  readonly drv: VtdDriver;
  /** Queue base (4 KiB aligned) and size in bytes. */
  readonly base: bigint;
  readonly bytes: number;
  /** Groups with pages seen but no last page yet (discarded after an overflow). */
  private readonly partial = new Set<string>();

  /** Allocates 2^pqs pages of queue. `submit` sends descriptors through the guest's invalidation queue. */
  constructor(
    readonly env: GuestEnv,
    private readonly submit: (descs: bigint[][]) => boolean,
    readonly pqs = 0,
  ) {
    this.drv = new VtdDriver(env.platform);
    this.bytes = 4096 << pqs;
    this.base = env.alloc.allocContiguous(1 << pqs);
    env.mem.fill(this.base, this.bytes, 0);
  }

  /** Number of 32-byte slots (one is always left free: the queue holds slots - 1 requests). */
  get slots(): number {
    return this.bytes / 32;
  }

  /** Linux intel_iommu_enable_prq order: PQH = PQT = 0, then PQA = base | PQS. */
  enable(): void {
    this.drv.write64(REG.PQH, 0n);
    this.drv.write64(REG.PQT, 0n);
    this.drv.write64(REG.PQA, this.base | BigInt(this.pqs));
  }

  /** Programs the page-request event MSI; `masked` keeps PECTL.IM set. */
  setupEvent(address: Gpa, data: number, masked = false): void {
    this.drv.write32(REG.PEDATA, data);
    this.drv.write32(REG.PEADDR, Number(address & 0xffff_fffcn));
    this.drv.write32(REG.PEUADDR, Number(address >> 32n));
    this.drv.write32(REG.PECTL, masked ? ECTL.IM : 0);
  }

  /** PRS value. */
  status(): number {
    return this.drv.read32(REG.PRS);
  }

  /** PQT as the handler uses it: the ring offset (bits 18:5). */
  tail(): number {
    return Number(this.drv.read64(REG.PQT) & PQ.OFFSET_MASK);
  }

  /** Requests between PQH and `tail` (default: PQT now), without consuming them. */
  peek(tail = this.tail()): GuestPageRequest[] {
    const out: GuestPageRequest[] = [];
    let head = Number(this.drv.read64(REG.PQH) & PQ.OFFSET_MASK);
    while (head !== tail && out.length < this.slots) {
      const at = this.base + BigInt(head);
      const qw0 = this.env.mem.readU64(at);
      if ((qw0 & 0xffn) === 1n) out.push({ ...decodePageRequest(qw0, this.env.mem.readU64(at + 8n)), offset: head });
      head = (head + 32) % this.bytes;
    }
    return out;
  }

  /**
   * One pass of the interrupt thread (Linux prq_event_thread): W1C PPR, read
   * PQT once, handle each request from PQH to that tail and answer finished
   * groups, write PQH = that tail; then, if PRO is set and the ring is
   * empty, discard partial groups and W1C PRO.
   *
   * PQH must be the tail read at the start, not PQT re-read at the end: a
   * response makes the device retry at once, and the request that retry
   * sends lands after the tail during the pass. It stays in the ring (PPR
   * set again) for the next pass instead of being skipped.
   */
  service(handle: PageFaultHandler): ServiceResult {
    this.drv.write32(REG.PRS, PRS.PPR);
    const tail = this.tail();
    const requests = this.peek(tail);
    const responses: ServiceResult['responses'] = [];
    for (const req of requests) {
      const code = handle(req);
      if (isStopMarker(req)) continue;
      if (!req.lpig) {
        this.partial.add(groupKey(req));
        continue;
      }
      this.partial.delete(groupKey(req));
      responses.push({ sid: req.sid, pasid: req.pasid, prgi: req.prgi, code });
      this.submit([pageGroupResponseDesc(req.sid, req.prgi, code, { pasid: req.pasid, lpig: true })]);
    }
    this.drv.write64(REG.PQH, BigInt(tail));
    return { requests, responses, ...this.recoverOverflow() };
  }

  /** After an overflow: once PQH == PQT, drop partial groups and clear PRO (Linux order). */
  private recoverOverflow(): { overflowCleared: boolean; discarded: number } {
    if (!(this.status() & PRS.PRO)) return { overflowCleared: false, discarded: 0 };
    if (this.drv.read64(REG.PQH) !== this.drv.read64(REG.PQT)) return { overflowCleared: false, discarded: 0 };
    const discarded = this.partial.size;
    this.partial.clear();
    this.drv.write32(REG.PRS, PRS.PRO);
    return { overflowCleared: true, discarded };
  }

  /**
   * Drains page requests of `pasid` from `rid` after its PASID entry was torn
   * down (VT-d §7.10 in 3.x, draining page requests; Linux intel_iommu_drain_pasid_prq): PASID-IOTLB
   * invalidation of (did, pasid), PASID-based device-TLB invalidation, then a
   * fenced wait with PD (page-request drain): when it completes, every page
   * request the unit received before it is in the queue. Then the queue is
   * serviced, answering that PASID's groups with Invalid Request (others go
   * to `handle`), until no request of the PASID is left and PRO is clear.
   * Returns the requests of the PASID that were drained.
   */
  drainPasid(rid: Sid, pasid: Pasid, did: Did, handle: PageFaultHandler): GuestPageRequest[] {
    const status = this.env.alloc.alloc();
    this.submit([
      pasidIotlbDesc(PIOTLB.G_PASID, did, pasid),
      pasidDevTlbDesc(rid, pasid, 0n, { global: true }), // every address of the PASID
      waitDesc({ sw: true, fn: true, pd: true, data: 1, addr: status }),
    ]);
    const drained: GuestPageRequest[] = [];
    const ours = (q: GuestPageRequest) => q.sid === rid && q.pasid === pasid;
    for (let pass = 0; pass < 8; pass++) {
      const pending = this.peek();
      if (!pending.some(ours) && !(this.status() & PRS.PRO)) break;
      drained.push(...pending.filter(ours));
      this.service((q) => (ours(q) ? PageResponseCode.InvalidRequest : handle(q)));
    }
    return drained;
  }

  /** Stops page requests: PQA = 0 (Linux intel_iommu_finish_prq). */
  disable(): void {
    this.drv.write64(REG.PQH, 0n);
    this.drv.write64(REG.PQT, 0n);
    this.drv.write64(REG.PQA, 0n);
  }
}
