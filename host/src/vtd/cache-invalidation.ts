/**
 * The cache invalidation primitives a VT-d unit drives (§6.5: register-based
 * invalidation, §6.5.2 queued invalidation, the page-request path's implicit
 * invalidation), with the core's names and arguments (docs/ABI.md), and the
 * tap that also reports each one to a listener as a typed event (a VMM
 * shadows or passes them through, vmm/). The listener is optional and costs
 * nothing when absent: an event is only built for it.
 */
import type { Core } from '../core/core.js';
import type { Did, Iova, Pasid, Sid } from '../types.js';

/** The core's invalidation primitives, as the unit calls them. */
export interface CacheInvalidation {
  invContextGlobal(): void;
  invContextDomain(did: Did): void;
  invContextDevice(did: Did, sid: Sid, fm: number): void;
  invIotlbGlobal(): void;
  invIotlbDomain(did: Did): void;
  invIotlbPage(did: Did, addr: Iova, am: number, ih: number): void;
  invPasidIotlb(did: Did, pasid: Pasid): void;
  invPasidIotlbPage(did: Did, pasid: Pasid, addr: Iova, am: number, ih: number): void;
  invPasidCache(granularity: number, did: Did, pasid: Pasid): void;
  /** `invIotlbPage` with the address as u32 halves (no BigInt). */
  invIotlbPageRaw(did: Did, addrHi: number, addrLo: number, am: number, ih: number): void;
  /** `invPasidIotlbPage` with the address as u32 halves (no BigInt). */
  invPasidIotlbPageRaw(did: Did, pasid: Pasid, addrHi: number, addrLo: number, am: number, ih: number): void;
}

const addrOf = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/**
 * One invalidation the unit ran on its caches, with the scope the guest
 * named (§6.5.1 register-based, §6.5.2 queued, or implied by a page-group
 * response): a discriminated union on `kind`, one member per core primitive
 * (docs/ABI.md), fields as the primitive takes them.
 */
export type InvalidationEvent =
  /** Every context-cache entry (and the PASID cache under it). */
  | { readonly kind: 'contextGlobal' }
  /** The context-cache entries of domain `did`. */
  | { readonly kind: 'contextDomain'; readonly did: number }
  /** The context-cache entries of source id `sid` under function mask `fm` (CCMD.FM, §6.5.2.1). */
  | { readonly kind: 'contextDevice'; readonly did: number; readonly sid: number; readonly fm: number }
  /** Every IOTLB entry. */
  | { readonly kind: 'iotlbGlobal' }
  /** Every IOTLB entry of domain `did`. */
  | { readonly kind: 'iotlbDomain'; readonly did: number }
  /** 2^am pages of domain `did` at `addr`; `ih` 1 keeps the paging-structure caches. */
  | { readonly kind: 'iotlbPage'; readonly did: number; readonly addr: bigint; readonly am: number; readonly ih: number }
  /** Every IOTLB entry of (`did`, `pasid`). */
  | { readonly kind: 'pasidIotlb'; readonly did: number; readonly pasid: number }
  /** 2^am pages of (`did`, `pasid`) at `addr`; `ih` as for iotlbPage. */
  | { readonly kind: 'pasidIotlbPage'; readonly did: number; readonly pasid: number; readonly addr: bigint; readonly am: number; readonly ih: number }
  /** PASID-cache entries at `granularity` (§6.5.2.2 G: 0 domain, 1 PASID in domain, 3 global). */
  | { readonly kind: 'pasidCache'; readonly granularity: number; readonly did: number; readonly pasid: number };

/** The kinds of `InvalidationEvent`. */
export type InvalidationKind = InvalidationEvent['kind'];

/** Hears one invalidation after the unit's own caches did it. */
export type InvalidationListener = (event: InvalidationEvent) => void;

/** Runs each primitive on the core, then tells the listener (if any) as a typed event. */
export class InvalidationTap implements CacheInvalidation {
  /** Set by the unit's owner (VtdUnit.onInvalidate). */
  listener: InvalidationListener | undefined;

  constructor(private readonly core: Core) {}

  invContextGlobal(): void {
    this.core.invContextGlobal();
    if (this.listener) this.listener({ kind: 'contextGlobal' });
  }

  invContextDomain(did: Did): void {
    this.core.invContextDomain(did);
    if (this.listener) this.listener({ kind: 'contextDomain', did });
  }

  invContextDevice(did: Did, sid: Sid, fm: number): void {
    this.core.invContextDevice(did, sid, fm);
    if (this.listener) this.listener({ kind: 'contextDevice', did, sid, fm });
  }

  invIotlbGlobal(): void {
    this.core.invIotlbGlobal();
    if (this.listener) this.listener({ kind: 'iotlbGlobal' });
  }

  invIotlbDomain(did: Did): void {
    this.core.invIotlbDomain(did);
    if (this.listener) this.listener({ kind: 'iotlbDomain', did });
  }

  invIotlbPage(did: Did, addr: Iova, am: number, ih: number): void {
    this.core.invIotlbPage(did, addr, am, ih);
    if (this.listener) this.listener({ kind: 'iotlbPage', did, addr, am, ih });
  }

  invPasidIotlb(did: Did, pasid: Pasid): void {
    this.core.invPasidIotlb(did, pasid);
    if (this.listener) this.listener({ kind: 'pasidIotlb', did, pasid });
  }

  invPasidIotlbPage(did: Did, pasid: Pasid, addr: Iova, am: number, ih: number): void {
    this.core.invPasidIotlbPage(did, pasid, addr, am, ih);
    if (this.listener) this.listener({ kind: 'pasidIotlbPage', did, pasid, addr, am, ih });
  }

  invPasidCache(granularity: number, did: Did, pasid: Pasid): void {
    this.core.invPasidCache(granularity, did, pasid);
    if (this.listener) this.listener({ kind: 'pasidCache', granularity, did, pasid });
  }

  invIotlbPageRaw(did: Did, addrHi: number, addrLo: number, am: number, ih: number): void {
    this.core.invIotlbPageRaw(did, addrHi, addrLo, am, ih);
    if (this.listener) this.listener({ kind: 'iotlbPage', did, addr: addrOf(addrHi, addrLo), am, ih });
  }

  invPasidIotlbPageRaw(did: Did, pasid: Pasid, addrHi: number, addrLo: number, am: number, ih: number): void {
    this.core.invPasidIotlbPageRaw(did, pasid, addrHi, addrLo, am, ih);
    if (this.listener) this.listener({ kind: 'pasidIotlbPage', did, pasid, addr: addrOf(addrHi, addrLo), am, ih });
  }
}
