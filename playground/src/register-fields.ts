/**
 * Display layouts of the VT-d registers (§11.4): which fields the register
 * panel decodes. Field positions follow the spec (rev 4.x); the model's own
 * definitions are in host/src/vtd/spec/registers.ts. Decoding reuses the
 * structure codec of the spec layer (host/src/vtd/spec/field-codec.ts).
 */
import { decodeFields, type Layout } from '../../host/src/vtd/spec/field-codec.js';

const f = (bit: number) => ({ word: 0, hi: bit, lo: bit, kind: 'flag' as const });
const u = (hi: number, lo: number) => ({ word: 0, hi, lo, kind: 'uint' as const });
const a = (hi: number, lo: number) => ({ word: 0, hi, lo, kind: 'addr' as const });

const GCMD_BITS = { TE: f(31), SRTP: f(30), SFL: f(29), EAFL: f(28), WBF: f(27), QIE: f(26), IRE: f(25), SIRTP: f(24), CFI: f(23) };
const EVENT_CTL = { IM: f(31), IP: f(30) };

/** Register name -> field layout (registers not listed show the raw value only). */
export const REGISTER_FIELDS: Readonly<Record<string, Layout>> = {
  VER: { MAX: u(7, 4), MIN: u(3, 0) }, // §11.4.1
  CAP: { // §11.4.2
    ND: u(2, 0), AFL: f(3), RWBF: f(4), PLMR: f(5), PHMR: f(6), CM: f(7), SAGAW: u(12, 8), MGAW: u(21, 16),
    ZLR: f(22), FRO: u(33, 24), SSLPS: u(37, 34), PSI: f(39), NFR: u(47, 40), MAMV: u(53, 48), DWD: f(54),
    DRD: f(55), FS1GP: f(56), PI: f(59), FS5LP: f(60), ESIRTPS: f(62), ESRTPS: f(63),
  },
  ECAP: { // §11.4.3
    C: f(0), QI: f(1), DT: f(2), IR: f(3), EIM: f(4), PT: f(6), SC: f(7), IRO: u(17, 8), MHMV: u(23, 20),
    NEST: f(26), PRS: f(29), ERS: f(30), SRS: f(31), PSS: u(39, 35), PASID: f(40), PDS: f(42), SMTS: f(43),
    SSADS: f(45), SSTS: f(46), FSTS: f(47), SMPWCS: f(48), RPS: f(49),
  },
  GCMD: GCMD_BITS, // §11.4.4.1
  GSTS: { TES: f(31), RTPS: f(30), FLS: f(29), AFLS: f(28), WBFS: f(27), QIES: f(26), IRES: f(25), IRTPS: f(24), CFIS: f(23) },
  RTADDR: { RTA: a(63, 12), TTM: u(11, 10) }, // §11.4.5
  CCMD: { ICC: f(63), CIRG: u(62, 61), CAIG: u(60, 59), FM: u(33, 32), SID: u(31, 16), DID: u(15, 0) }, // §11.4.6
  FSTS: { FRI: u(15, 8), ITE: f(6), ICE: f(5), IQE: f(4), APF: f(3), AFO: f(2), PPF: f(1), PFO: f(0) }, // §11.4.7.1
  FECTL: EVENT_CTL,
  IECTL: EVENT_CTL,
  PECTL: EVENT_CTL,
  IQH: { QH: u(18, 4) }, // §11.4.9.1
  IQT: { QT: u(18, 4) },
  IQA: { IQA: a(63, 12), DW: f(11), QS: u(2, 0) },
  ICS: { IWC: f(0) },
  IQERCD: { ICESID: u(63, 48), ITESID: u(47, 32), IQEI: u(3, 0) },
  IVA: { ADDR: a(63, 12), IH: f(6), AM: u(5, 0) },
  IOTLB: { IVT: f(63), IIRG: u(61, 60), IAIG: u(58, 57), DR: f(49), DW: f(48), DID: u(47, 32) },
  FRCD_LO: { FI: a(63, 12) }, // §11.4.7.6, low qword
  FRCD_HI: { F: f(63), T: f(62), AT: u(61, 60), PV: u(59, 40), FR: u(39, 32), PP: f(31), EXE: f(30), PRIV: f(29), SID: u(15, 0) },
};

/** The layout for register `name` (FRCD<n>_LO/HI share one). */
export function layoutFor(name: string): Layout | undefined {
  const m = /^FRCD\d+_(LO|HI)$/.exec(name);
  return REGISTER_FIELDS[m ? `FRCD_${m[1]!}` : name];
}

/** "TE=1 SRTP=0 ..." for the fields of `name` that are set (all fields when `all`). */
export function describeFields(name: string, value: bigint, all = false): string {
  const layout = layoutFor(name);
  if (!layout) return '';
  const fields = decodeFields(layout, [value]) as Record<string, boolean | number | bigint>;
  return Object.entries(fields)
    .filter(([, v]) => all || (v !== false && v !== 0 && v !== 0n))
    .map(([k, v]) => (typeof v === 'boolean' ? k : `${k}=${typeof v === 'bigint' ? `0x${v.toString(16)}` : v}`))
    .join(' ');
}
