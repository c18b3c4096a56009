// Translated requests (PCIe AT=10b, VT-d §4.2.5): the device already holds
// the translation (an ATS translation completion), so nothing is walked,
// but the unit still processes the requester's root and context entries —
// and in scalable mode the RID_PASID PASID entry — and blocks the request
// with the spec's fault when the device may not send translated requests
// (VT-d §7.1.3 Table 30, column "Translated Req-without-PASID"): root or
// context not present, reserved or invalid (LRT/LCT, SRT/SCT, SPD/SPT),
// TT other than 01 (LCT.5, §9.3), DTE = 0 (SCT.5, §9.4), an address above
// the host address width (LGN.1.2 / SGN.4.1) or in the interrupt range
// (LGN.4 / SGN.8). With translation off every translated request is an
// Unsupported Request, not a fault (§4.2.1). Cached context and PASID
// entries are used as for any request: the guest withdraws the device's
// right by changing them and invalidating the caches (§6.5.3.3, Table 28).

import { ACC_TRANSLATION_REQ, ACC_WRITE, CFG_HAW, OUT_ADDR_HI, OUT_ADDR_LO, OUT_STATUS, PASID_NONE, TRANSLATED_UR } from './abi/layout';
import { cfg } from './cfg';
import { dcReset, rootTtm, teOn } from './ctx/device';
import { lastTt, lookupLegacy } from './ctx/legacy';
import { lookupScalableSaved } from './ctx/scalable';
import { outSet } from './out';
import { TT_DEVICE_TLB } from './spec/context-entry';
import { TTM_LEGACY, TTM_SCALABLE } from './spec/registers';
import * as FR from './spec/fault-reasons';
import { fail } from './translate';

// The interrupt address range (§3.15).
const INTR_START: u64 = 0xfee0_0000;
const INTR_LAST: u64 = 0xfeef_ffff;

/** Check a translated request of `len` bytes (>= 1) at `addr` from `sid`
 *  (access: ACC_WRITE or a read). Returns 0 (the request may go to memory
 *  at `addr`), a fault reason (out-buffer as for translate: record it), or
 *  TRANSLATED_UR (blocked, nothing to record). */
export function checkTranslated(sid: u32, addr: u64, len: u32, access: u32): u32 {
  sid &= 0xffff;
  if (!teOn) {
    outSet(OUT_STATUS, TRANSLATED_UR);
    return TRANSLATED_UR;
  }
  dcReset(false, PASID_NONE);
  const sm = rootTtm == TTM_SCALABLE;
  let fr: u32 = 0;
  if (rootTtm == TTM_LEGACY) {
    fr = lookupLegacy(sid);
    if (fr == 0 && lastTt != TT_DEVICE_TLB) fr = FR.FR_TT_BLOCKED;
  } else if (sm) {
    // Without a PASID the RID_PASID entry applies; DTE = 0 is SCT.5.
    fr = lookupScalableSaved(sid, 0, (access & ACC_WRITE) | ACC_TRANSLATION_REQ);
  } else {
    fr = FR.FR_SM_RTADDR_INV;
  }
  if (fr != 0) return fail(fr, addr, false);
  const last = addr + <u64>(len - 1);
  const haw = cfg(CFG_HAW);
  if (last < addr || (haw < 64 && (last >> haw) != 0)) return fail(sm ? FR.FR_SM_HAW : FR.FR_ADDR_WIDTH, addr, false);
  if (addr <= INTR_LAST && INTR_START <= last) return fail(sm ? FR.FR_SM_INTR_ADDR : FR.FR_INTR_ADDR, addr, false);
  outSet(OUT_STATUS, 0);
  outSet(OUT_ADDR_LO, <u32>addr);
  outSet(OUT_ADDR_HI, <u32>(addr >> 32));
  return 0;
}
