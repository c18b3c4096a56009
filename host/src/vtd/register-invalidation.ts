/**
 * Register-based invalidation (§6.5.1): the context command register CCMD
 * (§11.4.6) and the IOTLB invalidate register with IVA (§11.4.8 in 3.x).
 * Both act when software sets the "invalidate" bit (ICC / IVT, bit 63 of the
 * high dword), complete at once (the model is synchronous, so drains are
 * done too) and report the granularity actually performed.
 *
 * While queued invalidation is enabled software must not use them (§6.5.2):
 * the default profile refuses (clears the busy bit, reports granularity 0,
 * logs); QEMU ignores the request and leaves the busy bit set.
 */
import type { CacheInvalidation } from './cache-invalidation.js';
import type { Profile } from './profiles.js';
import type { RegisterFile } from './register-file.js';
import { CAP, CCMD, GCMD, GRAN, IOTLB, IVA, REG } from './spec/registers.js';

/** What the handlers need from the unit. */
export interface RegInvalTarget {
  readonly regs: RegisterFile;
  readonly profile: Profile;
  /** The core's primitives (register-based invalidation uses the context and IOTLB ones). */
  readonly inv: CacheInvalidation;
  log(msg: string): void;
}

function queuedInvalidationOn(t: RegInvalTarget): boolean {
  return (t.regs.dword(REG.GSTS) & GCMD.QIE) !== 0;
}

/** After a CCMD write: runs the context-cache invalidation if ICC is set. */
export function handleCcmdWrite(t: RegInvalTarget): void {
  const v = t.regs.get('CCMD');
  if (!(v & CCMD.ICC)) return;
  if (queuedInvalidationOn(t)) {
    t.log('CCMD invalidation refused: queued invalidation is enabled');
    if (!t.profile.host.ignoreRegInvalWhileQi) t.regs.set('CCMD', v & ~(CCMD.ICC | CCMD.CAIG_MASK));
    return;
  }
  const done = contextInvalidate(t, v);
  t.regs.set('CCMD', (v & ~(CCMD.ICC | CCMD.CAIG_MASK)) | CCMD.caigBits(done));
}

/** Performs a CCMD request; returns the actual granularity (0 = not performed). */
function contextInvalidate(t: RegInvalTarget, v: bigint): number {
  const did = CCMD.did(v);
  switch (CCMD.cirg(v)) {
    case GRAN.GLOBAL:
      t.inv.invContextGlobal();
      return GRAN.GLOBAL;
    case GRAN.DOMAIN:
      if (t.profile.host.ccmdDomainAsGlobal) {
        t.inv.invContextGlobal();
        return GRAN.GLOBAL;
      }
      t.inv.invContextDomain(did);
      return GRAN.DOMAIN;
    case GRAN.DEVICE_OR_PAGE:
      t.inv.invContextDevice(did, CCMD.sid(v), CCMD.fm(v));
      return GRAN.DEVICE_OR_PAGE;
    default:
      t.log('CCMD.CIRG=00 is reserved: invalidation not performed');
      return GRAN.NONE;
  }
}

/** After an IOTLB register write: runs the IOTLB invalidation if IVT is set. */
export function handleIotlbWrite(t: RegInvalTarget): void {
  const v = t.regs.get('IOTLB');
  if (!(v & IOTLB.IVT)) return;
  if (queuedInvalidationOn(t)) {
    t.log('IOTLB invalidation refused: queued invalidation is enabled');
    if (!t.profile.host.ignoreRegInvalWhileQi) t.regs.set('IOTLB', v & ~(IOTLB.IVT | IOTLB.IAIG_MASK));
    return;
  }
  const done = iotlbInvalidate(t, v, t.regs.get('IVA'));
  t.regs.set('IOTLB', (v & ~(IOTLB.IVT | IOTLB.IAIG_MASK)) | IOTLB.iaigBits(done));
}

/** Performs an IOTLB request; returns the actual granularity (0 = not performed). */
function iotlbInvalidate(t: RegInvalTarget, v: bigint, iva: bigint): number {
  const did = IOTLB.did(v);
  switch (IOTLB.iirg(v)) {
    case GRAN.GLOBAL:
      t.inv.invIotlbGlobal();
      return GRAN.GLOBAL;
    case GRAN.DOMAIN:
      t.inv.invIotlbDomain(did);
      return GRAN.DOMAIN;
    case GRAN.DEVICE_OR_PAGE: {
      const am = IVA.am(iva);
      if (am > CAP.mamv(t.profile.cap)) {
        t.log(`IOTLB page-selective invalidation with IVA.AM=${am} > CAP.MAMV: not performed`);
        return GRAN.NONE;
      }
      const addr = IVA.addr(iva);
      if (addr & ((1n << BigInt(12 + am)) - 1n)) t.log(`IVA.ADDR 0x${addr.toString(16)} not aligned to 2^AM pages`);
      t.inv.invIotlbPage(did, addr, am, IVA.ih(iva));
      return GRAN.DEVICE_OR_PAGE;
    }
    default:
      t.log('IOTLB.IIRG=00 is reserved: invalidation not performed');
      return GRAN.NONE;
  }
}
