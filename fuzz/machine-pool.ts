/**
 * One machine per machine description, reused across executions: between
 * two inputs it goes back to the state a fresh machine starts in (what
 * `viommu replay` starts from), restoring only what changed:
 *
 * - guest RAM starts all zero, so only pages something may have written
 *   are zeroed again: every page the host wrote through `GuestMemory`
 *   (steps, queue status words, page-request records, ...), and every page
 *   the core computed a guest-memory offset for (`ramOffset`: walks, A/D
 *   updates, DMA), which the coverage build records in a bitmap
 *   (fuzz/coverage-transform.js);
 * - the unit, the devices and the PCI hierarchy go through the machine's
 *   system reset (registers, queue, recorder, page-request state, device
 *   registers, BARs, every cache emptied), then device buffers are zeroed,
 *   the counters and the coverage map cleared, and the processors' APICs
 *   (scenario `apic.irr` steps) are cleared.
 *
 * fuzz/tests/machine-pool.test.ts proves the reset exact: a reused machine
 * observes what a fresh one observes, and ends in the same state (snapshot
 * bytes, cache contents), over many generated inputs.
 */
import type { Core } from '../host/src/core/core.js';
import * as K from '../host/src/core/constants.js';
import { createMachine, type Machine } from '../host/src/machine.js';
import type { GuestMemory } from '../host/src/core/guest-memory.js';
import type { InvalidationEvent } from '../host/src/vtd/cache-invalidation.js';
import { ScenarioApics } from '../host/src/scenario/apics.js';
import { parseMachine } from '../host/src/scenario/parse.js';
import { restoreMachine, snapshotMachine, type RamTracking } from '../host/src/snapshot/machine-snapshot.js';
import { cacheFills, reserveDumpBuffer } from './cache-scope-oracle.js';
import type { RawMachine } from './input.js';
import { fillBytes } from '../host/src/core/fill-bytes.js';

const PAGE = 4096;
/** Bytes allZero compares with zeros before comparing the rest with itself. */
const ZERO_LEAD = 64;
/** Host writes longer than this are kept as ranges, not pages. */
const LARGE_WRITE = 16 * PAGE;

/** What the pool reaches of a device's port (REQ.WRITE = 2 in `flags`). */
interface DevicePort {
  owned?: number[];
  dma(iova: number, len: number, bufOff: number, flags?: number, pasid?: number): number;
  dma64(hi: number, lo: number, len: number, bufOff: number, flags?: number, pasid?: number): number;
  translated64(hi: number, lo: number, len: number, bufOff: number, flags?: number): number;
}

/** What the executor hears from a machine (wired once per machine; the current execution's handlers). */
export interface MachineEvents {
  /** The host wrote guest RAM [gpa, gpa + len). */
  ramWritten?(gpa: number, len: number): void;
  /** A device is about to send a DMA write through its port. */
  deviceWrite?(): void;
  /** SRTP latched a root table (RTADDR value). */
  rootLatched?(rtaddr: bigint): void;
  /** GCMD.TE took effect. */
  translationEnabled?(on: boolean): void;
  /** The unit ran a cache invalidation. */
  invalidated?(e: InvalidationEvent): void;
  /** The model caught an exception while serving the guest (a bug: VtdUnit onInternalError). */
  internalError?(where: string, err: unknown): void;
}

/** The coverage build's extra exports (fuzz/coverage-transform.js). */
interface CoverageExports extends TouchExports {
  covPtr?(): number;
  covSize?(): number;
}

/** The coverage build's touched-page bitmap exports (fuzz/coverage-transform.js; the summary since this file's takeTouchedBits reads it). */
export interface TouchExports {
  ramTouchPtr?(): number;
  ramTouchPages?(): number;
  ramTouchSummaryPtr?(): number;
  ramTouchSetBase?(hi: number, lo: number): void;
}

/** The touched-page bitmap of `core` (coverage build) and its summary (a bit per u32 word; absent in builds before it), or undefined. */
export function touchedBitmap(core: Core): { map: Uint8Array; summary?: Uint8Array } | undefined {
  const x = core.unsafeExports as unknown as TouchExports;
  if (!x.ramTouchPtr || !x.ramTouchPages) return undefined;
  const buffer = core.memory.buffer;
  const bits = x.ramTouchPages();
  const map = new Uint8Array(buffer, x.ramTouchPtr(), bits >> 3);
  return x.ramTouchSummaryPtr ? { map, summary: new Uint8Array(buffer, x.ramTouchSummaryPtr(), bits >> 8) } : { map };
}

/** GuestMemory methods that write (each takes the gpa first, at most three arguments), with the length they write from their second argument. */
const WRITERS: Record<string, (a1: unknown) => number> = {
  write: (a1) => (a1 as Uint8Array).length,
  fill: (a1) => Number(a1),
  writeU32: () => 4,
  writeU64: () => 8,
  setUint8: () => 1,
  setUint16: () => 2,
  setUint32: () => 4,
  setUint64: () => 8,
  writeFrom: (a1) => (a1 as Uint8Array).length,
};

/** A machine kept for reuse. */
export class PooledMachine {
  /** Handlers of the execution running now. */
  events: MachineEvents = {};
  /** Guest pages (numbers) the host wrote since the last reset. */
  private readonly written = new Set<number>();
  /** Large ranges the host wrote since the last reset ([gpa, len]: a snapshot restore, a big fill), zeroed in one call each. */
  private readonly writtenRanges: [number, number][] = [];
  /** Device buffers: [offset, length] in core memory. */
  private readonly buffers: [number, number][] = [];
  private readonly cov: CoverageExports;
  /** The buffer the cache-scope oracle reads cache dumps through. */
  readonly dumpBuf: number;

  /** GuestMemory.fill as it was before the write watch (resets zero pages without reporting them). */
  private readonly rawFill: GuestMemory['fill'];

  /** The processors' APICs the machine's interrupts land in (new ones at each reset: their start state). */
  apics: ScenarioApics;

  /** Snapshots and restores read only the tracked pages (trackSnapshots). */
  private tracked = false;

  /** `bufferCore`: where the devices' buffers live (a VMM-backed machine's devices DMA through the host's core). */
  private constructor(readonly machine: Machine, readonly core: Core, readonly ramMib: number, cpus: number, private readonly bufferCore = core) {
    this.apics = new ScenarioApics(cpus);
    this.cov = core.unsafeExports as unknown as CoverageExports;
    this.rawFill = watchRamWrites(machine.ram, (gpa, len) => {
      if (len > LARGE_WRITE) this.writtenRanges.push([gpa, len]); // one Set entry per page cost 8% of a run (restores write all RAM)
      else this.markWritten(gpa, len);
      this.events.ramWritten?.(gpa, len);
    });
    this.watchUnit();
    for (const dev of machine.deviceList()) this.watchPort(dev as unknown as { port?: DevicePort });
    this.dumpBuf = reserveDumpBuffer(core); // now, not during an execution
    this.trackSnapshots();
  }

  /**
   * Snapshots and restores of this machine read and zero only the pages the
   * reset would zero (RamTracking), not all RAM: a `snapshot` step cost two
   * scans and a fill of all RAM. The executor's snapshot oracle compares the
   * restored machine with a full snapshot, which catches a page missed here.
   */
  private trackSnapshots(): void {
    const m = this.machine;
    if (m.config.backing) return; // a VMM-backed machine has no snapshot
    if (!this.touchedMap() || m.core.ramRegions().some((r) => r.base + r.size > this.touchReach())) return; // no bitmap covers RAM: full scans
    this.tracked = true;
    const tracking: RamTracking = {
      candidates: (base, size) => this.dirtyPages(base, size),
      wrote: (gpa, len) => this.markWritten(gpa, len),
    };
    m.snapshot = () => snapshotMachine(m, tracking);
    m.restore = (bytes) => restoreMachine(m, bytes, tracking);
  }

  /**
   * True when every RAM page outside the tracked set is all zero: then the
   * machine's (tracked) snapshot is byte for byte the full one. Compared
   * natively (`allZero`: one memcmp of RAM with itself, 0.27-0.6 ms of CPU
   * per 16 MiB, against 0.65-1.2 ms comparing with a zero buffer and 2.1 ms
   * for the snapshot's JavaScript scan). Always true when snapshots are not
   * tracked (they read all RAM then).
   */
  untrackedRamZero(): boolean {
    if (!this.tracked) return true;
    for (const r of this.core.ramRegions()) {
      const view = this.machine.ram.view(r.base, r.size);
      const bytes = Buffer.from(view.buffer, view.byteOffset, view.length);
      let from = 0;
      for (const at of [...this.dirtyPages(r.base, r.size), r.size]) {
        if (!allZero(bytes, from, at)) return false;
        from = at + PAGE;
      }
    }
    return true;
  }

  /** Counts the pages of [gpa, gpa + len) as written (zeroed at the next reset). */
  private markWritten(gpa: number, len: number): void {
    for (let p = Math.floor(gpa / PAGE); p * PAGE < gpa + len; p++) this.written.add(p);
  }

  /** Offsets, ascending, of the pages of RAM region [base, base + size) the host wrote or the core touched since the last reset. */
  private dirtyPages(base: number, size: number): number[] {
    const first = base / PAGE;
    const end = first + Math.ceil(size / PAGE);
    const pages = new Set<number>();
    for (const p of this.written) if (p >= first && p < end) pages.add(p);
    for (const [gpa, len] of this.writtenRanges) {
      for (let p = Math.max(first, Math.floor(gpa / PAGE)); p < end && p * PAGE < gpa + len; p++) pages.add(p);
    }
    const map = this.touchedMap()!;
    for (let p = first; p < end; p++) {
      const byte = map[p >> 3]!;
      if (byte === 0) p |= 7; // eight clean pages
      else if (byte & (1 << (p & 7))) pages.add(p);
    }
    return [...pages].sort((a, b) => a - b).map((p) => (p - first) * PAGE);
  }

  /** SRTP, TE and invalidations of the unit reach `events`. */
  private watchUnit(): void {
    const vtd = this.machine.vtd;
    const setRoot = vtd.setRootTable.bind(vtd);
    vtd.setRootTable = (rtaddr: bigint) => {
      setRoot(rtaddr);
      this.events.rootLatched?.(rtaddr);
    };
    const setTe = vtd.setTranslationEnabled.bind(vtd);
    vtd.setTranslationEnabled = (on: boolean) => {
      setTe(on);
      this.events.translationEnabled?.(on);
    };
    const handler = vtd.onInvalidate; // a VMM's (fuzz/vmm-run.ts) runs first: oracles see its effect
    vtd.onInvalidate = (e) => {
      handler?.(e);
      this.events.invalidated?.(e);
    };
  }

  /** A device's buffers (zeroed at reset) and its DMA writes (reported to `events`). */
  private watchPort(dev: { port?: DevicePort }): void {
    const port = dev.port;
    if (!port) return;
    const o = port.owned ?? [];
    for (let i = 0; i < o.length; i += 2) this.buffers.push([o[i]!, o[i + 1]! - o[i]!]);
    const dma = port.dma.bind(port);
    port.dma = (iova, len, bufOff, flags = 0, pasid = 0) => {
      if (flags & 2) this.events.deviceWrite?.();
      return dma(iova, len, bufOff, flags, pasid);
    };
    const dma64 = port.dma64.bind(port);
    port.dma64 = (hi, lo, len, bufOff, flags = 0, pasid = 0) => {
      if (flags & 2) this.events.deviceWrite?.();
      return dma64(hi, lo, len, bufOff, flags, pasid);
    };
    const translated64 = port.translated64.bind(port);
    port.translated64 = (hi, lo, len, bufOff, flags = 0) => {
      if (flags & 2) this.events.deviceWrite?.();
      return translated64(hi, lo, len, bufOff, flags);
    };
  }

  /** Builds the machine of `raw` on `core` (a fresh instance of the coverage build). */
  static async create(raw: RawMachine, core: Core): Promise<PooledMachine> {
    let pm: PooledMachine | undefined;
    const config = parseMachine(raw);
    const machine = await createMachine({
      ...config, core,
      onInternalError: (where, err) => pm?.events.internalError?.(where, err),
      // As startReplay wires them (host/src/scenario/replay.ts): every interrupt lands in the processors' APICs.
      onInterrupt: (msi) => pm?.apics.deliver(msi.address, msi.data),
      onDeviceInterrupt: (irq) => pm?.apics.deliver(irq.address, irq.data),
    });
    pm = new PooledMachine(machine, core, raw.ram_mib, raw.cpus ?? 1);
    pm.clearTouched();
    pm.clearCoverage(); // the build's own probes are not the first input's coverage (a reused machine starts cleared too)
    return pm;
  }

  /**
   * A machine built elsewhere (a VMM's guest machine, fuzz/vmm-run.ts)
   * watched as pooled ones are; its devices' buffers are in `bufferCore`.
   * Its owner resets what the machine does not hold (the VM's host side) before `reset`.
   */
  static watch(machine: Machine, core: Core, raw: RawMachine, bufferCore: Core): PooledMachine {
    const pm = new PooledMachine(machine, core, raw.ram_mib, raw.cpus ?? 1, bufferCore);
    pm.clearCoverage(); // as `create`: the build's probes are not the first input's coverage
    return pm;
  }

  /** Back to the start state (see the file comment), with `cpus` processors' APICs (they are not part of the machine). */
  reset(cpus: number): void {
    const { machine, core } = this;
    const filled = cacheFills(core) > 0; // since the last reset's statsReset: did the execution fill a cache?
    for (const p of this.written) this.zeroPage(p);
    this.written.clear();
    for (const [gpa, len] of this.writtenRanges) this.rawFill(BigInt(gpa), len, 0); // within one RAM region: the write was
    this.writtenRanges.length = 0;
    this.zeroTouched();
    machine.reset(); // ends with an invalidation of every cache (VtdUnit.reset: configureCore)
    if (filled) emptyCaches(core);
    const bytes = this.bufferCore.unsafeBytes();
    for (const [off, len] of this.buffers) fillBytes(bytes, 0, off, off + len);
    machine.vtd.logLines.length = 0;
    machine.vtd.events.sent.length = 0;
    core.statsReset();
    if (this.apics.count === cpus) this.apics.clear();
    else this.apics = new ScenarioApics(cpus);
    this.clearCoverage();
  }

  /** The coverage map of the execution (a live view; read before the next reset). */
  coverageMap(): Uint8Array | undefined {
    const c = this.cov;
    return c.covPtr && c.covSize ? new Uint8Array(this.core.memory.buffer, c.covPtr(), c.covSize()) : undefined;
  }

  private clearCoverage(): void {
    const c = this.cov;
    if (!c.covPtr || !c.covSize) return;
    const at = c.covPtr();
    fillBytes(this.core.unsafeBytes(), 0, at, at + c.covSize()); // a 16 KiB fill over the coverage build's shared memory
  }

  /** The bitmap of guest pages the core computed offsets for (coverage build), or undefined. */
  private touchedMap(): Uint8Array | undefined {
    return touchedBitmap(this.core)?.map;
  }

  private clearTouched(): void {
    clearTouchedBitmap(this.core);
  }

  /** Bytes of guest-physical space the touched-page bitmap covers (0 without one). */
  private touchReach(): number {
    return (this.cov.ramTouchPages?.() ?? 0) * PAGE;
  }

  /**
   * Zeroes every page the core touched. Without a bitmap (the release
   * build), or with RAM beyond its reach, every RAM page is zeroed.
   */
  private zeroTouched(): void {
    const t = touchedBitmap(this.core);
    if (!t || this.core.ramRegions().some((r) => r.base + r.size > this.touchReach())) {
      for (const r of this.core.ramRegions()) this.rawFill(BigInt(r.base), r.size, 0);
      this.clearTouched();
      return;
    }
    takeTouchedBits(t.map, (p) => this.zeroPage(p), t.summary);
  }

  /** Zeroes guest page `p` if it is RAM (RAM regions are page-aligned: a page is all RAM or none). */
  private zeroPage(p: number): void {
    const gpa = BigInt(p * PAGE);
    if (this.machine.ram.contains(gpa, PAGE)) this.rawFill(gpa, PAGE, 0);
  }
}


/** Clears `core`'s touched-page bitmap and its summary (no-op without a coverage build). */
export function clearTouchedBitmap(core: Core): void {
  const t = touchedBitmap(core);
  t?.map.fill(0);
  t?.summary?.fill(0);
}

/**
 * Calls `fn` with every set bit of the coverage build's touched-page bitmap
 * `map` and clears it, 32 pages (a u32 word: the map is 16-byte aligned,
 * memory.data's default) at a time. With the bitmap's `summary` (a bit per
 * word, set with any bit of it) only the flagged words are read and the
 * summary is cleared too: an input touches a few dozen pages, and reading
 * all 4,096 words of the map cost ~10 us per reset; without one, eight
 * words are tested at once.
 */
export function takeTouchedBits(map: Uint8Array, fn: (bit: number) => void, summary?: Uint8Array): void {
  const words = new Uint32Array(map.buffer, map.byteOffset, map.length >> 2);
  if (summary) {
    const flags = new Uint32Array(summary.buffer, summary.byteOffset, summary.length >> 2);
    for (let i = 0; i < flags.length; i++) {
      let f = flags[i]!;
      if (f === 0) continue;
      flags[i] = 0;
      for (; f !== 0; f &= f - 1) takeWord(words, i * 32 + 31 - Math.clz32(f & -f), fn);
    }
    return;
  }
  for (let g = 0; g < words.length; g += 8) {
    if ((words[g]! | words[g + 1]! | words[g + 2]! | words[g + 3]! | words[g + 4]! | words[g + 5]! | words[g + 6]! | words[g + 7]!) === 0) continue;
    for (let w = g; w < g + 8; w++) takeWord(words, w, fn);
  }
}

/** Calls `fn` with the bit numbers set in word `w` of `words` and clears it. */
function takeWord(words: Uint32Array, w: number, fn: (bit: number) => void): void {
  let bits = words[w]!;
  if (bits === 0) return;
  words[w] = 0;
  while (bits !== 0) {
    const b = 31 - Math.clz32(bits);
    bits &= ~(1 << b);
    fn(w * 32 + b);
  }
}

/**
 * Invalidates every cache of `core` and empties the IOTLB's slots too: an
 * invalidation is O(1) (a generation bump) and leaves dead entries whose
 * lookups and victim choice take other paths, so an input's coverage
 * depended on what ran on the machine before it (35 of 60 golden seeds
 * reached other probe counts when run twice). Setting the geometry again
 * (`CFG_IOTLB_WAYS`, same value) clears the table, its fingerprints and
 * size counts (asm cache/iotlb.ts iotlbResize), then invalidates all.
 */
export function emptyCaches(core: Core): void {
  core.setConfig(K.CFG_IOTLB_WAYS, core.getConfig(K.CFG_IOTLB_WAYS));
}

/** Zeros to compare the start of a range with (the rest is compared with itself, see allZero). */
const ZEROS = Buffer.alloc(ZERO_LEAD);

/**
 * True when bytes [from, to) of `b` are all zero. Its first ZERO_LEAD
 * bytes are compared with zeros, then every byte with the one ZERO_LEAD
 * before it (one memcmp of the range with itself shifted): equal means each
 * byte equals a zero by induction. It reads RAM once, cache-near, where a
 * compare with a zero buffer streams both (2x the CPU on 16 MiB of RAM;
 * the plain compare is kept in the pool test as the reference).
 */
export function allZero(b: Buffer, from: number, to: number): boolean {
  const lead = Math.min(to - from, ZERO_LEAD);
  if (lead <= 0) return true;
  if (b.compare(ZEROS, 0, lead, from, from + lead) !== 0) return false;
  return to - from <= ZERO_LEAD || b.compare(b, from, to - ZERO_LEAD, from + ZERO_LEAD, to) === 0;
}

/** The write watch of a GuestMemory: who hears of writes now, and its `fill` unwatched. */
interface RamWatch {
  sink: (gpa: number, len: number) => void;
  readonly rawFill: GuestMemory['fill'];
}

/** Watches installed, by GuestMemory: a VMM-backed machine's RAM is its physical host's, shared by every VM of the host. */
const ramWatches = new WeakMap<GuestMemory, RamWatch>();

/**
 * Calls `sink(gpa, len)` before every host write to guest RAM through `ram`
 * (instance methods wrapped once per GuestMemory: a later call, for the
 * next VM on the same host RAM, only replaces the sink; wrapping again
 * stacked one wrapper per VM execution on every write); returns `fill` unwatched.
 */
export function watchRamWrites(ram: GuestMemory, sink: (gpa: number, len: number) => void): GuestMemory['fill'] {
  const known = ramWatches.get(ram);
  if (known) {
    known.sink = sink;
    return known.rawFill;
  }
  const watch: RamWatch = { sink, rawFill: ram.fill.bind(ram) };
  ramWatches.set(ram, watch);
  const target = ram as unknown as Record<string, (a0: unknown, a1: unknown, a2: unknown) => unknown>;
  for (const [name, lenOf] of Object.entries(WRITERS)) {
    const fn = target[name];
    if (typeof fn !== 'function') continue;
    // Fixed arity (no rest array or apply per write: a step's u64 writes each pass here).
    target[name] = (a0: unknown, a1: unknown, a2: unknown) => {
      const gpa = Number(a0);
      const len = lenOf(a1);
      if (Number.isFinite(gpa) && gpa >= 0 && len > 0) watch.sink(gpa, len);
      return fn.call(ram, a0, a1, a2);
    };
  }
  return watch.rawFill;
}

/**
 * Machines kept at most, and their guest RAM at most (MiB): each holds a
 * core instance with its RAM; past either bound the least recently used
 * goes. Mutants vary the machine often (profiles, modes, devices): with 8
 * machines 58% of executions built one, with 32 about 15%, with 128 (and
 * 4 GiB) 2.5% (seed 1, 2000 runs: 49 builds where 32 machines and 1 GiB
 * built 299; a build costs ~10 ms and a new wasm memory, whose external
 * allocation drives V8's full collections; a 4 GiB bound made the 256 MiB
 * seeds evict machines over and over). The RAM bound is nominal: only
 * pages an input touched become resident (tracked snapshots and restores
 * never sweep all RAM), so 128 machines of 16 MiB stayed near 500 MB RSS.
 */
export const POOL_MACHINES = 128;
export const POOL_RAM_MIB = 16384;

/** Pool keys by machine description object (inputs share their parent's: the JSON text was made per execution). */
const poolKeys = new WeakMap<RawMachine, string>();

/** The pool key of `raw`: its description less the processor count (the APICs are the pool's, not the machine's: one machine serves every count). */
function poolKey(raw: RawMachine): string {
  let key = poolKeys.get(raw);
  if (key === undefined) {
    const { cpus: _cpus, ...built } = raw;
    poolKeys.set(raw, (key = JSON.stringify(built)));
  }
  return key;
}

/** Machines by description, each on its own instance of the module (least recently used dropped past POOL_MACHINES). */
export class MachinePool {
  private readonly machines = new Map<string, PooledMachine>();
  /** Machines built (each a miss: a new description, or one dropped before). */
  built = 0;

  private ramMib = 0;

  constructor(private readonly newCore: () => Core, private readonly capacity = POOL_MACHINES, private readonly ramBudgetMib = POOL_RAM_MIB) {}

  /** The pooled machine of `raw`, reset to its start state (built on first use). */
  async get(raw: RawMachine): Promise<PooledMachine> {
    const key = poolKey(raw);
    let pm = this.machines.get(key);
    if (pm) {
      this.machines.delete(key); // most recently used last
      this.machines.set(key, pm);
      pm.reset(raw.cpus ?? 1);
      return pm;
    }
    pm = await PooledMachine.create(raw, this.newCore());
    this.built++;
    this.machines.set(key, pm);
    this.ramMib += raw.ram_mib;
    while (this.machines.size > 1 && (this.machines.size > this.capacity || this.ramMib > this.ramBudgetMib)) {
      const [oldest, old] = this.machines.entries().next().value!;
      this.machines.delete(oldest);
      this.ramMib -= old.ramMib;
    }
    return pm;
  }

  /** Machines held now. */
  get size(): number {
    return this.machines.size;
  }
}
