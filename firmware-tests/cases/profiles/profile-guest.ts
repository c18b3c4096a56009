/**
 * Guest-side helpers for the profile-switch suite: boot the same machine on
 * two profiles, attach a device with a first-stage or second-stage table
 * (scalable mode, §9.4/§9.6, with the fields the switches need: RID_PRIV,
 * SRE, directory FPD) or a legacy second-stage table (§9.3), and read fault
 * records. Everything goes through MMIO and guest RAM (the guest-driver library, host/src/guest/).
 */
import { bootTestbed, sidOf, type Testbed } from '../../lib/testbed.js';
import type { GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { PageTableBuilder, PasidTableBuilder } from '../../../host/src/tables/table-builders.js';
import { encodeFsPte } from '../../../host/src/vtd/spec/fs-pte.js';
import { encodePasidEntry, pasidDirEntryAddress, PGTT } from '../../../host/src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';
import { createProfile, type IommuOptions } from '../../../host/src/vtd/profiles.js';
import { parseProfileKey, switchOff } from './switch-off.js';

/** The profiles the suite contrasts. */
export type ProfileName = 'default' | 'qemu-7.2' | 'qemu-10.0';

/** Requester id of the device the suite drives (bus 0, slot 3). */
export const DEV = 3;
export const SID = sidOf(DEV);

/** First-stage leaf, user, read/write. */
export const FS_RW = encodeFsPte({ P: true, RW: true, US: true });
/** Second-stage leaf, read/write / read-only. */
export const SS_RW = encodeSsPte({ R: true, W: true });
export const SS_RO = encodeSsPte({ R: true });

/** A profile, or a profile with one switch at the spec's value: `"qemu-10.0 -FS_ALL_USER"` (switch-off.ts). */
export type ProfileKey = ProfileName | `${ProfileName} -${string}`;

/** Names of the host-side switches (HostQuirks keys). */
const HOST_QUIRKS = Object.keys(createProfile('default').host);

/**
 * Boots `key` with the scenario-style options (FORMAT.md); `firstStage` only
 * reaches qemu-10.0. A switch named after " -" is at the spec's value for this
 * machine only (the test file mocks the profile modules to honour it).
 */
export async function boot(key: ProfileKey, o: Partial<IommuOptions>): Promise<Testbed> {
  const { profile, off } = parseProfileKey(key, HOST_QUIRKS);
  const iommu = { ...o, firstStage: profile === 'qemu-10.0' ? (o.firstStage ?? false) : false };
  Object.assign(switchOff, off);
  try {
    return await bootTestbed({ profile, iommu, slots: [DEV, 4] });
  } finally {
    Object.assign(switchOff, { core: '', host: '', qi: '' });
  }
}

/** Options of a scalable attachment beyond what GuestIommu.attachScalable writes. */
export interface SmAttach {
  readonly did: number;
  readonly pgtt: (typeof PGTT)[keyof typeof PGTT];
  readonly ridPriv?: boolean;
  readonly sre?: boolean;
  readonly fpd?: boolean;
}

/** A scalable attachment of `SID` through RID_PASID 0 with its tables. */
export interface SmDevice {
  readonly pasids: PasidTableBuilder;
  readonly fs: PageTableBuilder;
  readonly ss: PageTableBuilder;
  /** Rewrites the RID_PASID entry (e.g. another table or PGTT). */
  setEntry(o: { pgtt: number; fsRoot?: bigint; present?: boolean }): void;
  /** GPA of the PASID directory entry for PASID 0. */
  readonly dirEntry: bigint;
}

/** Writes a scalable context entry, a PASID directory and the RID_PASID (0) entry for `SID`. */
export function attachSm(g: GuestIommu, o: SmAttach): SmDevice {
  const { mem, alloc } = g.env;
  const pasids = new PasidTableBuilder(mem, alloc);
  const fs = new PageTableBuilder(mem, alloc, { stage: 'fs', levels: 4 });
  const ss = new PageTableBuilder(mem, alloc, { stage: 'ss', levels: 4 });
  const setEntry = (e: { pgtt: number; fsRoot?: bigint; present?: boolean }): void => {
    pasids.setPasid(0, encodePasidEntry({
      P: e.present ?? true, FPD: o.fpd ?? false, PGTT: e.pgtt, DID: o.did, AW: 2, SSPTPTR: ss.rootPointer,
      FSPTPTR: e.fsRoot ?? fs.rootPointer, SRE: o.sre ?? false,
    }));
  };
  setEntry({ pgtt: o.pgtt });
  g.ctx.setContext(SID, encodeSmContextEntry({
    P: true, FPD: o.fpd ?? false, PASIDE: true, PASIDDIRPTR: pasids.directory, RID_PASID: 0, RID_PRIV: o.ridPriv ?? false,
  }));
  return { pasids, fs, ss, setEntry, dirEntry: pasidDirEntryAddress(pasids.directory, 0) };
}

/** What a DMA showed: ok, or the recorded fault (reason, PP, PV), or a fault nobody recorded. */
export interface DmaOutcome {
  readonly ok: boolean;
  readonly reason?: number;
  readonly pp?: boolean;
  readonly pv?: number;
  /** Faults recorded (0 when the access failed silently or was suppressed). */
  readonly records: number;
}

/** Reads 8 bytes at `iova` with the device and collects the fault records it left. */
export function dmaRead(tb: Testbed, g: GuestIommu, iova: bigint, len = 8): DmaOutcome {
  return outcome(tb.dev(DEV).read(iova, len).ok, g);
}

/** Writes `len` bytes of the device buffer to `iova` and collects the fault records. */
export function dmaWrite(tb: Testbed, g: GuestIommu, iova: bigint, len = 8): DmaOutcome {
  return outcome(tb.dev(DEV).write(iova, len).ok, g);
}

function outcome(ok: boolean, g: GuestIommu): DmaOutcome {
  const recs = g.drv.readFaults();
  const r = recs[0];
  return r ? { ok, reason: r.reason, pp: r.pp, pv: r.pv, records: recs.length } : { ok, records: 0 };
}

/** First 8 bytes the device buffer holds, as a bigint (little endian). */
export function buf64(tb: Testbed): bigint {
  const b = tb.dev(DEV).buffer();
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

/** Runs `program` on each profile (fresh machine) and returns the results by profile. */
export async function onEach<T>(profiles: readonly ProfileKey[], opts: object, program: (tb: Testbed) => T): Promise<Record<string, T>> {
  const out: Record<string, T> = {};
  for (const p of profiles) out[p] = program(await boot(p, opts));
  return out;
}

/** Legacy attachment of `SID` (3-level second stage) with `leaves` mapped read/write. */
export function legacy(tb: Testbed, did: number, leaves: [bigint, bigint][], o: { fpd?: boolean; bits?: bigint } = {}) {
  const g = tb.guest('legacy');
  const ss = g.attachLegacy(SID, { did, fpd: o.fpd });
  for (const [iova, gpa] of leaves) ss.map(iova, gpa, 12, o.bits ?? SS_RW);
  g.start();
  return { g, ss };
}
