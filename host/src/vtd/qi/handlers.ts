/**
 * What each invalidation descriptor does (§6.5.2.1-§6.5.2.9): a table of
 * `{type, ...rules, handle}` rows. The queue engine (invalidation-queue.ts)
 * fetches a descriptor as u32 words, applies the generic checks a row
 * declares (width, capability, TTM, reserved bits; precomputed per queue by
 * `descriptorPlans`) and calls `handle`, which drives the core's
 * invalidation primitives with exactly the scope the descriptor names.
 *
 * Faults are values: a handler returns `'ok'`, `'stop'` (done, but fetching
 * halts after it: a wait aborted by a device-TLB time-out) or an IQE cause.
 */
import { ECAP, CAP } from '../spec/registers.js';
import type { QiHost } from '../qi-host.js';
import type { QiBehaviour } from './qi-behaviour.js';
import { addrMask, CC, DESC, DESC_TYPES, descType, type DescWords, deviceTlbRange, DEVTLB, did, granularity, IEC_DESC, invHint, IOTLB_DESC, maskWords, pageAddrLo, pasid, PC_DESC, PDEVTLB, PGR, PIOTLB, qwordOf, TYPE_HIGH_BITS, WAIT_DESC } from '../spec/descriptors.js';
import { PageResponseCode } from '../spec/page-request.js';
import { IQEI, type IqeiCode } from './queue-regs.js';
import type { Sid } from '../../types.js';

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
  deviceTimeout(sid: Sid): void;
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
  /** The handler calls into devices (which may DMA, page-request, interrupt): it weighs EXTERNAL_COST of the queue's work budget. */
  readonly external?: boolean;
}

/** PFSID, qw0 15:12 and 63:52 of both device-TLB descriptors (QEMU checks them as reserved). */
const PFSID_BITS = 0xfff0_0000_0000_f000n;
const err = (iqei: IqeiCode, why: string): QueueError => ({ iqei, why });
const badGranularity = (name: string, g: number): QueueError =>
  err(IQEI.RESERVED_FIELD, `${name} descriptor with reserved granularity ${g}`);

/** §6.5.2.1 context-cache invalidate: global, domain (DID) or device (DID, SID, FM). */
function contextCache(ctx: QiContext, w: DescWords): StepResult {
  const core = ctx.host.core;
  const g = granularity(w[0]!);
  if (g === CC.G_GLOBAL || (g === CC.G_DOMAIN && ctx.behaviour.ccDomainAsGlobal)) core.invContextGlobal();
  else if (g === CC.G_DOMAIN) core.invContextDomain(did(w[0]!));
  else if (g === CC.G_DEVICE) core.invContextDevice(did(w[0]!), CC.sid(w[1]!), CC.fm(w[1]!));
  else return badGranularity('context-cache', g);
  return 'ok';
}

/** §6.5.2.3 IOTLB invalidate: global, domain, or 2^AM pages in a domain. DR/DW: nothing is in flight. */
function iotlb(ctx: QiContext, w: DescWords): StepResult {
  const core = ctx.host.core;
  const g = granularity(w[0]!);
  if (g === IOTLB_DESC.G_GLOBAL) core.invIotlbGlobal();
  else if (g === IOTLB_DESC.G_DOMAIN) core.invIotlbDomain(did(w[0]!));
  else if (g === IOTLB_DESC.G_PAGE) {
    const am = addrMask(w[2]!);
    if (am > CAP.mamv(ctx.cap)) return err(IQEI.RESERVED_FIELD, `iotlb AM ${am} > CAP.MAMV ${CAP.mamv(ctx.cap)}`);
    // In scalable mode the core also drops every first-stage and nested entry of the domain (§6.5.2.3).
    core.invIotlbPageRaw(did(w[0]!), w[3]!, pageAddrLo(w[2]!), am, invHint(w[2]!));
  } else return badGranularity('iotlb', g);
  return 'ok';
}

/** §6.5.2.5 device-TLB invalidate: forwarded to the ATS device (SID); a time-out is ITE. */
function deviceTlb(ctx: QiContext, w: DescWords): StepResult {
  const sid = DEVTLB.sid(w[1]!);
  const range = deviceTlbRange(qwordOf(w, 1), DEVTLB.size(w[2]!));
  const r = ctx.host.deviceTlbInvalidate({ sid, pfsid: DEVTLB.pfsid(w[0]!, w[1]!), ...range, global: false });
  if (r === 'timeout') ctx.deviceTimeout(sid);
  return 'ok';
}

/** §6.5.2.7 interrupt-entry cache: global, or the 2^IM entries around IIDX (IM up to ECAP.MHMV). */
function iec(ctx: QiContext, w: DescWords): StepResult {
  const mhmv = Number((ctx.ecap >> ECAP.MHMV_SHIFT) & 0xfn);
  const global = IEC_DESC.g(w[0]!) === IEC_DESC.G_GLOBAL;
  if (ctx.behaviour.capabilityChecks && !global && IEC_DESC.im(w[0]!) > mhmv) {
    return err(IQEI.RESERVED_FIELD, `iec IM ${IEC_DESC.im(w[0]!)} > ECAP.MHMV ${mhmv}`);
  }
  ctx.host.invalidateInterruptEntries(global ? 'all' : { index: IEC_DESC.iidx(w[1]!), im: IEC_DESC.im(w[0]!) });
  return 'ok';
}

/**
 * §6.5.2.8 invalidation wait. Every earlier descriptor has completed (the
 * model runs them synchronously), so FN and PD need no waiting; SW writes the
 * status dword, IF raises the invalidation-completion event (ICS.IWC).
 */
function wait(ctx: QiContext, w: DescWords): StepResult {
  const { host } = ctx;
  if (ctx.takeAbortedWait()) {
    host.log('qi: wait descriptor aborted by a device-TLB invalidation time-out (ITE): no status write, no interrupt');
    return 'stop';
  }
  const sw = (w[0]! & WAIT_DESC.SW) !== 0;
  const intr = (w[0]! & WAIT_DESC.IF) !== 0;
  if (ctx.behaviour.waitNeedsSwOrIf && !sw && !intr) return err(IQEI.NONE, 'wait descriptor with neither SW nor IF');
  if (sw) {
    // An address at or above 2^53 (hi > 0x1FFFFF) is never RAM.
    const gpa = w[3]! <= 0x1f_ffff ? w[3]! * 0x1_0000_0000 + WAIT_DESC.statusAddrLo(w[2]!) : -1;
    if (host.mem.offsetAt(gpa, 4) < 0) {
      return err(IQEI.NONE, `wait status address 0x${(BigInt(WAIT_DESC.statusAddrLo(w[2]!)) | (BigInt(w[3]!) << 32n)).toString(16)} is outside RAM`);
    }
    host.mem.setUint32(gpa, w[1]!);
  }
  if (intr) host.invalidationEvent();
  return 'ok';
}

/** §6.5.2.4 PASID-based IOTLB: all mappings of (DID, PASID), or 2^AM pages of them. */
function pasidIotlb(ctx: QiContext, w: DescWords): StepResult {
  const core = ctx.host.core;
  const g = granularity(w[0]!);
  if (g === PIOTLB.G_PASID) core.invPasidIotlb(did(w[0]!), pasid(w[1]!));
  // §6.5.2.4: implementations with SMTS accept any AM; 2^52 pages already cover the address space.
  else if (g === PIOTLB.G_PAGE) {
    core.invPasidIotlbPageRaw(did(w[0]!), pasid(w[1]!), w[3]!, pageAddrLo(w[2]!), Math.min(addrMask(w[2]!), 52), invHint(w[2]!));
  } else return badGranularity('pasid-iotlb', g);
  return 'ok';
}

/** §6.5.2.2 PASID cache: domain, PASID in domain, or global. */
function pasidCache(ctx: QiContext, w: DescWords): StepResult {
  const core = ctx.host.core;
  const g = granularity(w[0]!);
  if (ctx.behaviour.pasidCacheUnchecked || g === PC_DESC.G_GLOBAL) core.invPasidCache(PC_DESC.G_GLOBAL, 0, 0);
  else if (g === PC_DESC.G_DOMAIN) core.invPasidCache(PC_DESC.G_DOMAIN, did(w[0]!), 0);
  else if (g === PC_DESC.G_PASID) core.invPasidCache(PC_DESC.G_PASID, did(w[0]!), pasid(w[1]!));
  else return badGranularity('pasid-cache', g);
  return 'ok';
}

/** §6.5.2.6 PASID-based device-TLB: forwarded to the ATS device with the PASID; time-out is ITE. */
function pasidDeviceTlb(ctx: QiContext, w: DescWords): StepResult {
  const sid = PDEVTLB.sid(w[0]!);
  const range = deviceTlbRange(qwordOf(w, 1) & ~0xfffn, PDEVTLB.size(w[2]!));
  const r = ctx.host.deviceTlbInvalidate({
    sid, pfsid: PDEVTLB.pfsid(w[0]!, w[1]!), pasid: pasid(w[1]!), ...range, global: PDEVTLB.global(w[2]!) === 1,
  });
  if (r === 'timeout') ctx.deviceTimeout(sid);
  return 'ok';
}

/** Page-group response: routed to the device that sent the page requests (§7.7 in 3.x). */
function pageGroupResponse(ctx: QiContext, w: DescWords): StepResult {
  const code = PGR.responseCode(w[0]!);
  if (code !== PageResponseCode.Success && code !== PageResponseCode.InvalidRequest && code !== PageResponseCode.ResponseFailure) {
    return err(IQEI.RESERVED_FIELD, `page-group response with reserved response code ${code}`);
  }
  ctx.host.pageGroupResponse({
    rid: PGR.rid(w[0]!), pasid: PGR.pasidPresent(w[0]!) ? pasid(w[1]!) : undefined,
    prgi: PGR.prgi(w[2]!), code, lpig: PGR.lpig(w[2]!) === 1,
  });
  return 'ok';
}

/** The dispatch table: one row per descriptor type (§6.5.2). `external` rows call into devices. */
export const DESCRIPTOR_TABLE: readonly DescriptorRow[] = [
  { type: DESC.CONTEXT_CACHE, name: 'context-cache', wideOnly: false, scalableOnly: false,
    reserved: () => CC.RSVD, handle: contextCache },
  { type: DESC.IOTLB, name: 'iotlb', wideOnly: false, scalableOnly: false,
    reserved: () => IOTLB_DESC.RSVD, handle: iotlb },
  { type: DESC.DEVICE_TLB, name: 'device-tlb', wideOnly: false, scalableOnly: false, external: true,
    needs: (e) => (e & ECAP.DT) !== 0n,
    reserved: (c) => c.behaviour.devTlbPfsidReserved ? [DEVTLB.RSVD[0] | PFSID_BITS, DEVTLB.RSVD[1]] : DEVTLB.RSVD,
    handle: deviceTlb },
  { type: DESC.IEC, name: 'iec', wideOnly: false, scalableOnly: false,
    reserved: (c) => c.behaviour.iecUnchecked ? [0n, 0n] : IEC_DESC.RSVD, handle: iec },
  { type: DESC.WAIT, name: 'wait', wideOnly: false, scalableOnly: false,
    reserved: (c) => [WAIT_DESC.RSVD[0] | ((c.ecap & ECAP.PDS) !== 0n ? 0n : WAIT_DESC.PD_MASK), WAIT_DESC.RSVD[1]],
    handle: wait },
  { type: DESC.PASID_IOTLB, name: 'pasid-iotlb', wideOnly: true, scalableOnly: true,
    needs: (e) => (e & ECAP.SMTS) !== 0n, reserved: () => PIOTLB.RSVD, handle: pasidIotlb },
  { type: DESC.PASID_CACHE, name: 'pasid-cache', wideOnly: true, scalableOnly: true,
    needs: (e) => (e & ECAP.SMTS) !== 0n,
    reserved: (c) => c.behaviour.pasidCacheUnchecked ? [0n, 0n, 0n, 0n] : PC_DESC.RSVD, handle: pasidCache },
  { type: DESC.PASID_DEVICE_TLB, name: 'pasid-device-tlb', wideOnly: true, scalableOnly: true, external: true,
    needs: (e) => (e & ECAP.DT) !== 0n && (e & ECAP.PASID) !== 0n,
    reserved: (c) => c.behaviour.devTlbPfsidReserved ? [PFSID_BITS, PDEVTLB.RSVD[1]] : PDEVTLB.RSVD,
    handle: pasidDeviceTlb },
  { type: DESC.PAGE_GROUP_RESPONSE, name: 'page-group-response', wideOnly: true, scalableOnly: true, external: true,
    needs: (e) => (e & ECAP.PRS) !== 0n, reserved: () => PGR.RSVD, handle: pageGroupResponse },
];

const BY_TYPE = new Map(DESCRIPTOR_TABLE.map((r) => [r.type, r]));

/** A descriptor's type under the profile's rules (`typeLowBitsOnly`: qw0[3:0] alone), from qw0[31:0]. */
export function typeUnder(b: QiBehaviour, w0: number): number {
  return b.typeLowBitsOnly ? w0 & 0xf : descType(w0);
}

/** The name of a descriptor type, for logs (`type 0x1f` when undefined). */
export function descriptorName(type: number): string {
  return BY_TYPE.get(type)?.name ?? `type 0x${type.toString(16)}`;
}

/**
 * A row with its checks resolved for one queue (profile rules and ECAP are
 * fixed per unit): what `dispatchDescriptor` tests per descriptor.
 */
export interface DescriptorPlan {
  readonly row: DescriptorRow;
  /** Accepted without any check, does nothing (profile `noopTypes`). */
  readonly noop: boolean;
  /** IQE (invalid type): the profile needs ECAP.SMTS for it and the unit lacks it. */
  readonly smtsMissing: boolean;
  /** IQE (invalid width) in a 128-bit queue. */
  readonly wideOnly: boolean;
  /** IQE (invalid type): the capability it needs is not reported (spec checks). */
  readonly capabilityMissing: boolean;
  /** IQE (invalid TTM) unless the latched root table is scalable (spec checks). */
  readonly needsScalable: boolean;
  /** Reserved bits of the eight words (upper qwords included when the profile checks them). */
  readonly reserved: Uint32Array;
  /** None of the checks above but width and reserved bits applies: `dispatchDescriptor`'s short path. */
  readonly plain: boolean;
}

/** The plans of every type the profile knows, indexed by type (undefined: IQE, invalid type). */
export function descriptorPlans(ctx: QiContext): readonly (DescriptorPlan | undefined)[] {
  const b = ctx.behaviour;
  const plans = new Array<DescriptorPlan | undefined>(DESC_TYPES).fill(undefined);
  for (const row of DESCRIPTOR_TABLE) {
    if (!b.knownTypes.has(row.type)) continue;
    const noop = b.noopTypes.has(row.type);
    const smtsMissing = b.needSmtsTypes.has(row.type) && (ctx.ecap & ECAP.SMTS) === 0n;
    const capabilityMissing = b.capabilityChecks && row.needs !== undefined && !row.needs(ctx.ecap);
    const needsScalable = b.capabilityChecks && row.scalableOnly;
    const reserved = maskWords(row.reserved(ctx), row.wideOnly || b.upperHalfReserved);
    // typeLowBitsOnly: qw0[11:9] are plain qw0 bits, reserved wherever qw0 is checked.
    if (b.typeLowBitsOnly && (reserved[0]! | reserved[1]!) !== 0) reserved[0] = reserved[0]! | TYPE_HIGH_BITS;
    plans[row.type] = {
      row, noop, smtsMissing, capabilityMissing, needsScalable, reserved,
      wideOnly: b.wideOnlyTypes.has(row.type),
      plain: !noop && !smtsMissing && !capabilityMissing && !needsScalable,
    };
  }
  return plans;
}

/** True when a reserved bit is set in qw0-qw1, or in qw2-qw3 of a 256-bit descriptor. */
function reservedSet(w: DescWords, m: Uint32Array, wide: boolean): boolean {
  if (((w[0]! & m[0]!) | (w[1]! & m[1]!) | (w[2]! & m[2]!) | (w[3]! & m[3]!)) !== 0) return true;
  return wide && ((w[4]! & m[4]!) | (w[5]! & m[5]!) | (w[6]! & m[6]!) | (w[7]! & m[7]!)) !== 0;
}

/**
 * Checks one fetched descriptor against the profile and, if it passes, runs
 * its handler. `plan` is its type's plan (`descriptorPlans`, undefined for a
 * type the profile does not know); `wide` is the queue's descriptor width
 * (IQA.DW latched at QIE).
 */
export function dispatchDescriptor(ctx: QiContext, plan: DescriptorPlan | undefined, w: DescWords, wide: boolean): StepResult {
  // The common case first: a type with only width and reserved-bit checks, passing them.
  if (plan !== undefined && plan.plain && (wide || !plan.wideOnly) && !reservedSet(w, plan.reserved, wide)) return plan.row.handle(ctx, w);
  return checkedDispatch(ctx, plan, w, wide);
}

/** `dispatchDescriptor` with every check in the spec's order, for what the short path does not take. */
function checkedDispatch(ctx: QiContext, plan: DescriptorPlan | undefined, w: DescWords, wide: boolean): StepResult {
  if (plan === undefined) return err(IQEI.INVALID_TYPE, `unknown descriptor type 0x${descType(w[0]!).toString(16)}`);
  const row = plan.row;
  if (plan.noop) return 'ok';
  if (plan.smtsMissing) return err(IQEI.INVALID_TYPE, `${row.name} descriptor on a unit without scalable mode`);
  if (!wide && plan.wideOnly) return err(IQEI.INVALID_WIDTH, `${row.name} descriptor in a 128-bit queue`);
  if (plan.capabilityMissing) return err(IQEI.INVALID_TYPE, `${row.name} descriptor needs a capability this unit does not report`);
  if (plan.needsScalable && !ctx.host.scalableMode()) return err(IQEI.INVALID_TTM, `${row.name} descriptor in legacy mode (TTM=00)`);
  if (reservedSet(w, plan.reserved, wide)) {
    const qwords = [0, 1, 2, 3].map((q) => '0x' + qwordOf(w, q).toString(16));
    return err(IQEI.RESERVED_FIELD, `${row.name} descriptor with reserved bits set: ${qwords.join(' ')}`);
  }
  return row.handle(ctx, w);
}
