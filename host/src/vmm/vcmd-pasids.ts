/**
 * The VMM's answer to a guest's virtual commands (vtd/virtual-command.ts):
 * "allocate PASID" takes a PASID of the host's global namespace from the
 * VM's PASID set (its quota is the guest's quota) and maps it as the guest
 * PASID of the same number (gPASID == hPASID: the 2020 vSVA design, so that
 * ENQCMD work descriptors carry a PASID the device can use without
 * translation); "free PASID" unbinds whatever the guest still has on it and
 * returns it to the set. A host refusal (EDQUOT over the quota, ENOSPC with
 * the space exhausted) is the guest's "no PASID available".
 */
import { isHostIommuError } from '../hostiommu/errors.js';
import type { VirtualCommandBackend } from '../vtd/virtual-command.js';
import type { VirtualMachine } from './virtual-machine.js';
import type { Pasid } from '../types.js';

/** Unbinds every (device, PASID) binding of a guest PASID (the nested mode's part). */
export interface PasidUnbinder {
  unbindPasid(gpasid: Pasid): void;
}

/** Host PASIDs handed to one VM's guest through the virtual command interface. */
export class VcmdPasidAllocator implements VirtualCommandBackend {
  /** PASIDs the guest holds. */
  readonly held = new Set<number>();

  constructor(private readonly vm: VirtualMachine, private readonly unbinder: PasidUnbinder) {}

  allocPasid(): number | 'no-pasid' {
    const { ctx, ids } = this.vm;
    let h: number | undefined;
    try {
      h = ctx.pasidAlloc(ids.pasidSet);
      ctx.guestPasidMap(h, h);
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      if (h !== undefined) ctx.pasidFree(ids.pasidSet, h);
      this.vm.log(`vcmd: allocate PASID refused by the host: ${e.message}`);
      return 'no-pasid';
    }
    this.held.add(h);
    this.vm.log(`vcmd: guest allocated PASID ${h} (host global space, set ${ids.pasidSet})`);
    return h;
  }

  /** Frees every PASID the guest holds, as `freePasid` would each (VM reset: the rebooted guest holds none). */
  releaseAll(): void {
    for (const pasid of [...this.held]) this.freePasid(pasid);
  }

  freePasid(pasid: Pasid): 'ok' | 'invalid' {
    if (!this.held.has(pasid)) return 'invalid';
    this.unbinder.unbindPasid(pasid);
    const { ctx, ids } = this.vm;
    ctx.guestPasidUnmap(pasid);
    ctx.pasidFree(ids.pasidSet, pasid);
    this.held.delete(pasid);
    this.vm.log(`vcmd: guest freed PASID ${pasid}`);
    return 'ok';
  }
}
