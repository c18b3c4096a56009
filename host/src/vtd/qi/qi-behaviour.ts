/**
 * How each capability profile runs the invalidation queue. The default
 * profile follows the VT-d spec (§6.5.2, §11.4.9); the `qemu-*` profiles copy
 * QEMU's intel-iommu (hw/i386/intel_iommu.c, vtd_fetch_inv_desc and
 * vtd_process_*_desc; observations in firmware-tests/golden/FORMAT.md; the spec's
 * queue errors: VT-d §6.5.2 and IQERCD, §11.4.9.9).
 * Every departure from the spec is one named field, false/empty by default.
 */
import type { ProfileName } from '../profiles.js';
import { DESC } from '../spec/descriptors.js';

/** IQA read-back rule. */
export type IqaReadBack =
  /** Spec: the register as written (writable fields). */
  | 'register'
  /** QEMU 7.2: the base latched at the last QIE enable, plus QS as written. */
  | 'latched-base-qs'
  /** QEMU 10.0: the base latched at the last QIE enable, plus QS and DW as written. */
  | 'latched-base-qs-dw';

/** The queue rules of one profile. */
export interface QiBehaviour {
  /** Clearing IQE/ITE in FSTS resumes fetching at IQH (spec). QEMU: only the next IQT write does. */
  readonly resumeOnErrorClear: boolean;
  /** IQERCD records IQEI / ITESID / ICESID (spec). QEMU leaves it 0. */
  readonly recordIqercd: boolean;
  /** A device-TLB invalidation that times out sets ITE; bad completions set ICE (spec). QEMU has neither. */
  readonly deviceErrors: boolean;
  /** What IQA reads back. */
  readonly iqaReadBack: IqaReadBack;
  /** The base latched at QIE=1 keeps only the bits below the address width (QEMU's VTD_IQA_IQA_MASK). */
  readonly baseMaskedToAw: boolean;
  /** QIE=0 is refused (QIES stays 1) unless IQH == IQT and the last descriptor was a wait (QEMU). */
  readonly disableNeedsIdleAfterWait: boolean;
  /** Descriptor types the profile processes; any other type is IQE (invalid type). */
  readonly knownTypes: ReadonlySet<number>;
  /** Types accepted without any check that do nothing (QEMU 7.2: PASID-IOTLB). */
  readonly noopTypes: ReadonlySet<number>;
  /** Types that give IQE unless the unit reports scalable mode (ECAP.SMTS), whatever the queue width (QEMU 10.0: PASID cache). */
  readonly needSmtsTypes: ReadonlySet<number>;
  /** Types that give IQE (invalid width) in a 128-bit queue. */
  readonly wideOnlyTypes: ReadonlySet<number>;
  /** A 128-bit type in a 256-bit queue must have qw2 = qw3 = 0 (spec, QEMU 10.0). */
  readonly upperHalfReserved: boolean;
  /** Check the capabilities (ECAP.DT, PASID, PRS, MHMV) and the TTM a descriptor needs (spec). */
  readonly capabilityChecks: boolean;
  /** A wait descriptor with neither SW nor IF is IQE (QEMU: "unknown type"). */
  readonly waitNeedsSwOrIf: boolean;
  /** Context-cache domain-selective invalidation is done as global (QEMU). */
  readonly ccDomainAsGlobal: boolean;
  /** QEMU checks the PFSID bits of (PASID-based) device-TLB descriptors as reserved. */
  readonly devTlbPfsidReserved: boolean;
  /** The IEC descriptor's reserved bits are not checked (QEMU 7.2). */
  readonly iecUnchecked: boolean;
  /** PASID-cache descriptors are accepted without checks and act as global (QEMU: no PASID cache; reads entries every time). */
  readonly pasidCacheUnchecked: boolean;
  /**
   * The type is qw0[3:0] alone (QEMU 7.2's VTD_INV_DESC_TYPE): qw0[11:9] are then plain qw0 bits,
   * reserved wherever qw0's reserved bits are checked, so types 4, 6 and 7 with them set run as
   * their low type. The spec's type is qw0[11:9] << 4 | qw0[3:0] (§6.5.2): such a type is unknown, IQE.
   */
  readonly typeLowBitsOnly: boolean;
  /**
   * IQA.DW written while QIE=1 takes effect at once (QEMU's vtd_update_iq_dw on every IQA
   * write): descriptor size and the IQH/IQT units change, the base and the queue size latched at
   * enable stay. The spec leaves a change of IQA while QIES=1 undefined (§11.4.9.3); the model
   * keeps what was latched at enable.
   */
  readonly dwLive: boolean;
  /**
   * An IQT write with bit 4 set in a 256-bit queue is stored but moves neither the tail nor
   * anything else, no IQE (QEMU 7.2). The spec (and QEMU 10.0): IQE, tail unchanged (§11.4.9.2).
   */
  readonly misalignedTailIgnored: boolean;
}

const ALL_TYPES = [
  DESC.CONTEXT_CACHE, DESC.IOTLB, DESC.DEVICE_TLB, DESC.IEC, DESC.WAIT, DESC.PASID_IOTLB,
  DESC.PASID_CACHE, DESC.PASID_DEVICE_TLB, DESC.PAGE_GROUP_RESPONSE,
];

/** The spec's rules. */
export const SPEC_BEHAVIOUR: QiBehaviour = {
  resumeOnErrorClear: true, recordIqercd: true, deviceErrors: true, iqaReadBack: 'register', baseMaskedToAw: false,
  disableNeedsIdleAfterWait: false, knownTypes: new Set(ALL_TYPES), noopTypes: new Set(), needSmtsTypes: new Set(),
  wideOnlyTypes: new Set([DESC.PASID_IOTLB, DESC.PASID_CACHE, DESC.PASID_DEVICE_TLB, DESC.PAGE_GROUP_RESPONSE]),
  upperHalfReserved: true, capabilityChecks: true, waitNeedsSwOrIf: false, ccDomainAsGlobal: false,
  devTlbPfsidReserved: false, iecUnchecked: false, pasidCacheUnchecked: false, typeLowBitsOnly: false, dwLive: false,
  misalignedTailIgnored: false,
};

const QEMU_COMMON = {
  resumeOnErrorClear: false, recordIqercd: false, deviceErrors: false, baseMaskedToAw: true,
  disableNeedsIdleAfterWait: true, capabilityChecks: false, waitNeedsSwOrIf: true,
  ccDomainAsGlobal: true, devTlbPfsidReserved: true, pasidCacheUnchecked: true, dwLive: true,
} as const;

/** QEMU 7.2: types 1-7 (6 and 7 accepted unchecked), no width checks, no IEC reserved check, IQA reads base|QS. */
export const QEMU_7_2_BEHAVIOUR: QiBehaviour = {
  ...QEMU_COMMON, iqaReadBack: 'latched-base-qs',
  knownTypes: new Set(ALL_TYPES.filter((t) => t <= DESC.PASID_CACHE)), noopTypes: new Set([DESC.PASID_IOTLB]),
  needSmtsTypes: new Set(),
  wideOnlyTypes: new Set(), upperHalfReserved: false, iecUnchecked: true, typeLowBitsOnly: true,
  misalignedTailIgnored: true,
};

/**
 * QEMU 10.0: types 1-8; types 6 and 8 need a 256-bit queue, type 7 only a
 * scalable-mode unit (`case VTD_INV_DESC_PC: if (s->scalable_mode) break;`);
 * 128-bit types need a zero upper half.
 */
export const QEMU_10_0_BEHAVIOUR: QiBehaviour = {
  ...QEMU_COMMON, iqaReadBack: 'latched-base-qs-dw',
  knownTypes: new Set(ALL_TYPES.filter((t) => t <= DESC.PASID_DEVICE_TLB)), noopTypes: new Set(),
  needSmtsTypes: new Set([DESC.PASID_CACHE]),
  wideOnlyTypes: new Set([DESC.PASID_IOTLB, DESC.PASID_DEVICE_TLB]),
  upperHalfReserved: true, iecUnchecked: false, typeLowBitsOnly: false, misalignedTailIgnored: false,
};

const BY_PROFILE: Readonly<Record<ProfileName, QiBehaviour>> = {
  default: SPEC_BEHAVIOUR, 'qemu-7.2': QEMU_7_2_BEHAVIOUR, 'qemu-10.0': QEMU_10_0_BEHAVIOUR,
};

/**
 * The queue rules of the named profile's row (unknown names get the spec's
 * rules); createProfile puts them on the profile (Profile.qi), where the
 * queue reads them.
 */
export function qiBehaviourFor(name: string): QiBehaviour {
  return (BY_PROFILE as Record<string, QiBehaviour | undefined>)[name] ?? SPEC_BEHAVIOUR;
}
