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
import { VtdUnit, type DmaFault } from '../vtd/vtd-unit.js';

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

/** Most guest-physical runs one `translateRange` call reports (one per page at worst). */
export const MAX_RUNS = 64;
/** Faults `EmbeddedIommu.faults` keeps. */
export const FAULT_HISTORY = 64;
/** Longest range `translateRange` takes: MAX_RUNS 4 KiB pages, the first one possibly partial. */
export const MAX_RANGE = (MAX_RUNS - 1) * 0x1000;

/**
 * A VT-d unit and its core running over an emulator's memory, with the
 * number-only calls a device model makes on its hot path.
 */
export class EmbeddedIommu {
  /**
   * Guest-physical runs of the last successful `translateRange`:
   * (gpa, length) pairs, `runCount` of them. Reused by every call.
   */
  readonly runs = new Float64Array(MAX_RUNS * 2);
  /** Number of (gpa, length) pairs in `runs`. */
  runCount = 0;
  /** Bytes translated before the fault of the last failed `translateRange`. */
  translatedBytes = 0;
  /** Faults of `translateRange` calls, newest last (the last FAULT_HISTORY of them). */
  readonly faults: DmaFault[] = [];
  /** Every fault of `translateRange` calls since creation. */
  faultCount = 0;

  private constructor(
    /** The core (its memory is the emulator's). */
    readonly core: Core,
    /** The VT-d unit the guest programs. */
    readonly unit: VtdUnit,
  ) {}

  /** Instantiates the core over `o.memory` and builds the unit. Throws naming the bad option. */
  static async create(o: EmbeddedIommuOptions): Promise<EmbeddedIommu> {
    const module = o.core instanceof WebAssembly.Module ? o.core : await WebAssembly.compile(o.core);
    const core = instantiateOver(module, o.memory, o.state);
    o.ram.forEach((r, i) => {
      const at = (core.exports as CoreExports & { ramMapRegion(gpa: number, size: number, offset: number): number }).ramMapRegion(r.gpa, r.size, r.offset);
      if (at < 0) throw new Error(`ram[${i}]: region gpa 0x${r.gpa.toString(16)} size 0x${r.size.toString(16)} at offset 0x${r.offset.toString(16)} rejected (error ${at})`);
    });
    const profile = createProfile(o.profile ?? 'default', o.iommu);
    const unit = VtdUnit.create({ core, mem: new GuestMemory(core), profile, onInterrupt: o.onInterrupt, log: o.log });
    return new EmbeddedIommu(core, unit);
  }

  /** A 32-bit guest read of the register at byte `offset`. */
  mmioRead32(offset: number): number {
    return Number(this.unit.mmioRead(offset, 4));
  }

  /** A 32-bit guest write of `value` (0..2^32-1) to the register at byte `offset`. */
  mmioWrite32(offset: number, value: number): void {
    this.unit.mmioWrite(offset, 4, BigInt(value >>> 0));
  }

  /**
   * Translates a DMA of `len` bytes at `iova` from requester `rid` without
   * PASID (`write`: device writes memory). Returns 0 and fills `runs`, or the
   * fault reason after reporting the fault to the unit (recorded, collapsed or
   * suppressed as the guest's tables and registers say); `translatedBytes`
   * then tells how much of the range translated before it.
   */
  translateRange(rid: number, iova: number, len: number, write: boolean): number {
    if (!Number.isInteger(len) || len < 1 || len > MAX_RANGE) throw new Error(`len: ${len} is not in 1..${MAX_RANGE}`);
    if (!Number.isSafeInteger(iova) || iova < 0) throw new Error(`iova: ${iova} is not an address below 2^53`);
    if (!Number.isInteger(rid) || rid < 0 || rid > 0xffff) throw new Error(`rid: ${rid} is not a requester id (0..0xffff)`);
    const access = write ? K.ACC_WRITE : K.ACC_READ;
    const out = this.core.out;
    let n = 0;
    let done = 0;
    while (done < len) {
      const at = iova + done;
      const status = this.core.translateRaw(rid, 0, Math.floor(at / 0x1_0000_0000), at >>> 0, access);
      if (status !== 0) {
        this.translatedBytes = done;
        this.runCount = n;
        this.noteFault(this.unit.reportCoreFault(rid, !write));
        return status;
      }
      const gpa = out[K.OUT_ADDR_HI]! * 0x1_0000_0000 + out[K.OUT_ADDR_LO]!;
      const pageLeft = 2 ** out[K.OUT_PAGE_LG2]! - (gpa % 2 ** out[K.OUT_PAGE_LG2]!);
      const chunk = Math.min(pageLeft, len - done);
      if (n > 0 && this.runs[2 * n - 2]! + this.runs[2 * n - 1]! === gpa) this.runs[2 * n - 1]! += chunk;
      else {
        this.runs[2 * n] = gpa;
        this.runs[2 * n + 1] = chunk;
        n++;
      }
      done += chunk;
    }
    this.runCount = n;
    this.translatedBytes = done;
    return 0;
  }

  private noteFault(f: DmaFault): void {
    this.faultCount++;
    this.faults.push(f);
    if (this.faults.length > FAULT_HISTORY) this.faults.shift();
  }

  /** The core's counters (translations, IOTLB hits and misses, walks, faults, ...). */
  stats(): Record<string, number> {
    return this.core.stats();
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
