/**
 * A model of QEMU's intel-iommu IOTLB policy (hw/i386/intel_iommu.c), for
 * comparison on the working-set sweep:
 * - the IOTLB is a hash table of at most 1024 entries (VTD_IOTLB_MAX_SIZE);
 *   when it is full the whole table is flushed before the next insert;
 * - a lookup probes each page size (4 KiB, 2 MiB, 1 GiB keys) in turn;
 * - there are no paging-structure caches: a miss reads every level of the
 *   page table from guest memory (one read per level).
 * The context entry is cached per device, as QEMU's per-address-space
 * context-cache entry; those reads are not counted as PTE reads (neither are
 * they by the core's STAT_PTE_READS).
 * Only the second-stage format is modelled (the sweep uses it).
 */

/** Capacity QEMU gives its IOTLB before flushing it wholesale. */
export const QEMU_IOTLB_MAX = 1024;

/** Counters of the model. */
export interface QemuStats {
  hits: number;
  misses: number;
  pteReads: number;
  flushes: number;
}

interface QemuEntry {
  pageBase: number;
  perms: number;
}

/** The QEMU-policy translator over a RAM image (second-stage tables). */
export class QemuPolicyModel {
  readonly stats: QemuStats = { hits: 0, misses: 0, pteReads: 0, flushes: 0 };
  /** Output address of the last successful translation. */
  lastAddr = 0;
  private readonly iotlb = new Map<number, QemuEntry>();
  private readonly view: DataView;

  /** `ssRoot`/`levels`: the one domain's second-stage table (from the PASID entry). */
  constructor(ram: Uint8Array, private readonly ssRoot: number, private readonly levels: number) {
    this.view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  }

  /** Flushes the whole IOTLB (QEMU's vtd_reset_iotlb). */
  flush(): void {
    this.iotlb.clear();
  }

  /** Number of cached entries. */
  get size(): number {
    return this.iotlb.size;
  }

  /** Translates `iova` (< 2^53) for `access` (bit 0 read, bit 1 write); returns 0 or a fault value. */
  translate(iova: number, access: number): number {
    const gfn = Math.floor(iova / 4096);
    for (let size = 0; size < 3; size++) {
      const e = this.iotlb.get(key(gfn, size));
      if (e !== undefined) {
        this.stats.hits++;
        if (access & ~e.perms & 3) return 0x71;
        this.lastAddr = e.pageBase + (iova % 2 ** (12 + 9 * size));
        return 0;
      }
    }
    this.stats.misses++;
    return this.walkAndFill(iova, access);
  }

  /** Walks every level (vtd_iova_to_slpte), then inserts, flushing first when full (vtd_update_iotlb). */
  private walkAndFill(iova: number, access: number): number {
    let table = this.ssRoot, perms = 3;
    for (let level = this.levels - 1; level >= 0; level--) {
      const shift = 12 + 9 * level;
      const slot = table + (Math.floor(iova / 2 ** shift) % 512) * 8;
      if (slot + 8 > this.view.byteLength) return 0x04;
      this.stats.pteReads++;
      const lo = this.view.getUint32(slot, true), hi = this.view.getUint32(slot + 4, true);
      if (!(lo & 3)) return 0x70;
      perms &= lo & 3;
      const next = (hi & 0xfffff) * 4294967296 + ((lo & 0xfffff000) >>> 0);
      if (level === 0 || lo & 0x80) {
        const size = 2 ** shift, pageBase = next - (next % size);
        if (this.iotlb.size >= QEMU_IOTLB_MAX) {
          this.iotlb.clear();
          this.stats.flushes++;
        }
        this.iotlb.set(key(Math.floor(iova / 4096), level), { pageBase, perms });
        if (access & ~perms & 3) return 0x71;
        this.lastAddr = pageBase + (iova % size);
        return 0;
      }
      table = next;
    }
    return 0x70;
  }
}

/** QEMU keys an entry by the gfn masked to its page size plus the level. */
function key(gfn: number, sizeIndex: number): number {
  const pages = 2 ** (9 * sizeIndex);
  return (gfn - (gfn % pages)) * 4 + sizeIndex;
}
