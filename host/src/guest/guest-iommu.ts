/**
 * Guest-side set-up of translation structures: a root/context table, per
 * device a legacy context entry with a second-stage table, or a scalable
 * context entry with a PASID directory and a PASID entry (first stage,
 * second stage, nested or pass-through). Everything is written into guest
 * RAM with the spec layer's encoders (host/src/vtd/spec/) and turned on
 * through MMIO with the driver (vtd-driver.ts).
 */
import type { GuestMemoryLike } from '../tables/guest-ram.js';
import { awForLevels, encodeContextEntry } from '../vtd/spec/context-entry.js';
import { encodeSmContextEntry } from '../vtd/spec/sm-context-entry.js';
import { encodePasidEntry, PGTT } from '../vtd/spec/pasid-entry.js';
import type { PageAllocator } from '../tables/page-allocator.js';
import { ContextTableBuilder, PageTableBuilder, PasidTableBuilder } from '../tables/table-builders.js';
import { VtdDriver, type GuestPlatform } from './vtd-driver.js';
import type { Sid, Pasid, Did } from '../types.js';

/** Guest resources: MMIO, RAM, a page allocator. */
export interface GuestEnv {
  readonly platform: GuestPlatform;
  readonly mem: GuestMemoryLike;
  readonly alloc: PageAllocator;
}

/** Options of a legacy-mode device attachment (§9.3). */
export interface LegacyAttach {
  readonly did: Did;
  /** Second-stage levels: 3 (39-bit), 4 (48-bit), 5 (57-bit). Default 3. */
  readonly levels?: 3 | 4 | 5;
  readonly fpd?: boolean;
  /** Translation type (0 untranslated, 1 + device-TLB, 2 pass-through). Default 0. */
  readonly tt?: number;
}

/** Options of a scalable-mode device attachment (§9.4-9.6), for the RID_PASID entry or `pasid`. */
export interface ScalableAttach {
  readonly did: Did;
  readonly pgtt: (typeof PGTT)[keyof typeof PGTT];
  /** Second-stage levels (PGTT 2, 3). Default 4. */
  readonly ssLevels?: 3 | 4 | 5;
  /** First-stage levels (PGTT 1, 3). Default 4. */
  readonly fsLevels?: 4 | 5;
  /** PASID of the entry written; also the context's RID_PASID. Default 0. */
  readonly pasid?: Pasid;
  readonly fpd?: boolean;
}

/** Page tables of an attachment. */
export interface Attachment {
  readonly ss?: PageTableBuilder;
  readonly fs?: PageTableBuilder;
  readonly pasids?: PasidTableBuilder;
}

/** A guest's view of one VT-d unit: driver plus structure builders. */
export class GuestIommu {
  readonly drv: VtdDriver;
  readonly ctx: ContextTableBuilder;

  constructor(readonly env: GuestEnv, readonly mode: 'legacy' | 'scalable', base?: bigint) {
    this.drv = new VtdDriver(env.platform, base);
    this.ctx = new ContextTableBuilder(env.mem, env.alloc, mode);
  }

  /** Writes a legacy context entry for `sid` and returns its (empty) second-stage table. */
  attachLegacy(sid: Sid, o: LegacyAttach): PageTableBuilder {
    const levels = o.levels ?? 3;
    const ss = new PageTableBuilder(this.env.mem, this.env.alloc, { stage: 'ss', levels });
    this.ctx.setContext(sid, encodeContextEntry({
      P: true, FPD: o.fpd ?? false, TT: o.tt ?? 0, SSPTPTR: ss.rootPointer, AW: awForLevels(levels), DID: o.did,
    }));
    return ss;
  }

  /** Writes a scalable context entry, PASID directory and PASID entry for `sid`. */
  attachScalable(sid: Sid, o: ScalableAttach): Attachment {
    const pasid = o.pasid ?? 0;
    const pasids = new PasidTableBuilder(this.env.mem, this.env.alloc);
    const ssLevels = o.ssLevels ?? 4;
    const useSs = o.pgtt === PGTT.SECOND_STAGE || o.pgtt === PGTT.NESTED;
    const useFs = o.pgtt === PGTT.FIRST_STAGE || o.pgtt === PGTT.NESTED;
    const ss = useSs ? new PageTableBuilder(this.env.mem, this.env.alloc, { stage: 'ss', levels: ssLevels }) : undefined;
    const fsLevels = o.fsLevels ?? 4;
    const fs = useFs ? new PageTableBuilder(this.env.mem, this.env.alloc, { stage: 'fs', levels: fsLevels }) : undefined;
    pasids.setPasid(pasid, encodePasidEntry({
      P: true, FPD: o.fpd ?? false, PGTT: o.pgtt, DID: o.did,
      AW: awForLevels(ssLevels), SSPTPTR: ss?.rootPointer ?? 0n,
      FSPTPTR: fs?.rootPointer ?? 0n, FSPM: fsLevels === 5 ? 1 : 0,
    }));
    this.ctx.setContext(sid, encodeSmContextEntry({
      P: true, FPD: o.fpd ?? false, PASIDE: true, PASIDDIRPTR: pasids.directory, RID_PASID: pasid,
    }));
    return { ss, fs, pasids };
  }

  /** Latches the root table (SRTP), invalidates caches globally (registers), enables translation. */
  start(): number {
    this.drv.setRootTable(this.ctx.rootTable, this.mode);
    this.drv.contextInvalidateGlobal();
    this.drv.iotlbInvalidateGlobal();
    return this.drv.enableTranslation();
  }
}
