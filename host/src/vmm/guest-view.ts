/**
 * What the guest asks of its vIOMMU for one requester: a device's requests
 * without PASID, or with one PASID. The answer comes from the guest's root,
 * context and PASID structures (guest-tables.ts) read as the unit reads
 * them, in the terms a VMM can serve on the host:
 *
 * | guest entry                                   | served as                          |
 * |-----------------------------------------------|------------------------------------|
 * | legacy context, TT 00 / 01 (§9.3)             | shadow of its second stage         |
 * | legacy context, TT 10 (pass-through)          | the VM's GPA -> HPA domain         |
 * | PASID entry PGTT 001 first stage (§9.6)       | nested HWPT over the VM            |
 * | PASID entry PGTT 010 second stage             | shadow of its second stage         |
 * | PASID entry PGTT 100 pass-through             | the VM's GPA -> HPA domain         |
 * | PGTT 011 nested, or a type ECAP does not offer | refused: SPT.4 invalid entry 0x5B  |
 *
 * The unit's capabilities decide what is offered: a VMM withholds in ECAP
 * what its mode cannot serve (virtual-machine.ts), so a refusal is the
 * fault the spec gives a guest using an unsupported type. Entries that are
 * not present, or cannot be read, come back `absent` with the reason the
 * unit would record.
 */
import type { GuestMemory } from '../core/guest-memory.js';
import { FR_CTX_INVALID, FR_PASID_INVALID, FR_SM_PASID_IN_LEGACY } from '../core/constants.js';
import type { Profile } from '../vtd/profiles.js';
import { CAP, ECAP } from '../vtd/spec/registers.js';
import { TT } from '../vtd/spec/context-entry.js';
import { type PasidEntry, PGTT } from '../vtd/spec/pasid-entry.js';
import { levelsOfAw } from '../vtd/spec/context-entry.js';
import { isFault, legacyContext, pasidEntry, smContext } from './guest-tables.js';
import type { Pasid, Sid } from '../types.js';

/** What one requester should be attached to on the host. */
export type Want =
  | { readonly kind: 'shadow'; readonly did: number; readonly root: number; readonly levels: number; readonly scalable: boolean }
  | { readonly kind: 'nested'; readonly did: number; readonly fsptptr: bigint; readonly fsLevels: 4 | 5; readonly sre: boolean; readonly wpe: boolean }
  | { readonly kind: 'pass-through' }
  /** A present entry the VMM does not serve: its DMA faults with `reason`. */
  | { readonly kind: 'refused'; readonly reason: number; readonly why: string }
  /** Nothing present (or unreadable): its DMA faults with `reason`. */
  | { readonly kind: 'absent'; readonly reason: number };

/** The guest unit as the VMM reads it. */
export interface GuestUnitView {
  readonly mem: GuestMemory;
  readonly profile: Profile;
  /** Root table latched by the last SRTP. */
  readonly rootTable: bigint;
  /** TTM of that root table is scalable mode. */
  readonly scalable: boolean;
}

/** True when the second-stage AW value is one CAP.SAGAW offers (§9.3 AW, §9.6 AW). */
function awSupported(p: Profile, aw: number | bigint): boolean {
  const a = Number(aw);
  return a >= 1 && a <= 3 && ((CAP.sagaw(p.cap) >> a) & 1) === 1;
}

const refused = (reason: number, why: string): Want => ({ kind: 'refused', reason, why });

/** What the guest asks for requests of `sid` (with `pasid`, or without one when undefined). */
export function wantOf(g: GuestUnitView, sid: Sid, pasid: Pasid | undefined): Want {
  return g.scalable ? scalableWant(g, sid, pasid) : legacyWant(g, sid, pasid);
}

function legacyWant(g: GuestUnitView, sid: number, pasid: number | undefined): Want {
  if (pasid !== undefined) return { kind: 'absent', reason: FR_SM_PASID_IN_LEGACY };
  const ce = legacyContext(g.mem, g.rootTable, sid);
  if (isFault(ce)) return { kind: 'absent', reason: ce };
  const tt = Number(ce.TT);
  if (tt === TT.PASS_THROUGH) {
    return (g.profile.ecap & ECAP.PT) !== 0n ? { kind: 'pass-through' } : refused(FR_CTX_INVALID, 'TT 10 without ECAP.PT');
  }
  if (tt !== TT.UNTRANSLATED && tt !== TT.DEVICE_TLB) return refused(FR_CTX_INVALID, `TT ${tt} is reserved`);
  if (!awSupported(g.profile, ce.AW)) return refused(FR_CTX_INVALID, `AW ${ce.AW} is not in CAP.SAGAW`);
  return { kind: 'shadow', did: Number(ce.DID), root: Number(ce.SSPTPTR >> 12n), levels: levelsOfAw(ce.AW), scalable: false };
}

function scalableWant(g: GuestUnitView, sid: number, pasid: number | undefined): Want {
  const ce = smContext(g.mem, g.rootTable, sid);
  if (isFault(ce)) return { kind: 'absent', reason: ce };
  const pe = pasidEntry(g.mem, ce, pasid ?? Number(ce.RID_PASID), pasid !== undefined);
  if (isFault(pe)) return { kind: 'absent', reason: pe };
  return PGTT_WANTS[Number(pe.PGTT)]?.(g.profile, pe) ?? refused(FR_PASID_INVALID, `PGTT ${pe.PGTT} is reserved`);
}

/** PGTT -> what the VMM does with the entry (§9.6), by what ECAP offers. */
const PGTT_WANTS: Partial<Record<number, (p: Profile, pe: PasidEntry) => Want>> = {
  [PGTT.FIRST_STAGE]: (p, pe) => {
    if ((p.ecap & ECAP.FSTS) === 0n) return refused(FR_PASID_INVALID, 'PGTT 1 (first stage) is not offered (ECAP.FSTS = 0)');
    const five = Number(pe.FSPM) === 1;
    if (Number(pe.FSPM) > 1 || (five && (p.cap & CAP.FS5LP) === 0n)) return refused(FR_PASID_INVALID, `FSPM ${pe.FSPM} is not supported`);
    return { kind: 'nested', did: Number(pe.DID), fsptptr: pe.FSPTPTR, fsLevels: five ? 5 : 4, sre: pe.SRE, wpe: pe.WPE };
  },
  [PGTT.SECOND_STAGE]: (p, pe) => {
    if ((p.ecap & ECAP.SSTS) === 0n) return refused(FR_PASID_INVALID, 'PGTT 2 (second stage) is not offered (ECAP.SSTS = 0)');
    if (!awSupported(p, pe.AW)) return refused(FR_PASID_INVALID, `AW ${pe.AW} is not in CAP.SAGAW`);
    return { kind: 'shadow', did: Number(pe.DID), root: Number(pe.SSPTPTR >> 12n), levels: levelsOfAw(pe.AW), scalable: true };
  },
  [PGTT.NESTED]: (p) => refused(FR_PASID_INVALID, `PGTT 3 (nested) is not offered (ECAP.NEST = ${(p.ecap & ECAP.NEST) !== 0n ? 1 : 0})`),
  [PGTT.PASS_THROUGH]: (p) => ((p.ecap & ECAP.PT) !== 0n ? { kind: 'pass-through' } : refused(FR_PASID_INVALID, 'PGTT 4 without ECAP.PT')),
};

/** True when two wants would attach to the same host translation. */
export function sameWant(a: Want, b: Want): boolean {
  if (a.kind !== b.kind) return false;
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  return Object.keys(x).every((k) => k === 'why' || x[k] === y[k]);
}
