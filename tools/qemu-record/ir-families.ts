/**
 * Scenario families for interrupt remapping (VT-d chapter 5), recorded on
 * QEMU 7.2 and 10.0 (`-10-` names). A device (edu on QEMU) sends MSIs with
 * the `msi` step; what the guest sees is read back: the processors' pending
 * vectors (`apic.irr`, two processors), the fault recording registers
 * (interrupt-remapping faults 0x20-0x26, FI = interrupt_index), GSTS, and RAM
 * for an MSI written outside 0xFEEx_xxxx. One family per behaviour a
 * `HostQuirks.ir*` switch copies (docs/PROFILES.md), plus the platform the
 * observation relies on (`ir-apic`) and remapped delivery itself
 * (`ir-remap`).
 */
import { awForLevels, contextEntryAddress, encodeContextEntry } from '../../host/src/vtd/spec/context-entry.js';
import { IEC_DESC, iecDesc } from '../../host/src/vtd/spec/descriptors.js';
import { COMPAT, IRTA } from '../../host/src/vtd/spec/interrupt-remapping.js';
import { encodeIrte, remappableMsi, type IrteSpec } from '../../host/src/guest/interrupt-remapping.js';
import { GCMD as GCMD_BITS, REG as VTD_REG } from '../../host/src/vtd/spec/registers.js';
import { DEVICES, GPA, Queue, devfn, enableTranslation, legacyRoot, machine } from './guest.js';
import { SS } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder } from './scenario-builder.js';

/** GCMD bits of interrupt remapping (§11.4.4.1): IRE 25, SIRTP 24, CFI 23 (GSTS mirrors them as IRES, IRTPS, CFIS). */
const IR_GCMD = { IRE: BigInt(GCMD_BITS.IRE), SIRTP: BigInt(GCMD_BITS.SIRTP), CFI: BigInt(GCMD_BITS.CFI) } as const;
/** IRTA register offset (§11.4.10). */
const IRTA_REG = VTD_REG.IRTA;
/** Where the families put the interrupt remapping table (up to 1 MiB: 65536 entries). */
const IRT = 0x40_0000n;
/** Requester id of the first device (bus 0). */
const SID0 = devfn(DEVICES[0]);
/** Destinations that reach the machine's two processors: APIC 0, APIC 1, broadcast. */
const DESTS = [0, 1, 0xff] as const;

/** A family's guest: the builder, its random choices, and the state of GCMD it must keep. */
class IrGuest {
  readonly b = new ScenarioBuilder();
  readonly rng: Rng;
  /** GCMD enables in force (TE, QIE, IRE, CFI), rewritten with every command. */
  keep = 0n;
  x2apic = false;
  entries = 0;
  private vector = 0x30;

  constructor(seed: number) { this.rng = new Rng(seed); }

  /** A vector not used before in this scenario (so the accumulating IRR tells requests apart). */
  freshVector(): number {
    this.vector = this.vector === 0xfe ? 0x30 : this.vector + 1;
    return this.vector;
  }

  /** GCMD with the kept enables plus `bits`; GSTS read back. */
  command(bits: bigint): this {
    this.b.mmioWrite(REG.GCMD, 4, this.keep | bits).mmioRead(REG.GSTS, 4);
    return this;
  }

  /** Sets or clears a persistent enable (IRE, CFI, QIE, TE). */
  enable(bit: bigint, on: boolean): this {
    this.keep = on ? this.keep | bit : this.keep & ~bit;
    return this.command(0n);
  }

  /** IRTA (a zeroed table of 2^(s+1) entries at `base`, EIME) and SIRTP; IRTA read back. */
  latchTable(s: number, x2apic: boolean, base = IRT): this {
    this.entries = 2 ** (s + 1);
    this.x2apic = x2apic;
    this.b.memFill(IRT, Math.max(4096, this.entries * 16), 0);
    this.b.mmioWrite(IRTA_REG, 8, base | (x2apic ? IRTA.EIME : 0n) | BigInt(s)).mmioRead(IRTA_REG, 8);
    return this.command(IR_GCMD.SIRTP);
  }

  /** Writes IRTE `index`. */
  irte(index: number, e: IrteSpec, extra?: [bigint, bigint]): this {
    const [lo, hi] = encodeIrte({ ...e, extra }, this.x2apic);
    this.b.memWrite(IRT + BigInt(index) * 16n, [lo, hi]);
    return this;
  }

  /** A fixed-delivery IRTE with a fresh vector for one of the destinations; returns it with its vector. */
  goodIrte(): IrteSpec {
    const r = this.rng;
    return {
      vector: this.freshVector(), destination: r.pick(DESTS), levelTriggered: r.chance(0.3),
      redirectionHint: r.chance(0.2), deliveryMode: r.chance(0.8) ? 0 : 1,
    };
  }

  /** The device sends a remappable MSI for `index` (handle, or handle + subhandle with SHV). */
  remappable(index: number, shv = this.rng.chance(0.4)): this {
    const sub = shv ? this.rng.int(index + 1) : 0;
    const m = remappableMsi(index - sub, { shv, subhandle: sub });
    this.b.msi(DEVICES[0], m.address, m.data);
    return this;
  }

  /** What the guest sees after a request: both processors' IRR, the fault registers (cleared after). */
  observe(): this {
    this.b.apicIrr(0).apicIrr(1).readFaultState().clearFaults();
    return this;
  }

  /** Fault events to APIC 0 with a fresh vector: a recorded fault shows in the IRR too (§7.3, not remapped §5.1.6). */
  faultEvents(): this {
    this.b.mmioWrite(REG.FEDATA, 4, this.freshVector()).mmioWrite(REG.FEADDR, 4, 0xfee0_0000n).mmioWrite(REG.FECTL, 4, 0);
    return this;
  }

  build(name: string, description: string, m: object): object {
    return this.b.build(name, description, { ...m, cpus: 2 });
  }
}

/** A compatibility-format MSI (§5.1.2.1) of random destination, mode and vector. */
function compatMsi(g: IrGuest): { address: bigint; data: number } {
  const r = g.rng;
  const dest = r.pick([0, 1, 0xff, 0xff, 2, 0x80]);
  const logical = r.chance(0.15);
  const address = COMPAT.address({ destination: dest, logical, redirectionHint: r.chance(0.2) });
  // Not SMI, NMI or INIT (2, 4, 5): the reference's halted processor would take them (FORMAT.md).
  const mode = r.chance(0.6) ? 0 : r.pick([1, 1, 3, 6, 7]);
  const data = g.freshVector() | (mode << 8) | (r.chance(0.5) ? 1 << 14 : 0) | (r.chance(0.3) ? 1 << 15 : 0);
  return { address, data };
}

/**
 * The platform the `apic.irr` observation relies on, interrupt remapping off:
 * compatibility-format MSIs of every destination, destination mode, delivery
 * mode and trigger mode; MSIs written to RAM (a DMA write of the data, through
 * DMA remapping when TE is on: mapped, or faulting).
 */
export function irApic(seed: number): object {
  const g = new IrGuest(seed);
  const b = g.b;
  const te = g.rng.chance(0.5);
  if (te) { // a legacy context mapping IOVA 0x5000 to the RAM page 0x30_0000, nothing else
    legacyRoot(b);
    b.page(GPA.TABLES).page(GPA.TABLES + 0x1000n).page(GPA.TABLES + 0x2000n);
    b.memWrite(GPA.TABLES, [(GPA.TABLES + 0x1000n) | SS.RW]).memWrite(GPA.TABLES + 0x1000n, [(GPA.TABLES + 0x2000n) | SS.RW]);
    b.memWrite(GPA.TABLES + 0x2000n + 5n * 8n, [0x30_0000n | SS.RW]);
    b.memWrite(contextEntryAddress(GPA.CTX, SID0), encodeContextEntry({ P: true, SSPTPTR: GPA.TABLES, AW: awForLevels(3), DID: 1 }));
    enableTranslation(b, false);
    g.keep = GCMD.TE;
  }
  b.page(0x30_0000n);
  for (let i = 0; i < 16; i++) {
    if (g.rng.chance(0.75)) {
      const m = compatMsi(g);
      b.msi(DEVICES[0], m.address, m.data);
    } else {
      const at = BigInt(4 * g.rng.int(8));
      const iova = te && g.rng.chance(0.3) ? 0x6000n + at : (te ? 0x5000n : 0x30_0000n) + at;
      b.msi(DEVICES[0], iova, g.rng.int(0x10000)).memRead(0x30_0000n, 32);
      if (te) b.readFaultState().clearFaults();
    }
    if (g.rng.chance(0.4)) b.apicIrr(g.rng.int(2));
  }
  b.apicIrr(0).apicIrr(1);
  return g.build(`gen-ir-apic-${seed}`, 'MSIs without interrupt remapping: the pending vectors of each processor, MSIs written to RAM',
    machine('qemu-7.2', { aw: 39 }));
}

/**
 * Remapped delivery and the interrupt-remapping faults (§5.1.4.1): a table
 * of 2..256 entries (xAPIC or x2APIC mode), present IRTEs reached by handle
 * or handle + subhandle, optionally source-checked (SVT=01, SQ), beside
 * not-present entries (FPD 0/1), indices beyond the table, source-id
 * mismatches and a table outside RAM; DMA translation on or off, fault
 * events on or off.
 */
export function irRemap(seed: number): object {
  const g = new IrGuest(seed);
  const r = g.rng;
  if (r.chance(0.4)) { legacyRoot(g.b); enableTranslation(g.b, false); g.keep |= GCMD.TE; }
  if (r.chance(0.5)) g.faultEvents();
  g.latchTable(r.int(8), r.chance(0.3)).enable(IR_GCMD.IRE, true);
  const used = new Set<number>();
  const fresh = (): number => { let i; do i = r.int(g.entries); while (used.has(i) && used.size < g.entries); used.add(i); return i; };
  for (let n = 0; n < 10; n++) {
    const kind = r.pick(['ok', 'ok', 'ok', 'absent', 'beyond', 'sid', 'sid-ok']);
    if (kind === 'beyond') g.remappable(g.entries + r.int(64), false);
    else {
      const i = fresh();
      const sq = r.int(4);
      const ignored = [0, 4, 6, 7][sq]!; // function bits SQ lets differ (§9.10)
      const e = g.goodIrte();
      if (kind === 'absent') g.irte(i, { ...e, present: false, fpd: r.chance(0.4) });
      else if (kind === 'sid') g.irte(i, { ...e, svt: 1, sq, sid: SID0 ^ (r.pick([8, 0x100, 1, 2]) | 0), fpd: r.chance(0.3) });
      else if (kind === 'sid-ok') g.irte(i, { ...e, svt: 1, sq, sid: SID0 ^ (r.int(8) & ignored) });
      else g.irte(i, e);
      g.remappable(i);
    }
    g.observe();
  }
  if (r.chance(0.5)) { // the table moved outside RAM: every remappable request fails to read it (0x23)
    g.b.mmioWrite(IRTA_REG, 8, 0x7ff0_0000n).mmioRead(IRTA_REG, 8);
    g.command(IR_GCMD.SIRTP).remappable(0, false).observe();
  }
  g.enable(IR_GCMD.IRE, false).remappable(r.int(g.entries), false).observe();
  return g.build(`gen-ir-remap-${seed}`, 'remapped MSIs and interrupt-remapping faults: IRR, fault records',
    machine('qemu-7.2', { aw: r.pick([39, 48] as const) }));
}

/**
 * Present IRTEs with one field the spec reserves (§9.10): bits 14:12, 31:24,
 * 127:84, IM (the posted format, without CAP.PI), the xAPIC-mode destination
 * bits 39:32 and 63:48, SVT=11; or AVAIL, which is not reserved. FPD 0 or 1.
 */
export function irIrteReserved(seed: number): object {
  const g = new IrGuest(seed);
  const r = g.rng;
  g.faultEvents().latchTable(3, r.chance(0.3)).enable(IR_GCMD.IRE, true);
  // Destination bits 39:32 and 63:48 are reserved in xAPIC mode only (in x2APIC mode they name another APIC).
  const fields: [string, [bigint, bigint]][] = [
    ['14:12', [1n << BigInt(12 + r.int(3)), 0n]], ['31:24', [1n << BigInt(24 + r.int(8)), 0n]],
    ['127:84', [0n, 1n << BigInt(20 + r.int(44))]], ['IM', [1n << 15n, 0n]],
    ['SVT=11', [0n, 3n << 18n]], ['AVAIL', [BigInt(1 + r.int(15)) << 8n, 0n]],
    ...(g.x2apic ? [] : [
      ['dst 39:32', [1n << BigInt(32 + r.int(8)), 0n]], ['dst 63:48', [1n << BigInt(48 + r.int(16)), 0n]],
    ] as [string, [bigint, bigint]][]),
  ];
  for (let n = 0; n < 10; n++) {
    const i = n % g.entries;
    const [, extra] = r.pick(fields);
    g.irte(i, { ...g.goodIrte(), fpd: r.chance(0.3) }, extra).remappable(i).observe();
  }
  return g.build(`gen-ir-irte-reserved-${seed}`, 'IRTEs with reserved fields set: delivered or faulted (0x24, 0x26)',
    machine('qemu-7.2', { aw: 39 }));
}

/**
 * Compatibility-format MSIs while interrupt remapping is on (§5.1.2.1):
 * CFI written on and off (GSTS.CFIS read back), xAPIC and x2APIC mode
 * (IRTA.EIME, latched with SIRTP), remapped MSIs in between.
 */
export function irCompat(seed: number): object {
  const g = new IrGuest(seed);
  const r = g.rng;
  g.faultEvents().latchTable(1, false).enable(IR_GCMD.IRE, true);
  for (let n = 0; n < 10; n++) {
    const step = r.pick(['cfi', 'eime', 'compat', 'compat', 'remap']);
    if (step === 'cfi') g.enable(IR_GCMD.CFI, r.chance(0.6));
    else if (step === 'eime') g.latchTable(1, !g.x2apic);
    else if (step === 'remap') g.irte(0, g.goodIrte()).remappable(0, false);
    else {
      const m = compatMsi(g);
      g.b.msi(DEVICES[0], m.address, m.data & 0x1ff); // fixed or lowest priority, edge
    }
    g.observe();
  }
  return g.build(`gen-ir-compat-${seed}`, 'compatibility-format MSIs under interrupt remapping: CFI, EIME',
    machine('qemu-7.2', { aw: 39 }));
}

/**
 * Handle + subhandle past 0xFFFF (§5.1.2.2: interrupt_index is their sum):
 * small and full-size (65536-entry) tables, sums inside the table, past it,
 * and past 16 bits.
 */
export function irIndexWrap(seed: number): object {
  const g = new IrGuest(seed);
  const r = g.rng;
  g.faultEvents().latchTable(r.pick([2, 7, 15]), false).enable(IR_GCMD.IRE, true);
  for (let n = 0; n < 8; n++) {
    const wrapped = r.int(Math.min(g.entries, 64));
    g.irte(wrapped, g.goodIrte());
    const kind = r.pick(['wrap', 'wrap', 'inside', 'beyond']);
    const handle = kind === 'inside' ? wrapped : 0xffff - r.int(kind === 'wrap' ? 16 : 4);
    const sub = kind === 'inside' ? 0 : kind === 'wrap' ? 0x10000 - handle + wrapped : r.int(Math.max(1, 0xffff - handle));
    const m = remappableMsi(handle, { shv: kind !== 'inside' || r.chance(0.5), subhandle: sub });
    g.b.msi(DEVICES[0], m.address, m.data);
    g.observe();
  }
  return g.build(`gen-ir-index-wrap-${seed}`, 'handle + subhandle beyond 16 bits', machine('qemu-7.2', { aw: 39 }));
}

/**
 * IRTEs changed after an interrupt used them (vector, destination, present
 * bit), then the interrupt-entry cache invalidated (§6.5.2.7: global, or
 * index-selective covering the entry or not) or not, or the table latched
 * again with SIRTP; the next MSI shows which entry the unit used.
 */
export function irEntryCache(seed: number): object {
  const g = new IrGuest(seed);
  const r = g.rng;
  legacyRoot(g.b);
  g.b.setRootTable(GPA.ROOT);
  const q = new Queue(g.b, false).enable();
  g.keep |= GCMD.QIE;
  g.faultEvents().latchTable(4, false).enable(IR_GCMD.IRE, true);
  for (let n = 0; n < 6; n++) {
    const i = r.int(g.entries);
    g.irte(i, g.goodIrte()).remappable(i).observe();
    g.irte(i, r.chance(0.25) ? { ...g.goodIrte(), present: false } : g.goodIrte()).remappable(i).observe();
    const how = r.pick(['global', 'index', 'index-other', 'sirtp', 'none']);
    const im = r.int(3);
    const other = (i + (1 << im)) % g.entries;
    if (how === 'global') q.submit([iecDesc(IEC_DESC.G_GLOBAL)]);
    else if (how === 'index' || how === 'index-other') q.submit([iecDesc(IEC_DESC.G_INDEX, how === 'index' ? i : other, im)]);
    else if (how === 'sirtp') g.command(IR_GCMD.SIRTP);
    g.remappable(i).observe();
  }
  return g.build(`gen-ir-entry-cache-${seed}`, 'IRTEs changed under a cached copy, then invalidated (IEC, SIRTP) or not',
    machine('qemu-7.2', { aw: 39 }));
}

/**
 * Source validation by bus range (SVT=10, §9.10: SID 15:8 the first bus,
 * 7:0 the last) from a device on bus 0, beside SVT=01 with each SQ mask.
 */
export function irBusRange(seed: number): object {
  const g = new IrGuest(seed);
  const r = g.rng;
  g.faultEvents().latchTable(3, false).enable(IR_GCMD.IRE, true);
  const ranges = [[0, 0], [0, 1], [1, 0], [0, 0xff], [0xff, 0], [1, 1], [1, 0xff], [2, 5]] as const;
  for (let n = 0; n < 10; n++) {
    const i = n % g.entries;
    const [hi, lo] = r.pick(ranges);
    const e = r.chance(0.75) ? { svt: 2, sid: (hi << 8) | lo } : { svt: 1, sq: r.int(4), sid: SID0 ^ r.int(8) };
    g.irte(i, { ...g.goodIrte(), ...e, fpd: r.chance(0.2) }).remappable(i).observe();
  }
  return g.build(`gen-ir-bus-range-${seed}`, 'source validation by bus range and by requester id under SQ',
    machine('qemu-7.2', { aw: 39 }));
}

/**
 * IRTA with address bits at or above the host address width (39 or 48) set
 * (§11.4.10: the table base lies below it), IRTA read back, the table latched
 * and used.
 */
export function irtaWidth(seed: number): object {
  const g = new IrGuest(seed);
  const r = g.rng;
  const aw = r.pick([39, 48] as const);
  g.faultEvents().latchTable(2, false).enable(IR_GCMD.IRE, true);
  for (let n = 0; n < 6; n++) {
    const high = r.chance(0.8) ? 1n << BigInt(aw + r.int(64 - aw)) : 0n;
    g.b.mmioWrite(IRTA_REG, 8, IRT | high | 2n).mmioRead(IRTA_REG, 8);
    g.command(IR_GCMD.SIRTP);
    const i = r.int(g.entries);
    g.irte(i, g.goodIrte()).remappable(i).observe();
  }
  return g.build(`gen-irta-width-${seed}`, 'IRTA with bits above the host address width', machine('qemu-7.2', { aw }));
}

/** The interrupt-remapping families (recorded on both QEMUs). */
export const IR_FAMILIES: Record<string, (seed: number) => object> = {
  'ir-apic': irApic,
  'ir-remap': irRemap,
  'ir-irte-reserved': irIrteReserved,
  'ir-compat': irCompat,
  'ir-index-wrap': irIndexWrap,
  'ir-entry-cache': irEntryCache,
  'ir-bus-range': irBusRange,
  'irta-width': irtaWidth,
};
