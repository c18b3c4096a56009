/**
 * A small builder for `viommu-scenario/1` files: the guest-driver steps of
 * FORMAT.md (mem.*, mmio.*, dma.*) plus the few VT-d idioms every scenario
 * repeats (program RTADDR, SRTP, invalidate, TE, read and clear faults).
 * Used only by the scenario families in `families.ts` that are recorded on QEMU.
 */

/** One scenario step, exactly as FORMAT.md lists its fields. */
export type Step = Record<string, string | number | string[]>;

/** Register offsets used by the families (§11.4; QEMU's layout for IVA/IOTLB/FRCD). */
export const REG = {
  VER: 0x0, CAP: 0x8, ECAP: 0x10, GCMD: 0x18, GSTS: 0x1c, RTADDR: 0x20, CCMD: 0x28,
  FSTS: 0x34, FECTL: 0x38, FEDATA: 0x3c, FEADDR: 0x40, IQH: 0x80, IQT: 0x88, IQA: 0x90,
  ICS: 0x9c, IECTL: 0xa0, IQERCD: 0xb0, IVA: 0xf0, IOTLB: 0xf8, FRCD_LO: 0x220, FRCD_HI: 0x228,
} as const;

/** GCMD bits (§11.4.4.1). */
export const GCMD = { TE: 1n << 31n, SRTP: 1n << 30n, QIE: 1n << 26n } as const;

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
    this.mmioWrite(REG.CCMD, 8, 0xa000000000000000n);
    if (readBack) this.mmioRead(REG.CCMD, 8);
    this.mmioWrite(REG.IOTLB, 8, 0x9000000000000000n | (1n << 48n) | (1n << 49n));
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
  clearFaults(): this { return this.mmioWrite(REG.FRCD_HI + 4, 4, 0x80000000).mmioWrite(REG.FSTS, 4, 0x3); }

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
