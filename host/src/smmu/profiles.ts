/**
 * SMMUv3 capability profiles: what SMMU_IDR0-5 advertise (IHI 0070 §6.3.1-
 * §6.3.6) and the named switches where a reference implementation departs
 * from the spec. `default` is what this model implements (SMMUv3.1 with
 * stage 1, stage 2 and nesting, 20-bit substreams, 2-level stream and CD
 * tables, MSIs, SEV); `qemu-7.2` presents QEMU 7.2's `-machine
 * virt,iommu=smmuv3` (stage 1 only, no substreams, no MSIs, 44-bit OAS).
 * Behaviour is keyed on the switches and ID values, never on the name.
 */
import { IDR0, IDR3, IDR5 } from './spec/registers.js';

/** Departures from the spec a profile copies (each documented with the spec's behaviour). */
export interface SmmuSwitches {
  /**
   * QEMU: page 1 is an alias of page 0 (`offset &= ~0x10000`), so EVENTQ_PROD/CONS
   * also answer at 0xA8/0xAC and every page-0 register at +64 KiB. Spec (§6.2):
   * the queue indexes live in page 1 only; other page-1 offsets are reserved.
   */
  readonly page1AliasesPage0: boolean;
  /** QEMU 7.2: no SMMU_GBPA (RAZ/WI): a disabled SMMU always bypasses. Spec (§6.3.14): GBPA.ABORT decides. */
  readonly noGbpa: boolean;
  /**
   * QEMU: commands it does not implement (TLBI_S12_VMALL, TLBI_S2_IPA,
   * ATC_INV, PRI_RESP, TLBI_EL2/EL3_*, RESUME, STALL_TERM) complete without
   * an error. Spec (§4.1): a command for a feature the SMMU lacks is
   * CERROR_ILL.
   */
  readonly ignoreUnsupportedCommands: boolean;
  /** QEMU: a CD with HA or HD set is C_BAD_CD (no HTTU). Spec (§5.4): RES0 without HTTU, ignored. */
  readonly cdHttuIllegal: boolean;
  /** QEMU: a CD whose TTB0/1 lies beyond the output size is C_BAD_CD. Spec (§3.4.3): an F_ADDR_SIZE at the walk. */
  readonly ttbBeyondOasIllegal: boolean;
}

/** A capability profile. */
export interface SmmuProfile {
  readonly name: string;
  /** SMMU_IDR0..IDR5. */
  readonly idr: readonly [number, number, number, number, number, number];
  readonly iidr: number;
  readonly aidr: number;
  /** The CoreSight ID registers at 0xFD0..0xFFC (12 words). */
  readonly idRegs: readonly number[];
  readonly switches: SmmuSwitches;
}

const SPEC: SmmuSwitches = {
  page1AliasesPage0: false, noGbpa: false, ignoreUnsupportedCommands: false,
  cdHttuIllegal: false, ttbBeyondOasIllegal: false,
};
const QEMU: SmmuSwitches = {
  page1AliasesPage0: true, noGbpa: true, ignoreUnsupportedCommands: true,
  cdHttuIllegal: true, ttbBeyondOasIllegal: true,
};

const common0 = IDR0.S1P | (IDR0.TTF_AARCH64 << IDR0.TTF_SHIFT) | IDR0.COHACC | IDR0.ASID16
  | (IDR0.TTENDIAN_LE << IDR0.TTENDIAN_SHIFT) | (IDR0.STALL_NONE << IDR0.STALL_MODEL_SHIFT) | IDR0.TERM_MODEL
  | (IDR0.ST_LEVEL_2LVL << IDR0.ST_LEVEL_SHIFT);
/** IDR1: SIDSIZE 16, EVENTQS 19, CMDQS 19 (and SSIDSIZE 20 for the default profile). */
const idr1 = (ssid: number): number => (16 | (ssid << 6) | (19 << 16) | (19 << 21)) >>> 0;
/** QEMU's ID registers (an MMU-600 r0p1). */
const QEMU_IDS = [0x04, 0, 0, 0, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1];

const PROFILES: Readonly<Record<string, () => SmmuProfile>> = {
  default: () => ({
    name: 'default',
    idr: [
      (common0 | IDR0.S2P | IDR0.MSI | IDR0.SEV | IDR0.VMID16 | IDR0.CD2L) >>> 0,
      idr1(20), 0, IDR3.HAD | IDR3.RIL, 0, 5 | IDR5.GRAN4K | IDR5.GRAN16K | IDR5.GRAN64K,
    ],
    iidr: 0, aidr: 1, idRegs: new Array<number>(12).fill(0), switches: SPEC,
  }),
  'qemu-7.2': () => ({
    name: 'qemu-7.2',
    idr: [common0 >>> 0, idr1(0), 0, IDR3.HAD | IDR3.RIL, 0, 4 | IDR5.GRAN4K | IDR5.GRAN64K],
    iidr: 0, aidr: 1, idRegs: QEMU_IDS, switches: QEMU,
  }),
};

/** Names of the SMMUv3 profiles. */
export const SMMU_PROFILE_NAMES: readonly string[] = Object.keys(PROFILES);

/**
 * Options that narrow a profile (an embedder's or a VMM's choice; never
 * more than the profile has): a VMM nesting a guest's stage 1 over its own
 * stage 2 shows the guest an SMMU with `stage2: false`.
 */
export interface SmmuOptions {
  /** Stage 1 (SMMU_IDR0.S1P; default: the profile's). */
  readonly stage1?: boolean;
  /** Stage 2 (SMMU_IDR0.S2P, and VMID16 with it; default: the profile's). */
  readonly stage2?: boolean;
  /** SubstreamID bits (SMMU_IDR1.SSIDSIZE, 0..the profile's; 0 also clears IDR0.CD2L). */
  readonly ssidBits?: number;
}

/** The profile called `name`, narrowed by `options`; throws an Error naming the name or option. */
export function createSmmuProfile(name: string, options: SmmuOptions = {}): SmmuProfile {
  const make = PROFILES[name];
  if (!make) throw new Error(`profile: unknown SMMUv3 profile "${name}" (known: ${SMMU_PROFILE_NAMES.join(', ')})`);
  return narrow(make(), options);
}

function narrow(p: SmmuProfile, o: SmmuOptions): SmmuProfile {
  if (typeof o !== 'object' || o === null) throw new Error(`options: ${String(o)} is not an object`);
  const has = capsOf(p);
  const flag = (v: unknown, now: boolean, what: string): boolean => {
    if (v === undefined) return now;
    if (typeof v !== 'boolean') throw new Error(`${what}: ${String(v)} is not a boolean`);
    if (v && !now) throw new Error(`${what}: profile "${p.name}" has no ${what}`);
    return v;
  };
  const s1 = flag(o.stage1, has.s1, 'stage1');
  const s2 = flag(o.stage2, has.s2, 'stage2');
  if (!s1 && !s2) throw new Error('stage1: an SMMU needs stage 1 or stage 2');
  const ssid = o.ssidBits ?? has.ssidBits;
  if (!Number.isInteger(ssid) || ssid < 0 || ssid > has.ssidBits) throw new Error(`ssidBits: ${String(o.ssidBits)} is not an integer in 0..${has.ssidBits}`);
  let i0 = p.idr[0];
  if (!s1) i0 &= ~IDR0.S1P;
  if (!s2) i0 &= ~(IDR0.S2P | IDR0.VMID16);
  if (ssid === 0) i0 &= ~IDR0.CD2L;
  const i1 = (p.idr[1] & ~(0x1f << 6)) | (ssid << 6);
  return { ...p, idr: [i0 >>> 0, i1 >>> 0, p.idr[2], p.idr[3], p.idr[4], p.idr[5]] };
}

/** Decoded capability facts the unit's logic reads (from the ID values, not the name). */
export interface SmmuCaps {
  readonly s1: boolean;
  readonly s2: boolean;
  readonly msi: boolean;
  readonly sev: boolean;
  readonly ats: boolean;
  readonly pri: boolean;
  readonly cd2l: boolean;
  readonly st2l: boolean;
  readonly vmid16: boolean;
  readonly sidBits: number;
  readonly ssidBits: number;
  readonly cmdqLog2: number;
  readonly evtqLog2: number;
  /** SMMU_IDR5.OAS encoding. */
  readonly oas: number;
  /** Supported granules (log2). */
  readonly granules: readonly number[];
  readonly ril: boolean;
  /** Table walks and queue accesses are IO-coherent (SMMU_IDR0.COHACC). */
  readonly coherent: boolean;
}

/** The capabilities a profile's ID registers advertise. */
export function capsOf(p: SmmuProfile): SmmuCaps {
  const [i0, i1, , i3, , i5] = p.idr;
  return {
    s1: (i0 & IDR0.S1P) !== 0, s2: (i0 & IDR0.S2P) !== 0, msi: (i0 & IDR0.MSI) !== 0, sev: (i0 & IDR0.SEV) !== 0,
    ats: (i0 & IDR0.ATS) !== 0, pri: (i0 & IDR0.PRI) !== 0, cd2l: (i0 & IDR0.CD2L) !== 0,
    st2l: ((i0 >>> IDR0.ST_LEVEL_SHIFT) & 3) === IDR0.ST_LEVEL_2LVL, vmid16: (i0 & IDR0.VMID16) !== 0,
    sidBits: i1 & 0x3f, ssidBits: (i1 >>> 6) & 0x1f, cmdqLog2: (i1 >>> 21) & 0x1f, evtqLog2: (i1 >>> 16) & 0x1f,
    oas: i5 & 7, granules: [[IDR5.GRAN4K, 12], [IDR5.GRAN16K, 14], [IDR5.GRAN64K, 16]].filter(([m]) => (i5 & m!) !== 0).map(([, g]) => g!),
    ril: (i3 & IDR3.RIL) !== 0, coherent: (i0 & IDR0.COHACC) !== 0,
  };
}
