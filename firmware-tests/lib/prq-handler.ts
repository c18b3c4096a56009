/**
 * A guest page-request handler, written the way Linux's
 * drivers/iommu/intel/prq.c services the page-request queue: the queue is a
 * guest RAM ring the IOMMU fills at PQT; the handler clears PRS.PPR, reads
 * PQH/PQT, hands every descriptor to a fault handler (which maps pages),
 * answers each finished group with a page-group response descriptor through
 * the invalidation queue, moves PQH, and after an overflow discards partial
 * groups and clears PRS.PRO once the queue is empty.
 *
 * Programs the unit only through MMIO and guest RAM. Register offsets and
 * descriptor layouts are written out here from the spec (§11.4.11, §7.4.1.1,
 * §6.5.2.9 / page group response) on purpose, not imported from the model.
 */
import { VtdDriver } from './driver.js';
import type { GuestEnv } from './guest.js';

/** §11.4.11 page-request registers. */
export const PRQ_REG = {
  PQH: 0xc0, PQT: 0xc8, PQA: 0xd0, PRS: 0xdc, PECTL: 0xe0, PEDATA: 0xe4, PEADDR: 0xe8, PEUADDR: 0xec,
} as const;
/** PQH / PQT: queue offset of a 32-byte descriptor, bits 18:5. */
const PQ_OFFSET_MASK = 0x7ffe0n;
/** PRS bits: pending page request, page-request overflow. */
export const PRS_PPR = 1;
export const PRS_PRO = 2;
/** PECTL bits. */
export const PECTL_IM = 0x8000_0000;
export const PECTL_IP = 0x4000_0000;

/** PCIe page group response codes. */
export const RESP = { SUCCESS: 0x0, INVALID: 0x1, FAILURE: 0xf } as const;

/** A page request as the guest decodes it from the queue (§7.4.1.1). */
export interface GuestPageRequest {
  readonly rid: number;
  readonly pasid?: number;
  readonly addr: bigint;
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
  readonly priv: boolean;
  readonly lpig: boolean;
  readonly prgi: number;
  /** Queue offset the descriptor was read at. */
  readonly offset: number;
}

/** Decodes the first two qwords of a page request descriptor; undefined if the type is not 1. */
export function decodeGuestPageRequest(qw0: bigint, qw1: bigint, offset = 0): GuestPageRequest | undefined {
  if ((qw0 & 0xffn) !== 1n) return undefined;
  const pp = ((qw0 >> 8n) & 1n) === 1n;
  return {
    rid: Number((qw0 >> 16n) & 0xffffn),
    pasid: pp ? Number((qw0 >> 32n) & 0xf_ffffn) : undefined,
    exec: ((qw0 >> 52n) & 1n) === 1n,
    priv: ((qw0 >> 53n) & 1n) === 1n,
    read: (qw1 & 1n) === 1n,
    write: ((qw1 >> 1n) & 1n) === 1n,
    lpig: ((qw1 >> 2n) & 1n) === 1n,
    prgi: Number((qw1 >> 3n) & 0x1ffn),
    addr: qw1 & ~0xfffn,
    offset,
  };
}

/** A stop marker: last page in group with neither read nor write; needs no response. */
export const isGuestStopMarker = (r: GuestPageRequest): boolean => r.lpig && !r.read && !r.write;

/** Page group response descriptor (type 9, 256-bit): PP, RC, RID, PASID; LPIG and PRGI in qw1. */
export function pageGroupResponseDesc(g: { rid: number; pasid?: number; prgi: number }, code: number): bigint[] {
  const pp = g.pasid !== undefined;
  const qw0 = 0x9n | (pp ? 1n << 4n : 0n) | (BigInt(code & 0xf) << 12n) | (BigInt(g.rid & 0xffff) << 16n)
    | (pp ? BigInt(g.pasid! & 0xf_ffff) << 32n : 0n);
  const qw1 = (1n << 2n) | (BigInt(g.prgi & 0x1ff) << 3n);
  return [qw0, qw1, 0n, 0n];
}

/**
 * The fault handler the test supplies: called for every request in queue
 * order; for the last page of a group it returns the response code (a stop
 * marker's return value is ignored).
 */
export type PageFaultHandler = (req: GuestPageRequest) => number;

/** What one service pass did. */
export interface ServiceResult {
  readonly requests: GuestPageRequest[];
  /** Responses submitted: the group and the code. */
  readonly responses: { rid: number; pasid?: number; prgi: number; code: number }[];
  /** PRO was set and has been cleared (queue drained). */
  readonly overflowCleared: boolean;
  /** Partial groups discarded on overflow recovery. */
  readonly discarded: number;
}

const groupKey = (r: { rid: number; pasid?: number; prgi: number }) => `${r.rid}:${r.pasid ?? '-'}:${r.prgi}`;

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
    this.drv.write64(PRQ_REG.PQH, 0n);
    this.drv.write64(PRQ_REG.PQT, 0n);
    this.drv.write64(PRQ_REG.PQA, this.base | BigInt(this.pqs));
  }

  /** Programs the page-request event MSI; `masked` keeps PECTL.IM set. */
  setupEvent(address: bigint, data: number, masked = false): void {
    this.drv.write32(PRQ_REG.PEDATA, data);
    this.drv.write32(PRQ_REG.PEADDR, Number(address & 0xffff_fffcn));
    this.drv.write32(PRQ_REG.PEUADDR, Number(address >> 32n));
    this.drv.write32(PRQ_REG.PECTL, masked ? PECTL_IM : 0);
  }

  /** PRS value. */
  status(): number {
    return this.drv.read32(PRQ_REG.PRS);
  }

  /** PQT as the handler uses it: the ring offset (bits 18:5). */
  tail(): number {
    return Number(this.drv.read64(PRQ_REG.PQT) & PQ_OFFSET_MASK);
  }

  /** Requests between PQH and `tail` (default: PQT now), without consuming them. */
  peek(tail = this.tail()): GuestPageRequest[] {
    const out: GuestPageRequest[] = [];
    let head = Number(this.drv.read64(PRQ_REG.PQH) & PQ_OFFSET_MASK);
    while (head !== tail && out.length < this.slots) {
      const at = this.base + BigInt(head);
      const req = decodeGuestPageRequest(this.env.mem.readU64(at), this.env.mem.readU64(at + 8n), head);
      if (req) out.push(req);
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
    this.drv.write32(PRQ_REG.PRS, PRS_PPR);
    const tail = this.tail();
    const requests = this.peek(tail);
    const responses: ServiceResult['responses'] = [];
    for (const req of requests) {
      const code = handle(req);
      if (isGuestStopMarker(req)) continue;
      if (!req.lpig) {
        this.partial.add(groupKey(req));
        continue;
      }
      this.partial.delete(groupKey(req));
      const g = { rid: req.rid, pasid: req.pasid, prgi: req.prgi, code };
      responses.push(g);
      this.submit([pageGroupResponseDesc(g, code)]);
    }
    this.drv.write64(PRQ_REG.PQH, BigInt(tail));
    return { requests, responses, ...this.recoverOverflow() };
  }

  /** After an overflow: once PQH == PQT, drop partial groups and clear PRO (Linux order). */
  private recoverOverflow(): { overflowCleared: boolean; discarded: number } {
    if (!(this.status() & PRS_PRO)) return { overflowCleared: false, discarded: 0 };
    if (this.drv.read64(PRQ_REG.PQH) !== this.drv.read64(PRQ_REG.PQT)) return { overflowCleared: false, discarded: 0 };
    const discarded = this.partial.size;
    this.partial.clear();
    this.drv.write32(PRQ_REG.PRS, PRS_PRO);
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
  drainPasid(rid: number, pasid: number, did: number, handle: PageFaultHandler): GuestPageRequest[] {
    const B = BigInt;
    const piotlb = [0x6n | 2n << 4n | B(did) << 16n | B(pasid) << 32n, 0n, 0n, 0n];
    const pdevtlb = [0x8n | B(rid) << 16n | B(pasid) << 32n, 1n, 0n, 0n]; // G=1: every address of the PASID
    const status = this.env.alloc.alloc();
    const waitPd = [0x5n | 1n << 5n | 1n << 6n | 1n << 7n | 0x1n << 32n, status];
    this.submit([piotlb, pdevtlb, waitPd]);
    const drained: GuestPageRequest[] = [];
    const ours = (q: GuestPageRequest) => q.rid === rid && q.pasid === pasid;
    for (let pass = 0; pass < 8; pass++) {
      const pending = this.peek();
      if (!pending.some(ours) && !(this.status() & PRS_PRO)) break;
      drained.push(...pending.filter(ours));
      this.service((q) => (ours(q) ? RESP.INVALID : handle(q)));
    }
    return drained;
  }

  /** Stops page requests: PQA = 0 (Linux intel_iommu_finish_prq). */
  disable(): void {
    this.drv.write64(PRQ_REG.PQH, 0n);
    this.drv.write64(PRQ_REG.PQT, 0n);
    this.drv.write64(PRQ_REG.PQA, 0n);
  }
}
