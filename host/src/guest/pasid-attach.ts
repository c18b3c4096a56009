/**
 * Scalable-mode attachment of a device with several PASIDs, each with its
 * own second-stage table (or first-stage table), and the context entry bits
 * ATS and PRI devices need: DTE (device-TLB / translation requests) and PRE
 * (page requests), VT-d §9.4.
 */
import { awForLevels } from '../vtd/spec/context-entry.js';
import { encodePasidEntry, PGTT } from '../vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../vtd/spec/sm-context-entry.js';
import type { GuestIommu } from './guest-iommu.js';
import { PageTableBuilder, PasidTableBuilder } from '../tables/table-builders.js';
import type { Sid, Did, Pasid } from '../types.js';

/** One PASID of the attachment. */
export interface PasidSpec {
  readonly pasid: Pasid;
  readonly did: Did;
  /** First-stage (PGTT 1) or second-stage (PGTT 2, default) table. */
  readonly pgtt?: typeof PGTT.FIRST_STAGE | typeof PGTT.SECOND_STAGE;
  /** Supervisor requests enabled (first stage). */
  readonly sre?: boolean;
}

/** Writes the PASID entries and the context entry; returns each PASID's page table. */
export function attachPasids(g: GuestIommu, sid: Sid, specs: readonly PasidSpec[], o: { dte?: boolean; pre?: boolean; ridPasid?: number } = {}): Map<number, PageTableBuilder> {
  const { mem, alloc } = g.env;
  const dir = new PasidTableBuilder(mem, alloc);
  const tables = new Map<number, PageTableBuilder>();
  for (const s of specs) {
    const fs = s.pgtt === PGTT.FIRST_STAGE;
    const pt = new PageTableBuilder(mem, alloc, fs ? { stage: 'fs', levels: 4 } : { stage: 'ss', levels: 4 });
    dir.setPasid(s.pasid, encodePasidEntry({
      P: true, PGTT: fs ? PGTT.FIRST_STAGE : PGTT.SECOND_STAGE, DID: s.did, AW: awForLevels(4),
      SSPTPTR: fs ? 0n : pt.rootPointer, FSPTPTR: fs ? pt.rootPointer : 0n, SRE: s.sre ?? false,
    }));
    tables.set(s.pasid, pt);
  }
  g.ctx.setContext(sid, encodeSmContextEntry({
    P: true, PASIDE: true, DTE: o.dte ?? false, PRE: o.pre ?? false, PASIDDIRPTR: dir.directory, RID_PASID: o.ridPasid ?? 0,
  }));
  return tables;
}
