/**
 * SMMUv3 register map and register fields (IHI 0070, chapter 6 "Memory map
 * and registers": §6.2 the register overview, §6.3 the registers). Offsets
 * are from the base of page 0; page 1 (base + 64 KiB) holds the queue
 * producer/consumer indexes software writes at a different privilege
 * (§6.2: EVENTQ_PROD/CONS, PRIQ_PROD/CONS). Constants and field helpers
 * only: no state, no policy.
 */

/** Size of one register page (§6.2: two 64 KiB pages). */
export const SMMU_PAGE = 0x1_0000;
/** Size of the register frame (pages 0 and 1). */
export const SMMU_FRAME = 0x2_0000;

/** Register offsets (§6.2 table, Non-secure registers). */
export const SMMU_REG = {
  IDR0: 0x00, IDR1: 0x04, IDR2: 0x08, IDR3: 0x0c, IDR4: 0x10, IDR5: 0x14, IIDR: 0x18, AIDR: 0x1c,
  CR0: 0x20, CR0ACK: 0x24, CR1: 0x28, CR2: 0x2c, STATUSR: 0x40, GBPA: 0x44, AGBPA: 0x48,
  IRQ_CTRL: 0x50, IRQ_CTRLACK: 0x54, GERROR: 0x60, GERRORN: 0x64,
  GERROR_IRQ_CFG0: 0x68, GERROR_IRQ_CFG1: 0x70, GERROR_IRQ_CFG2: 0x74,
  STRTAB_BASE: 0x80, STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90, CMDQ_PROD: 0x98, CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0, EVENTQ_IRQ_CFG0: 0xb0, EVENTQ_IRQ_CFG1: 0xb8, EVENTQ_IRQ_CFG2: 0xbc,
  PRIQ_BASE: 0xc0, PRIQ_IRQ_CFG0: 0xd0, PRIQ_IRQ_CFG1: 0xd8, PRIQ_IRQ_CFG2: 0xdc,
  /** Page 1 (§6.2): the event queue indexes. */
  EVENTQ_PROD: 0x100a8, EVENTQ_CONS: 0x100ac,
  /** Page 1: the PRI queue indexes. */
  PRIQ_PROD: 0x100c8, PRIQ_CONS: 0x100cc,
  /** CoreSight/PrimeCell identification registers (§6.3.x ID_REGS), 0xFD0-0xFFC. */
  PIDR4: 0xfd0, CIDR3: 0xffc,
} as const;

/** SMMU_IDR0 fields (§6.3.1). */
export const IDR0 = {
  S2P: 1 << 0, S1P: 1 << 1, TTF_SHIFT: 2, COHACC: 1 << 4, BTM: 1 << 5, HTTU_SHIFT: 6, DORMHINT: 1 << 8,
  HYP: 1 << 9, ATS: 1 << 10, NS1ATS: 1 << 11, ASID16: 1 << 12, MSI: 1 << 13, SEV: 1 << 14, ATOS: 1 << 15,
  PRI: 1 << 16, VMW: 1 << 17, VMID16: 1 << 18, CD2L: 1 << 19, VATOS: 1 << 20, TTENDIAN_SHIFT: 21,
  STALL_MODEL_SHIFT: 24, TERM_MODEL: 1 << 26, ST_LEVEL_SHIFT: 27,
  /** TTF: 0b10 AArch64 tables only. */
  TTF_AARCH64: 2,
  /** TTENDIAN: 0b10 little endian only. */
  TTENDIAN_LE: 2,
  /** STALL_MODEL: 0b01 stall not supported. */
  STALL_NONE: 1,
  /** ST_LEVEL: 0b01 linear and 2-level stream tables. */
  ST_LEVEL_2LVL: 1,
} as const;

/** SMMU_IDR1 fields (§6.3.2). */
export const IDR1 = { SIDSIZE_SHIFT: 0, SSIDSIZE_SHIFT: 6, PRIQS_SHIFT: 11, EVENTQS_SHIFT: 16, CMDQS_SHIFT: 21 } as const;

/** SMMU_IDR3 fields (§6.3.4). */
export const IDR3 = { HAD: 1 << 2, /** PPS: a PRI overflow auto-response carries the request's PASID whatever STE.PPAR says. */ PPS: 1 << 5, XNX: 1 << 4, RIL: 1 << 10, /** BBML = 2 (bits 12:11). */ BBML2: 2 << 11 } as const;

/** SMMU_IDR5 fields (§6.3.6): OAS encoding (bits 2:0) and granules. */
export const IDR5 = { GRAN4K: 1 << 4, GRAN16K: 1 << 5, GRAN64K: 1 << 6 } as const;

/** OAS/IPS/S2PS encodings -> address bits (§6.3.6 SMMU_IDR5.OAS; also CD.IPS and STE.S2PS). */
export const OAS_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52];

/** SMMU_CR0 fields (§6.3.9); CR0ACK mirrors them once the update took effect (§6.3.10). */
export const CR0 = { SMMUEN: 1 << 0, PRIQEN: 1 << 1, EVENTQEN: 1 << 2, CMDQEN: 1 << 3, ATSCHK: 1 << 4, VMW_SHIFT: 6 } as const;

/** SMMU_GBPA fields (§6.3.14): global bypass attributes, ABORT, and the UPDATE handshake bit. */
export const GBPA = { ABORT: 1 << 20, UPDATE: 0x8000_0000 } as const;

/** SMMU_IRQ_CTRL fields (§6.3.16). */
export const IRQ_CTRL = { GERROR_IRQEN: 1 << 0, PRIQ_IRQEN: 1 << 1, EVENTQ_IRQEN: 1 << 2 } as const;

/** SMMU_GERROR / GERRORN fields (§6.3.18, §6.3.19): an error is active while GERROR[n] != GERRORN[n]. */
export const GERROR = {
  CMDQ_ERR: 1 << 0, EVENTQ_ABT_ERR: 1 << 2, PRIQ_ABT_ERR: 1 << 3, MSI_CMDQ_ABT_ERR: 1 << 4,
  MSI_EVENTQ_ABT_ERR: 1 << 5, MSI_PRIQ_ABT_ERR: 1 << 6, MSI_GERROR_ABT_ERR: 1 << 7, SFM_ERR: 1 << 8,
} as const;

/** SMMU_STRTAB_BASE (§6.3.23): RA bit 62, ADDR bits 51:6. */
export const STRTAB_BASE_ADDR_MASK = 0x000f_ffff_ffff_ffc0n;
/** SMMU_STRTAB_BASE_CFG (§6.3.24): LOG2SIZE 5:0, SPLIT 10:6, FMT 17:16 (0 linear, 1 2-level). */
export const STRTAB_CFG = { LOG2SIZE_MASK: 0x3f, SPLIT_SHIFT: 6, SPLIT_MASK: 0x1f, FMT_SHIFT: 16, FMT_LINEAR: 0, FMT_2LVL: 1 } as const;

/** The queue-size field of SMMU_CMDQ_BASE / EVENTQ_BASE / PRIQ_BASE (§6.3.25, §6.3.29, §6.3.33: ADDR 51:5, LOG2SIZE 4:0). */
export const QUEUE_LOG2SIZE_MASK = 0x1f;

/** SMMU_CMDQ_CONS.ERR (§6.3.27, bits 30:24): the CERROR_* of the command that stopped the queue. */
export const CMDQ_CONS_ERR_SHIFT = 24;
/** EVENTQ_PROD.OVFLG / EVENTQ_CONS.OVACKFLG (§6.3.30, §6.3.31), bit 31. */
export const QUEUE_OVERFLOW = 0x8000_0000;

/** Command errors reported in CMDQ_CONS.ERR (§4.7.3 / §7.1). */
export const CERROR = { NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const;

/** Address bits of an OAS/IPS/S2PS encoding, capped by the unit's own OAS encoding (§5.4 CD.IPS). */
export function oasBits(encoding: number, unitOas: number): number {
  const e = Math.min(encoding, unitOas);
  return OAS_BITS[e] ?? OAS_BITS[unitOas]!;
}
