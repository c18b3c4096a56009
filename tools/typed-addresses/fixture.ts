/**
 * Signatures count.test.ts reads to show the counter tells raw from typed
 * parameters (not part of the package).
 */
import type { Did, Gpa, Iova, Pasid, Sid } from '../../host/src/types.js';

/** Raw: `iova` and `pasid`; typed: `gpa`; not counted: `len`, `iovaLo`. */
export function rawAndTyped(iova: bigint, gpa: Gpa, len: number, iovaLo: number, pasid?: number): void {
  void [iova, gpa, len, iovaLo, pasid];
}

/** An interface method, a function-typed property and a constructor. */
export interface Target {
  /** Raw `did`, typed `sid`. */
  invalidate(did: number, sid: Sid): void;
  /** Typed `did`, raw `addr`. */
  readonly onFault: (did: Did, addr: bigint) => void;
  /** A raw field. */
  readonly faultAddr: bigint;
  /** A typed field; `ioasId` is not counted. */
  readonly pasid?: Pasid;
  readonly ioasId: number;
}

/** A class: the constructor's raw `rid`, a public method's typed `iova`; private members are not read. */
export class Port {
  constructor(readonly rid: number) {}
  /** Typed. */
  dma(iova: Iova<number>, pasid: Pasid = 0): number { return this.hidden(iova) + pasid; }
  private hidden(addr: number): number { return addr; }
}
