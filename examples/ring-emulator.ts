/**
 * Example: embedding wasm-viommu in a small emulator loop.
 *
 * The "emulator" here owns three things, as a real one would:
 * - a device model of its own (`CopyEngine`: a DMA engine that copies
 *   buffers described by a descriptor ring in guest memory), which does all
 *   its DMA through the IOMMU port the model gives it (`vtd.portFor(rid)`);
 * - a guest driver (`GuestDriver`) that programs the IOMMU only through MMIO
 *   and guest RAM: root/context tables, a 4-level second-stage table, the
 *   fault-event MSI, page-selective IOTLB invalidation (§6.5.1, §9, §11.4);
 * - a tick loop: the guest runs, the device runs, interrupts are delivered.
 *
 * Halfway through, the guest unmaps a destination page, invalidates it and
 * posts a copy to it anyway: the device's DMA faults, the unit records the
 * fault and sends the fault-event MSI, and the guest's handler reads the
 * fault record. `runRingEmulator()` returns what happened for the test.
 */
import { createMachine, DMA_OK, REQ, VTD_BASE, type DmaPort, type Machine, type MsiMessage } from '../host/src/index.js';

const PAGE = 0x1000n;
const PAGE_BYTES = Number(PAGE);
/** The device's requester id: bus 0, device 3, function 0. */
export const ENGINE_RID = 0x18;
/** IOVAs the guest gives the device (DMA addresses) and the GPAs behind them. */
export const RING_IOVA = 0x10_0000n;
export const SRC_IOVA = 0x20_0000n;
export const DST_IOVA = 0x30_0000n;
const RING_GPA = 0x80_0000n, SRC_GPA = 0x90_0000n, DST_GPA = 0xa0_0000n;
const RING_SLOTS = 16;
const DESC_BYTES = 32;
/** Fault-event MSI the guest programs (FEADDR/FEDATA). */
const FAULT_MSI = { address: 0xfee0_0000n, data: 0x51 };

/** Descriptor status words (written back by the engine). */
const DONE = 1, FAILED = 2;

/** A device model of the emulator: copies `len` bytes from src to dst IOVA per descriptor. */
export class CopyEngine {
  private head = 0;
  private tail = 0;
  private readonly buf: number;
  /** Set after a DMA fault: the engine stops until reset, like real hardware. */
  error = false;

  constructor(private readonly port: DmaPort) {
    this.buf = port.allocBuffer(PAGE_BYTES);
  }

  /** The guest's doorbell (a BAR write in a real emulator): new tail index. */
  doorbell(tail: number): void {
    this.tail = tail % RING_SLOTS;
  }

  /** One emulator tick: processes at most one descriptor; every access goes through the IOMMU. */
  tick(): void {
    if (this.error || this.head === this.tail) return;
    const desc = Number(RING_IOVA) + this.head * DESC_BYTES;
    if (!this.dma(0, desc, DESC_BYTES, 0)) return;
    const d = new DataView(this.port.buffer(this.buf, DESC_BYTES).slice().buffer);
    const len = d.getUint32(16, true);
    const ok = len <= PAGE_BYTES
      && this.dma(d.getUint32(4, true), d.getUint32(0, true), len, 0) // src -> buffer
      && this.dma(d.getUint32(12, true), d.getUint32(8, true), len, REQ.WRITE); // buffer -> dst
    this.port.buffer(this.buf, 4).set([ok ? DONE : FAILED, 0, 0, 0]);
    this.dma(0, desc + 20, 4, REQ.WRITE); // status; may fault too (then the guest never sees DONE)
    this.head = (this.head + 1) % RING_SLOTS;
  }

  /** One untranslated request at IOVA `hi:lo` through the port (numbers only: nothing is allocated). */
  private dma(hi: number, lo: number, len: number, flags: number): boolean {
    const ok = this.port.dma64(hi, lo, len, this.buf, flags) === DMA_OK;
    if (!ok) this.error = true;
    return ok;
  }
}

/** A guest VT-d driver of the example: MMIO and guest RAM only. */
export class GuestDriver {
  private nextPage = 0x40_0000n; // table pages come from 4 MiB up
  private pml4 = 0n;
  private tail = 0;
  /** Fault records the fault handler read (reason, address, source id). */
  readonly faults: { reason: number; addr: bigint; sid: number }[] = [];

  constructor(private readonly m: Machine, private readonly engine: CopyEngine) {}

  private reg(off: number, size: 4 | 8, value?: bigint): bigint {
    if (value === undefined) return this.m.mmioRead(VTD_BASE + BigInt(off), size);
    this.m.mmioWrite(VTD_BASE + BigInt(off), size, value);
    return value;
  }

  private page(): bigint {
    const p = this.nextPage;
    this.nextPage += PAGE;
    this.m.ram.fill(p, PAGE_BYTES, 0);
    return p;
  }

  /** §9.8 second-stage walk for `iova`, creating tables; returns the leaf entry's GPA. */
  private leafSlot(iova: bigint): bigint {
    let table = this.pml4;
    for (let level = 3; level > 0; level--) {
      const slot = table + ((iova >> BigInt(12 + 9 * level)) & 0x1ffn) * 8n;
      let e = this.m.ram.readU64(slot);
      if ((e & 3n) === 0n) this.m.ram.writeU64(slot, (e = this.page() | 3n)); // R|W non-leaf
      table = e & 0x000f_ffff_ffff_f000n;
    }
    return table + ((iova >> 12n) & 0x1ffn) * 8n;
  }

  /** Maps one 4 KiB page read/write (or clears it with `gpa` undefined). */
  map(iova: bigint, gpa: bigint | undefined): void {
    this.m.ram.writeU64(this.leafSlot(iova), gpa === undefined ? 0n : gpa | 3n);
  }

  /** Boot: root + context entry for the engine (DID 7, AW=2: 4-level), fault MSI, SRTP, TE. */
  boot(): void {
    const root = this.page(), ctx = this.page();
    this.pml4 = this.page();
    this.m.ram.writeU64(root, ctx | 1n); // §9.1 root entry for bus 0: P, CTP
    const ce = ctx + BigInt(ENGINE_RID & 0xff) * 16n; // §9.3 context entry by devfn
    this.m.ram.writeU64(ce, this.pml4 | 1n); // P, TT=0 (untranslated only), SSPTPTR
    this.m.ram.writeU64(ce + 8n, (7n << 8n) | 2n); // DID 7, AW 2
    for (let i = 0n; i < 4n; i++) {
      this.map(SRC_IOVA + i * PAGE, SRC_GPA + i * PAGE);
      this.map(DST_IOVA + i * PAGE, DST_GPA + i * PAGE);
    }
    this.map(RING_IOVA, RING_GPA);
    this.m.ram.fill(RING_GPA, PAGE_BYTES, 0);
    this.reg(0x3c, 4, BigInt(FAULT_MSI.data)); // FEDATA
    this.reg(0x40, 4, FAULT_MSI.address); // FEADDR
    this.reg(0x38, 4, 0n); // FECTL: unmask
    this.reg(0x20, 8, root); // RTADDR, legacy (TTM 00)
    this.reg(0x18, 4, 1n << 30n); // GCMD.SRTP
    this.reg(0x18, 4, 1n << 31n); // GCMD.TE
  }

  /** Posts a copy of `len` bytes and rings the doorbell. */
  post(src: bigint, dst: bigint, len: number): number {
    const slot = this.tail;
    const d = RING_GPA + BigInt(slot * DESC_BYTES);
    this.m.ram.writeU64(d, src);
    this.m.ram.writeU64(d + 8n, dst);
    this.m.ram.writeU64(d + 16n, BigInt(len)); // len, status 0
    this.tail = (this.tail + 1) % RING_SLOTS;
    this.engine.doorbell(this.tail);
    return slot;
  }

  /** Status word of a ring slot (0 posted, 1 done, 2 failed). */
  status(slot: number): number {
    return Number(this.m.ram.readU64(RING_GPA + BigInt(slot * DESC_BYTES) + 16n) >> 32n);
  }

  /** Unmaps one page and invalidates it: IVA + IOTLB page-selective, DID 7 (§6.5.1.2). */
  unmap(iova: bigint): void {
    this.map(iova, undefined);
    const iro = Number((this.reg(0x10, 8) >> 8n) & 0x3ffn) * 16; // ECAP.IRO
    this.reg(iro, 8, iova);
    this.reg(iro + 8, 8, (1n << 63n) | (3n << 60n) | (7n << 32n)); // IVT, IIRG=page, DID
  }

  /** The fault-event handler (Linux dmar_fault style): read FRCD records, clear F, clear FSTS. */
  onFaultInterrupt(): void {
    const cap = this.reg(0x8, 8);
    const fro = Number((cap >> 24n) & 0x3ffn) * 16, nfr = Number((cap >> 40n) & 0xffn) + 1;
    for (let i = 0; i < nfr; i++) {
      const hi = this.reg(fro + i * 16 + 8, 8);
      if (!(hi >> 63n)) continue;
      this.faults.push({ reason: Number((hi >> 32n) & 0xffn), addr: this.reg(fro + i * 16, 8), sid: Number(hi & 0xffffn) });
      this.reg(fro + i * 16 + 12, 4, 1n << 31n); // W1C F
    }
    this.reg(0x34, 4, 3n); // FSTS: W1C PFO | PPF
  }
}

/** What one run of the example did. */
export interface RingRun {
  readonly ticks: number;
  readonly completed: number;
  readonly copiesCorrect: boolean;
  readonly interrupts: readonly MsiMessage[];
  readonly faults: GuestDriver['faults'];
  readonly engineStopped: boolean;
  readonly stats: Record<string, number>;
}

/** Runs the emulator loop for `ticks` ticks and reports. */
export async function runRingEmulator(ticks = 12): Promise<RingRun> {
  const interrupts: MsiMessage[] = [];
  const pending: MsiMessage[] = [];
  const m = await createMachine({ profile: 'default', ramMib: 64, onInterrupt: (msi) => { interrupts.push(msi); pending.push(msi); } });
  const engine = new CopyEngine(m.vtd.portFor(ENGINE_RID));
  const guest = new GuestDriver(m, engine);
  guest.boot();
  m.ram.write(SRC_GPA, Uint8Array.from({ length: 4 * PAGE_BYTES }, (_, i) => (i * 7 + 3) & 0xff));
  const posted: number[] = [];
  for (let t = 0; t < ticks; t++) {
    if (t < 4) posted.push(guest.post(SRC_IOVA + BigInt(t) * PAGE, DST_IOVA + BigInt(t) * PAGE, 256 + t));
    if (t === 6) {
      guest.unmap(DST_IOVA + 3n * PAGE);
      posted.push(guest.post(SRC_IOVA, DST_IOVA + 3n * PAGE, 64));
    }
    engine.tick();
    while (pending.length) if (pending.shift()!.data === FAULT_MSI.data) guest.onFaultInterrupt();
  }
  const copiesCorrect = [0, 1, 2, 3].every((i) => {
    const len = 256 + i;
    const a = m.ram.read(SRC_GPA + BigInt(i) * PAGE, len), b = m.ram.read(DST_GPA + BigInt(i) * PAGE, len);
    return a.every((x, k) => x === b[k]);
  });
  return {
    ticks, completed: posted.filter((s) => guest.status(s) === DONE).length, copiesCorrect,
    interrupts, faults: guest.faults, engineStopped: engine.error, stats: m.core.stats(),
  };
}
