/**
 * Interrupt remapping (VT-d chapter 5, Intel VT-d spec rev 4.x numbering):
 * the interrupt address range, the two interrupt request formats (§5.1.2.1
 * compatibility, §5.1.2.2 remappable), the IRTA register (§11.4.10; 3.x
 * §10.4.29), the interrupt-remapping table entry for remapped interrupts as
 * a table of fields (§9.10), source-id validation (SVT/SQ), and the
 * interrupt-remapping fault reasons (§5.1.4.1; 3.x §7.1.3). Constants and
 * field accessors only: no state, no policy (the remapper is ../ir/).
 */
import type { Gpa } from '../../types.js';

/** The interrupt address range (§3.15, §5.1.2): a write here without PASID is an interrupt request. */
export const INTERRUPT_RANGE = { first: 0xfee0_0000n, last: 0xfeef_ffffn } as const;

/** True when `address` (a 64-bit bus address) lies in the interrupt address range. */
export function isInterruptAddress(address: Gpa): boolean {
  return address >= INTERRUPT_RANGE.first && address <= INTERRUPT_RANGE.last;
}

/** IRTA (§11.4.10): table base 63:12, EIME 11 (x2APIC mode), S 3:0 (2^(S+1) entries). */
export const IRTA = {
  ADDR_MASK: 0xffff_ffff_ffff_f000n,
  EIME: 1n << 11n,
  S_MASK: 0xfn,
  /** Number of entries the S field names: 2^(S+1), 2..65536. */
  entries: (irta: bigint): number => 2 ** (Number(irta & 0xfn) + 1),
} as const;

/** Interrupt Format bit of the request address (bit 4): 1 = remappable, 0 = compatibility. */
export const MSI_FORMAT_REMAPPABLE = 1 << 4;

/**
 * Remappable-format request (§5.1.2.2). Address: 31:20 0xFEE, 19:5
 * handle[14:0], 4 format (1), 3 SHV (subhandle valid), 2 handle[15], 1:0
 * don't care. Data: 31:16 reserved (0), 15:0 subhandle.
 */
export const REMAPPABLE = {
  SHV: 1 << 3,
  /** The 16-bit handle: address bits 19:5 and bit 2. */
  handle: (addressLo: number): number => ((addressLo >>> 5) & 0x7fff) | (((addressLo >>> 2) & 1) << 15),
  subhandle: (data: number): number => data & 0xffff,
  /** Data bits that must be 0. */
  DATA_RESERVED: 0xffff_0000,
} as const;

/**
 * Compatibility-format request (§5.1.2.1) and the message a remapped
 * interrupt becomes (§5.1.6): address 19:12 destination (x2APIC: bits 31:8
 * of the destination in address 63:40, as the event registers' upper
 * address in §5.1.6), 3 redirection hint, 2 destination mode; data 7:0
 * vector, 10:8 delivery mode, 14 level (1 = assert), 15 trigger mode.
 */
export const COMPAT = {
  address: (f: { destination: number; redirectionHint: boolean; logical: boolean }): bigint =>
    INTERRUPT_RANGE.first | (BigInt(f.destination & 0xff) << 12n) | (f.redirectionHint ? 8n : 0n) | (f.logical ? 4n : 0n)
    | (BigInt(f.destination >>> 8) << 40n),
  data: (f: { vector: number; deliveryMode: number; levelTriggered: boolean }): number =>
    (f.vector & 0xff) | ((f.deliveryMode & 7) << 8) | (1 << 14) | (f.levelTriggered ? 1 << 15 : 0),
} as const;

/** An IRTE as four little-endian dwords (bits 31:0, 63:32, 95:64, 127:96). */
export type IrteDwords = readonly [number, number, number, number];

/** One field of an IRTE: which dword, lowest bit in it, width (at most 32). */
export interface IrteField {
  readonly dword: 0 | 1 | 2 | 3;
  readonly lo: number;
  readonly width: number;
}

/** IRTE for remapped interrupts (§9.10), 128 bits; IM=1 would be the posted format (§9.11). */
export const IRTE: Readonly<Record<
  'P' | 'FPD' | 'DM' | 'RH' | 'TM' | 'DLM' | 'AVAIL' | 'IM' | 'V' | 'DST' | 'SID' | 'SQ' | 'SVT', IrteField
>> = {
  P: { dword: 0, lo: 0, width: 1 },
  FPD: { dword: 0, lo: 1, width: 1 },
  DM: { dword: 0, lo: 2, width: 1 },
  RH: { dword: 0, lo: 3, width: 1 },
  TM: { dword: 0, lo: 4, width: 1 },
  DLM: { dword: 0, lo: 5, width: 3 },
  AVAIL: { dword: 0, lo: 8, width: 4 },
  IM: { dword: 0, lo: 15, width: 1 },
  V: { dword: 0, lo: 16, width: 8 },
  /** Destination ID, bits 63:32. */
  DST: { dword: 1, lo: 0, width: 32 },
  /** Source identifier, bits 79:64. */
  SID: { dword: 2, lo: 0, width: 16 },
  SQ: { dword: 2, lo: 16, width: 2 },
  SVT: { dword: 2, lo: 18, width: 2 },
};

/** An IRTE's field value. */
export function irteField(d: IrteDwords, f: IrteField): number {
  return f.width === 32 ? d[f.dword] >>> 0 : (d[f.dword] >>> f.lo) & ((1 << f.width) - 1);
}

/** Reserved bits of an IRTE (§9.10), per dword. */
export const IRTE_RESERVED = {
  /** Bits 14:12 and 31:24, in every mode. */
  DW0: 0xff00_7000,
  /** Bits 39:32 and 63:48: reserved destination bits in xAPIC mode (IRTA.EIME = 0). */
  DW1_XAPIC: 0xffff_00ff,
  /** Bits 127:84. */
  DW2: 0xfff0_0000,
  DW3: 0xffff_ffff,
} as const;

/** Destination ID of an IRTE: 8 bits at DST 15:8 in xAPIC mode, all 32 in x2APIC mode (§9.10). */
export function irteDestination(d: IrteDwords, x2apic: boolean): number {
  const dst = irteField(d, IRTE.DST);
  return x2apic ? dst : (dst >>> 8) & 0xff;
}

/** Source Validation Type (§9.10). */
export const SVT = { NONE: 0, MASKED: 1, BUS_RANGE: 2, RESERVED: 3 } as const;

/**
 * SVT=01 compares requester id and IRTE.SID under a mask chosen by SQ
 * (§9.10): 00 all 16 bits, 01 ignore function bit 2, 10 ignore bits 2:1,
 * 11 ignore bits 2:0.
 */
export const SQ_MASKS: readonly number[] = [0xffff, 0xfffb, 0xfff9, 0xfff8];

/** Delivery modes (DLM, §9.10); 011b and 110b are reserved. */
export const DELIVERY_MODE = { FIXED: 0, LOWEST_PRIORITY: 1, SMI: 2, NMI: 4, INIT: 5, EXTINT: 7 } as const;

/** Interrupt-remapping fault reasons (§5.1.4.1; 3.x §7.1.3). */
export const IR_FAULT = {
  /** A reserved field of the remappable request is set. */
  REQUEST_RESERVED: 0x20,
  /** interrupt_index beyond the table size (or the entry above the host address width). */
  INDEX_BEYOND_TABLE: 0x21,
  /** The IRTE's P is clear (qualified). */
  ENTRY_NOT_PRESENT: 0x22,
  /** The table could not be read through IRTA. */
  TABLE_UNREADABLE: 0x23,
  /** Reserved fields of a present IRTE are set (qualified). */
  ENTRY_RESERVED: 0x24,
  /** A compatibility-format request blocked by EIME=1 or CFIS=0. */
  COMPAT_BLOCKED: 0x25,
  /** Source-id verification (SID, SQ, SVT) failed (qualified). */
  SOURCE_ID: 0x26,
  /** Posted-interrupt descriptor unreadable (qualified; posted format only). */
  PID_UNREADABLE: 0x27,
  /** Reserved fields of a posted-interrupt descriptor set (qualified; posted format only). */
  PID_RESERVED: 0x28,
} as const;

/** Reasons the IRTE's FPD suppresses (§5.1.4.1: "qualified"). */
export const IR_QUALIFIED: ReadonlySet<number> = new Set([
  IR_FAULT.ENTRY_NOT_PRESENT, IR_FAULT.ENTRY_RESERVED, IR_FAULT.SOURCE_ID, IR_FAULT.PID_UNREADABLE, IR_FAULT.PID_RESERVED,
]);

/** The fault record's FI for an interrupt fault: interrupt_index in bits 63:48, 47:12 clear (§11.4.7.6). */
export const irFaultInfo = (index: number): bigint => BigInt(index & 0xffff) << 48n;
