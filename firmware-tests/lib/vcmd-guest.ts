/**
 * The guest side of the virtual command interface (VT-d rev 3.3 §10.4.43-46,
 * removed in rev 4.0), as Linux 5.x's vcmd_alloc_pasid / vcmd_free_pasid
 * drive it: check ECAP.VCS and VCCAP.PAS, write the command to VCMD, poll
 * VCRSP until IP clears, decode the status code and result. Offsets and
 * fields are written out here on purpose, not imported from the model.
 */
import type { VtdDriver } from './driver.js';

/** Register offsets (rev 3.3; Linux DMAR_VCMD_REG / DMAR_VCRSP_REG / DMAR_VCCAP_REG). */
export const VC = { VCMD: 0xe00, VCRSP: 0xe10, VCCAP: 0xe30 } as const;
const ECAP_VCS = 1n << 44n;
const VCCAP_PAS = 1n;
const CMD_ALLOC = 1n;
const CMD_FREE = 2n;
/** VCRSP status codes the guest knows. */
export const VC_STATUS = { SUCCESS: 0, NO_PASID: 16, INVALID_PASID: 16 } as const;

/** The answer of one command: its status code and (allocate) the PASID. */
export interface VcmdAnswer {
  readonly status: number;
  readonly pasid: number;
}

/** True when the unit offers PASID allocation through virtual commands. */
export function vcmdPasidSupported(drv: VtdDriver): boolean {
  return (drv.ecap & ECAP_VCS) !== 0n && (drv.read64(VC.VCCAP) & VCCAP_PAS) !== 0n;
}

function run(drv: VtdDriver, command: bigint): VcmdAnswer {
  drv.write64(VC.VCMD, command);
  let rsp = drv.read64(VC.VCRSP);
  for (let polls = 0; (rsp & 1n) !== 0n && polls < 1000; polls++) rsp = drv.read64(VC.VCRSP);
  if (rsp & 1n) throw new Error('VCRSP.IP stayed set');
  return { status: Number((rsp & 0xffn) >> 1n), pasid: Number((rsp >> 16n) & 0xfffffn) };
}

/** Asks the host for a PASID (status 0: `pasid` is the guest's; 16: none available). */
export function vcmdAllocPasid(drv: VtdDriver): VcmdAnswer {
  return run(drv, CMD_ALLOC);
}

/** Gives a PASID back (status 0, or 16 for a PASID the guest does not hold). */
export function vcmdFreePasid(drv: VtdDriver, pasid: number): VcmdAnswer {
  return run(drv, (BigInt(pasid & 0xfffff) << 16n) | CMD_FREE);
}
