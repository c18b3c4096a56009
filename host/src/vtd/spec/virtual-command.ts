/**
 * The virtual command interface (Intel VT-d spec rev 3.3, §10.4.43 VCMD,
 * §10.4.45 VCRSP, §10.4.46 VCCAP; ECAP.VCS bit 44). Only a virtual IOMMU
 * offers it: a guest asks the host for a PASID of the host's global space
 * (the 2020 vSVA design, so that ENQCMD's PASIDs need no translation).
 * Revision 4.0 of the spec removed it; the layout here is rev 3.3's (Linux
 * 5.15 "Update the virtual command related registers"; rev 3.1 had the
 * status code in VCRSP 2:1 and the operand/result at bit 8).
 * Constants and field accessors only.
 */

/** VCCAP bit 0 PAS: PASID allocation commands are supported. */
export const VCCAP_PAS = 1n;

/**
 * VCMD: 7:0 command, 63:16 operand (free: the PASID in 35:16); 15:8
 * reserved. A write that covers the low dword issues the command.
 */
export const VCMD = {
  /** Bits software can write. */
  WRITABLE: 0xffff_ffff_ffff_00ffn,
  command: (v: bigint): number => Number(v & 0xffn),
  operandPasid: (v: bigint): number => Number((v >> 16n) & 0xf_ffffn),
} as const;

/** Command codes (VCMD 7:0). */
export const VCMD_CMD = { ALLOC_PASID: 1, FREE_PASID: 2 } as const;

/** VCRSP: 0 IP (in progress), 7:1 status code, 63:16 result (allocate: the PASID in 35:16). */
export const VCRSP = {
  IP: 1n,
  encode: (status: number, result = 0): bigint => (BigInt(status & 0x7f) << 1n) | (BigInt(result & 0xf_ffff) << 16n),
  status: (v: bigint): number => Number((v >> 1n) & 0x7fn),
  result: (v: bigint): number => Number((v >> 16n) & 0xf_ffffn),
} as const;

/** VCRSP status codes: 0 success; 1 undefined command (rev 3.1's code); 16 no PASID available (allocate) / invalid PASID (free). */
export const VCMD_STATUS = { SUCCESS: 0, UNDEFINED_COMMAND: 1, NO_PASID_AVAILABLE: 16, INVALID_PASID: 16 } as const;
