/**
 * Capability profiles: the VER/CAP/ECAP values and register layout the unit
 * presents, plus the named departures from the spec that a reference
 * implementation shows (so differential tests see the same values).
 *
 * - `qemu-7.2`, `qemu-10.0`: QEMU's intel-iommu (scenarios/FORMAT.md).
 * - `default`: what this model implements, following the spec.
 */
import { CAP, ECAP } from './spec/registers.js';

/** The profile names a machine config or scenario may ask for. */
export type ProfileName = 'qemu-7.2' | 'qemu-10.0' | 'default';

/** Every profile name, for validation and `viommu info`. */
export const PROFILE_NAMES: readonly ProfileName[] = ['qemu-7.2', 'qemu-10.0', 'default'];

/** The VT-d options of a machine (scenario `machine.iommu`). */
export interface IommuOptions {
  /** Advertise scalable-mode translation (ECAP.SMTS) and its features. */
  scalableMode: boolean;
  /** CAP.CM: caching mode (software must invalidate not-present -> present changes). */
  cachingMode: boolean;
  /** Largest guest address width: 39 (3-level), 48 (4-level) or 57 (5-level). */
  awBits: 39 | 48 | 57;
  /** qemu-10.0 `x-flts`: first-stage instead of second-stage translation (needs scalable, aw 48). */
  firstStage: boolean;
  /** Number of fault recording registers (CAP.NFR + 1), 1..MAX_FRCD_COUNT; QEMU profiles have 1. */
  faultRecords: number;
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
  /** Names of the core's QUIRK_* switches this profile turns on. */
  readonly coreQuirks: readonly string[];
  /** Behaviours of the host side (registers, queues) this profile reproduces. */
  readonly host: HostQuirks;
}

const NO_QUIRKS: HostQuirks = {
  qemuFaultEventRule: false, noCfi: false,
  ccmdDomainAsGlobal: false, ignoreRegInvalWhileQi: false, ttmBit10Only: false,
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
  nd: number; cm: boolean; sagaw: number; mgaw: number; fro: number; sllps: number;
  nfr: number; mamv: number; extra: bigint;
}): bigint {
  return BigInt(f.nd) | (f.cm ? CAP.CM : 0n) | (BigInt(f.sagaw) << CAP.SAGAW_SHIFT)
    | (BigInt(f.mgaw - 1) << CAP.MGAW_SHIFT) | (BigInt(f.fro) << CAP.FRO_SHIFT)
    | (BigInt(f.sllps) << CAP.SLLPS_SHIFT) | CAP.PSI | (BigInt(f.nfr) << CAP.NFR_SHIFT)
    | (BigInt(f.mamv) << CAP.MAMV_SHIFT) | f.extra;
}

/** QEMU's CAP/ECAP (hw/i386/intel_iommu.c vtd_cap_init) for the scenario options. */
function qemuCapEcap(o: IommuOptions, tenDotZero: boolean): { cap: bigint; ecap: bigint } {
  const aw48 = o.awBits >= 48;
  const fs = tenDotZero && o.firstStage;
  const cap = capValue({
    nd: 6, cm: o.cachingMode, sagaw: aw48 ? 0b0110 : 0b0010, mgaw: aw48 ? 48 : 39, fro: 0x22,
    sllps: 0b11, nfr: 0, mamv: 18, extra: CAP.DWD | CAP.DRD | (fs ? CAP.FS1GP : 0n),
  });
  // QI, IR, EIM, PT, IRO=0xF, MHMV=0xF (0xf00f5a).
  let ecap = ECAP.QI | ECAP.IR | ECAP.EIM | ECAP.PT | (0xfn << ECAP.IRO_SHIFT) | (0xfn << ECAP.MHMV_SHIFT);
  if (o.scalableMode) ecap |= ECAP.SMTS | (fs ? ECAP.FLTS : ECAP.SRS | ECAP.SLTS);
  return { cap, ecap };
}

/** The core's QUIRK_* switches both QEMU versions need (asm/assembly/abi/layout.ts documents each). */
const QEMU_CORE_QUIRKS: readonly string[] = [
  'IOTLB_BEFORE_CONTEXT', 'NO_PASID_CACHE', 'LEGACY_CODES_IN_SM', 'FS_ALL_USER', 'FS_AD_IF_A_CLEAR',
  'PT_STICKY', 'NO_FAULT_ON_CACHED_PERM', 'QEMU_FAULT_PV', 'INTR_PAGE_OVERLAP', 'RSVD_CTX_UNQUALIFIED', 'NO_PSC',
  'NO_PDIR_FPD', 'SS_PERM_BEFORE_RSVD',
];

function qemuProfile(name: 'qemu-7.2' | 'qemu-10.0', o: IommuOptions): Profile {
  const ten = name === 'qemu-10.0';
  if (o.firstStage && !ten) throw new Error(`options.firstStage: not available in profile ${name}`);
  if (o.firstStage && (!o.scalableMode || o.awBits !== 48)) {
    throw new Error('options.firstStage: needs scalableMode and awBits 48');
  }
  if (o.awBits === 57) throw new Error(`options.awBits: 57 is not supported by profile ${name}`);
  const { cap, ecap } = qemuCapEcap(o, ten);
  return {
    name, options: o, ver: 0x10, cap, ecap, blockSize: 0x230, frcdOffset: 0x220, frcdCount: 1,
    ivaOffset: 0xf0, fullRegisterSet: false,
    coreQuirks: ten ? [...QEMU_CORE_QUIRKS, 'PSI_ALL_FS'] : [...QEMU_CORE_QUIRKS, 'PSI_ALIAS', 'FS_AS_SS', 'PASID_FAULTS_0X58'],
    host: {
      qemuFaultEventRule: true, noCfi: true,
      ccmdDomainAsGlobal: true, ignoreRegInvalWhileQi: true, ttmBit10Only: true,
    },
  };
}

/** Number of fault recording registers of the default profile. */
export const DEFAULT_FRCD_COUNT = 8;
/** Most fault recording registers a profile may have (they must fit below PERFCAP at 0x300). */
export const MAX_FRCD_COUNT = 14;

function defaultProfile(o: IommuOptions): Profile {
  const cap = capValue({
    nd: 6, cm: o.cachingMode, sagaw: sagawFor(o.awBits), mgaw: o.awBits, fro: 0x22, sllps: 0b11,
    nfr: o.faultRecords - 1, mamv: 18,
    extra: CAP.DWD | CAP.DRD | CAP.FS1GP | (o.awBits === 57 ? CAP.FS5LP : 0n) | CAP.ESRTPS,
  });
  let ecap = ECAP.C | ECAP.QI | ECAP.DT | ECAP.PT | ECAP.SC | (0xfn << ECAP.IRO_SHIFT);
  if (o.scalableMode) {
    ecap |= ECAP.NEST | ECAP.PRS | ECAP.ERS | ECAP.SRS | (19n << ECAP.PSS_SHIFT) | ECAP.PASID
      | ECAP.PDS | ECAP.SMTS | ECAP.SLTS | ECAP.FLTS | ECAP.SMPWCS | ECAP.RPS;
  }
  return {
    name: 'default', options: o, ver: 0x10, cap, ecap, blockSize: 0x1000, frcdOffset: 0x220,
    frcdCount: o.faultRecords, ivaOffset: 0xf0, fullRegisterSet: true, coreQuirks: [],
    host: NO_QUIRKS,
  };
}

/** Default options: legacy + scalable capable, 48-bit, no caching mode. */
export const DEFAULT_IOMMU_OPTIONS: IommuOptions = {
  scalableMode: true, cachingMode: false, awBits: 48, firstStage: false, faultRecords: DEFAULT_FRCD_COUNT,
};

/**
 * Builds the named profile for the given options. Throws an `Error` naming
 * the argument for an unknown profile or an option combination the profile
 * cannot present.
 */
export function createProfile(name: string, options: Partial<IommuOptions> = {}): Profile {
  const o: IommuOptions = {
    ...DEFAULT_IOMMU_OPTIONS, ...(name.startsWith('qemu-') ? { faultRecords: 1 } : {}), ...options,
  };
  if (![39, 48, 57].includes(o.awBits)) throw new Error(`options.awBits: ${o.awBits} is not 39, 48 or 57`);
  if (!Number.isInteger(o.faultRecords) || o.faultRecords < 1 || o.faultRecords > MAX_FRCD_COUNT) {
    throw new Error(`options.faultRecords: ${o.faultRecords} is not an integer in 1..${MAX_FRCD_COUNT}`);
  }
  if (name.startsWith('qemu-') && o.faultRecords !== 1) {
    throw new Error(`options.faultRecords: profile ${name} has exactly one fault recording register`);
  }
  switch (name) {
    case 'qemu-7.2':
    case 'qemu-10.0':
      return qemuProfile(name, o);
    case 'default':
      return defaultProfile(o);
    default:
      throw new Error(`profile: unknown profile "${name}" (known: ${PROFILE_NAMES.join(', ')})`);
  }
}
