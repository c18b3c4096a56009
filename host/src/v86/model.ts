/**
 * The IOMMU model over an emulator's own memory: the one place the v86
 * integration meets the core and the VT-d unit. The core is instantiated
 * over the emulator's `WebAssembly.Memory` (it imports its memory), keeps its
 * private state in a region the embedder grants in that memory, and sees
 * guest RAM as regions placed by byte offset over the emulator's RAM. Table
 * walks, descriptor fetches and status / fault-record writes are wasm loads
 * and stores on the emulator's RAM: nothing is copied (docs/EMBEDDING.md,
 * "Running over the emulator's memory").
 */
import * as K from '../core/constants.js';
import { Core, type CoreExports } from '../core/core.js';
import { GuestMemory } from '../core/guest-memory.js';
import type { InterruptSink } from '../vtd/interrupts.js';
import { createProfile, type IommuOptions } from '../vtd/profiles.js';
import { VtdUnit } from '../vtd/vtd-unit.js';

/** A guest-physical RAM range and where its bytes are in the emulator's memory. */
export interface RamRegion {
  /** First guest-physical address (4 KiB aligned). */
  readonly gpa: number;
  /** Size in bytes (4 KiB multiple). */
  readonly size: number;
  /** Byte offset of `gpa` in the emulator's memory. */
  readonly offset: number;
}

/** A range of the emulator's memory the core may use for its own state. */
export interface StateRegion {
  /** First byte (4 KiB aligned). */
  readonly base: number;
  /** Size in bytes (4 KiB multiple, at least STATE_BYTES_MIN). */
  readonly bytes: number;
}

/** What `createEmbeddedIommu` needs. */
export interface EmbeddedIommuOptions {
  /** The compiled core (build/viommu.wasm) or its bytes. */
  readonly core: WebAssembly.Module | BufferSource;
  /** The emulator's memory: guest RAM lives in it, the core runs over it. */
  readonly memory: WebAssembly.Memory;
  /** Guest RAM inside `memory`. */
  readonly ram: readonly RamRegion[];
  /** Where in `memory` the core keeps its state. */
  readonly state: StateRegion;
  /** Capability profile name ('default', 'qemu-7.2', ...). */
  readonly profile?: string;
  /** VT-d options of the profile. */
  readonly iommu?: Partial<IommuOptions>;
  /** Receives the unit's interrupts (fault, invalidation, page-request events). */
  readonly onInterrupt?: InterruptSink;
  /** Guest programming errors, one line each. */
  readonly log?: (msg: string) => void;
}

/** `flags` bit of a write request (device -> memory), as the DMA port's REQ.WRITE. */
export const REQ_WRITE = 0x02;
/** Largest range one `translate` takes. */
export const MAX_TRANSLATE_BYTES = 1 << 24;

/**
 * Guest-physical runs of a translate-only request: run i is `len[i]` bytes
 * at `gpa[i]`, in IOVA order, adjacent pages merged; after a fault, the
 * prefix before the faulting page. Reused by every request of its port.
 */
export interface GpaRunList {
  /** Runs filled. */
  readonly count: number;
  /** Guest-physical start of each run. */
  readonly gpa: Float64Array;
  /** Length of each run. */
  readonly len: Float64Array;
}

/** A device's translate-only DMA path: the part of the DMA port a device that moves its own data uses. */
export interface TranslatePort {
  /** Requester id of the device. */
  readonly sid: number;
  /** Runs of the last `translate`. */
  readonly runs: GpaRunList;
  /**
   * [iova, iova + len) as guest-physical `runs`, checked for `flags`
   * (REQ_WRITE for a write); returns 0, or the VT-d fault reason after
   * reporting the fault to the unit (recorded, collapsed or suppressed as the
   * guest's tables and registers say).
   */
  translate(iova: number, len: number, flags?: number): number;
}

/**
 * A VT-d unit and its core running over an emulator's memory, with the
 * number-only calls a device model makes on its hot path.
 */
export class EmbeddedIommu {
  private readonly ports = new Map<number, TranslatePort>();

  private constructor(
    /** The core (its memory is the emulator's). */
    readonly core: Core,
    /** The VT-d unit the guest programs. */
    readonly unit: VtdUnit,
  ) {}

  /** Instantiates the core over `o.memory` and builds the unit. Throws naming the bad option. */
  static async create(o: EmbeddedIommuOptions): Promise<EmbeddedIommu> {
    const profile = createProfile(o.profile ?? 'default', o.iommu); // bad options fail before memory is touched
    const module = o.core instanceof WebAssembly.Module ? o.core : await WebAssembly.compile(o.core);
    const core = instantiateOver(module, o.memory, o.state);
    o.ram.forEach((r, i) => {
      const at = (core.exports as CoreExports & { ramMapRegion(gpa: number, size: number, offset: number): number }).ramMapRegion(r.gpa, r.size, r.offset);
      if (at < 0) throw new Error(`ram[${i}]: region gpa 0x${r.gpa.toString(16)} size 0x${r.size.toString(16)} at offset 0x${r.offset.toString(16)} rejected (error ${at})`);
    });
    const unit = VtdUnit.create({ core, mem: new GuestMemory(core), profile, onInterrupt: o.onInterrupt, log: o.log });
    return new EmbeddedIommu(core, unit);
  }

  /** A 32-bit guest read of the register at byte `offset`. */
  read32(offset: number): number {
    return Number(this.unit.mmioRead(offset, 4));
  }

  /** A 32-bit guest write of `value` (0..2^32-1) to the register at byte `offset`. */
  write32(offset: number, value: number): void {
    this.unit.mmioWrite(offset, 4, BigInt(value >>> 0));
  }

  /** The translate-only DMA port of requester `sid` (one per requester id). */
  portFor(sid: number): TranslatePort {
    if (!Number.isInteger(sid) || sid < 0 || sid > 0xffff) throw new Error(`sid: ${sid} is not a requester id (0..0xffff)`);
    let port = this.ports.get(sid);
    if (!port) this.ports.set(sid, port = new RunsPort(this, sid));
    return port;
  }

  /** The core's counters (translations, IOTLB hits and misses, walks, faults, ...). */
  stats(): Record<string, number> {
    return this.core.stats();
  }
}

/** Translate-only requests without PASID through the core, page by page, faults reported to the unit. */
class RunsPort implements TranslatePort {
  readonly runs = { count: 0, gpa: new Float64Array(16), len: new Float64Array(16) };

  constructor(private readonly iommu: EmbeddedIommu, readonly sid: number) {}

  translate(iova: number, len: number, flags = 0): number {
    if (!Number.isSafeInteger(iova) || iova < 0) throw new Error(`iova: ${iova} is not an address below 2^53`);
    if (!Number.isInteger(len) || len < 1 || len > MAX_TRANSLATE_BYTES) throw new Error(`len: ${len} is not in 1..${MAX_TRANSLATE_BYTES}`);
    const write = (flags & REQ_WRITE) !== 0;
    const { core, unit } = this.iommu;
    const out = core.out;
    this.runs.count = 0;
    for (let at = iova, left = len; left > 0;) {
      const status = core.translateRaw(this.sid, 0, Math.floor(at / 0x1_0000_0000), at >>> 0, write ? K.ACC_WRITE : K.ACC_READ);
      if (status !== 0) {
        unit.reportCoreFault(this.sid, !write);
        return status;
      }
      const size = 2 ** out[K.OUT_PAGE_LG2]!;
      const n = Math.min(left, size - (at % size));
      this.add(out[K.OUT_ADDR_HI]! * 0x1_0000_0000 + out[K.OUT_ADDR_LO]!, n);
      at += n;
      left -= n;
    }
    return 0;
  }

  private add(gpa: number, n: number): void {
    const r = this.runs;
    const k = r.count;
    if (k > 0 && r.gpa[k - 1]! + r.len[k - 1]! === gpa) {
      r.len[k - 1]! += n;
      return;
    }
    if (k === r.gpa.length) {
      const gpas = new Float64Array(k * 2);
      const lens = new Float64Array(k * 2);
      gpas.set(r.gpa);
      lens.set(r.len);
      r.gpa = gpas;
      r.len = lens;
    }
    r.gpa[k] = gpa;
    r.len[k] = n;
    r.count = k + 1;
  }
}

/** The core's smallest state region (abi/layout.ts STATE_BYTES_MIN). */
export const STATE_BYTES_MIN = 4 << 20;

/** Instantiates `module` over `memory` with its state in `state`; throws naming the bad argument. */
function instantiateOver(module: WebAssembly.Module, memory: WebAssembly.Memory, state: StateRegion): Core {
  const imports = WebAssembly.Module.imports(module);
  if (!imports.some((i) => i.kind === 'memory')) {
    throw new Error('core: this build of the core owns its memory; embedding over an emulator\'s memory needs the build that imports it');
  }
  if (state.base % 4096 !== 0 || state.bytes % 4096 !== 0 || state.bytes < STATE_BYTES_MIN || state.base + state.bytes > memory.buffer.byteLength) {
    throw new Error(`state: [0x${state.base.toString(16)}, +0x${state.bytes.toString(16)}) is not a 4 KiB-aligned region of at least ${STATE_BYTES_MIN} bytes inside the memory`);
  }
  const env = {
    memory,
    stateBase: new WebAssembly.Global({ value: 'f64', mutable: false }, state.base),
    stateBytes: new WebAssembly.Global({ value: 'f64', mutable: false }, state.bytes),
  };
  const instance = new WebAssembly.Instance(module, { env });
  return new Core(instance.exports as unknown as CoreExports);
}
