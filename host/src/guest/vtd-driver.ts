/**
 * A guest VT-d driver: programs a remapping unit only through its MMIO
 * registers and guest RAM, the way an OS driver does (Linux
 * drivers/iommu/intel/ is the model for the sequences). Register offsets and
 * bits come from the spec layer (host/src/vtd/spec/registers.ts), the one
 * home of those numbers; they are held against real hardware behaviour by
 * the QEMU recordings the golden replays check (raw offsets and values).
 */
import { CAP, CCMD, ECAP, FRCD, GCMD, GCMD_PERSISTENT, IOTLB, REG } from '../vtd/spec/registers.js';
import { did as checkDid, iova as checkIova, sid as checkSid, type Did, type Gpa, type Iova, type Sid } from '../types.js';

/** What the driver needs from a platform: MMIO at physical addresses and guest RAM. */
export interface GuestPlatform {
  mmioRead(addr: Gpa, size: 4 | 8): bigint;
  mmioWrite(addr: Gpa, size: 4 | 8, value: bigint): void;
}

/** A decoded fault record (§11.4.7.6). */
export interface GuestFaultRecord {
  readonly index: number;
  readonly addr: Iova;
  readonly sid: Sid;
  readonly reason: number;
  readonly read: boolean;
  readonly pp: boolean;
  readonly pv: number;
  /** The raw high qword. */
  readonly hi: bigint;
}

/** Decodes FRCD qwords (§11.4.7.6). */
export function decodeFaultRecord(index: number, lo: bigint, hi: bigint): GuestFaultRecord {
  return {
    index, addr: lo & ~0xfffn, sid: Number(hi & 0xffffn), reason: Number((hi >> FRCD.FR_SHIFT) & 0xffn),
    read: (hi & FRCD.T) !== 0n, pp: (hi & FRCD.PP) !== 0n, pv: Number((hi >> FRCD.PV_SHIFT) & 0xfffffn), hi,
  };
}

/** The driver for one remapping unit at `base`. */
export class VtdDriver {
  constructor(readonly platform: GuestPlatform, readonly base: bigint = 0xfed9_0000n) {}

  read32(off: number): number {
    return Number(this.platform.mmioRead(this.base + BigInt(off), 4));
  }
  read64(off: number): bigint {
    return this.platform.mmioRead(this.base + BigInt(off), 8);
  }
  write32(off: number, v: number): void {
    this.platform.mmioWrite(this.base + BigInt(off), 4, BigInt(v >>> 0));
  }
  write64(off: number, v: bigint): void {
    this.platform.mmioWrite(this.base + BigInt(off), 8, v);
  }

  get cap(): bigint {
    return this.read64(REG.CAP);
  }
  get ecap(): bigint {
    return this.read64(REG.ECAP);
  }
  /** Offset of FRCD[0] (CAP.FRO * 16). */
  get frcdOffset(): number {
    return CAP.fro(this.cap) * 16;
  }
  /** Number of fault recording registers (CAP.NFR + 1). */
  get frcdCount(): number {
    return CAP.nfr(this.cap) + 1;
  }
  /** Offset of IVA (ECAP.IRO * 16); IOTLB at +8. */
  get ivaOffset(): number {
    return ECAP.iro(this.ecap) * 16;
  }

  /** Issues one GCMD command, preserving the other persistent enables from GSTS (Linux style). */
  command(bit: number, on = true): number {
    const persistent = this.read32(REG.GSTS) & GCMD_PERSISTENT;
    const value = on ? persistent | bit : persistent & ~bit;
    this.write32(REG.GCMD, value);
    return this.read32(REG.GSTS);
  }

  /** Programs RTADDR (table address | TTM << 10) and issues SRTP; returns GSTS. */
  setRootTable(rta: bigint, mode: 'legacy' | 'scalable' = 'legacy'): number {
    this.write64(REG.RTADDR, rta | (mode === 'scalable' ? 1n << 10n : 0n));
    return this.command(GCMD.SRTP);
  }

  /** Turns translation on (TE); returns GSTS. */
  enableTranslation(): number {
    return this.command(GCMD.TE, true);
  }

  /** Turns translation off; returns GSTS. */
  disableTranslation(): number {
    return this.command(GCMD.TE, false);
  }

  /** CCMD global invalidation; returns the CCMD value read back. */
  contextInvalidateGlobal(): bigint {
    return this.ccmd(1n << 61n);
  }
  /** CCMD domain-selective invalidation. */
  contextInvalidateDomain(did: Did): bigint {
    return this.ccmd((2n << 61n) | BigInt(checkDid(did)));
  }
  /** CCMD device-selective invalidation with function mask `fm`. */
  contextInvalidateDevice(did: Did, sid: Sid, fm = 0): bigint {
    return this.ccmd((3n << 61n) | (BigInt(fm & 3) << 32n) | (BigInt(checkSid(sid)) << 16n) | BigInt(checkDid(did)));
  }

  private ccmd(v: bigint): bigint {
    this.write64(REG.CCMD, CCMD.ICC | v);
    return this.read64(REG.CCMD);
  }

  /** IOTLB global invalidation (with read/write drain); returns the IOTLB register. */
  iotlbInvalidateGlobal(): bigint {
    return this.iotlb(1n << 60n);
  }
  /** IOTLB domain-selective invalidation. */
  iotlbInvalidateDomain(did: Did): bigint {
    return this.iotlb((2n << 60n) | (BigInt(checkDid(did)) << 32n));
  }
  /** IOTLB page-selective invalidation of 2^am pages at addr. */
  iotlbInvalidatePage(did: Did, addr: Iova, am = 0, ih = false): bigint {
    checkDid(did);
    this.write64(this.ivaOffset, checkIova(addr, 'addr') | (ih ? 1n << 6n : 0n) | BigInt(am));
    return this.iotlb((3n << 60n) | (BigInt(did) << 32n));
  }

  private iotlb(v: bigint): bigint {
    const off = this.ivaOffset + 8;
    this.write64(off, IOTLB.IVT | (3n << 48n) | v); // DR | DW
    return this.read64(off);
  }

  /** FSTS value. */
  faultStatus(): number {
    return this.read32(REG.FSTS);
  }

  /**
   * Services pending faults as Linux's dmar_fault does: from FSTS.FRI, walk
   * the records while F=1 (wrapping), clear each F, then W1C PFO|PPF.
   */
  readFaults(): GuestFaultRecord[] {
    const out: GuestFaultRecord[] = [];
    const fsts = this.faultStatus();
    if (fsts & 2) {
      let i = (fsts >> 8) & 0xff;
      for (let n = 0; n < this.frcdCount; n++) {
        const off = this.frcdOffset + 16 * i;
        const hi = this.read64(off + 8);
        if (!(hi >> 63n)) break;
        out.push(decodeFaultRecord(i, this.read64(off), hi));
        this.write32(off + 12, 0x8000_0000);
        i = (i + 1) % this.frcdCount;
      }
    }
    this.write32(REG.FSTS, 0x3);
    return out;
  }

  /** Programs the fault-event MSI and unmasks it. */
  setupFaultEvent(address: Gpa, data: number): void {
    this.write32(REG.FEDATA, data);
    this.write32(REG.FEADDR, Number(address & 0xffff_fffcn));
    this.write32(REG.FEUADDR, Number(address >> 32n));
    this.write32(REG.FECTL, 0);
  }
}
