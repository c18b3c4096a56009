/**
 * A guest interrupt-remapping driver, programmed the way Linux's
 * drivers/iommu/intel/irq_remapping.c does it: an interrupt remapping table
 * (IRT) in guest RAM, IRTA + GCMD.SIRTP (then a global interrupt-entry-cache
 * invalidation unless CAP.ESIRTPS), GCMD.IRE; IRTEs allocated in aligned
 * blocks, written, and invalidated index-selectively through the queue; MSI
 * address/data in the remappable format. Only MMIO and guest RAM are used.
 * Register offsets and bits, and the IEC descriptor, come from the spec layer
 * (host/src/vtd/spec/); the IRTE and MSI encodings (§5.1.2, §9.10) are the
 * guest's, written from the spec.
 */
import { iecDesc, IEC_DESC } from '../vtd/spec/descriptors.js';
import { CAP, ECAP, GCMD, REG } from '../vtd/spec/registers.js';
import type { GuestEnv } from './guest-iommu.js';
import type { GuestQueue } from './invalidation-queue.js';
import type { Sid } from '../types.js';

const B = BigInt;

/** An IRTE for remapped interrupts (§9.10), field by field. */
export interface IrteSpec {
  readonly vector: number;
  /** APIC id: 8-bit in xAPIC mode, 32-bit in x2APIC mode. */
  readonly destination: number;
  readonly present?: boolean;
  readonly fpd?: boolean;
  readonly logical?: boolean;
  readonly redirectionHint?: boolean;
  readonly levelTriggered?: boolean;
  readonly deliveryMode?: number;
  /** Source validation: SVT (0 none, 1 SID under the SQ mask, 2 bus range), SQ, SID. */
  readonly svt?: number;
  readonly sq?: number;
  readonly sid?: Sid;
  /** Raw bits ORed into qw0 / qw1 (to set reserved fields on purpose). */
  readonly extra?: readonly [bigint, bigint];
}

/** Encodes an IRTE; `x2apic` puts the destination in 63:32, else the 8-bit id in 47:40. */
export function encodeIrte(e: IrteSpec, x2apic: boolean): [bigint, bigint] {
  const dst = x2apic ? B(e.destination >>> 0) << 32n : B(e.destination & 0xff) << 40n;
  const qw0 = (e.present === false ? 0n : 1n) | (e.fpd ? 2n : 0n) | (e.logical ? 4n : 0n) | (e.redirectionHint ? 8n : 0n)
    | (e.levelTriggered ? 0x10n : 0n) | (B((e.deliveryMode ?? 0) & 7) << 5n) | (B(e.vector & 0xff) << 16n) | dst;
  const qw1 = B((e.sid ?? 0) & 0xffff) | (B((e.sq ?? 0) & 3) << 16n) | (B((e.svt ?? 0) & 3) << 18n);
  return [qw0 | (e.extra?.[0] ?? 0n), qw1 | (e.extra?.[1] ?? 0n)];
}

/**
 * A remappable-format MSI (§5.1.2.2): address 0xFEE in 31:20, handle[14:0]
 * in 19:5, format bit 4, SHV bit 3, handle[15] in bit 2; data = subhandle.
 */
export function remappableMsi(handle: number, o: { shv?: boolean; subhandle?: number } = {}): { address: bigint; data: number } {
  const address = 0xfee0_0000n | (B(handle & 0x7fff) << 5n) | 0x10n | (o.shv ? 0x8n : 0n) | (B((handle >> 15) & 1) << 2n);
  return { address, data: o.shv ? (o.subhandle ?? 0) & 0xffff : 0 };
}

/** A compatibility-format MSI (§5.1.2.1): destination in address 19:12, vector in data 7:0. */
export function compatMsi(destination: number, vector: number): { address: bigint; data: number } {
  return { address: 0xfee0_0000n | (B(destination & 0xff) << 12n), data: vector & 0xff };
}

/** Options of the driver. */
export interface GuestIrOptions {
  /** log2 of the table's entries, 1..16 (IRTA.S + 1). Default 8 (256 entries, one page). */
  readonly entriesLg2?: number;
  /** x2APIC mode (IRTA.EIME). */
  readonly x2apic?: boolean;
}

/** The guest's interrupt remapping for one unit; needs the queue for IEC invalidations. */
export class GuestInterruptRemapping {
  readonly table: bigint;
  readonly entries: number;
  readonly x2apic: boolean;
  private readonly used = new Set<number>();

  constructor(readonly env: GuestEnv, readonly qi: GuestQueue, o: GuestIrOptions = {}) {
    const lg2 = o.entriesLg2 ?? 8;
    if (lg2 < 1 || lg2 > 16) throw new Error(`entriesLg2: ${lg2} is not in 1..16`);
    this.entries = 1 << lg2;
    this.x2apic = o.x2apic ?? false;
    const pages = Math.max(1, (this.entries * 16) / 4096);
    this.table = env.alloc.allocContiguous(pages);
  }

  /** True when the unit reports interrupt remapping (and x2APIC mode if asked for). */
  supported(): boolean {
    const ecap = this.qi.drv.ecap;
    return (ecap & ECAP.IR) !== 0n && (!this.x2apic || (ecap & ECAP.EIM) !== 0n);
  }

  /** Linux intel_setup_irq_remapping + enable: IRTA, SIRTP, global IEC (unless ESIRTPS), IRE; returns GSTS. */
  enable(): number {
    this.setTablePointer();
    return this.qi.drv.command(GCMD.IRE, true);
  }

  /** IRTA = base | EIME | S, GCMD.SIRTP (polls IRTPS), then a global IEC invalidation unless CAP.ESIRTPS. */
  setTablePointer(): number {
    const s = Math.log2(this.entries) - 1;
    this.qi.drv.write64(REG.IRTA, this.table | (this.x2apic ? 1n << 11n : 0n) | B(s));
    const gsts = this.qi.drv.command(GCMD.SIRTP);
    if ((this.qi.drv.cap & CAP.ESIRTPS) === 0n) this.qi.submitSync([iecDesc(IEC_DESC.G_GLOBAL)]);
    return gsts;
  }

  /** Turns interrupt remapping off; returns GSTS. */
  disable(): number {
    return this.qi.drv.command(GCMD.IRE, false);
  }

  /** GCMD.CFI: compatibility-format interrupts pass through (on) or are blocked; returns GSTS. */
  compatibilityFormat(on: boolean): number {
    return this.qi.drv.command(GCMD.CFI, on);
  }

  /** Allocates `count` (a power of two) free entries aligned to `count`; returns the first index. */
  alloc(count = 1): number {
    for (let i = 0; i + count <= this.entries; i += count) {
      let free = true;
      for (let j = 0; j < count && free; j++) free = !this.used.has(i + j);
      if (!free) continue;
      for (let j = 0; j < count; j++) this.used.add(i + j);
      return i;
    }
    throw new Error(`no ${count} free interrupt remapping entries`);
  }

  /** Writes the IRTE at `index` (RAM only: the unit may still use a cached copy). */
  write(index: number, e: IrteSpec): void {
    const [qw0, qw1] = encodeIrte(e, this.x2apic);
    const at = this.table + B(index * 16);
    this.env.mem.writeU64(at + 8n, qw1);
    this.env.mem.writeU64(at, qw0);
  }

  /** Writes the IRTE and invalidates its interrupt-entry cache line (Linux modify_irte). */
  set(index: number, e: IrteSpec): boolean {
    this.write(index, e);
    return this.invalidate(index);
  }

  /** Clears the IRTE (P=0) and invalidates it; frees the index. */
  clear(index: number): boolean {
    this.env.mem.writeU64(this.table + B(index * 16), 0n);
    this.env.mem.writeU64(this.table + B(index * 16) + 8n, 0n);
    this.used.delete(index);
    return this.invalidate(index);
  }

  /** Index-selective IEC invalidation of 2^im entries from `index` (Linux qi_flush_iec); true when the wait completed. */
  invalidate(index: number, im = 0): boolean {
    return this.qi.submitSync([iecDesc(IEC_DESC.G_INDEX, index, im)]);
  }

  /** Global IEC invalidation (Linux qi_global_iec). */
  invalidateAll(): boolean {
    return this.qi.submitSync([iecDesc(IEC_DESC.G_GLOBAL)]);
  }

  /** GSTS. */
  status(): number {
    return this.qi.drv.read32(REG.GSTS);
  }
}
