/**
 * Test helpers for the invalidation queue: a fake `QiHost` over a real
 * register file, a byte-array guest RAM, and a core that records the
 * invalidation primitives it is asked to run. Used by host/tests/qi-*.test.ts.
 */
import type { QiHost } from '../qi-host.js';
import { createProfile, type IommuOptions } from '../profiles.js';
import { RegisterFile } from '../register-file.js';
import { FSTS, ECTL } from '../spec/registers.js';
import { InvalidationQueue } from './invalidation-queue.js';
import type { Did, Gpa, Iova, Pasid, Sid } from '../../types.js';

/** Guest RAM as one byte array at GPA 0 (accesses outside throw, as GuestMemory does). */
export class FakeMemory {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;

  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
  }

  /** True when `[gpa, gpa + len)` is inside the array. */
  contains(gpa: Gpa, len: number): boolean {
    return gpa >= 0n && gpa + BigInt(len) <= BigInt(this.size);
  }

  private at(gpa: bigint, len: number): number {
    if (!this.contains(gpa, len)) throw new Error(`gpa: 0x${gpa.toString(16)} outside RAM`);
    return Number(gpa);
  }

  /** Offset of [gpa, gpa + len) in `bytes`, -1 outside (GuestMemory.offsetAt). */
  offsetAt(gpa: Gpa<number>, len: number): number {
    return Number.isSafeInteger(gpa) && gpa >= 0 && len >= 1 && gpa + len <= this.size ? gpa : -1;
  }

  /** A live view of [gpa, gpa + len); outside RAM it throws like GuestMemory. */
  view(gpa: Gpa<number>, len: number): Uint8Array {
    const at = this.at(BigInt(gpa), len);
    return this.bytes.subarray(at, at + len);
  }

  /** Writes a little-endian u32 at `gpa` (GuestMemory.setUint32). */
  setUint32(gpa: Gpa<number>, v: number): void {
    this.dv.setUint32(this.at(BigInt(gpa), 4), v >>> 0, true);
  }

  /** A copy of `len` bytes at `gpa` (throws outside RAM, like GuestMemory). */
  read(gpa: Gpa, len: number): Uint8Array {
    const at = this.at(gpa, len);
    return this.bytes.slice(at, at + len);
  }

  /** Little-endian accessors; outside RAM they throw like GuestMemory. */
  readU64(gpa: Gpa): bigint {
    return this.dv.getBigUint64(this.at(gpa, 8), true);
  }

  writeU64(gpa: Gpa, v: bigint): void {
    this.dv.setBigUint64(this.at(gpa, 8), BigInt.asUintN(64, v), true);
  }

  readU32(gpa: Gpa): number {
    return this.dv.getUint32(this.at(gpa, 4), true);
  }

  writeU32(gpa: Gpa, v: number): void {
    this.dv.setUint32(this.at(gpa, 4), v >>> 0, true);
  }
}

/** A core stand-in that records each invalidation primitive call as a string. */
export class RecordingCore {
  /** Every call, e.g. `invIotlbPage(1,0x4000,0,0)`. */
  readonly calls: string[] = [];
  private rec(name: string, ...args: (number | bigint)[]): void {
    this.calls.push(`${name}(${args.map((a) => (typeof a === 'bigint' ? '0x' + a.toString(16) : String(a))).join(',')})`);
  }
  invContextGlobal(): void { this.rec('invContextGlobal'); }
  invContextDomain(did: Did): void { this.rec('invContextDomain', did); }
  invContextDevice(did: Did, sid: Sid, fm: number): void { this.rec('invContextDevice', did, sid, fm); }
  invIotlbGlobal(): void { this.rec('invIotlbGlobal'); }
  invIotlbDomain(did: Did): void { this.rec('invIotlbDomain', did); }
  invIotlbPage(did: Did, addr: Iova, am: number, ih: number): void { this.rec('invIotlbPage', did, addr, am, ih); }
  invPasidIotlb(did: Did, pasid: Pasid): void { this.rec('invPasidIotlb', did, pasid); }
  invPasidIotlbPage(did: Did, pasid: Pasid, addr: Iova, am: number, ih: number): void {
    this.rec('invPasidIotlbPage', did, pasid, addr, am, ih);
  }
  invPasidCache(g: number, did: Did, pasid: Pasid): void { this.rec('invPasidCache', g, did, pasid); }
  invIotlbPageRaw(did: Did, hi: number, lo: number, am: number, ih: number): void {
    this.invIotlbPage(did, (BigInt(hi) << 32n) | BigInt(lo), am, ih);
  }
  invPasidIotlbPageRaw(did: Did, pasid: Pasid, hi: number, lo: number, am: number, ih: number): void {
    this.invPasidIotlbPage(did, pasid, (BigInt(hi) << 32n) | BigInt(lo), am, ih);
  }
}

/** Options of `makeQiRig`. */
export interface QiRigOptions {
  profile?: string;
  iommu?: Partial<IommuOptions>;
  ramBytes?: number;
  /** TTM latched at SRTP: scalable (true, the default) or legacy; or a getter. */
  scalable?: boolean | (() => boolean);
  /** Device-TLB SIDs that never answer (time-out). */
  deadDevices?: number[];
}

/** A queue wired to a fake unit, plus everything a test inspects. */
export interface QiRig {
  q: InvalidationQueue;
  host: QiHost;
  regs: RegisterFile;
  mem: FakeMemory;
  core: RecordingCore;
  devTlb: Parameters<QiHost['deviceTlbInvalidate']>[0][];
  responses: Parameters<QiHost['pageGroupResponse']>[0][];
  /** Interrupt-entry cache invalidations, in order. */
  iec: Parameters<QiHost['invalidateInterruptEntries']>[0][];
  logs: string[];
  /** Internal errors reported (model bugs: a handler threw). */
  internalErrors: string[];
  /** Fault-event / invalidation-event messages sent (IM=0). */
  msis: string[];
}

/** Builds a queue over a fake host (fault-event rule: IP set on a new FSTS error bit). */
export function makeQiRig(o: QiRigOptions = {}): QiRig {
  const profile = createProfile(o.profile ?? 'default', o.iommu ?? {});
  const regs = new RegisterFile(profile);
  const mem = new FakeMemory(o.ramBytes ?? 1 << 20);
  const core = new RecordingCore();
  const rig = { regs, mem, core, devTlb: [], responses: [], iec: [], logs: [], internalErrors: [], msis: [] } as unknown as QiRig;
  const raise = (ctl: 'FECTL' | 'IECTL', name: string): void => {
    const v = regs.get(ctl);
    if (v & BigInt(ECTL.IM)) regs.set(ctl, v | BigInt(ECTL.IP));
    else rig.msis.push(name);
  };
  rig.host = {
    core: core as unknown as QiHost['core'],
    mem: mem as unknown as QiHost['mem'],
    profile, regs,
    scalableMode: () => (typeof o.scalable === 'function' ? o.scalable() : o.scalable ?? true),
    setFaultStatus(bit) {
      const before = regs.get('FSTS');
      regs.set('FSTS', before | BigInt(FSTS[bit]));
      if (!(before & BigInt(FSTS.IQE | FSTS.ICE | FSTS.ITE | FSTS.PFO | FSTS.PPF))) raise('FECTL', 'fault');
    },
    invalidationEvent() {
      if (regs.get('ICS') & 1n) return;
      regs.set('ICS', 1n);
      raise('IECTL', 'invalidation');
    },
    deviceTlbInvalidate(req) {
      rig.devTlb.push(req);
      return o.deadDevices?.includes(req.sid) ? 'timeout' : 'done';
    },
    pageGroupResponse(resp) { rig.responses.push(resp); },
    invalidateInterruptEntries(scope) { rig.iec.push(scope); },
    log(msg) { rig.logs.push(msg); },
    internalError(where, err) { rig.internalErrors.push(`${where}: ${err instanceof Error ? err.message : String(err)}`); },
  };
  rig.q = new InvalidationQueue(rig.host);
  return rig;
}

/** Writes descriptors (arrays of 2 or 4 qwords) into the queue at `base`, from slot `first`. */
export function putDescriptors(mem: FakeMemory, base: bigint, first: number, wide: boolean, descs: readonly (readonly bigint[])[]): void {
  const size = wide ? 32 : 16;
  descs.forEach((d, i) => {
    for (let w = 0; w < size / 8; w++) mem.writeU64(base + BigInt((first + i) * size + w * 8), d[w] ?? 0n);
  });
}

/** Clears FSTS bits as a guest's W1C write would, then tells the queue (the unit's FSTS hook). */
export function clearFsts(rig: QiRig, bits: number): void {
  rig.regs.set('FSTS', rig.regs.get('FSTS') & ~BigInt(bits));
  rig.q.resume();
}
