/**
 * A small builder for `viommu-scenario/1` files: the guest-driver steps of
 * FORMAT.md (mem.*, mmio.*, dma.*) plus the few VT-d idioms every scenario
 * repeats (program RTADDR, SRTP, invalidate, TE, read and clear faults).
 * Used only by the scenario families in `families.ts` that are recorded on QEMU.
 * Register offsets and fields come from the model's spec layer.
 */
import { createProfile } from '../../host/src/vtd/profiles.js';
import {
  FRCD, FSTS, GCMD as SPEC_GCMD, GRAN, REG as SPEC_REG, RTADDR, TTM, ccmdCommand, iotlbCommand,
} from '../../host/src/vtd/spec/registers.js';

/** One scenario step, exactly as FORMAT.md lists its fields. */
export type Step = Record<string, string | number | string[]>;

/** QEMU's register placement (the same on 7.2 and 10.0): where CAP.FRO and ECAP.IRO put FRCD and IVA/IOTLB. */
const QEMU = createProfile('qemu-7.2');

/**
 * Register offsets used by the families: the spec's fixed ones (§11.4,
 * spec/registers.ts) plus IVA/IOTLB (§11.4.8, at ECAP.IRO * 16) and FRCD[0]
 * (§11.4.7.6, at CAP.FRO * 16) where QEMU puts them.
 */
export const REG = {
  ...SPEC_REG,
  IVA: QEMU.ivaOffset, IOTLB: QEMU.ivaOffset + 8, FRCD_LO: QEMU.frcdOffset, FRCD_HI: QEMU.frcdOffset + 8,
} as const;

/** A 32-bit register bit of the spec layer as the unsigned `bigint` a step writes (GCMD.TE is bit 31). */
const u32 = (bit: number): bigint => BigInt(bit >>> 0);

/** GCMD bits (§11.4.4.1, spec/registers.ts) as `bigint`, so commands can be or-ed with the enables a family keeps. */
export const GCMD = { TE: u32(SPEC_GCMD.TE), SRTP: u32(SPEC_GCMD.SRTP), QIE: u32(SPEC_GCMD.QIE) } as const;

/** RTADDR.TTM = 01 (scalable mode, §11.4.5), to or onto a root-table address. */
export const TTM_SCALABLE = BigInt(TTM.SCALABLE) << RTADDR.TTM_SHIFT;

const hex = (v: bigint | number) => `0x${BigInt(v).toString(16)}`;

/** Deterministic PRNG (mulberry32) so a family + seed always builds the same file. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  /** A float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }
  /** One element of `xs`. */
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  /** True with probability p. */
  chance(p: number): boolean { return this.next() < p; }
}

/** Collects steps; each method appends one FORMAT.md step or a short idiom. */
export class ScenarioBuilder {
  readonly steps: Step[] = [];

  memFill(gpa: bigint | number, len: number, byte: number): this {
    this.steps.push({ op: 'mem.fill', gpa: hex(gpa), len, byte }); return this;
  }
  memWrite(gpa: bigint | number, u64: (bigint | number)[]): this {
    this.steps.push({ op: 'mem.write', gpa: hex(gpa), u64: u64.map(hex) }); return this;
  }
  memRead(gpa: bigint | number, len: number): this {
    this.steps.push({ op: 'mem.read', gpa: hex(gpa), len }); return this;
  }
  mmioWrite(offset: number, size: 4 | 8, value: bigint | number): this {
    this.steps.push({ op: 'mmio.write', offset: hex(offset), size, value: hex(value) }); return this;
  }
  mmioRead(offset: number, size: 4 | 8): this {
    this.steps.push({ op: 'mmio.read', offset: hex(offset), size }); return this;
  }
  dmaRead(bdf: string, iova: bigint | number, len: number): this {
    this.steps.push({ op: 'dma.read', bdf, iova: hex(iova), len }); return this;
  }
  dmaWrite(bdf: string, iova: bigint | number, len: number): this {
    this.steps.push({ op: 'dma.write', bdf, iova: hex(iova), len }); return this;
  }
  /** The device sends one MSI (FORMAT.md "Interrupts"): its MSI capability programmed with `address` and 16-bit `data`. */
  msi(bdf: string, address: bigint | number, data: number): this {
    this.steps.push({ op: 'msi', bdf, address: hex(address), data: hex(data) }); return this;
  }
  /** Reads the pending vectors (IRR) of local APIC `apic`. */
  apicIrr(apic: number): this {
    this.steps.push({ op: 'apic.irr', apic }); return this;
  }

  /** A zeroed 4 KiB guest page. */
  page(gpa: bigint | number): this { return this.memFill(gpa, 4096, 0); }

  /** RTADDR + GCMD.SRTP, then read GSTS (as Linux does before invalidating). */
  setRootTable(rtaddr: bigint): this {
    return this.mmioWrite(REG.RTADDR, 8, rtaddr).mmioWrite(REG.GCMD, 4, GCMD.SRTP).mmioRead(REG.GSTS, 4);
  }
  /** Register-based global context-cache and IOTLB invalidation (§6.5.1), with read-backs. */
  globalInvalidateRegs(readBack = true): this {
    this.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.GLOBAL));
    if (readBack) this.mmioRead(REG.CCMD, 8);
    this.mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.GLOBAL, 0, { dr: true, dw: true }));
    if (readBack) this.mmioRead(REG.IOTLB, 8);
    return this;
  }
  /** GCMD.TE with the other persistent bits given in `keep`. */
  enableTranslation(keep = 0n): this { return this.mmioWrite(REG.GCMD, 4, GCMD.TE | keep).mmioRead(REG.GSTS, 4); }
  /** The fault state a driver's handler reads: FSTS, FECTL, FRCD (both qwords). */
  readFaultState(): this {
    return this.mmioRead(REG.FSTS, 4).mmioRead(REG.FECTL, 4).mmioRead(REG.FRCD_LO, 8).mmioRead(REG.FRCD_HI, 8);
  }
  /** Linux-style clearing: W1C FRCD.F, then FSTS PFO|PPF. */
  clearFaults(): this { return this.mmioWrite(REG.FRCD_HI + 4, 4, FRCD.F >> 32n).mmioWrite(REG.FSTS, 4, FSTS.PFO | FSTS.PPF); }

  /** The finished scenario object. */
  build(name: string, description: string, machine: object): object {
    return { format: 'viommu-scenario/1', name, description, machine, steps: this.steps };
  }
}

/** The FORMAT.md machine block for the qemu-7.2 profile. */
export function machine72(opts: { scalable?: boolean; cm?: boolean; aw?: 39 | 48; devices?: string[] } = {}): object {
  return {
    profile: 'qemu-7.2',
    ram_mib: 256,
    iommu: { scalable_mode: opts.scalable ?? false, caching_mode: opts.cm ?? false, aw_bits: opts.aw ?? 39 },
    devices: (opts.devices ?? ['00:03.0']).map((bdf) => ({ bdf, kind: 'dma-test' })),
  };
}


/** A family's scenario on the `qemu-10.0` profile: same steps, name `gen-x-10-<seed>`. */
export function onQemu10Scenario(s: object): object {
  const sc = s as { name: string; machine: object };
  return { ...sc, name: sc.name.replace(/-(\d+)$/, '-10-$1'), machine: { ...sc.machine, profile: 'qemu-10.0' } };
}
