/**
 * The cache invalidation primitives a VT-d unit drives (§6.5: register-based
 * invalidation, §6.5.2 queued invalidation, the page-request path's implicit
 * invalidation), with the core's names and arguments (docs/ABI.md), and the
 * tap that also reports each one to a listener (a VMM shadows or passes them
 * through, vmm/). The listener is optional and costs nothing when absent:
 * the arguments are only gathered for it.
 */
import type { Core } from '../core/core.js';

/** The core's invalidation primitives, as the unit calls them. */
export interface CacheInvalidation {
  invContextGlobal(): void;
  invContextDomain(did: number): void;
  invContextDevice(did: number, sid: number, fm: number): void;
  invIotlbGlobal(): void;
  invIotlbDomain(did: number): void;
  invIotlbPage(did: number, addr: bigint, am: number, ih: number): void;
  invPasidIotlb(did: number, pasid: number): void;
  invPasidIotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: number): void;
  invPasidCache(granularity: number, did: number, pasid: number): void;
  /** `invIotlbPage` with the address as u32 halves (no BigInt). */
  invIotlbPageRaw(did: number, addrHi: number, addrLo: number, am: number, ih: number): void;
  /** `invPasidIotlbPage` with the address as u32 halves (no BigInt). */
  invPasidIotlbPageRaw(did: number, pasid: number, addrHi: number, addrLo: number, am: number, ih: number): void;
}

const addrOf = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/** Hears one invalidation: the primitive's name (`invIotlbPage`, ...) and its arguments, after it ran. */
export type InvalidationListener = (op: string, args: readonly unknown[]) => void;

/** Runs each primitive on the core, then tells the listener (if any). */
export class InvalidationTap implements CacheInvalidation {
  /** Set by the unit's owner (VtdUnit.onInvalidate). */
  listener: InvalidationListener | undefined;

  constructor(private readonly core: Core) {}

  invContextGlobal(): void {
    this.core.invContextGlobal();
    if (this.listener) this.listener('invContextGlobal', []);
  }

  invContextDomain(did: number): void {
    this.core.invContextDomain(did);
    if (this.listener) this.listener('invContextDomain', [did]);
  }

  invContextDevice(did: number, sid: number, fm: number): void {
    this.core.invContextDevice(did, sid, fm);
    if (this.listener) this.listener('invContextDevice', [did, sid, fm]);
  }

  invIotlbGlobal(): void {
    this.core.invIotlbGlobal();
    if (this.listener) this.listener('invIotlbGlobal', []);
  }

  invIotlbDomain(did: number): void {
    this.core.invIotlbDomain(did);
    if (this.listener) this.listener('invIotlbDomain', [did]);
  }

  invIotlbPage(did: number, addr: bigint, am: number, ih: number): void {
    this.core.invIotlbPage(did, addr, am, ih);
    if (this.listener) this.listener('invIotlbPage', [did, addr, am, ih]);
  }

  invPasidIotlb(did: number, pasid: number): void {
    this.core.invPasidIotlb(did, pasid);
    if (this.listener) this.listener('invPasidIotlb', [did, pasid]);
  }

  invPasidIotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: number): void {
    this.core.invPasidIotlbPage(did, pasid, addr, am, ih);
    if (this.listener) this.listener('invPasidIotlbPage', [did, pasid, addr, am, ih]);
  }

  invPasidCache(granularity: number, did: number, pasid: number): void {
    this.core.invPasidCache(granularity, did, pasid);
    if (this.listener) this.listener('invPasidCache', [granularity, did, pasid]);
  }

  invIotlbPageRaw(did: number, addrHi: number, addrLo: number, am: number, ih: number): void {
    this.core.invIotlbPageRaw(did, addrHi, addrLo, am, ih);
    if (this.listener) this.listener('invIotlbPage', [did, addrOf(addrHi, addrLo), am, ih]);
  }

  invPasidIotlbPageRaw(did: number, pasid: number, addrHi: number, addrLo: number, am: number, ih: number): void {
    this.core.invPasidIotlbPageRaw(did, pasid, addrHi, addrLo, am, ih);
    if (this.listener) this.listener('invPasidIotlbPage', [did, pasid, addrOf(addrHi, addrLo), am, ih]);
  }
}
