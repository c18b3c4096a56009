/**
 * Programs the core's capability switches (docs/ABI.md "Configuration") from
 * a profile's CAP/ECAP and quirk list, so the walker checks exactly what the
 * guest sees advertised.
 */
import type { Core } from '../core/core.js';
import * as K from '../core/constants.js';
import type { Profile } from './profiles.js';
import { CAP, ECAP } from './spec/registers.js';

const bit = (v: bigint, mask: bigint): number => ((v & mask) !== 0n ? 1 : 0);

/** The core's QUIRK_* bit set for a profile; throws naming the quirk if the core lacks it. */
export function coreQuirkBits(p: Profile): number {
  let bits = 0;
  const table = K as unknown as Record<string, number | undefined>;
  for (const q of p.coreQuirks) {
    const v = table[`QUIRK_${q}`];
    if (typeof v !== 'number') throw new Error(`profile: the core has no QUIRK_${q}`);
    bits |= v;
  }
  return bits;
}

/** Every CFG_* key and its value for the profile (the core's own defaults are the default profile's: asm/assembly/cfg.ts). */
export function coreConfigRows(p: Profile): [key: number, value: number][] {
  const { cap, ecap } = p;
  return [
    [K.CFG_SAGAW, CAP.sagaw(cap)],
    [K.CFG_MGAW, CAP.mgaw(cap)],
    [K.CFG_HAW, p.haw],
    [K.CFG_SSLPS, CAP.sslps(cap)],
    [K.CFG_FS1GP, bit(cap, CAP.FS1GP)],
    [K.CFG_FS5LP, bit(cap, CAP.FS5LP)],
    [K.CFG_ECAP_PT, bit(ecap, ECAP.PT)],
    [K.CFG_ECAP_SC, bit(ecap, ECAP.SC)],
    [K.CFG_ECAP_NEST, bit(ecap, ECAP.NEST)],
    [K.CFG_ECAP_SRS, bit(ecap, ECAP.SRS)],
    [K.CFG_ECAP_ERS, bit(ecap, ECAP.ERS)],
    [K.CFG_ECAP_DT, bit(ecap, ECAP.DT)],
    [K.CFG_ECAP_PASID, bit(ecap, ECAP.PASID)],
    [K.CFG_ECAP_SMTS, bit(ecap, ECAP.SMTS)],
    [K.CFG_ECAP_FSTS, bit(ecap, ECAP.FSTS)],
    [K.CFG_ECAP_SSTS, bit(ecap, ECAP.SSTS)],
    [K.CFG_ECAP_PRS, bit(ecap, ECAP.PRS)],
    [K.CFG_PASID_BITS, (ecap & ECAP.PASID) ? ECAP.pss(ecap) + 1 : 0],
    [K.CFG_CM, bit(cap, CAP.CM)],
    [K.CFG_IOTLB_SETS_LG2, p.iotlb.setsLg2],
    [K.CFG_IOTLB_WAYS, p.iotlb.ways],
    [K.CFG_QUIRKS, coreQuirkBits(p)],
  ];
}

/** coreConfigRows of each profile met (a profile is immutable; every system reset re-applies its unit's). */
const rowsOf = new WeakMap<Profile, readonly [number, number][]>();

/** Writes the CFG_* keys whose value differs for the profile, then invalidates all caches. */
export function configureCore(core: Core, p: Profile): void {
  writeCoreConfig(core, p);
  core.invalidateAll();
}

/**
 * Writes the CFG_* keys whose value differs for the profile, and nothing
 * else: the caller empties the caches after it (a system reset does so with
 * the SRTP of a zero root table, which invalidates everything; a second
 * invalidateAll cost ~11 us of every fuzzer reset).
 */
export function writeCoreConfig(core: Core, p: Profile): void {
  // Only changed values: a reset re-applies the same profile, and setting the
  // IOTLB geometry re-clears the whole table (0.5 MiB at QEMU's 16K entries).
  let rows = rowsOf.get(p);
  if (!rows) rowsOf.set(p, (rows = coreConfigRows(p)));
  for (const [key, value] of rows) if (core.getConfig(key) !== value) core.setConfig(key, value);
}
