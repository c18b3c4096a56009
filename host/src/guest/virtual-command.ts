/**
 * The guest side of the virtual command interface (VT-d rev 3.3 §10.4.43-46,
 * removed in rev 4.0), as Linux 5.x's vcmd_alloc_pasid / vcmd_free_pasid
 * drive it: check ECAP.VCS and VCCAP.PAS, write the command to VCMD, poll
 * VCRSP until IP clears, decode the status code and result. Offsets,
 * fields and codes come from the spec layer (host/src/vtd/spec/).
 */
import { ECAP, REG } from '../vtd/spec/registers.js';
import { VCCAP_PAS, VCMD_CMD, VCRSP } from '../vtd/spec/virtual-command.js';
import type { VtdDriver } from './vtd-driver.js';
import type { Pasid } from '../types.js';

/** The answer of one command: its status code and (allocate) the PASID. */
export interface VcmdAnswer {
  readonly status: number;
  readonly pasid: Pasid;
}

/** True when the unit offers PASID allocation through virtual commands. */
export function vcmdPasidSupported(drv: VtdDriver): boolean {
  return (drv.ecap & ECAP.VCS) !== 0n && (drv.read64(REG.VCCAP) & VCCAP_PAS) !== 0n;
}

function run(drv: VtdDriver, command: bigint): VcmdAnswer {
  drv.write64(REG.VCMD, command);
  let rsp = drv.read64(REG.VCRSP);
  for (let polls = 0; (rsp & VCRSP.IP) !== 0n && polls < 1000; polls++) rsp = drv.read64(REG.VCRSP);
  if (rsp & VCRSP.IP) throw new Error('VCRSP.IP stayed set');
  return { status: VCRSP.status(rsp), pasid: VCRSP.result(rsp) };
}

/** Asks the host for a PASID (status 0: `pasid` is the guest's; 16: none available). */
export function vcmdAllocPasid(drv: VtdDriver): VcmdAnswer {
  return run(drv, BigInt(VCMD_CMD.ALLOC_PASID));
}

/** Gives a PASID back (status 0, or 16 for a PASID the guest does not hold). */
export function vcmdFreePasid(drv: VtdDriver, pasid: Pasid): VcmdAnswer {
  return run(drv, (BigInt(pasid & 0xfffff) << 16n) | BigInt(VCMD_CMD.FREE_PASID));
}
