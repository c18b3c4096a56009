/**
 * The SMMUv3 nested HWPT (iommufd IOMMU_HWPT_ALLOC with
 * IOMMU_HWPT_DATA_ARM_SMMUV3 on a vIOMMU; what `bind_pasid_table` became):
 * the guest's own STE — its stage-1 part, with S1ContextPtr a guest-physical
 * address of the guest's CD table, S1CDMax the guest's SubstreamID width and
 * S1Fmt its layout — over the vIOMMU's nesting-parent stage 2. Attached to a
 * device, the physical SMMU's STE for that stream becomes a nested one
 * (smmu-backend.ts): the SMMU fetches the guest's CDs and walks the guest's
 * stage-1 tables through the host's stage 2, with every SubstreamID the
 * guest allocated, without the host knowing them.
 *
 * Validation follows Linux's arm_smmu_validate_vste (IHI 0070 §5.2): an STE
 * with V = 0 is an abort STE; otherwise only the fields a guest may own are
 * allowed (doubleword 0: V, Config, S1Fmt, S1ContextPtr, S1CDMax;
 * doubleword 1: S1DSS, S1CIR/COR/CSH, S1STALLD, EATS), Config is abort,
 * bypass or stage-1 translate, and EATS abort or translate; anything else
 * is EIO, the uAPI's code for invalid STE data.
 */
import { fail } from './errors.js';
import { HwptBase, type DidRelease, type HwptPaging } from './hwpt.js';
import type { HostObject } from './objects.js';
import type { PhysicalIommu, SmmuNestedProgram } from './backend.js';
import type { FaultQueue } from './fault-queue.js';
import type { SmmuViommu } from './arm-viommu.js';
import { get, maskOf } from '../smmu/spec/bits.js';
import { EATS, STE, STE_CONFIG } from '../smmu/spec/ste.js';
import type { Did } from '../types.js';

/** STE doubleword-0 fields a guest may set (Linux STRTAB_STE_0_NESTING_ALLOWED). */
const DW0_ALLOWED = [STE.V, STE.Config, STE.S1Fmt, STE.S1ContextPtr, STE.S1CDMax].reduce((m, f) => m | maskOf(f.hi, f.lo), 0n);
/** STE doubleword-1 fields a guest may set (Linux STRTAB_STE_1_NESTING_ALLOWED). */
const DW1_ALLOWED = [STE.S1DSS, STE.S1CIR, STE.S1COR, STE.S1CSH, STE.S1STALLD, STE.EATS].reduce((m, f) => m | maskOf(f.hi, f.lo), 0n);

/** Options of an SMMUv3 nested HWPT. */
export interface ArmNestedOptions {
  /** The guest STE's doublewords 0 and 1 (struct iommu_hwpt_arm_smmuv3.ste[2]). */
  readonly ste: readonly [bigint, bigint];
  /** Fault queue for I/O page faults (the SMMUv3 backend has no PRI: EOPNOTSUPP). */
  readonly faultQueue?: FaultQueue;
  /** May be attached at PASIDs (IOMMU_HWPT_ALLOC_PASID): not for an STE (EOPNOTSUPP). */
  readonly pasid?: boolean;
}

/**
 * The guest STE a nested HWPT keeps: V = 0 becomes all-zero (abort); EIO
 * naming `ste` for fields or values a guest may not use. EATS is dropped
 * (the host decides ATS).
 */
export function validateGuestSte(ste: unknown): [bigint, bigint] {
  if (!Array.isArray(ste) || ste.length !== 2 || !ste.every((w) => typeof w === 'bigint' && w >= 0n && w < 1n << 64n)) {
    fail('EINVAL', `ste: ${String(ste)} is not two 64-bit doublewords`);
  }
  const w = ste as bigint[];
  if (get(w, STE.V) === 0) return [0n, 0n];
  if ((w[0]! & ~DW0_ALLOWED) !== 0n) fail('EIO', `ste[0]: 0x${w[0]!.toString(16)} sets bits a guest STE may not own (0x${(w[0]! & ~DW0_ALLOWED).toString(16)})`);
  if ((w[1]! & ~DW1_ALLOWED) !== 0n) fail('EIO', `ste[1]: 0x${w[1]!.toString(16)} sets bits a guest STE may not own (0x${(w[1]! & ~DW1_ALLOWED).toString(16)})`);
  const config = get(w, STE.Config);
  if (config !== STE_CONFIG.ABORT && config !== STE_CONFIG.BYPASS && config !== STE_CONFIG.S1) {
    fail('EIO', `ste[0]: Config 0b${config.toString(2).padStart(3, '0')} is not abort, bypass or stage-1 translate`);
  }
  const eats = get(w, STE.EATS);
  if (eats !== EATS.ABORT && eats !== EATS.TRANS) fail('EIO', `ste[1]: EATS ${eats} is not abort or translate`);
  return [w[0]!, w[1]! & ~maskOf(STE.EATS.hi, STE.EATS.lo)];
}

/** A guest STE over a vIOMMU's nesting-parent stage 2. */
export class HwptNestedArm extends HwptBase implements HostObject {
  readonly kind = 'hwpt-nested' as const;
  /** The validated guest STE (doublewords 0 and 1). */
  readonly ste: readonly [bigint, bigint];
  /** The nesting parent (the vIOMMU's). */
  readonly parent: HwptPaging;

  /**
   * Validates the STE (EIO / EINVAL naming it); takes references to the vIOMMU and its parent.
   * @param viommu The SMMUv3 vIOMMU the HWPT is allocated on.
   */
  constructor(readonly viommu: SmmuViommu, iommu: PhysicalIommu, did: Did, freeDid: DidRelease, opts: ArmNestedOptions) {
    super(did, opts.faultQueue, freeDid, opts.pasid ?? false);
    void iommu;
    if (opts.faultQueue) fail('EOPNOTSUPP', 'faultId: the SMMUv3 backend reports faults as events to the vIOMMU (vEVENTQ), not page requests');
    if (opts.pasid) fail('EOPNOTSUPP', 'pasid: an STE covers every SubstreamID of its stream; it is not attached per PASID');
    this.ste = validateGuestSte(opts.ste);
    this.parent = viommu.parent;
    this.parent.users++;
    this.parent.children.add(this);
    viommu.users++;
    this.holdBase();
  }

  program(): SmmuNestedProgram {
    const p = this.parent.program();
    return {
      kind: 'smmu-nested', did: this.did, vmid: this.viommu.vmid, ssptptr: p.ssptptr, levels: p.levels, ste: this.ste,
      report: (sid, record) => this.viommu.reportEvent(sid, record),
    };
  }

  /** SMMUv3 nested HWPTs take invalidations through their vIOMMU (raw commands), not directly. */
  invalidate(entries: readonly unknown[]): number {
    void entries;
    return fail('EOPNOTSUPP', `hwptId: HWPT ${this.id} is an SMMUv3 nested HWPT; invalidate through vIOMMU ${this.viommu.id}`);
  }

  release(): void {
    this.parent.users--;
    this.parent.children.delete(this);
    this.viommu.users--;
    this.releaseBase();
  }
}
