/**
 * SMMUv3 capability profiles: what SMMU_IDR0-5 advertise (IHI 0070 §6.3.1-
 * §6.3.6) and the named switches where a reference implementation departs
 * from the spec. `default` is what this model implements (SMMUv3.1 with
 * stage 1, stage 2 and nesting, 20-bit substreams, 2-level stream and CD
 * tables, MSIs, SEV, full ATS, PRI with a PRI queue of up to 2^19
 * entries); `qemu-7.2` presents QEMU 7.2's `-machine virt,iommu=smmuv3`
 * (stage 1 only, no substreams, no MSIs, 44-bit OAS).
 * Behaviour is keyed on the switches and ID values, never on the name.
 */
import { IDR0, IDR1, IDR3, IDR5 } from './spec/registers.js';

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
  /**
   * QEMU: the control and queue registers keep every bit written (CR0-2,
   * IRQ_CTRL, GERRORN, GERROR_IRQ_CFGn, STRTAB_BASE(_CFG), the queue bases
   * and indexes), and CR0ACK is CR0 without QEMU's reserved mask 0xFFFFFC20.
   * Spec (§6.3): RES0 fields read as zero, CR0ACK mirrors CR0's fields.
   */
  readonly registersKeepWrittenBits: boolean;
  /** QEMU: CMDQ_BASE / EVENTQ_BASE reset with LOG2SIZE = the largest size (IDR1). Spec (§6.3.25): UNKNOWN (0 here). */
  readonly queueBaseResetsToMaxSize: boolean;
  /**
   * QEMU (its memory core, under the reference's DMA engine): after a
   * transaction faults, the rest of the transfer goes on as accesses of at
   * most 4 naturally aligned bytes, each translated on its own, so a
   * faulting 16-byte DMA records four events (one per access, each with its
   * address), a failing access moves nothing (a read gets 0 for it), a
   * later page that translates is still copied, and the result says
   * `continued` (as VT-d's `dmaPastFault`). Spec
   * (§3.12): a device's transaction that faults is terminated; this model
   * ends the transfer at the first fault and records one event.
   */
  readonly faultedDmaContinuesInAccesses: boolean;
  /**
   * QEMU 7.2: only F_WALK_EABT carries a CLASS (TT); the other translation
   * faults carry 0. Spec (§7.3.12): CLASS says whether the CD, a table or
   * the input address faulted.
   */
  readonly eventClassOnWalkAbortOnly: boolean;
  /** QEMU 7.2: the stage-1 walk ignores the Access flag (no F_ACCESS). Spec (§3.13, Arm ARM D8.4.4): AF = 0 faults unless CD.AFFD. */
  readonly accessFlagIgnored: boolean;
  /**
   * QEMU: a block descriptor is accepted at every level above the leaf (a
   * 4 KiB-granule level-0 block, a 16/64 KiB-granule level-1 block).
   * Spec (Arm ARM D8.3): such a descriptor is invalid, a Translation fault.
   */
  readonly walkBlocksAnyLevel: boolean;
  /**
   * Address size checks of the walk. 'spec' (Arm ARM D8.3, §3.4): every
   * table and output address, and descriptor bits 51:48 without LPA, before
   * the Access flag. 'leaf-last' (QEMU 10.0): only the leaf's output, after
   * the Access flag and permissions; bits 51:48 ignored. 'none' (QEMU 7.2):
   * no Address size fault at all.
   */
  readonly walkOutputCheck: 'spec' | 'leaf-last' | 'none';
  /**
   * QEMU 7.2: a DMA address at or above 2^48 never reaches the SMMU (its
   * IOMMU region is 2^48 bytes): the access fails without a translation or
   * an event. Spec (§3.4.1): the input is checked against the CD's range.
   */
  readonly dmaAbove48BitsUnseen: boolean;
  /** QEMU: F_CD_FETCH puts the CD's address in the InputAddr field. Spec (§7.3.9): FetchAddr, doubleword 3. */
  readonly cdFetchAddrInInputAddr: boolean;
  /**
   * QEMU: a level-2 stream table holds 2^Span STEs (Span up to 31), and a
   * StreamID beyond them is C_BAD_STE. Spec (§5.1, §7.3.2): 2^(Span-1)
   * STEs, Span at most 12, beyond is C_BAD_STREAMID.
   */
  readonly l2SpanQuirk: boolean;
  /**
   * QEMU: an event that finds the event queue full is lost and raises
   * GERROR.EVENTQ_ABT_ERR; EVENTQ_PROD.OVFLG never toggles. Spec (§7.2):
   * the overflow flag toggles and the event is lost.
   */
  readonly eventQueueFullAborts: boolean;
  /** QEMU: a stage-2 fault's IPA field holds the whole IPA (bits 11:0 too). Spec (§7.3.12): IPA[51:12]. */
  readonly eventIpaKeepsOffset: boolean;
  /**
   * QEMU 10.0: a nested walk whose stage-1 table IPA faults in stage 2
   * reports S2 = 0 (CLASS TT) and the table's IPA. Spec (§7.3.12): a
   * stage-2 fault has S2 = 1 and the IPA of the descriptor fetched.
   */
  readonly nestedTableFaultReportsStage1: boolean;
  /**
   * QEMU: stage 1 checks only write permission (AP[2], APTable[1]): an
   * access to a page without EL0 access (AP[1] = 0) or marked execute-never
   * is allowed. Spec (Arm ARM D8.4): an unprivileged access needs AP[1] = 1
   * and APTable[0] = 0 at every level; an instruction fetch needs UXN/PXN = 0.
   */
  readonly s1ChecksWriteOnly: boolean;
  /**
   * QEMU: without substreams (IDR1.SSIDSIZE = 0) an STE with S1CDMax != 0
   * is C_BAD_STE. Spec (§5.2): S1CDMax, S1Fmt and S1DSS are IGNORED then,
   * and S1ContextPtr points to one CD.
   */
  readonly cdMaxIllegalWithoutSubstreams: boolean;
  /**
   * QEMU: STE.S2HA and S2HD are not checked (a stage-2 STE asking for
   * hardware Access flag or dirty updates is used without them). Spec
   * (§5.2): ILLEGAL without HTTU (SMMU_IDR0.HTTU), C_BAD_STE.
   */
  readonly s2HttuIgnored: boolean;
  /**
   * QEMU: the smallest legal STE.S2T0SZ is 64 - the effective S2PS (the
   * stage-2 input may not exceed its output size). Spec (§5.2): MAX(16,
   * 64 - IAS) with IAS = OAS, whatever S2PS says.
   */
  readonly s2InputBoundByS2ps: boolean;
  /**
   * QEMU: the IOTLB holds up to this many entries (SMMU_IOTLB_MAX_SIZE,
   * 256) and a fill that finds it holding them empties it first
   * (smmu_iotlb_insert); nothing else evicts. 0: the spec (§3.9: the TLB's
   * size and replacement are the implementation's), the model's
   * least-recently-used sets.
   */
  readonly iotlbFlushWhenFull: number;
}

/** A capability profile. */
export interface SmmuProfile {
  /** Its name (`default`, `qemu-7.2`, `qemu-10.0`). */
  readonly name: string;
  /** SMMU_IDR0..IDR5. */
  readonly idr: readonly [number, number, number, number, number, number];
  /** SMMU_IIDR. */
  readonly iidr: number;
  /** SMMU_AIDR (architecture version: 1 = SMMUv3.1). */
  readonly aidr: number;
  /** The CoreSight ID registers at 0xFD0..0xFFC (12 words). */
  readonly idRegs: readonly number[];
  /** Where it departs from the spec. */
  readonly switches: SmmuSwitches;
}

/** The spec's behaviour for every switch (the default profile). */
export const SPEC_SWITCHES: SmmuSwitches = {
  page1AliasesPage0: false, noGbpa: false, ignoreUnsupportedCommands: false,
  registersKeepWrittenBits: false, queueBaseResetsToMaxSize: false,
  faultedDmaContinuesInAccesses: false, eventClassOnWalkAbortOnly: false, accessFlagIgnored: false,
  walkBlocksAnyLevel: false, walkOutputCheck: 'spec', dmaAbove48BitsUnseen: false, cdFetchAddrInInputAddr: false, l2SpanQuirk: false,
  eventQueueFullAborts: false, eventIpaKeepsOffset: false, nestedTableFaultReportsStage1: false,
  s1ChecksWriteOnly: false, cdMaxIllegalWithoutSubstreams: false, s2HttuIgnored: false, s2InputBoundByS2ps: false,
  iotlbFlushWhenFull: 0,
};
const QEMU_7_2: SmmuSwitches = {
  page1AliasesPage0: true, noGbpa: true, ignoreUnsupportedCommands: true,
  registersKeepWrittenBits: true, queueBaseResetsToMaxSize: true,
  faultedDmaContinuesInAccesses: true, eventClassOnWalkAbortOnly: true, accessFlagIgnored: true,
  walkBlocksAnyLevel: true, walkOutputCheck: 'none', dmaAbove48BitsUnseen: true, cdFetchAddrInInputAddr: true, l2SpanQuirk: true,
  eventQueueFullAborts: true, eventIpaKeepsOffset: true, nestedTableFaultReportsStage1: false,
  s1ChecksWriteOnly: true, cdMaxIllegalWithoutSubstreams: true, s2HttuIgnored: false, s2InputBoundByS2ps: false,
  iotlbFlushWhenFull: 256,
};
/** QEMU 10.0: 7.2's, with SMMU_GBPA, CLASS in events, Access-flag and leaf Address size faults, DMA above 2^48, stage 2 and nesting. */
const QEMU_10_0: SmmuSwitches = {
  ...QEMU_7_2, noGbpa: false, eventClassOnWalkAbortOnly: false, accessFlagIgnored: false, walkOutputCheck: 'leaf-last',
  dmaAbove48BitsUnseen: false, nestedTableFaultReportsStage1: true, s2HttuIgnored: true, s2InputBoundByS2ps: true,
};

const common0 = IDR0.S1P | (IDR0.TTF_AARCH64 << IDR0.TTF_SHIFT) | IDR0.COHACC | IDR0.ASID16
  | (IDR0.TTENDIAN_LE << IDR0.TTENDIAN_SHIFT) | (IDR0.STALL_NONE << IDR0.STALL_MODEL_SHIFT) | IDR0.TERM_MODEL
  | (IDR0.ST_LEVEL_2LVL << IDR0.ST_LEVEL_SHIFT);
/** IDR1: SIDSIZE 16, EVENTQS 19, CMDQS 19 (and SSIDSIZE 20, PRIQS 19 for the default profile). */
const idr1 = (ssid: number, priqs = 0): number => (16 | (ssid << 6) | (priqs << 11) | (19 << 16) | (19 << 21)) >>> 0;
/** QEMU's ID registers (an MMU-600 r0p1). */
const QEMU_IDS = [0x04, 0, 0, 0, 0x84, 0xb4, 0xf0, 0x10, 0x0d, 0xf0, 0x05, 0xb1];

const PROFILES: Readonly<Record<string, () => SmmuProfile>> = {
  default: () => ({
    name: 'default',
    idr: [
      // ATS (§3.9.1) with full ATS only: NS1ATS = 1, split-stage (STE.EATS = 0b10) is not supported; PRI (chapter 8).
      (common0 | IDR0.S2P | IDR0.MSI | IDR0.SEV | IDR0.VMID16 | IDR0.CD2L | IDR0.ATS | IDR0.NS1ATS | IDR0.PRI) >>> 0,
      idr1(20, 19), 0, IDR3.HAD | IDR3.RIL, 0, 5 | IDR5.GRAN4K | IDR5.GRAN16K | IDR5.GRAN64K,
    ],
    iidr: 0, aidr: 1, idRegs: new Array<number>(12).fill(0), switches: SPEC_SWITCHES,
  }),
  // Recorded (firmware-tests/golden/smmuv3/smmu-registers-72-*): stage 1 only, no substreams, 44-bit OAS, all granules.
  'qemu-7.2': () => ({
    name: 'qemu-7.2',
    idr: [common0 >>> 0, idr1(0), 0, IDR3.HAD | IDR3.RIL | IDR3.BBML2, 0, 4 | IDR5.GRAN4K | IDR5.GRAN16K | IDR5.GRAN64K],
    iidr: 0, aidr: 1, idRegs: QEMU_IDS, switches: QEMU_7_2,
  }),
  // Recorded (smmu-registers-100-*): stage 1 and stage 2 (nesting), 16-bit VMIDs, IDR3.XNX, SMMU_GBPA.
  'qemu-10.0': () => ({
    name: 'qemu-10.0',
    idr: [(common0 | IDR0.S2P | IDR0.VMID16) >>> 0, idr1(0), 0, IDR3.HAD | IDR3.XNX | IDR3.RIL | IDR3.BBML2, 0, 4 | IDR5.GRAN4K | IDR5.GRAN16K | IDR5.GRAN64K],
    iidr: 0, aidr: 1, idRegs: QEMU_IDS, switches: QEMU_10_0,
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
  /** SubstreamID bits (SMMU_IDR1.SSIDSIZE, 0..the profile's; 0 also clears IDR0.CD2L and IDR3.PPS). */
  readonly ssidBits?: number;
  /** PCIe ATS (SMMU_IDR0.ATS; false also clears NS1ATS and PRI, which needs ATS; default: the profile's). */
  readonly ats?: boolean;
  /** PRI and its queue (SMMU_IDR0.PRI, IDR1.PRIQS, IDR3.PPS; needs `ats`; default: the profile's). */
  readonly pri?: boolean;
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
  const ats = flag(o.ats, has.ats, 'ats');
  const pri = flag(o.pri, has.pri, 'pri') && ats; // PRI needs ATS (§3.9.1)
  if (o.pri === true && !ats) throw new Error('pri: PRI needs ATS (ats: false)');
  if (!s1 && !s2) throw new Error('stage1: an SMMU needs stage 1 or stage 2');
  const ssid = o.ssidBits ?? has.ssidBits;
  if (!Number.isInteger(ssid) || ssid < 0 || ssid > has.ssidBits) throw new Error(`ssidBits: ${String(o.ssidBits)} is not an integer in 0..${has.ssidBits}`);
  let i0 = p.idr[0];
  if (!s1) i0 &= ~IDR0.S1P;
  if (!s2) i0 &= ~(IDR0.S2P | IDR0.VMID16);
  if (!ats) i0 &= ~(IDR0.ATS | IDR0.NS1ATS);
  if (!s1 || !s2) i0 &= ~IDR0.NS1ATS; // §6.3.1: RES0 without both stages
  if (ssid === 0) i0 &= ~IDR0.CD2L;
  if (!pri) i0 &= ~IDR0.PRI;
  let i1 = (p.idr[1] & ~(0x1f << 6)) | (ssid << 6);
  if (!pri) i1 &= ~(0x1f << IDR1.PRIQS_SHIFT);
  // IDR3.PPS is RES0 without PRI or substreams (§6.3.4).
  const i3 = !pri || ssid === 0 ? p.idr[3] & ~IDR3.PPS : p.idr[3];
  return { ...p, idr: [i0 >>> 0, i1 >>> 0, p.idr[2], i3 >>> 0, p.idr[4], p.idr[5]] };
}

/** Decoded capability facts the unit's logic reads (from the ID values, not the name). */
export interface SmmuCaps {
  /** Stage 1 (IDR0.S1P). */
  readonly s1: boolean;
  /** Stage 2 (IDR0.S2P). */
  readonly s2: boolean;
  /** MSIs (IDR0.MSI). */
  readonly msi: boolean;
  /** SEV on CMD_SYNC (IDR0.SEV). */
  readonly sev: boolean;
  /** ATS (IDR0.ATS). */
  readonly ats: boolean;
  /** Split-stage ATS, STE.EATS = 0b10 (IDR0.ATS, S1P and S2P with NS1ATS = 0; §6.3.1). */
  readonly splitStageAts: boolean;
  /** PRI (IDR0.PRI). */
  readonly pri: boolean;
  /** 2-level CD tables (IDR0.CD2L). */
  readonly cd2l: boolean;
  /** 2-level stream tables (IDR0.ST_LEVEL). */
  readonly st2l: boolean;
  /** 16-bit VMIDs (IDR0.VMID16). */
  readonly vmid16: boolean;
  /** StreamID bits (IDR1.SIDSIZE). */
  readonly sidBits: number;
  /** SubstreamID bits (IDR1.SSIDSIZE). */
  readonly ssidBits: number;
  /** Largest command queue, log2 entries (IDR1.CMDQS). */
  readonly cmdqLog2: number;
  /** Largest event queue, log2 entries (IDR1.EVENTQS). */
  readonly evtqLog2: number;
  /** Largest PRI queue, log2 entries (IDR1.PRIQS; 0 without PRI). */
  readonly priqLog2: number;
  /** SMMU_IDR5.OAS encoding. */
  readonly oas: number;
  /** Supported granules (log2). */
  readonly granules: readonly number[];
  /** Range invalidation (IDR3.RIL). */
  readonly ril: boolean;
  /** PRI overflow auto-responses keep the request's PASID without checking STE.PPAR (IDR3.PPS). */
  readonly pps: boolean;
  /** Table walks and queue accesses are IO-coherent (SMMU_IDR0.COHACC). */
  readonly coherent: boolean;
  /** 16-bit ASIDs (IDR0.ASID16). */
  readonly asid16: boolean;
  /** IDR0.HTTU: 0 none, 1 Access flag, 2 Access flag and dirty state. */
  readonly httu: number;
  /** IDR0.STALL_MODEL: 0 stall and terminate, 1 terminate only, 2 stall only. */
  readonly stallModel: number;
  /** IDR0.TERM_MODEL: a terminated transaction is aborted (CD.A = 0 is ILLEGAL). */
  readonly termModel: boolean;
}

/** The capabilities a profile's ID registers advertise. */
export function capsOf(p: SmmuProfile): SmmuCaps {
  const [i0, i1, , i3, , i5] = p.idr;
  return {
    s1: (i0 & IDR0.S1P) !== 0, s2: (i0 & IDR0.S2P) !== 0, msi: (i0 & IDR0.MSI) !== 0, sev: (i0 & IDR0.SEV) !== 0,
    ats: (i0 & IDR0.ATS) !== 0, splitStageAts: (i0 & (IDR0.ATS | IDR0.S1P | IDR0.S2P | IDR0.NS1ATS)) === (IDR0.ATS | IDR0.S1P | IDR0.S2P), pri: (i0 & IDR0.PRI) !== 0, cd2l: (i0 & IDR0.CD2L) !== 0,
    st2l: ((i0 >>> IDR0.ST_LEVEL_SHIFT) & 3) === IDR0.ST_LEVEL_2LVL, vmid16: (i0 & IDR0.VMID16) !== 0,
    sidBits: i1 & 0x3f, ssidBits: (i1 >>> 6) & 0x1f, cmdqLog2: (i1 >>> 21) & 0x1f, evtqLog2: (i1 >>> 16) & 0x1f, priqLog2: (i1 >>> IDR1.PRIQS_SHIFT) & 0x1f,
    oas: i5 & 7, granules: [[IDR5.GRAN4K, 12], [IDR5.GRAN16K, 14], [IDR5.GRAN64K, 16]].filter(([m]) => (i5 & m!) !== 0).map(([, g]) => g!),
    ril: (i3 & IDR3.RIL) !== 0, pps: (i3 & IDR3.PPS) !== 0, coherent: (i0 & IDR0.COHACC) !== 0,
    asid16: (i0 & IDR0.ASID16) !== 0, httu: (i0 >>> IDR0.HTTU_SHIFT) & 3, stallModel: (i0 >>> IDR0.STALL_MODEL_SHIFT) & 3,
    termModel: (i0 & IDR0.TERM_MODEL) !== 0,
  };
}
