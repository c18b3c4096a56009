/**
 * Translation targets the level and property tests drive with the same
 * calls: the reference model over a plain array RAM, and the WASM core
 * (host/src/core) when it has been built. A test runs a case on the
 * reference, and on the core too when `loadCoreTarget()` finds one.
 */
import { ArrayGuestMemory, type GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import type { RefCaps, RefRoot } from '../reference/config.js';
import { ACC, FF } from '../reference/constants.js';
import { refTranslate, type RefRequest } from '../reference/translate.js';

/** RAM every target has: [RAM_BASE, RAM_BASE + RAM_SIZE). */
export const RAM_BASE = 0n;
/** 16 MiB. */
export const RAM_SIZE = 16 << 20;
/** Table pages come from [TABLES_START, RAM end). */
export const TABLES_START = 0x10_0000n;

/** What a translation returned, in the fields both targets report. */
export interface Observed {
  readonly status: number;
  readonly addr: bigint;
  readonly pageLg2: number;
  readonly perms: number;
  readonly suppressed: boolean;
  readonly did: number;
}

/** Invalidation scopes of docs/ABI.md. */
export interface Invalidations {
  all(): void;
  contextGlobal(): void;
  contextDevice(did: number, sid: number, fm: number): void;
  iotlbGlobal(): void;
  iotlbDomain(did: number): void;
  iotlbPage(did: number, addr: bigint, am: number, ih: boolean): void;
  pasidIotlb(did: number, pasid: number): void;
  pasidIotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: boolean): void;
  pasidCache(granularity: number, did: number, pasid: number): void;
}

/** A translator over its own guest RAM. */
export interface Target extends Invalidations {
  readonly name: string;
  readonly mem: GuestMemoryLike;
  /** Zeroes RAM, applies caps and root, empties every cache. */
  reset(caps: RefCaps, root: RefRoot): void;
  /** Changes the root (SRTP: also invalidates everything). */
  setRoot(root: RefRoot): void;
  translate(req: RefRequest): Observed;
}

/** Formats an Observed for failure messages. */
export function show(o: Observed): string {
  return o.status === 0
    ? `ok addr=0x${o.addr.toString(16)} lg2=${o.pageLg2} perms=${o.perms} did=${o.did}`
    : `fault 0x${o.status.toString(16)}${o.suppressed ? ' (suppressed)' : ''}`;
}

/** The reference model as a target: no caches, so invalidations do nothing. */
export class ReferenceTarget implements Target {
  readonly name = 'reference';
  readonly mem = new ArrayGuestMemory(RAM_BASE, RAM_SIZE);
  private caps!: RefCaps;
  private root!: RefRoot;

  reset(caps: RefCaps, root: RefRoot): void {
    this.mem.bytes.fill(0);
    this.caps = caps;
    this.root = root;
  }
  setRoot(root: RefRoot): void {
    this.root = root;
  }
  translate(req: RefRequest): Observed {
    const r = refTranslate(this.mem, this.caps, this.root, req);
    return { status: r.status, addr: r.addr, pageLg2: r.pageLg2, perms: r.perms, suppressed: r.suppressed, did: r.did };
  }
  all(): void {}
  contextGlobal(): void {}
  contextDevice(): void {}
  iotlbGlobal(): void {}
  iotlbDomain(): void {}
  iotlbPage(): void {}
  pasidIotlb(): void {}
  pasidIotlbPage(): void {}
  pasidCache(): void {}
}

/** Masks a request's access the way the core expects (ACC bits only). */
export const ACC_MASK = Object.values(ACC).reduce((a, b) => a | b, 0);

/** FF bit of a suppressed fault (for decoding core results). */
export const FF_SUPPRESSED = FF.SUPPRESSED;
