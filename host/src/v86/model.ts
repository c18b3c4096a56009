/**
 * The IOMMU model over an emulator's own memory: the one place the v86
 * integration meets the core and the VT-d unit. The core is instantiated
 * over the emulator's `WebAssembly.Memory` (`loadCoreFrom`, docs/EMBEDDING.md
 * §2: it imports its memory and keeps its private state in a region of that
 * memory the embedder grants, or in pages grown for it at the end), and guest
 * RAM is mapped by byte offset over the emulator's RAM (`Core.mapRam`). Table
 * walks, descriptor fetches and status / fault-record writes are wasm loads
 * and stores on the emulator's RAM: nothing is copied.
 */
import type { Core } from '../core/core.js';
import { GuestMemory } from '../core/guest-memory.js';
import { loadCoreFrom } from '../core/load.js';
import type { DmaPort } from '../pci/dma-port.js';
import type { InterruptSink } from '../vtd/interrupts.js';
import { createProfile, type IommuOptions } from '../vtd/profiles.js';
import { VtdUnit } from '../vtd/vtd-unit.js';
import type { Sid, Gpa } from '../types.js';

/** A guest-physical RAM range and where its bytes are in the emulator's memory. */
export interface RamRegion {
  /** First guest-physical address (4 KiB aligned). */
  readonly gpa: Gpa<number>;
  /** Size in bytes (4 KiB multiple). */
  readonly size: number;
  /** Byte offset of `gpa` in the emulator's memory. */
  readonly offset: number;
}

/** What `EmbeddedIommu.create` needs. */
export interface EmbeddedIommuOptions {
  /** The compiled core (build/viommu.wasm) or its bytes. */
  readonly core: WebAssembly.Module | BufferSource;
  /** The emulator's memory: guest RAM lives in it, the core runs over it. */
  readonly memory: WebAssembly.Memory;
  /** Guest RAM inside `memory`. */
  readonly ram: readonly RamRegion[];
  /**
   * Byte offset of a region of `memory` the emulator grants the core for its
   * state (4 KiB aligned, never used by the emulator). Absent: `memory` is
   * grown by `stateBytes` and the new pages are the core's.
   */
  readonly stateBase?: number;
  /** Size of the state region (a 4 KiB multiple of at least STATE_BYTES_MIN); default DEFAULT_STATE_BYTES (8 MiB). */
  readonly stateBytes?: number;
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

  /**
   * Instantiates the core over `o.memory`, maps guest RAM and builds the
   * unit. Throws an Error naming the bad option; a bad profile, option or
   * RAM region fails before `memory` is grown.
   */
  static async create(o: EmbeddedIommuOptions): Promise<EmbeddedIommu> {
    const profile = createProfile(o.profile ?? 'default', o.iommu);
    o.ram.forEach(checkRegion);
    const core = await loadCoreFrom(o.core, { memory: o.memory, stateBase: o.stateBase, stateBytes: o.stateBytes });
    o.ram.forEach((r) => core.mapRam(r.gpa, r.size, r.offset));
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
  portFor(sid: Sid): DmaPort {
    let port = this.ports.get(sid);
    if (!port) this.ports.set(sid, port = this.unit.portFor(sid));
    return port;
  }

  /** The core's counters (translations, IOTLB hits and misses, walks, faults, ...). */
  stats(): Record<string, number> {
    return this.core.stats();
  }
}

/** Refuses a region the core could not map, before anything changes (Core.mapRam's rules). */
function checkRegion(r: RamRegion, i: number): void {
  const ok = (v: number): boolean => Number.isSafeInteger(v) && v >= 0 && v % 4096 === 0;
  if (!ok(r.gpa) || !ok(r.size) || r.size === 0 || !Number.isSafeInteger(r.offset) || r.offset < 0) {
    throw new Error(`ram[${i}]: gpa 0x${Number(r.gpa).toString(16)} size 0x${Number(r.size).toString(16)} at offset ${String(r.offset)} is not a non-empty 4 KiB-aligned range at a byte offset`);
  }
}
