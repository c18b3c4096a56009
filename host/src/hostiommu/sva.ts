/**
 * Native shared virtual addressing (Linux iommu_sva_bind_device with the
 * host's own I/O page fault handling, iommu-sva.c): a device works in a
 * host process's address space through the process's PASID (its mm's
 * global PASID, as ENQCMD uses it), and its page requests are served by
 * the host itself: the fault queue's handler runs the process's fault
 * handler (handle_mm_fault) for each page of the group and answers the
 * group Success, or Invalid when a page is refused. No guest and no VMM is
 * involved (compare the nested branch, vmm/nested.ts, which forwards the
 * same page requests to a guest).
 *
 * On the iommufd-like objects: the process's first-stage table is the
 * stage-1 table of a nested HWPT over a nest-parent domain that maps the
 * process's host memory one to one (IOVA = HPA), so the first stage's
 * output and table fetches are host-physical; the nested HWPT carries the
 * fault queue. (A dedicated first-stage-only domain, PGTT=001b, would need
 * a program kind the physical-IOMMU backend does not have yet.)
 */
import { isHostIommuError } from './errors.js';
import { FAULT_PERM, type FaultRecord } from './fault-queue.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import type { HostIommu } from './host-iommu.js';
import type { HostProcess } from './host-process.js';
import type { Pasid } from '../types.js';

/** Counters of the host's fault handling. */
export interface SvaStats {
  /** Page groups answered Success. */
  readonly served: number;
  /** Page groups answered Invalid (an access the process may not make). */
  readonly refused: number;
}

/** One process's SVA state in a host context: its PASID, domain and fault handler. */
export class SvaBinding {
  /** The process's PASID (global, from `setId`). */
  readonly pasid: Pasid;
  private readonly ids: { fault: number; ioas: number; parent: number; hwpt: number };
  private readonly bound = new Set<number>();
  private readonly refusedGroups = new Set<string>();
  private counts = { served: 0, refused: 0 };
  private serving = false;
  private again = false;

  /**
   * Builds the process's domain and PASID in `ctx`; all-or-nothing.
   * @param ctx The host context the binding's objects live in.
   * @param process The process whose address space devices work in.
   * @param setId A PASID set of `ctx` the process's PASID comes from.
   */
  constructor(readonly ctx: HostIommu, readonly process: HostProcess, private readonly setId: number) {
    const made: number[] = [];
    const keep = (id: number): number => {
      made.push(id);
      return id;
    };
    try {
      const fault = keep(ctx.faultQueueAlloc(() => this.serve()));
      const ioas = keep(ctx.ioasAlloc());
      ctx.ioasMap(ioas, { iova: process.start, hpa: process.start, len: process.end - process.start });
      const parent = keep(ctx.hwptAllocPaging(ioas, { nestParent: true }));
      const hwpt = keep(ctx.hwptAllocNested(parent, { fsptptr: process.pageTable.rootPointer, faultId: fault, pasid: true }));
      this.pasid = ctx.pasidAlloc(setId);
      this.ids = { fault, ioas, parent, hwpt };
    } catch (e) {
      for (const id of made.reverse()) ctx.destroy(id);
      throw e;
    }
  }

  /** iommu_sva_bind_device: the device's DMA with the process's PASID walks the process's page table. */
  bind(devId: number): void {
    this.ctx.attach(devId, this.ids.hwpt, this.pasid);
    this.bound.add(devId);
  }

  /** iommu_sva_unbind_device. */
  unbind(devId: number): void {
    if (!this.bound.delete(devId)) return;
    this.ctx.detach(devId, this.pasid);
  }

  /** Groups answered. */
  stats(): SvaStats {
    return { ...this.counts };
  }

  /** Unbinds every device and frees the domain and the PASID. */
  close(): void {
    for (const d of [...this.bound]) this.unbind(d);
    for (const id of [this.ids.hwpt, this.ids.parent, this.ids.ioas, this.ids.fault]) this.ctx.destroy(id);
    this.ctx.pasidFree(this.setId, this.pasid);
  }

  /** The fault queue's handler: serves every readable record (re-entered by a device that faults again while retrying). */
  private serve(): void {
    if (this.serving) {
      this.again = true;
      return;
    }
    this.serving = true;
    try {
      do {
        this.again = false;
        for (const r of this.ctx.faultRead(this.ids.fault)) this.handle(r);
      } while (this.again);
    } finally {
      this.serving = false;
    }
  }

  /** One page of a group: the mm's fault handler; the last page answers the group. */
  private handle(r: FaultRecord): void {
    const key = `${r.devId}:${r.groupId}`;
    const write = (r.perms & FAULT_PERM.WRITE) !== 0;
    if (r.pasid !== this.pasid || this.process.fault(r.addr, write) === 'segv') this.refusedGroups.add(key);
    if (!r.last) return;
    const refused = this.refusedGroups.delete(key);
    if (refused) this.counts.refused++;
    else this.counts.served++;
    try {
      this.ctx.faultRespond(this.ids.fault, r.cookie, refused ? PageResponseCode.InvalidRequest : PageResponseCode.Success);
    } catch (e) {
      if (!isHostIommuError(e)) throw e; // answered already (the device was reset or detached meanwhile)
    }
  }
}
