/**
 * DMA safety and event records of an SMMUv3 (issue 19: "a DMA that succeeds
 * must be allowed by the tables in guest RAM at that time after the last
 * invalidation"; "events in the event queue match the fault taken").
 *
 * - **dma-unmapped**: while the SMMU's caches can hold nothing the tables
 *   in RAM do not say (since a CMD_CFGI_ALL and a CMD_TLBI_NSNH_ALL
 *   completed by a CMD_SYNC, §4.3, §4.4, §4.7, or since a new machine's
 *   empty caches: no stream-table move, and no write by a step, a device or
 *   the SMMU itself to a page holding a structure the SMMU read since then,
 *   as the reference reads them; when the reference cannot name what the
 *   SMMU read, no write at all), a DMA
 *   that completes must be allowed by the reference reading of the tables
 *   (reference.ts) for every 4 KiB piece: not a certain fault, no write the
 *   tables withhold, and the bytes moved to / from exactly the address the
 *   tables give.
 * - **event**: a DMA that completes records no event; every event a DMA
 *   step adds names the request's StreamID, its SubstreamID when SSV is set
 *   (and SSV only for a request with one), and for a translation fault
 *   (F_WALK_EABT, F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION,
 *   §7.3.11-§7.3.15) an input address inside the request.
 */
import type { ArmMachine } from '../../host/src/arm-machine.js';
import { DMAT_STATE } from '../../host/src/devices/dma-test/regs.js';
import { parseBdf } from '../../host/src/types.js';
import type { Step } from '../../host/src/scenario/parse.js';
import { SMMU_REG as R } from '../../host/src/smmu/spec/registers.js';
import { distance, entryAt, evtq, inRam, wrapPtr, type SmmuRegs } from './oracles.js';
import { referenceTranslate, type RefAnswer } from './reference.js';

const OP_CFGI_STE_RANGE = 0x04;
const CFGI_ALL_RANGE = 31;
const OP_TLBI_NSNH_ALL = 0x30;
const OP_CMD_SYNC = 0x46;
/** Translation-fault event types whose InputAddr is the request's address (§7.3.11-§7.3.15). */
const TRANSLATION_FAULTS = new Set([0x0b, 0x10, 0x11, 0x12, 0x13]);
const PAGE = 4096;

type DmaStep = Extract<Step, { op: 'dma.read' | 'dma.write' }>;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** One 4 KiB piece of a DMA: where it starts in the request, its length, what the tables say of it. */
export interface Piece { readonly iova: bigint; readonly off: number; readonly n: number; readonly ref: RefAnswer }

/** StreamIDs of device addresses ("BB:DD.F"), parsed once. */
const SIDS = new Map<string, number>();
const sidOf = (bdf: string): number => {
  let sid = SIDS.get(bdf);
  if (sid === undefined) SIDS.set(bdf, (sid = parseBdf(bdf)));
  return sid;
};

/** Tracks whether the SMMU's caches can be stale, and judges DMA steps. */
export class SmmuDmaOracle {
  /** No write reached a page the caches may hold a structure of, since the caches were last known to match RAM. */
  private clean = true;
  /**
   * A CFGI_ALL and a TLBI_NSNH_ALL were consumed since the last write that
   * may reach a cached structure and since the SMMU last read structures
   * (a CMD_SYNC after both makes the caches clean).
   */
  private cfgiAll = false;
  private tlbiAll = false;
  /** Pages (address / 4096) of every structure the SMMU read since the caches were last known clean. */
  private readonly readPages = new Set<number>();
  /** The SMMU read structures the reference cannot name (2-level tables, stage 2, ...): any write may reach them. */
  private readUnknown = false;
  /** The reference's reads of the DMA being judged (reused). */
  private readonly reads: number[] = [];
  /** DMA steps judged against the reference (completed, caches clean, every piece answered). */
  judged = 0;

  constructor(private readonly m: ArmMachine) {}

  /**
   * Guest RAM [gpa, gpa + len) was written (a step, an event record or MSI
   * the SMMU wrote, a device's DMA): the caches stop being known clean when
   * it may hold a structure they cached, and a full invalidation must come
   * after it (checked when they are already unclean too: a TLBI_NSNH_ALL
   * consumed before an entry was cached, and before its table changed,
   * does not drop it). `gpa` is below 2^53 (RAM).
   */
  written(gpa: number, len: number): void {
    if (this.readUnknown) { this.dirty(); return; }
    if (this.readPages.size === 0) return;
    const last = Math.floor((gpa + Math.max(len, 1) - 1) / PAGE);
    for (let p = Math.floor(gpa / PAGE); p <= last; p++) if (this.readPages.has(p)) { this.dirty(); return; }
  }

  private dirty(): void {
    this.clean = this.cfgiAll = this.tlbiAll = false;
  }

  /** After step `s` ran (`consumed`: the commands the SMMU consumed during it, in order, four dwords each). */
  stepped(s: Step, consumed: readonly number[]): void {
    // A stream table moved under cached STEs (none cached yet: nothing can go stale).
    const moved = s.op === 'mmio.write' && s.offset < R.STRTAB_BASE_CFG + 4 && s.offset + s.size > R.STRTAB_BASE;
    if (moved && (this.readUnknown || this.readPages.size > 0)) { this.dirty(); return; }
    for (let c = 0; c < consumed.length; c += 4) {
      const op = consumed[c]! & 0xff;
      if (op === OP_CFGI_STE_RANGE && (consumed[c + 2]! & 0x1f) === CFGI_ALL_RANGE) this.cfgiAll = true;
      else if (op === OP_TLBI_NSNH_ALL) this.tlbiAll = true;
      else if (op === OP_CMD_SYNC && this.cfgiAll && this.tlbiAll) this.flushed();
    }
  }

  /**
   * A full invalidation completed: the caches hold nothing, so nothing they
   * read matters any more. The invalidations are used up: a later CMD_SYNC
   * alone completes nothing new.
   */
  private flushed(): void {
    this.clean = true;
    this.cfgiAll = this.tlbiAll = false;
    this.readPages.clear();
    this.readUnknown = false;
  }

  /**
   * Judges DMA step `s` that just ran: `pieces`, the reference's reading of
   * the tables before it (`before`, whose registers are `before`; `after`
   * the registers after it).
   */
  check(s: DmaStep, pieces: readonly Piece[], before: SmmuRegs, after: SmmuRegs): string | undefined {
    const dev = this.m.dmaTest(s.bdf);
    const ok = (dev.lastStatus() & 7) === DMAT_STATE.DONE;
    const verdict = this.events(s, before, after, ok) ?? (ok && this.clean ? this.judge(s, pieces, dev.buffer()) : undefined);
    if (s.op === 'dma.write') {
      // The device wrote (at most) where the tables map its pieces; where they cannot tell, anywhere.
      for (const p of pieces) {
        if (p.ref.kind === 'map') this.written(Number(p.ref.pa), p.n);
        else if (p.ref.kind === 'unknown') this.dirty();
      }
    }
    return verdict;
  }

  /**
   * Before DMA step `s` runs (registers `before`): the reference's answer
   * for each 4 KiB piece, from the tables as the SMMU finds them when it
   * translates (a DMA may write its own tables: read afterwards, they say
   * what it did not see). What it read joins the structures the SMMU may
   * have cached, so the step's own writes to them count (`written`).
   */
  before(s: DmaStep, before: SmmuRegs): Piece[] {
    const sid = sidOf(s.bdf);
    const out: Piece[] = [];
    const reads = this.reads;
    reads.length = 0;
    let unknownHere = false;
    for (let off = 0; off < s.len;) {
      const iova = s.iova + BigInt(off);
      const n = Math.min(s.len - off, PAGE - Number(iova & 0xfffn));
      const ref = referenceTranslate(this.m.ram, before, sid, s.pasid, iova, reads, this.m.smmu.profile.switches);
      if (ref.kind === 'unknown') this.readUnknown = unknownHere = true;
      out.push({ iova, off, n, ref });
      off += n;
    }
    for (const a of reads) this.readPages.add(Math.floor(a / PAGE));
    // What the SMMU caches now came after any CFGI_ALL / TLBI_NSNH_ALL still waiting for their CMD_SYNC: they do not drop it.
    if (reads.length > 0 || unknownHere) this.cfgiAll = this.tlbiAll = false;
    return out;
  }
  /** A completed DMA against the tables: no certain fault, no withheld write, the bytes where the tables say. */
  private judge(s: DmaStep, pieces: readonly Piece[], buf: Uint8Array): string | undefined {
    const write = s.op === 'dma.write';
    if (write && pieces.length > 1 && this.writesOwnTables(pieces)) return undefined; // a later piece may walk what an earlier one wrote
    for (const { iova, ref } of pieces) {
      const at = `${s.op} ${s.bdf}${s.pasid === undefined ? '' : ` SSID ${s.pasid}`} at ${hex(iova)} completed`;
      if (ref.kind === 'fault') return `dma-unmapped: ${at}, but the tables say: ${ref.why}`;
      if (ref.kind === 'unknown') return undefined;
      if (write && !ref.write) return `dma-unmapped: ${at} as a write, but the tables map ${hex(iova)} -> ${hex(ref.pa)} read-only`;
    }
    this.judged++;
    return this.moved(s, pieces.map((p) => ({ pa: (p.ref as { pa: bigint }).pa, off: p.off, n: p.n })), buf, write);
  }

  /** True when a piece of a DMA write lands on a page the reference read for this DMA. */
  private writesOwnTables(pieces: readonly Piece[]): boolean {
    const pages = new Set(this.reads.map((a) => Math.floor(a / PAGE)));
    return pieces.some((p) => p.ref.kind === 'map' && pages.has(Number(p.ref.pa / BigInt(PAGE))));
  }

  /** The bytes of a completed DMA went to / came from the addresses the tables give (pieces another piece overwrote are skipped). */
  private moved(s: DmaStep, pieces: readonly { pa: bigint; off: number; n: number }[], buf: Uint8Array, write: boolean): string | undefined {
    for (const [i, p] of pieces.entries()) {
      if (!this.m.ram.contains(p.pa, p.n)) continue;
      if (write && pieces.some((q, j) => j > i && q.pa < p.pa + BigInt(p.n) && p.pa < q.pa + BigInt(q.n))) continue;
      const ram = this.m.ram.read(p.pa, p.n);
      for (let k = 0; k < p.n; k++) {
        if (ram[k] !== buf[p.off + k]) {
          return `dma-unmapped: ${s.op} ${s.bdf} at ${hex(s.iova + BigInt(p.off + k))}: the device's byte 0x${buf[p.off + k]!.toString(16)} is not the memory's 0x${ram[k]!.toString(16)} at ${hex(p.pa + BigInt(k))}, where the tables map it`;
        }
      }
    }
    return undefined;
  }

  /** The events the DMA step added (event queue on, not reprogrammed, not overflowed) against the request. */
  private events(s: DmaStep, before: SmmuRegs, after: SmmuRegs, ok: boolean): string | undefined {
    if (after.evtqProd === before.evtqProd) return undefined; // no event added (n = 0 below)
    const q = evtq(after);
    if ((after.cr0ack & 4) === 0 || (before.cr0ack & 4) === 0 || q.log2 !== evtq(before).log2) return undefined;
    const n = distance(q, before.evtqProd, after.evtqProd);
    if (n === 0 || n > 1 << q.log2) return undefined;
    if (ok) return `event: ${s.op} ${s.bdf} at ${hex(s.iova)} completed, yet ${n} event(s) were recorded`;
    const sid = sidOf(s.bdf);
    const mem = this.m.ram;
    for (let i = 0, p = before.evtqProd; i < n; i++, p = (wrapPtr(q, p) + 1) & ((2 << q.log2) - 1)) {
      const at = entryAt(q, p);
      if (!inRam(mem, at, 32)) continue;
      const w0 = mem.getUint32(at);
      const type = w0 & 0xff;
      const ssv = (w0 >>> 11) & 1;
      const ssid = (w0 >>> 12) & 0xf_ffff;
      const evSid = mem.getUint32(at + 4);
      const what = `event type 0x${type.toString(16)} for ${s.op} ${s.bdf}${s.pasid === undefined ? '' : ` SSID ${s.pasid}`} at ${hex(s.iova)}`;
      if (evSid !== sid) return `event: ${what} names StreamID ${hex(evSid)}, not ${hex(sid)}`;
      if (ssv && (s.pasid === undefined || ssid !== s.pasid)) return `event: ${what} has SSV = 1, SSID ${ssid}`;
      if (TRANSLATION_FAULTS.has(type) && s.iova + BigInt(s.len) <= 1n << 52n) { // event addresses carry bits 51:0
        const addr = mem.readU64(BigInt(at + 16));
        const lo = s.iova & ~0xfffn;
        if (addr < lo || addr >= s.iova + BigInt(s.len)) return `event: ${what} has InputAddr ${hex(addr)}, outside the request`;
      }
    }
    return undefined;
  }
}
