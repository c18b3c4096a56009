/**
 * Capability profiles: the VER/CAP/ECAP values and register layout the unit
 * presents, plus the named departures from the spec that a reference
 * implementation shows (so differential tests see the same values). A
 * profile object carries every switch the model reads (core quirks, host
 * quirks, queue rules, register masks, host address width); nothing reads a
 * profile's name to decide behaviour: the name only picks a row of PROFILES.
 *
 * - `qemu-7.2`, `qemu-10.0`: QEMU's intel-iommu (firmware-tests/golden/FORMAT.md);
 *   their options and defaults are QEMU's `-device intel-iommu` properties
 *   (qemu-device.ts reads a property string into them).
 * - `default`: what this model implements, following the spec.
 */
import type * as CoreConstants from '../core/constants.js';
import { qiBehaviourFor, type QiBehaviour } from './qi/qi-behaviour.js';
import { checkQemuOptions, parseQemuDevice, qemuDeviceModel } from './qemu-device.js';
import { CAP, ECAP, FSTS } from './spec/registers.js';

/** The profile names a machine config or scenario may ask for. */
export type ProfileName = 'qemu-7.2' | 'qemu-10.0' | 'default';

/** Every profile name, for validation and `viommu info`. */
export const PROFILE_NAMES: readonly ProfileName[] = ['qemu-7.2', 'qemu-10.0', 'default'];

/** Host address width of the default profile (ACPI DMAR HAW): a 48-bit host, bits 51:48 reserved. */
export const DEFAULT_HAW = 48;

/**
 * The VT-d options of a machine (scenario `machine.iommu`). Options missing
 * from a `createProfile` call take the profile's defaults: for the QEMU
 * profiles those of QEMU's `-device intel-iommu` (QEMU property in brackets);
 * the default profile presents a fixed feature set and refuses the options
 * after `faultRecords` when asked for anything else.
 */
export interface IommuOptions {
  /** Advertise scalable-mode translation (ECAP.SMTS) and its features [x-scalable-mode]. */
  scalableMode: boolean;
  /** CAP.CM: caching mode (software must invalidate not-present -> present changes) [caching-mode]. */
  cachingMode: boolean;
  /** Largest guest address width: 39 (3-level), 48 (4-level) or 57 (5-level) [aw-bits]. */
  awBits: 39 | 48 | 57;
  /** First-stage instead of second-stage translation (needs scalable, aw 48; qemu-10.0 only) [x-flts]. */
  firstStage: boolean;
  /** Number of fault recording registers (CAP.NFR + 1), 1..MAX_FRCD_COUNT; QEMU profiles have 1. */
  faultRecords: number;
  /** ECAP.IR and MHMV: interrupt remapping (ir/remapper.ts) [intremap]. */
  interruptRemapping: boolean;
  /** ECAP.EIM: extended interrupt mode (x2APIC ids), needs interruptRemapping [eim, x-buggy-eim]. */
  extendedInterruptMode: boolean;
  /** ECAP.DT: device-TLBs (ATS translation requests) [device-iotlb]. */
  deviceIotlb: boolean;
  /** ECAP.PT: pass-through translation type [pt]. */
  passThrough: boolean;
  /** ECAP.SC: snoop control (the SNP bit of second-stage entries) [snoop-control]. */
  snoopControl: boolean;
  /** ECAP.PASID: requests with PASID (scalable mode) [x-pasid-mode]. */
  pasid: boolean;
  /** CAP.DRD and CAP.DWD: read and write draining [dma-drain]. */
  dmaDrain: boolean;
  /** CAP.SAGAW non-zero: second-stage (DMA) translation offered at all [dma-translation]. */
  dmaTranslation: boolean;
  /** CAP.FS1GP: 1 GiB first-stage pages (with firstStage on a QEMU profile) [fs1gp]. */
  firstStage1GiB: boolean;
  /**
   * Virtual command interface (ECAP.VCS, VCMD/VCRSP/VCCAP, VT-d rev 3.3):
   * a virtual IOMMU whose VMM allocates PASIDs for the guest (default profile only).
   */
  virtualCommands: boolean;
}

/**
 * Host-side behaviours of a reference implementation that differ from the
 * spec. Each is `false` in the default profile. Walker-side departures are
 * the core's `QUIRK_*` switches, named in `coreQuirks`.
 */
export interface HostQuirks {
  /** FECTL.IP only from PPF/PFO/IQE and cleared only by an FSTS write leaving them clear (QEMU). */
  qemuFaultEventRule: boolean;
  /** CCMD domain-selective is done as global (CAIG = global). */
  ccmdDomainAsGlobal: boolean;
  /** GCMD.CFI is not implemented: GSTS.CFIS stays 0 (QEMU handles only TE, SRTP, QIE, IRE, SIRTP). */
  noCfi: boolean;
  /** Register-based invalidation while QIE=1 leaves ICC/IVT set (QEMU); the spec profile clears them with granularity 0. */
  ignoreRegInvalWhileQi: boolean;
  /**
   * SRTP latches only RTADDR bit 10, and only on a scalable-mode unit: TTM=10/11 and TTM=01 on a
   * legacy unit all walk legacy tables (QEMU). The spec (§11.4.5) makes TTM=01 without SMTS,
   * TTM=10, and TTM=11 without ADMS invalid: every request faults 0x30.
   */
  ttmBit10Only: boolean;
  /**
   * An 8-byte write whose low dword is no register (0x30, 0x98) applies the masks of the register in
   * its upper dword (FSTS, ICS; write-1-to-clear included) without that register's side effects, so
   * FECTL.IP / IECTL.IP stay set (QEMU's vtd_mem_write default case). The spec makes it two 4-byte
   * writes, each with its side effects (§10.2).
   */
  qwordPairMasksOnly: boolean;
  /**
   * SRTP keeps only the root-table address bits below the address width (QEMU's
   * VTD_RTADDR_ADDR_MASK(aw_bits)); RTADDR still reads back as written. The spec latches RTA as
   * written (§11.4.5), so a pointer with bits above the host address width is outside memory.
   */
  rtaddrMaskedToAw: boolean;
  /**
   * A DMA goes on past a failing page (QEMU's memory core translates again after each failed
   * access): each failing page is reported (fault record, or nothing when suppressed or silent),
   * its bytes are not transferred (a read gets 0), and the later pages are read or written if they
   * translate. The model (spec) ends the transfer at the first failing page: the device gets an
   * Unsupported Request completion (PCIe §2.3.2).
   */
  dmaPastFault: boolean;
  /** Interrupt remapping (ir/): a blocked interrupt is dropped without a fault record (QEMU 7.2). */
  irNoFaultRecords: boolean;
  /** Compatibility-format interrupts pass through while IRE=1 whatever CFIS and EIME (QEMU); spec: fault 0x25. */
  irCompatPassThrough: boolean;
  /**
   * IRTE reserved bits are 14:12, 31:24 and 127:84 only (IM and the xAPIC destination bits unchecked)
   * and SVT=11 fails as a source-id mismatch 0x26 (QEMU); spec: every reserved field of §9.10, 0x24.
   */
  irQemuReservedIrte: boolean;
  /** handle + subhandle is summed in 16 bits and wraps (QEMU); spec: an index beyond the table faults 0x21. */
  irIndexWraps: boolean;
  /** Remappable data bits 31:16 are checked only with SHV, after the IRTE (QEMU); spec: first, always. */
  irDataCheckAfterEntry: boolean;
  /** No interrupt-entry cache: every interrupt reads its IRTE (QEMU); spec profile caches present IRTEs. */
  irNoEntryCache: boolean;
  /** SVT=10 reads SID 15:8 as the last bus and 7:0 as the first (QEMU); spec (§9.10): 15:8 first, 7:0 last. */
  irBusRangeSwapped: boolean;
  /**
   * SIRTP keeps only the table-base bits below the address width (QEMU's VTD_IRTA_ADDR_MASK(aw_bits));
   * IRTA still reads back as written. The spec latches the base as written (§11.4.10), so a table with
   * bits above the host address width is out of reach: every remappable request faults 0x21.
   */
  irtaMaskedToAw: boolean;
}

/**
 * Register masks where a reference implementation departs from the spec's
 * (the rest of the register table is the same for every profile).
 */
export interface RegisterMasks {
  /** FSTS write-1-to-clear bits: the spec's PFO, AFO, APF, IQE, ICE, ITE (§11.4.7.1); QEMU's PFO and IQE. */
  readonly fstsW1c: bigint;
  /** Writable bits of FEUADDR and IEUADDR: all in the spec (§11.4.7.5, §11.4.9.8); QEMU treats them as RsvdZ. */
  readonly upperAddressWritable: bigint;
  /** Writable bits of IEDATA: 15:0 in the spec (§11.4.9.6); QEMU stores all 32. */
  readonly iedataWritable: bigint;
}

/** A complete capability profile. */
export interface Profile {
  /** The profile's name. */
  readonly name: ProfileName;
  /** The options it was built with (defaults filled in). */
  readonly options: IommuOptions;
  /** VER register value (§11.4.1). */
  readonly ver: number;
  /** CAP register value (§11.4.2). */
  readonly cap: bigint;
  /** ECAP register value (§11.4.3). */
  readonly ecap: bigint;
  /** Size of the register block in bytes; accesses at or past it read 0. */
  readonly blockSize: number;
  /** Byte offset of FRCD[0] (CAP.FRO * 16). */
  readonly frcdOffset: number;
  /** Number of fault recording registers (CAP.NFR + 1). */
  readonly frcdCount: number;
  /** Byte offset of IVA (ECAP.IRO * 16); IOTLB is at +8. */
  readonly ivaOffset: number;
  /** Has the page-request / virtual-command / PMR / MTRR registers (default profile). */
  readonly fullRegisterSet: boolean;
  /** Names of the core's QUIRK_* switches this profile turns on (CoreQuirk where the profiles are defined; core-config.ts checks each). */
  readonly coreQuirks: readonly string[];
  /** Behaviours of the host side (registers, queues) this profile reproduces. */
  readonly host: HostQuirks;
  /** How the invalidation queue runs (qi/qi-behaviour.ts). */
  readonly qi: QiBehaviour;
  /** Register masks (register-table.ts). */
  readonly masks: RegisterMasks;
  /** Host address width the walker checks output addresses against (the core's CFG_HAW). */
  readonly haw: number;
  /** IOTLB geometry: 2^setsLg2 sets of `ways` ways (the core's CFG_IOTLB_SETS_LG2 / CFG_IOTLB_WAYS). */
  readonly iotlb: { readonly setsLg2: number; readonly ways: number };
}

const NO_QUIRKS: HostQuirks = {
  qemuFaultEventRule: false, noCfi: false,
  ccmdDomainAsGlobal: false, ignoreRegInvalWhileQi: false, ttmBit10Only: false, qwordPairMasksOnly: false,
  rtaddrMaskedToAw: false, dmaPastFault: false,
  irNoFaultRecords: false, irCompatPassThrough: false, irQemuReservedIrte: false, irIndexWraps: false,
  irDataCheckAfterEntry: false, irNoEntryCache: false, irBusRangeSwapped: false, irtaMaskedToAw: false,
};

/** SAGAW bits (CAP bits 12:8 >> 8) for every width up to `awBits`. */
function sagawFor(awBits: number): number {
  let bits = 0;
  for (const [aw, bit] of [[39, 1], [48, 2], [57, 4]] as const) {
    if (aw <= awBits) bits |= bit << 1;
  }
  return bits;
}

/** Builds CAP from its fields (§11.4.2). */
function capValue(f: {
  nd: number; cm: boolean; sagaw: number; mgaw: number; fro: number; sslps: number;
  nfr: number; mamv: number; extra: bigint;
}): bigint {
  return BigInt(f.nd) | (f.cm ? CAP.CM : 0n) | (BigInt(f.sagaw) << CAP.SAGAW_SHIFT)
    | (BigInt(f.mgaw - 1) << CAP.MGAW_SHIFT) | (BigInt(f.fro) << CAP.FRO_SHIFT)
    | (BigInt(f.sslps) << CAP.SSLPS_SHIFT) | CAP.PSI | (BigInt(f.nfr) << CAP.NFR_SHIFT)
    | (BigInt(f.mamv) << CAP.MAMV_SHIFT) | f.extra;
}

/** QEMU's CAP/ECAP for its options (hw/i386/intel_iommu.c vtd_cap_init; values in host/tests/data/qemu-device-registers.json). */
function qemuCapEcap(o: IommuOptions): { cap: bigint; ecap: bigint } {
  const cap = capValue({
    nd: 6, cm: o.cachingMode, sagaw: o.dmaTranslation ? sagawFor(o.awBits) : 0, mgaw: o.awBits, fro: 0x22,
    sslps: 0b11, nfr: 0, mamv: 18,
    extra: (o.dmaDrain ? CAP.DWD | CAP.DRD : 0n) | (o.firstStage && o.firstStage1GiB ? CAP.FS1GP : 0n),
  });
  let ecap = ECAP.QI | (0xfn << ECAP.IRO_SHIFT);
  if (o.interruptRemapping) ecap |= ECAP.IR | (0xfn << ECAP.MHMV_SHIFT) | (o.extendedInterruptMode ? ECAP.EIM : 0n);
  if (o.deviceIotlb) ecap |= ECAP.DT;
  if (o.passThrough) ecap |= ECAP.PT;
  if (o.snoopControl) ecap |= ECAP.SC;
  if (o.firstStage) ecap |= ECAP.SMTS | ECAP.FSTS;
  else if (o.scalableMode) ecap |= ECAP.SMTS | ECAP.SRS | ECAP.SSTS;
  if (o.pasid) ecap |= ECAP.PASID;
  return { cap, ecap };
}

/** The spec's register masks. */
const SPEC_MASKS: RegisterMasks = {
  fstsW1c: BigInt(FSTS.PFO | FSTS.AFO | FSTS.APF | FSTS.IQE | FSTS.ICE | FSTS.ITE),
  upperAddressWritable: 0xffff_ffffn,
  iedataWritable: 0xffffn,
};

/** QEMU's register masks (hw/i386/intel_iommu.c vtd_init). */
const QEMU_MASKS: RegisterMasks = {
  fstsW1c: BigInt(FSTS.PFO | FSTS.IQE),
  upperAddressWritable: 0n,
  iedataWritable: 0xffff_ffffn,
};

/** `Q` of a core constant named QUIRK_Q. */
type QuirkOf<N> = N extends `QUIRK_${infer Q}` ? Q : never;
/** The name of one of the core's QUIRK_* switches, without the prefix (a misspelt one does not compile). */
export type CoreQuirk = QuirkOf<keyof typeof CoreConstants>;

/** The core's QUIRK_* switches both QEMU versions need (asm/assembly/abi/layout.ts documents each). */
const QEMU_CORE_QUIRKS: readonly CoreQuirk[] = [
  'IOTLB_BEFORE_CONTEXT', 'NO_PASID_CACHE', 'LEGACY_CODES_IN_SM', 'FS_ALL_USER', 'FS_AD_IF_A_CLEAR',
  'PT_STICKY', 'NO_FAULT_ON_CACHED_PERM', 'QEMU_FAULT_PV', 'INTR_PAGE_OVERLAP', 'RSVD_CTX_UNQUALIFIED', 'NO_PSC',
  'NO_PDIR_FPD', 'SS_PERM_BEFORE_RSVD', 'NO_PDTS_CHECK', 'IOTLB_BY_SID', 'IOTLB_FLUSH_WHEN_FULL',
  'DMA_PER_TRANSLATION', 'PT_CONTEXT_AW_CHECKED', 'UNASSIGNED_READS_ZERO',
  'PASID_RSVD_UNCHECKED', 'PASID_TYPE_BEFORE_P',
];

/** The model's own IOTLB: 256 sets x 4 ways, least recently used replacement. */
const DEFAULT_IOTLB = { setsLg2: 8, ways: 4 } as const;
/** Room for QEMU's 1024 entries (QUIRK_IOTLB_FLUSH_WHEN_FULL) with few sets overflowing into its spill area. */
const QEMU_IOTLB = { setsLg2: 10, ways: 16 } as const;

/** Host quirks both QEMU versions have. */
const QEMU_HOST_QUIRKS: HostQuirks = {
  qemuFaultEventRule: true, noCfi: true,
  ccmdDomainAsGlobal: true, ignoreRegInvalWhileQi: true, ttmBit10Only: true, qwordPairMasksOnly: true,
  rtaddrMaskedToAw: true, dmaPastFault: true,
  irNoFaultRecords: true, irCompatPassThrough: true, irQemuReservedIrte: true, irIndexWraps: true,
  irDataCheckAfterEntry: true, irNoEntryCache: true, irBusRangeSwapped: true, irtaMaskedToAw: true,
};

/** What one QEMU version's profile adds to what both share. */
interface QemuVersion {
  readonly coreQuirks: readonly CoreQuirk[];
  readonly host: HostQuirks;
}

/** The QEMU versions the `qemu-*` profiles reproduce. */
const QEMU_VERSIONS: Readonly<Record<'qemu-7.2' | 'qemu-10.0', QemuVersion>> = {
  'qemu-7.2': { coreQuirks: [...QEMU_CORE_QUIRKS, 'PSI_ALIAS', 'FS_AS_SS', 'PASID_FAULTS_0X58'], host: QEMU_HOST_QUIRKS },
  'qemu-10.0': {
    coreQuirks: [...QEMU_CORE_QUIRKS, 'PASID_FAULT_IGNORES_FPD'],
    // QEMU reports interrupt-remapping faults since 8.2 ("Report interrupt remapping faults").
    host: { ...QEMU_HOST_QUIRKS, irNoFaultRecords: false },
  },
};

function qemuProfile(name: 'qemu-7.2' | 'qemu-10.0', o: IommuOptions): Profile {
  checkQemuOptions(qemuDeviceModel(name), o);
  const { cap, ecap } = qemuCapEcap(o);
  const v = QEMU_VERSIONS[name];
  return {
    name, options: o, ver: 0x10, cap, ecap, blockSize: 0x230, frcdOffset: 0x220, frcdCount: 1,
    ivaOffset: 0xf0, fullRegisterSet: false, iotlb: QEMU_IOTLB, coreQuirks: [...v.coreQuirks], host: v.host,
    qi: qiBehaviourFor(name), masks: QEMU_MASKS,
    haw: o.awBits, // QEMU reserves the output address bits above aw_bits
  };
}

/** Number of fault recording registers of the default profile. */
export const DEFAULT_FRCD_COUNT = 8;
/** Most fault recording registers a profile may have (they must fit below PERFCAP at 0x300). */
export const MAX_FRCD_COUNT = 14;

/**
 * What the default profile always presents, for the options it does not let
 * a caller change, with the reason; `pasid` follows `scalableMode`.
 */
const DEFAULT_FIXED: readonly [keyof IommuOptions, (o: IommuOptions) => boolean, string][] = [
  ['firstStage', () => false, 'presents first- and second-stage translation together (ECAP.FSTS and SSTS); first stage only (QEMU\'s x-flts) is profile qemu-10.0'],
  ['interruptRemapping', () => true, 'always presents interrupt remapping (ECAP.IR)'],
  ['extendedInterruptMode', () => true, 'always presents x2APIC mode (ECAP.EIM)'],
  ['deviceIotlb', () => true, 'always presents device-TLBs (ECAP.DT)'],
  ['passThrough', () => true, 'always presents pass-through (ECAP.PT)'],
  ['snoopControl', () => true, 'always presents snoop control (ECAP.SC)'],
  ['pasid', (o) => o.scalableMode, 'presents PASIDs (ECAP.PASID) exactly when scalableMode is on'],
  ['dmaDrain', () => true, 'always presents read/write draining (CAP.DRD, DWD)'],
  ['dmaTranslation', () => true, 'always offers second-stage translation (CAP.SAGAW)'],
  ['firstStage1GiB', () => true, 'always presents 1 GiB first-stage pages (CAP.FS1GP)'],
];

function defaultProfile(o: IommuOptions, given: Partial<IommuOptions>): Profile {
  for (const [key, fixed, why] of DEFAULT_FIXED) {
    if (given[key] !== undefined && given[key] !== fixed(o)) {
      throw new Error(`options.${key}: ${JSON.stringify(given[key])} is not available: profile default ${why}`);
    }
  }
  const cap = capValue({
    nd: 6, cm: o.cachingMode, sagaw: sagawFor(o.awBits), mgaw: o.awBits, fro: 0x22, sslps: 0b11,
    nfr: o.faultRecords - 1, mamv: 18,
    extra: CAP.DWD | CAP.DRD | CAP.FS1GP | (o.awBits === 57 ? CAP.FS5LP : 0n) | CAP.ESIRTPS | CAP.ESRTPS,
  });
  // Interrupt remapping with x2APIC mode and index-selective IEC invalidation of up to 2^15 entries (ir/).
  let ecap = ECAP.C | ECAP.QI | ECAP.DT | ECAP.IR | ECAP.EIM | ECAP.PT | ECAP.SC | (0xfn << ECAP.IRO_SHIFT)
    | (0xfn << ECAP.MHMV_SHIFT) | (o.virtualCommands ? ECAP.VCS : 0n);
  if (o.scalableMode) {
    ecap |= ECAP.NEST | ECAP.PRS | ECAP.ERS | ECAP.SRS | (19n << ECAP.PSS_SHIFT) | ECAP.PASID
      | ECAP.PDS | ECAP.SMTS | ECAP.SSTS | ECAP.FSTS | ECAP.SMPWCS | ECAP.RPS;
  }
  return {
    name: 'default', options: { ...o, pasid: o.scalableMode }, ver: 0x10, cap, ecap, blockSize: 0x1000, frcdOffset: 0x220,
    frcdCount: o.faultRecords, ivaOffset: 0xf0, fullRegisterSet: true, coreQuirks: [], iotlb: DEFAULT_IOTLB,
    host: NO_QUIRKS, qi: qiBehaviourFor('default'), masks: SPEC_MASKS, haw: DEFAULT_HAW,
  };
}

/** Default options of the default profile: scalable (and legacy) capable, 48-bit, no caching mode. */
export const DEFAULT_IOMMU_OPTIONS: IommuOptions = {
  scalableMode: true, cachingMode: false, awBits: 48, firstStage: false, faultRecords: DEFAULT_FRCD_COUNT,
  interruptRemapping: true, extendedInterruptMode: true, deviceIotlb: true, passThrough: true, snoopControl: true,
  pasid: true, dmaDrain: true, dmaTranslation: true, firstStage1GiB: true,
  virtualCommands: false,
};

/** A profile: its default options and how to build it from complete options (`given`: what the caller set). */
interface ProfileRow {
  readonly defaults: () => IommuOptions;
  readonly build: (o: IommuOptions, given: Partial<IommuOptions>) => Profile;
}

/** Every profile, by name. */
const PROFILES: Readonly<Record<ProfileName, ProfileRow>> = {
  'qemu-7.2': { defaults: () => parseQemuDevice('', 'qemu-7.2'), build: (o) => qemuProfile('qemu-7.2', o) },
  'qemu-10.0': { defaults: () => parseQemuDevice('', 'qemu-10.0'), build: (o) => qemuProfile('qemu-10.0', o) },
  default: { defaults: () => DEFAULT_IOMMU_OPTIONS, build: defaultProfile },
};

/**
 * Builds the named profile for the given options; options not given take
 * the profile's defaults (for `qemu-*`, QEMU's `-device intel-iommu`
 * defaults). Throws an `Error` naming the argument for an unknown profile or
 * option, or an option combination the profile cannot present.
 */
export function createProfile(name: string, options: Partial<IommuOptions> = {}): Profile {
  if (typeof name !== 'string' || !Object.hasOwn(PROFILES, name)) {
    throw new Error(`profile: unknown profile ${JSON.stringify(name)} (known: ${PROFILE_NAMES.join(', ')})`);
  }
  if (options === null || typeof options !== 'object') throw new Error('options: expected an object of IommuOptions');
  const unknown = Object.keys(options).find((k) => !Object.hasOwn(DEFAULT_IOMMU_OPTIONS, k));
  if (unknown !== undefined) throw new Error(`options.${unknown}: not an option (known: ${Object.keys(DEFAULT_IOMMU_OPTIONS).join(', ')})`);
  const row = PROFILES[name as ProfileName];
  const o: IommuOptions = { ...row.defaults(), ...options };
  if (![39, 48, 57].includes(o.awBits)) throw new Error(`options.awBits: ${String(o.awBits)} is not 39, 48 or 57`);
  if (!Number.isInteger(o.faultRecords) || o.faultRecords < 1 || o.faultRecords > MAX_FRCD_COUNT) {
    throw new Error(`options.faultRecords: ${String(o.faultRecords)} is not an integer in 1..${MAX_FRCD_COUNT}`);
  }
  for (const [k, v] of Object.entries(o)) {
    if (k !== 'awBits' && k !== 'faultRecords' && typeof v !== 'boolean') throw new Error(`options.${k}: expected a boolean, got ${JSON.stringify(v)}`);
  }
  return row.build(o, options);
}

/**
 * Builds a QEMU profile from a `-device intel-iommu,...` property string
 * (qemu-device.ts): QEMU's property names, values and defaults. Throws an
 * `Error` naming the property QEMU would refuse.
 */
export function createProfileFromDevice(name: string, device: string): Profile {
  return createProfile(name, parseQemuDevice(device, name));
}
