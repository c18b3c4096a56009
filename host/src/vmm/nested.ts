/**
 * Nested mode: the guest's first-stage tables are used as they are, over
 * the host second stage (GPA -> HPA) of the VM. The guest's unit advertises
 * caching mode and first-stage, second-stage and pass-through translation
 * (not nested: ECAP.NEST = 0). What each guest entry becomes, and how
 * invalidations reach the host, is guest-mirror.ts:
 *
 * - a PASID entry with PGTT 1 becomes a nested HWPT over the vIOMMU,
 *   attached to (device, host PASID); the guest PASID gets a host PASID from
 *   the VM's set (the gPASID -> hPASID table) unless the guest already
 *   holds it through the virtual command interface (vcmd-pasids.ts:
 *   gPASID == hPASID); PGTT 2 and legacy entries
 *   are shadowed, PGTT 4 uses the VM's GPA -> HPA domain;
 * - guest IOTLB invalidations (global, domain, page: §6.5.2.3) and
 *   PASID-based IOTLB invalidations (§6.5.2.4) pass through as
 *   `hwptInvalidate` on the nested HWPTs they cover, so the host IOTLB
 *   drops what the guest's own unit drops.
 *
 * Page requests on nested domains reach the guest's page-request queue as
 * in shadow mode (guest-page-requests.ts).
 */
import { GuestMirror } from './guest-mirror.js';

/** The nested-mode VMM logic of one VM. */
export class NestedMode extends GuestMirror {}
