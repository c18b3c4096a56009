/**
 * What each invalidation descriptor does (§6.5.2.1-§6.5.2.9): a table of
 * `{type, ...rules, handle}` rows. The queue engine (invalidation-queue.ts)
 * fetches a descriptor, applies the generic checks a row declares (width,
 * capability, TTM, reserved bits) and calls `handle`, which drives the core's
 * invalidation primitives with exactly the scope the descriptor names.
 *
 * Faults are values: a handler returns `'ok'`, `'stop'` (done, but fetching
 * halts after it: a wait aborted by a device-TLB time-out) or an IQE cause.
 */
import { ECAP, CAP } from '../spec/registers.js';
import type { QiHost } from '../qi-host.js';
import type { QiBehaviour } from './qi-behaviour.js';
import {
  CC, DESC, DEVTLB, IEC_DESC, IOTLB_DESC, PC_DESC, PDEVTLB, PGR, PIOTLB, WAIT_DESC,
  addrMask, descType, deviceTlbRange, did, granularity, invHint, pageAddr, pasid,
  type DescWords,
} from './descriptors.js';
import { IQEI, type IqeiCode } from './queue-regs.js';

/** An IQE cause: the IQEI code and a log message. */
export interface QueueError {
  readonly iqei: IqeiCode;
  readonly why: string;
}

/** A handler's outcome. */
export type StepResult = 'ok' | 'stop' | QueueError;

/** What a handler may use: the unit, the profile's rules, and the queue's device-TLB error state. */
export interface QiContext {
  readonly host: QiHost;
  readonly behaviour: QiBehaviour;
  readonly cap: bigint;
  readonly ecap: bigint;
  /** Report a device-TLB invalidation time-out for `sid` (ITE, §6.5.2.10). */
  deviceTimeout(sid: number): void;
  /** True once, at the first wait after a device-TLB time-out: that wait is aborted. */
  takeAbortedWait(): boolean;
}

/** One row of the dispatch table. */
export interface DescriptorRow {
  readonly type: number;
  readonly name: string;
  /** The descriptor only exists in 256-bit form (IQE, invalid width, in a 128-bit queue). */
  readonly wideOnly: boolean;
  /** The descriptor needs scalable mode (TTM=01): IQEI 7 otherwise. */
  readonly scalableOnly: boolean;
  /** Capability the descriptor needs (spec checks only); IQEI 3 when missing. */
  readonly needs?: (ecap: bigint) => boolean;
  /** Reserved masks of qw0, qw1 (qw2/qw3 are always reserved) for this context. */
  readonly reserved: (ctx: QiContext) => readonly bigint[];
  readonly handle: (ctx: QiContext, w: DescWords) => StepResult;
}

const ALL = 0xffff_ffff_ffff_ffffn;
/** PFSID, qw0 15:12 and 63:52 of both device-TLB descriptors (QEMU checks them as reserved). */
const PFSID_BITS = 0xfff0_0000_0000_f000n;
const err = (iqei: IqeiCode, why: string): QueueError => ({ iqei, why });
const badGranularity = (name: string, g: number): QueueError =>
  err(IQEI.RESERVED_FIELD, `${name} descriptor with reserved granularity ${g}`);

/** §6.5.2.1 context-cache invalidate: global, domain (DID) or device (DID, SID, FM). */
function contextCache(ctx: QiContext, [qw0]: DescWords): StepResult {
  const core = ctx.host.core;
  const g = granularity(qw0);
  if (g === CC.G_GLOBAL || (g === CC.G_DOMAIN && ctx.behaviour.ccDomainAsGlobal)) core.invContextGlobal();
  else if (g === CC.G_DOMAIN) core.invContextDomain(did(qw0));
  else if (g === CC.G_DEVICE) core.invContextDevice(did(qw0), CC.sid(qw0), CC.fm(qw0));
  else return badGranularity('context-cache', g);
  return 'ok';
}

/** §6.5.2.3 IOTLB invalidate: global, domain, or 2^AM pages in a domain. DR/DW: nothing is in flight. */
function iotlb(ctx: QiContext, [qw0, qw1]: DescWords): StepResult {
  const core = ctx.host.core;
  const g = granularity(qw0);
  if (g === IOTLB_DESC.G_GLOBAL) core.invIotlbGlobal();
  else if (g === IOTLB_DESC.G_DOMAIN) core.invIotlbDomain(did(qw0));
  else if (g === IOTLB_DESC.G_PAGE) {
    const am = addrMask(qw1);
    if (am > CAP.mamv(ctx.cap)) return err(IQEI.RESERVED_FIELD, `iotlb AM ${am} > CAP.MAMV ${CAP.mamv(ctx.cap)}`);
    // QEMU 10.0 also drops the domain's first-stage entries here: the core's QUIRK_PSI_ALL_FS.
    core.invIotlbPage(did(qw0), pageAddr(qw1), am, invHint(qw1));
  } else return badGranularity('iotlb', g);
  return 'ok';
}

/** §6.5.2.5 device-TLB invalidate: forwarded to the ATS device (SID); a time-out is ITE. */
function deviceTlb(ctx: QiContext, [qw0, qw1]: DescWords): StepResult {
  const sid = DEVTLB.sid(qw0);
  const range = deviceTlbRange(qw1, DEVTLB.size(qw1));
  const r = ctx.host.deviceTlbInvalidate({ sid, pfsid: DEVTLB.pfsid(qw0), ...range, global: false });
  if (r === 'timeout') ctx.deviceTimeout(sid);
  return 'ok';
}

/** §6.5.2.7 interrupt-entry cache: the model caches no IRTEs, so only the fields are checked. */
function iec(ctx: QiContext, [qw0]: DescWords): StepResult {
  const mhmv = Number((ctx.ecap >> ECAP.MHMV_SHIFT) & 0xfn);
  if (ctx.behaviour.capabilityChecks && IEC_DESC.g(qw0) === IEC_DESC.G_INDEX && IEC_DESC.im(qw0) > mhmv) {
    return err(IQEI.RESERVED_FIELD, `iec IM ${IEC_DESC.im(qw0)} > ECAP.MHMV ${mhmv}`);
  }
  return 'ok';
}

/**
 * §6.5.2.8 invalidation wait. Every earlier descriptor has completed (the
 * model runs them synchronously), so FN and PD need no waiting; SW writes the
 * status dword, IF raises the invalidation-completion event (ICS.IWC).
 */
function wait(ctx: QiContext, [qw0, qw1]: DescWords): StepResult {
  const { host } = ctx;
  if (ctx.takeAbortedWait()) {
    host.log('qi: wait descriptor aborted by a device-TLB invalidation time-out (ITE): no status write, no interrupt');
    return 'stop';
  }
  const sw = (qw0 & WAIT_DESC.SW) !== 0n;
  const intr = (qw0 & WAIT_DESC.IF) !== 0n;
  if (ctx.behaviour.waitNeedsSwOrIf && !sw && !intr) return err(IQEI.NONE, 'wait descriptor with neither SW nor IF');
  if (sw) {
    const gpa = WAIT_DESC.statusAddr(qw1);
    if (!host.mem.contains(gpa, 4)) return err(IQEI.NONE, `wait status address 0x${gpa.toString(16)} is outside RAM`);
    host.mem.writeU32(gpa, WAIT_DESC.statusData(qw0));
  }
  if (intr) host.invalidationEvent();
  return 'ok';
}

/** §6.5.2.4 PASID-based IOTLB: all mappings of (DID, PASID), or 2^AM pages of them. */
function pasidIotlb(ctx: QiContext, [qw0, qw1]: DescWords): StepResult {
  const core = ctx.host.core;
  const g = granularity(qw0);
  if (g === PIOTLB.G_PASID) core.invPasidIotlb(did(qw0), pasid(qw0));
  // §6.5.2.4: implementations with SMTS accept any AM; 2^52 pages already cover the address space.
  else if (g === PIOTLB.G_PAGE) {
    core.invPasidIotlbPage(did(qw0), pasid(qw0), pageAddr(qw1), Math.min(addrMask(qw1), 52), invHint(qw1));
  } else return badGranularity('pasid-iotlb', g);
  return 'ok';
}

/** §6.5.2.2 PASID cache: domain, PASID in domain, or global. */
function pasidCache(ctx: QiContext, [qw0]: DescWords): StepResult {
  const core = ctx.host.core;
  const g = granularity(qw0);
  if (ctx.behaviour.pasidCacheUnchecked || g === PC_DESC.G_GLOBAL) core.invPasidCache(PC_DESC.G_GLOBAL, 0, 0);
  else if (g === PC_DESC.G_DOMAIN) core.invPasidCache(PC_DESC.G_DOMAIN, did(qw0), 0);
  else if (g === PC_DESC.G_PASID) core.invPasidCache(PC_DESC.G_PASID, did(qw0), pasid(qw0));
  else return badGranularity('pasid-cache', g);
  return 'ok';
}

/** §6.5.2.6 PASID-based device-TLB: forwarded to the ATS device with the PASID; time-out is ITE. */
function pasidDeviceTlb(ctx: QiContext, [qw0, qw1]: DescWords): StepResult {
  const sid = PDEVTLB.sid(qw0);
  const range = deviceTlbRange(qw1 & ~0xfffn, PDEVTLB.size(qw1));
  const r = ctx.host.deviceTlbInvalidate({
    sid, pfsid: PDEVTLB.pfsid(qw0), pasid: pasid(qw0), ...range, global: PDEVTLB.global(qw1) === 1,
  });
  if (r === 'timeout') ctx.deviceTimeout(sid);
  return 'ok';
}

/** Page-group response: routed to the device that sent the page requests (§7.7 in 3.x). */
function pageGroupResponse(ctx: QiContext, [qw0, qw1]: DescWords): StepResult {
  const code = PGR.responseCode(qw0);
  if (![PGR.RC_SUCCESS, PGR.RC_INVALID_REQUEST, PGR.RC_FAILURE].includes(code as 0 | 1 | 15)) {
    return err(IQEI.RESERVED_FIELD, `page-group response with reserved response code ${code}`);
  }
  ctx.host.pageGroupResponse({
    rid: PGR.rid(qw0), pasid: PGR.pasidPresent(qw0) ? pasid(qw0) : undefined,
    prgi: PGR.prgi(qw1), code, lpig: PGR.lpig(qw1) === 1,
  });
  return 'ok';
}

/** The dispatch table: one row per descriptor type (§6.5.2). */
export const DESCRIPTOR_TABLE: readonly DescriptorRow[] = [
  { type: DESC.CONTEXT_CACHE, name: 'context-cache', wideOnly: false, scalableOnly: false,
    reserved: () => CC.RSVD, handle: contextCache },
  { type: DESC.IOTLB, name: 'iotlb', wideOnly: false, scalableOnly: false,
    reserved: () => IOTLB_DESC.RSVD, handle: iotlb },
  { type: DESC.DEVICE_TLB, name: 'device-tlb', wideOnly: false, scalableOnly: false,
    needs: (e) => (e & ECAP.DT) !== 0n,
    reserved: (c) => c.behaviour.devTlbPfsidReserved ? [DEVTLB.RSVD[0] | PFSID_BITS, DEVTLB.RSVD[1]] : DEVTLB.RSVD,
    handle: deviceTlb },
  { type: DESC.IEC, name: 'iec', wideOnly: false, scalableOnly: false,
    reserved: (c) => c.behaviour.iecUnchecked ? [0n, 0n] : IEC_DESC.RSVD, handle: iec },
  { type: DESC.WAIT, name: 'wait', wideOnly: false, scalableOnly: false,
    reserved: (c) => [WAIT_DESC.RSVD[0] | ((c.ecap & ECAP.PDS) !== 0n ? 0n : WAIT_DESC.PD), WAIT_DESC.RSVD[1]],
    handle: wait },
  { type: DESC.PASID_IOTLB, name: 'pasid-iotlb', wideOnly: true, scalableOnly: true,
    needs: (e) => (e & ECAP.SMTS) !== 0n, reserved: () => PIOTLB.RSVD, handle: pasidIotlb },
  { type: DESC.PASID_CACHE, name: 'pasid-cache', wideOnly: true, scalableOnly: true,
    needs: (e) => (e & ECAP.SMTS) !== 0n,
    reserved: (c) => c.behaviour.pasidCacheUnchecked ? [0n, 0n, 0n, 0n] : PC_DESC.RSVD, handle: pasidCache },
  { type: DESC.PASID_DEVICE_TLB, name: 'pasid-device-tlb', wideOnly: true, scalableOnly: true,
    needs: (e) => (e & ECAP.DT) !== 0n && (e & ECAP.PASID) !== 0n,
    reserved: (c) => c.behaviour.devTlbPfsidReserved ? [PFSID_BITS, PDEVTLB.RSVD[1]] : PDEVTLB.RSVD,
    handle: pasidDeviceTlb },
  { type: DESC.PAGE_GROUP_RESPONSE, name: 'page-group-response', wideOnly: true, scalableOnly: true,
    needs: (e) => (e & ECAP.PRS) !== 0n, reserved: () => PGR.RSVD, handle: pageGroupResponse },
];

const BY_TYPE = new Map(DESCRIPTOR_TABLE.map((r) => [r.type, r]));

/** The name of a descriptor type, for logs (`type 0x1f` when undefined). */
export function descriptorName(type: number): string {
  return BY_TYPE.get(type)?.name ?? `type 0x${type.toString(16)}`;
}

/** True when `words` has a reserved bit set under `mask` (mask words past its end: all reserved). */
function reservedSet(words: DescWords, mask: readonly bigint[], checkUpper: boolean): boolean {
  for (let i = 0; i < 4; i++) {
    const m = i < mask.length ? mask[i] : checkUpper ? ALL : 0n;
    if ((words[i] & m) !== 0n) return true;
  }
  return false;
}

/**
 * Checks one fetched descriptor against the profile and, if it passes, runs
 * its handler. `wide` is the queue's descriptor width (IQA.DW latched at QIE).
 */
export function dispatchDescriptor(ctx: QiContext, words: DescWords, wide: boolean): StepResult {
  const type = descType(words[0]);
  const row = BY_TYPE.get(type);
  const b = ctx.behaviour;
  if (!row || !b.knownTypes.has(type)) return err(IQEI.INVALID_TYPE, `unknown descriptor type 0x${type.toString(16)}`);
  if (b.noopTypes.has(type)) return 'ok';
  if (b.needSmtsTypes.has(type) && (ctx.ecap & ECAP.SMTS) === 0n) {
    return err(IQEI.INVALID_TYPE, `${row.name} descriptor on a unit without scalable mode`);
  }
  if (!wide && b.wideOnlyTypes.has(type)) return err(IQEI.INVALID_WIDTH, `${row.name} descriptor in a 128-bit queue`);
  if (b.capabilityChecks && row.needs && !row.needs(ctx.ecap)) {
    return err(IQEI.INVALID_TYPE, `${row.name} descriptor needs a capability this unit does not report`);
  }
  if (b.capabilityChecks && row.scalableOnly && !ctx.host.scalableMode()) {
    return err(IQEI.INVALID_TTM, `${row.name} descriptor in legacy mode (TTM=00)`);
  }
  const checkUpper = row.wideOnly || b.upperHalfReserved;
  if (reservedSet(words, row.reserved(ctx), checkUpper)) {
    return err(IQEI.RESERVED_FIELD, `${row.name} descriptor with reserved bits set: ${words.map((w) => '0x' + w.toString(16)).join(' ')}`);
  }
  return row.handle(ctx, words);
}
