/**
 * Shadow mode: for a host without nesting. The guest's unit advertises
 * caching mode (CAP.CM = 1, §6.1), second-stage and pass-through translation
 * only (ECAP.FSTS = ECAP.NEST = 0), so the guest invalidates after every
 * change of its tables and every translation it can ask for is one the VMM
 * can build on a host second stage: legacy context entries (§9.3) and
 * scalable-mode PASID entries with PGTT 2 are shadowed (shadow-domains.ts),
 * TT 10 / PGTT 4 use the VM's GPA -> HPA domain, and a PGTT the unit does
 * not offer faults with SPT.4 (0x5B) as the spec says (guest-view.ts).
 * Each shadow domain lives on the host as an IOAS + paging HWPT (iommufd,
 * the default) or, with `VmConfig.hostPath` 'group', a VFIO container the
 * devices join by IOMMU group, or with 'vdpa' an IOAS that vhost IOTLB
 * messages change (shadow-spaces.ts).
 *
 * Host DMA faults are shown to the guest as the fault its own tables give
 * (§7.1.3), in its fault recording registers (guest-mirror.ts).
 */
import { GuestMirror } from './guest-mirror.js';
import type { ShadowDomain } from './shadow-domains.js';

/** The shadow-mode VMM logic of one VM. */
export class ShadowMode extends GuestMirror {
  /** Shadowed guest domains by guest DID. */
  get domains(): ReadonlyMap<number, ShadowDomain> {
    return this.shadows.byDid;
  }

  /** Host map/unmap calls made and domains blocked (for narration and tests). */
  get stats(): { readonly maps: number; readonly unmaps: number; readonly blocks: number } {
    return this.shadows.stats;
  }
}
