/**
 * Command queue entries (IHI 0070 chapter 4: §4.1 prefetch, §4.3
 * configuration invalidation, §4.4 TLB invalidation, §4.5 ATS/PRI, §4.7
 * CMD_SYNC). A command is 16 bytes = two doublewords; the opcode is bits
 * 7:0 of doubleword 0. Constants and field positions only.
 */
import { f } from './bits.js';

/** Bytes per command. */
export const CMD_BYTES = 16;

/** Command opcodes. */
export const OP = {
  PREFETCH_CONFIG: 0x01, PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03, CFGI_STE_RANGE: 0x04, CFGI_CD: 0x05, CFGI_CD_ALL: 0x06, CFGI_VMS_PIDM: 0x07,
  TLBI_NH_ALL: 0x10, TLBI_NH_ASID: 0x11, TLBI_NH_VA: 0x12, TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18, TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20, TLBI_EL2_ASID: 0x21, TLBI_EL2_VA: 0x22, TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28, TLBI_S2_IPA: 0x2a, TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40, PRI_RESP: 0x41, RESUME: 0x44, STALL_TERM: 0x45, CMD_SYNC: 0x46,
} as const;

/** Command fields (positions shared by the commands that carry them). */
export const CMD = {
  opcode: f(0, 7, 0),
  SSec: f(0, 10),
  SSV: f(0, 11),
  SSID: f(0, 31, 12),
  SID: f(0, 63, 32),
  /** CFGI_STE / CFGI_CD: only the leaf entry changed. */
  Leaf: f(1, 0),
  /** CFGI_STE_RANGE: 2^(Range+1) stream ids (31 = CFGI_ALL). */
  Range: f(1, 4, 0),
  /** TLBI_*_VA / S2_IPA range invalidation (SMMU_IDR3.RIL): NUM 16:12, SCALE 24:20. */
  NUM: f(0, 16, 12),
  SCALE: f(0, 24, 20),
  VMID: f(0, 47, 32),
  ASID: f(0, 63, 48),
  /** TLBI address forms: TTL 9:8, TG 11:10, address 63:12. */
  TTL: f(1, 9, 8),
  TG: f(1, 11, 10),
  Address: f(1, 63, 12),
  /** The same address in two number-sized parts: bits 31:12 and 63:32 (the command queue's BigInt-free path). */
  AddrLo: f(1, 31, 12),
  AddrHi: f(1, 63, 32),
  /** ATC_INV: Global bit 9, Size 5:0 (2^Size pages of 4 KiB). */
  ATC_G: f(0, 9),
  ATC_Size: f(1, 5, 0),
  /** PRI_RESP: PRG index 8:0, response 13:12 (§4.5.2). */
  PRGI: f(1, 8, 0),
  Resp: f(1, 13, 12),
  /** CMD_SYNC: completion signal CS 13:12, MSH 23:22, MSIAttr 27:24, MSIData 63:32; MSIAddress 51:2. */
  CS: f(0, 13, 12),
  MSH: f(0, 23, 22),
  MSIAttr: f(0, 27, 24),
  MSIData: f(0, 63, 32),
  MSIAddress: f(1, 51, 2),
} as const;

/** CMD_SYNC.CS values (§4.7.3). */
export const SYNC_CS = { NONE: 0, IRQ: 1, SEV: 2 } as const;

/** PRI_RESP.Resp values and the PRG Response codes they become: spec/priq.ts. */
