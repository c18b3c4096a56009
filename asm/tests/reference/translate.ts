/**
 * Reference VT-d DMA-remapping translation (spec chapter 3 with the
 * structures of chapter 9), slow and cache-free, for comparison with the
 * WASM core. Legacy mode (§3.4.2: root -> context -> second stage, TT 0/1/2)
 * and scalable mode (§3.4.3: SM root -> SM context -> PASID directory ->
 * PASID entry -> PGTT first-stage / second-stage / nested / pass-through).
 *
 * It reads guest RAM through `GuestMemoryLike`; memory outside RAM is a
 * "cannot access" condition. First-stage A/D updates are written to memory
 * on success unless the request has ACC.NO_AD.
 */
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import type { RefCaps, RefRoot } from './config.js';
import { ACC, FR, SOURCE } from './constants.js';
import { translateLegacy } from './legacy.js';
import { ALL_PERMS, fault, success, type RefRequest, type RefResult } from './result.js';
import { translateScalable } from './scalable.js';

export type { RefRequest, RefResult } from './result.js';

/**
 * Translates one request the way the spec says, with no caches.
 * Never throws for guest-controlled input.
 */
export function refTranslate(mem: GuestMemoryLike, caps: RefCaps, root: RefRoot, req: RefRequest): RefResult {
  if (!root.enabled) return success(req.iova, 12, ALL_PERMS, 0, SOURCE.DISABLED);
  switch (root.ttm) {
    case 0:
      if (req.access & ACC.PASID) return fault(FR.RTA_LEGACY_PASID, false); // RTA.2
      return translateLegacy(mem, caps, root.rta, req);
    case 1:
      if (!caps.smts) return fault(FR.RTA_INVALID, false); // RTA.1: TTM=01 without SMTS
      return translateScalable(mem, caps, root.rta, req);
    default:
      return fault(FR.RTA_INVALID, false); // RTA.1: TTM 10 reserved, 11 needs ADMS
  }
}
