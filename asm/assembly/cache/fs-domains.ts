// Domains that may hold first-stage entries: one byte per domain id, set
// once a first-stage or nested walk of the domain was set up (the walk
// environment is loaded once per device setup, not per walk). A
// page-selective IOTLB invalidation in scalable mode must drop every
// first-stage and nested IOTLB and paging-structure entry of its domain,
// whatever the address and IH (§6.5.2.3): for a domain never marked there is
// none, so a second-stage domain keeps its range-only scan and IH's benefit.
// Never cleared: a stale mark only over-invalidates.

import { heapAlloc } from '../mem/heap';
import { DID_COUNT } from './gen';

let marks: usize = 0;

/** Allocate the marks (once, at instantiation). Returns false when the
 *  state region cannot hold them. */
export function fsDomainsInit(): bool {
  marks = heapAlloc(DID_COUNT, 64);
  return marks != 0;
}

/** Note that a first-stage or nested walk of domain `did` was set up. */
export function fsDomainNote(did: u32): void {
  store<u8>(marks + (did & 0xffff), 1);
}

/** Whether domain `did` may hold first-stage (or nested) entries. */
export function fsDomainMay(did: u32): bool {
  return load<u8>(marks + (did & 0xffff)) != 0;
}
