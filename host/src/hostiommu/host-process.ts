/**
 * A host process's address space (its mm) as shared virtual addressing
 * needs it: virtual memory areas and an x86 first-stage page table (§9.7
 * format, the CPU's own) in host memory. Pages are not populated when an
 * area is created; the host's fault handler (`fault`, the mm's
 * handle_mm_fault) populates a page on first touch, whether the touch is
 * the CPU's or a device's through SVA (sva.ts). A touch outside every area,
 * or a write to a read-only one, is refused (SIGSEGV).
 */
import { checkU64, fail } from './errors.js';
import { PAGE } from './host-pages.js';
import type { GuestMemoryLike } from '../tables/guest-ram.js';
import { PageAllocator } from '../tables/page-allocator.js';
import { PageTableBuilder } from '../tables/table-builders.js';
import { encodeFsPte } from '../vtd/spec/fs-pte.js';

/** A virtual memory area [start, end). */
export interface Vma {
  /** First byte. */
  readonly start: bigint;
  /** End (exclusive). */
  readonly end: bigint;
  /** Writable (else read-only). */
  readonly write: boolean;
}

/** What one fault did. */
export type FaultResult = 'populated' | 'present' | 'segv';

/** A host process: areas, page table, pages from a host-memory pool. */
export class HostProcess {
  /** The process's page table (FSPTPTR of an SVA binding; the CPU's CR3). */
  readonly pageTable: PageTableBuilder;
  private readonly vmas: Vma[] = [];
  private readonly pages: PageAllocator;
  /** Faults served (pages populated) and refused. */
  readonly counts = { populated: 0, refused: 0 };

  /**
   * A process whose page tables and pages come from `[start, end)` of host memory.
   * @param name The process's name (messages).
   * @param mem Host-physical memory.
   * @param start First byte of its host memory pool (page aligned).
   * @param end End of the pool (exclusive, page aligned).
   */
  constructor(readonly name: string, private readonly mem: GuestMemoryLike, readonly start: bigint, readonly end: bigint) {
    this.pages = new PageAllocator(mem, start, end);
    this.pageTable = new PageTableBuilder(mem, this.pages, { stage: 'fs', levels: 4 });
  }

  /** mmap: a new area of `len` bytes at `start` (page aligned, canonical lower half, not overlapping; EINVAL otherwise). */
  mmap(start: bigint, len: bigint, o: { write: boolean }): Vma {
    checkU64(start, 'start');
    checkU64(len, 'len');
    const end = start + len;
    if (start % PAGE !== 0n || len % PAGE !== 0n || len === 0n || end > 1n << 47n) fail('EINVAL', `start/len: [0x${start.toString(16)}, +0x${len.toString(16)}) is not a page-aligned user range`);
    if (this.vmas.some((v) => start < v.end && v.start < end)) fail('EEXIST', `start: [0x${start.toString(16)}, +0x${len.toString(16)}) overlaps an area`);
    const vma = { start, end, write: o.write };
    this.vmas.push(vma);
    return vma;
  }

  /** The host fault handler: populates the page of `va` if an area allows the access. */
  fault(va: bigint, write: boolean): FaultResult {
    const vma = this.vmas.find((v) => va >= v.start && va < v.end);
    if (vma === undefined || (write && !vma.write)) {
      this.counts.refused++;
      return 'segv';
    }
    const page = va & ~(PAGE - 1n);
    if (this.physical(page) !== undefined) return 'present';
    this.pageTable.map(page, this.pages.alloc(), 12, encodeFsPte({ P: true, RW: vma.write, US: true, A: true, D: write }));
    this.counts.populated++;
    return 'populated';
  }

  /** Host-physical address of `va`, or undefined while its page is not populated. */
  physical(va: bigint): bigint | undefined {
    const pte = this.pageTable.readEntry(va, 0);
    if (pte === undefined || (pte & 1n) === 0n) return undefined;
    return (pte & 0x000f_ffff_ffff_f000n) + (va & (PAGE - 1n));
  }
}
