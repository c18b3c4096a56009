/**
 * SMMUv3 guest-driver idioms as scenario steps (guest memory and MMIO only,
 * so QEMU and the model run the same program): the register offsets of the
 * frame (IHI 0070 §6.2), stream table / command queue / event queue setup
 * the way Linux's arm-smmu-v3 does it, commands with a CMD_SYNC, STEs and
 * CDs written through the guest encoders of host/src/guest/smmu, the
 * observation of event records, and VMSAv8-64 translation tables of any
 * granule built in guest memory.
 */
import { C, encodeCd, encodeSte, CONFIG, l1std } from '../../host/src/guest/smmu/structures.js';
import type { ScenarioBuilder } from './scenario-builder.js';

/** Register offsets (§6.2; EVENTQ_PROD/CONS in page 1). */
export const SR = {
  IDR0: 0x00, IDR1: 0x04, IDR2: 0x08, IDR3: 0x0c, IDR4: 0x10, IDR5: 0x14, IIDR: 0x18, AIDR: 0x1c, CR0: 0x20, CR0ACK: 0x24,
  CR1: 0x28, CR2: 0x2c, STATUSR: 0x40, GBPA: 0x44, AGBPA: 0x48, IRQ_CTRL: 0x50, IRQ_CTRLACK: 0x54, GERROR: 0x60, GERRORN: 0x64,
  GERROR_IRQ_CFG0: 0x68, STRTAB_BASE: 0x80, STRTAB_BASE_CFG: 0x88, CMDQ_BASE: 0x90, CMDQ_PROD: 0x98, CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0, EVENTQ_IRQ_CFG0: 0xb0, EVENTQ_PROD: 0x100a8, EVENTQ_CONS: 0x100ac,
} as const;

/** Guest-physical layout of the SMMU families (virt RAM starts at 1 GiB). */
export const SGPA = {
  RAM: 0x4000_0000n,
  STRTAB: 0x4010_0000n,
  CMDQ: 0x4011_0000n,
  EVTQ: 0x4012_0000n,
  /** 2-level stream table: level-2 tables from here, 64 KiB apart. */
  L2: 0x4020_0000n,
  /** Context-descriptor tables. */
  CD: 0x4030_0000n,
  /** Translation tables are allocated from here upward. */
  TABLES: 0x4040_0000n,
  /** Data pages. */
  DATA: 0x4100_0000n,
  /** Pages devices write to. */
  SINK: 0x4180_0000n,
} as const;

/** Devices on the root complex (00:00.0 is the host bridge). */
export const SDEVICES = ['00:03.0', '00:04.0'] as const;
/** The StreamID of `bdf` (IORT identity: the requester id). */
export function streamOf(bdf: string): number {
  return (parseInt(bdf.slice(3, 5), 16) << 3) | parseInt(bdf.slice(6), 10);
}

/** CR0 bits (§6.3.9). */
export const CR0 = { SMMUEN: 1, EVENTQEN: 4, CMDQEN: 8 } as const;

/** Queue geometry the families use. */
const CMDQ_LOG2 = 6;
const EVTQ_LOG2 = 5;

/** A guest SMMU driver writing scenario steps: its queue pointers live here, as in a driver. */
export class SmmuGuest {
  private cmdProd = 0;
  private split = 0;
  private readonly l2 = new Map<number, bigint>();

  constructor(readonly b: ScenarioBuilder) {}

  /** Stream table (linear 2^sidBits, or 2-level with `split`), queues, CR0 = queues then SMMUEN (unless `noEnable`). */
  init(o: { sidBits?: number; split?: number; noEnable?: boolean } = {}): this {
    const b = this.b;
    const sidBits = o.sidBits ?? 8;
    this.split = o.split ?? 0;
    const tableBytes = this.split ? 8 * 2 ** (sidBits - this.split) : 64 * 2 ** sidBits;
    for (let off = 0; off < tableBytes; off += 4096) b.page(SGPA.STRTAB + BigInt(off));
    b.page(SGPA.CMDQ).page(SGPA.EVTQ);
    b.mmioWrite(SR.STRTAB_BASE, 8, SGPA.STRTAB);
    b.mmioWrite(SR.STRTAB_BASE_CFG, 4, this.split ? (1 << 16) | (this.split << 6) | sidBits : sidBits);
    b.mmioWrite(SR.CMDQ_BASE, 8, SGPA.CMDQ | BigInt(CMDQ_LOG2));
    b.mmioWrite(SR.CMDQ_PROD, 4, 0).mmioWrite(SR.CMDQ_CONS, 4, 0);
    b.mmioWrite(SR.EVENTQ_BASE, 8, SGPA.EVTQ | BigInt(EVTQ_LOG2));
    b.mmioWrite(SR.EVENTQ_PROD, 4, 0).mmioWrite(SR.EVENTQ_CONS, 4, 0);
    b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.EVENTQEN).mmioRead(SR.CR0ACK, 4);
    this.submit([C.cfgiAll(), C.tlbiNsnhAll()]);
    if (!o.noEnable) b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN).mmioRead(SR.CR0ACK, 4);
    return this;
  }

  /** Appends commands and (by default) a CMD_SYNC with no signal, rings CMDQ_PROD and reads CMDQ_CONS back. */
  submit(cmds: readonly bigint[][], sync = true): this {
    const all = sync ? [...cmds, C.sync(0)] : cmds;
    for (const c of all) {
      this.b.memWrite(SGPA.CMDQ + BigInt((this.cmdProd & ((1 << CMDQ_LOG2) - 1)) * 16), c);
      this.cmdProd = (this.cmdProd + 1) & ((2 << CMDQ_LOG2) - 1);
    }
    this.b.mmioWrite(SR.CMDQ_PROD, 4, this.cmdProd).mmioRead(SR.CMDQ_CONS, 4);
    return this;
  }

  /** After a command error: skip the bad command with the queue disabled, acknowledge GERROR, re-enable. */
  recoverCommandError(badIndex: number, cr0: number): this {
    this.b.mmioWrite(SR.CR0, 4, cr0 & ~CR0.CMDQEN).mmioRead(SR.CR0ACK, 4);
    this.b.mmioWrite(SR.CMDQ_CONS, 4, (badIndex + 1) & ((2 << CMDQ_LOG2) - 1));
    this.b.mmioRead(SR.GERROR, 4);
    this.b.mmioWrite(SR.GERRORN, 4, 1);
    this.b.mmioWrite(SR.CR0, 4, cr0).mmioRead(SR.CR0ACK, 4);
    return this;
  }

  /** The command index a driver's next command goes to. */
  get nextCommand(): number {
    return this.cmdProd;
  }

  /** Address of `sid`'s STE; 2-level: its level-2 table is written (and the L1 descriptor with `span`) on first use. */
  steAddr(sid: number, span = this.split + 1): bigint {
    if (!this.split) return SGPA.STRTAB + BigInt(sid) * 64n;
    const i = sid >>> this.split;
    let l2 = this.l2.get(i);
    if (l2 === undefined) {
      l2 = SGPA.L2 + BigInt(this.l2.size) * 0x1_0000n;
      this.l2.set(i, l2);
      for (let off = 0; off < 64 * 2 ** this.split; off += 4096) this.b.page(l2 + BigInt(off));
      this.b.memWrite(SGPA.STRTAB + BigInt(i) * 8n, [l1std(l2, span)]);
    }
    return l2 + BigInt(sid & ((1 << this.split) - 1)) * 64n;
  }

  /** Writes an STE and invalidates it (CFGI_STE + CMD_SYNC) unless `invalidate` is false. */
  setSte(sid: number, fields: Parameters<typeof encodeSte>[0], invalidate = true): this {
    this.b.memWrite(this.steAddr(sid), encodeSte(fields));
    if (invalidate) this.submit([C.cfgiSte(sid)]);
    return this;
  }

  /** Writes CD `index` of a linear CD table at `table`. */
  setCd(table: bigint, index: number, fields: Parameters<typeof encodeCd>[0]): this {
    this.b.memWrite(table + BigInt(index) * 64n, encodeCd(fields));
    return this;
  }

  /**
   * Observes the event queue: EVENTQ_PROD and the first `slots` records,
   * then empties it the way a driver may while the queue is off (EVENTQEN
   * = 0: PROD = CONS = 0, records zeroed) and turns it back on. A fault may
   * record several events (QEMU), so the queue restarts at slot 0 each time.
   */
  readEvents(slots = 4): this {
    const b = this.b;
    b.mmioRead(SR.EVENTQ_PROD, 4);
    for (let i = 0; i < slots; i++) b.memRead(SGPA.EVTQ + BigInt(i * 32), 32);
    b.mmioRead(SR.GERROR, 4);
    b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.SMMUEN).mmioRead(SR.CR0ACK, 4);
    b.mmioWrite(SR.EVENTQ_PROD, 4, 0).mmioWrite(SR.EVENTQ_CONS, 4, 0).memFill(SGPA.EVTQ, 32 * 32, 0);
    b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN).mmioRead(SR.CR0ACK, 4);
    return this;
  }
}

/** A stage-1 CD over TTB0 only (TTB1 disabled), as Linux writes one, with overrides. */
export function cd(ttb0: bigint, asid: number, o: Partial<Parameters<typeof encodeCd>[0]> = {}): Parameters<typeof encodeCd>[0] {
  return { T0SZ: 16, TG0: 0, EPD1: true, V: true, IPS: 5, AA64: true, R: true, A: true, ASET: true, ASID: asid, TTB0: ttb0, IR0: 1, OR0: 1, SH0: 3, MAIR: 0x44ff04, ...o };
}

/** An S1 STE for `cdTable`. */
export function s1Ste(cdTable: bigint, o: Partial<Parameters<typeof encodeSte>[0]> = {}): Parameters<typeof encodeSte>[0] {
  return { V: true, Config: CONFIG.S1, S1ContextPtr: cdTable, ...o };
}

/** VMSAv8-64 descriptor bits the families write (Arm ARM D8.3). */
export const DESC = {
  VALID: 1n, TABLE: 2n, AF: 1n << 10n, SH_INNER: 3n << 8n, ATTR1: 1n << 2n,
  S1_RO: 1n << 7n, S1_EL0: 1n << 6n, PXN: 1n << 53n, XN: 1n << 54n,
  S2_R: 1n << 6n, S2_W: 1n << 7n, S2_MEMATTR: 0xfn << 2n,
} as const;

/** A translation table tree of one granule in guest memory, built by scenario steps. */
export class ArmTree {
  private next: bigint;
  readonly root: bigint;
  /** Arm level of the root table. */
  readonly start: number;
  private readonly rootBits: number;
  private readonly tables = new Map<string, bigint>();
  /** Descriptor address per `${va}:${level}` (families corrupt them). */
  readonly at = new Map<string, bigint>();

  /**
   * @param granLg2 12, 14 or 16.
   * @param inputBits 64 - TxSZ.
   * @param start the start level (stage 2); default: the fewest levels.
   * @param ptrOffset added to the table addresses written into descriptors (nesting: tables hold IPAs, not PAs).
   */
  constructor(private readonly b: ScenarioBuilder, base: bigint, readonly granLg2: 12 | 14 | 16, readonly inputBits: number, start?: number, private readonly ptrOffset = 0n) {
    const stride = granLg2 - 3;
    const levels = Math.ceil((inputBits - granLg2) / stride);
    this.start = start ?? 4 - levels;
    this.rootBits = inputBits - (granLg2 + stride * (3 - this.start));
    const rootBytes = BigInt(Math.max(8 << this.rootBits, 1 << granLg2));
    this.next = (base + rootBytes - 1n) & ~(rootBytes - 1n);
    this.root = this.next;
    this.next += rootBytes;
    for (let off = 0n; off < rootBytes; off += 4096n) b.page(this.root + off);
  }

  private alloc(): bigint {
    const size = 1n << BigInt(this.granLg2);
    const t = (this.next + size - 1n) & ~(size - 1n);
    this.next = t + size;
    for (let off = 0n; off < size; off += 4096n) this.b.page(t + off);
    return t;
  }

  private index(va: bigint, level: number): bigint {
    const bits = level === this.start ? this.rootBits : this.granLg2 - 3;
    return (va >> BigInt(this.granLg2 + (this.granLg2 - 3) * (3 - level))) & ((1n << BigInt(bits)) - 1n);
  }

  /** Maps `va` to `pa` with a leaf at Arm level `leafLevel` (3 = page) carrying `attrs` (plus valid, and table/page). */
  map(va: bigint, pa: bigint, attrs: bigint, leafLevel = 3, tableAttrs = 0n): void {
    let table = this.root;
    for (let level = this.start; level < leafLevel; level++) {
      const idx = this.index(va, level);
      const key = `${table}:${idx}`;
      let child = this.tables.get(key);
      if (child === undefined) {
        child = this.alloc();
        this.tables.set(key, child);
        this.b.memWrite(table + idx * 8n, [(child + this.ptrOffset) | DESC.VALID | DESC.TABLE | tableAttrs]);
      }
      this.at.set(`${va}:${level}`, table + idx * 8n);
      table = child;
    }
    const at = table + this.index(va, leafLevel) * 8n;
    this.at.set(`${va}:${leafLevel}`, at);
    this.b.memWrite(at, [pa | attrs | DESC.VALID | (leafLevel === 3 ? DESC.TABLE : 0n)]);
  }
}

/** Stage-1 leaf attributes: normal memory, inner shareable, AF, EL0 access, writable. */
export const S1_RW = DESC.ATTR1 | DESC.SH_INNER | DESC.AF | DESC.S1_EL0;
/** Stage-2 leaf attributes: normal WB, inner shareable, AF, read and write. */
export const S2_RW = DESC.S2_MEMATTR | DESC.SH_INNER | DESC.AF | DESC.S2_R | DESC.S2_W;

/** The FORMAT.md machine block of an SMMUv3 scenario. */
export function smmuMachine(profile: string, devices: readonly string[] = [SDEVICES[0]]): object {
  return { profile, ram_mib: 128, iommu: { type: 'smmuv3' }, devices: devices.map((bdf) => ({ bdf, kind: 'dma-test' })) };
}

/** 16 recognisable qwords at `gpa`. */
export function pattern(b: ScenarioBuilder, gpa: bigint, tag: number): void {
  b.memWrite(gpa, Array.from({ length: 16 }, (_, i) => (BigInt(tag) << 24n) | 0x5a0000n | BigInt(i)));
}
