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
import { Core, type CoreExports } from '../core/core.js';
import { GuestMemory } from '../core/guest-memory.js';
import type { DmaPort } from '../pci/dma-port.js';
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

/**
 * A VT-d unit and its core running over an emulator's memory, with the
 * number-only calls a device model makes on its hot path.
 */
export class EmbeddedIommu {
  private readonly ports = new Map<number, DmaPort>();

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
    return this.unit.read32(offset);
  }

  /** A 32-bit guest write of `value` (0..2^32-1) to the register at byte `offset`. */
  write32(offset: number, value: number): void {
    this.unit.write32(offset, value);
  }

  /** The DMA port of requester `sid` (one per requester id, reused). */
  portFor(sid: number): DmaPort {
    let port = this.ports.get(sid);
    if (!port) this.ports.set(sid, port = this.unit.portFor(sid));
    return port;
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
