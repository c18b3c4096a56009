/**
 * The seed flows as a table, in the order `viommu demo` runs them: the
 * emulated basics first, then the host-side flows of the vIOMMU modes.
 */
import type { Flow } from './flow.js';
import { basics } from './basics.js';
import { nestedVsva } from './nested-vsva.js';
import { iopf } from './iopf.js';
import { shadow } from './shadow.js';
import { pasidQuota } from './pasid-quota.js';
import { enqcmdFlow } from './enqcmd.js';
import { bindEbusy } from './bind-ebusy.js';
import { sharedPasid } from './shared-pasid.js';
import { revoke } from './revoke.js';
import { resetFlow } from './reset.js';
import { interruptRemap } from './interrupt-remap.js';
import { vcmdPasid } from './vcmd-pasid.js';
import { containerGroup } from './container-group.js';
import { vfioVdpaPasid } from './vfio-vdpa-pasid.js';
import { nativeSvaIopf } from './native-sva-iopf.js';
import { subdeviceFlow } from './subdevice.js';
import { armBindPasidTable } from './arm-bind-pasid-table.js';
import { armIopf } from './arm-iopf.js';

/** Every flow. */
export const FLOWS: readonly Flow[] = [
  basics, interruptRemap, nestedVsva, iopf, nativeSvaIopf, shadow, pasidQuota, vcmdPasid, enqcmdFlow,
  containerGroup, bindEbusy, sharedPasid, vfioVdpaPasid, subdeviceFlow, revoke, resetFlow, armBindPasidTable, armIopf,
];

/** The flow called `name`, or undefined. */
export function flowNamed(name: string): Flow | undefined {
  return FLOWS.find((f) => f.name === name);
}

export type { Flow, FlowIo, FlowResult } from './flow.js';
