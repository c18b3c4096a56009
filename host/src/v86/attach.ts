/**
 * Puts a VT-d unit into a v86 emulator (docs/EMBEDDING.md §15):
 *
 * - the ACPI DMAR table (§8: one DRHD, INCLUDE_PCI_ALL) goes to SeaBIOS as
 *   fw_cfg file `acpi/dmar`, which its ACPI builder appends to the RSDT (the
 *   emulator must be created with `acpi: true`, and attached before `run()`);
 * - the registers appear at 0xFED90000 (register-window.ts);
 * - the PIIX IDE controller's bus-master DMA (PRD fetches and data) goes
 *   through the unit with its requester id 00:1e.0 (bus-master.ts); a faulted
 *   transfer sets the channel's bus-master error bit (BMIS bit 1);
 * - the unit's interrupt messages reach the local APIC (local-apic.ts);
 * - the core runs over v86's own `WebAssembly.Memory`, its state in pages
 *   grown for it at the end of that memory (model.ts): no copy of guest RAM.
 */
import { buildDmar } from '../acpi/dmar.js';
import { CFG_HAW } from '../core/constants.js';
import type { IommuOptions } from '../vtd/profiles.js';
import { BusMaster } from './bus-master.js';
import type { MsiMessage } from '../vtd/interrupts.js';
import { V86LocalApic, type MsiOutcome } from './local-apic.js';
import { EmbeddedIommu, type RamRegion } from './model.js';
import { mapRegisterWindow, type WindowCounters } from './register-window.js';
import type { V86Cpu, V86Emulator, V86IdeChannel } from './v86-types.js';
import type { Sid } from '../types.js';

/** Default physical base of the registers (q35's DMAR base; v86 has nothing there). */
export const V86_VTD_BASE = 0xfed9_0000;
/** The legacy VGA / option-ROM hole of a PC: 0xA0000-0xFFFFF is not RAM a device may target. */
const PC_HOLE = { start: 0xa_0000, end: 0x10_0000 } as const;

/** Options of `attachIommu`. */
export interface AttachOptions {
  /** The compiled core (build/viommu.wasm) or its bytes; Node callers may use `loadCoreModule()`. */
  readonly core: WebAssembly.Module | BufferSource;
  /** Capability profile ('default', 'qemu-7.2', 'qemu-10.0'). Default 'default'. */
  readonly profile?: string;
  /** VT-d options of the profile (e.g. `{ scalableMode: false }` for a legacy-only unit). */
  readonly iommu?: Partial<IommuOptions>;
  /** Physical base of the registers (4 KiB aligned, 32-bit). Default V86_VTD_BASE. */
  readonly registerBase?: number;
  /** Bytes of v86's memory grown for the core's state (v86's allocator never hands out pages it did not grow). Default DEFAULT_STATE_BYTES (8 MiB). */
  readonly stateBytes?: number;
  /** Guest programming errors and dropped accesses, one line each. */
  readonly log?: (msg: string) => void;
  /** Sees every interrupt message the unit sends and what the local APIC did with it. */
  readonly observeInterrupt?: (msi: MsiMessage, outcome: MsiOutcome) => void;
}

/** A unit attached to a v86 emulator. */
export interface V86Iommu {
  /** The unit and its core (running over v86's memory). */
  readonly iommu: EmbeddedIommu;
  /** The DMAR table handed to the firmware. */
  readonly dmar: Uint8Array;
  /** Guest RAM as the core sees it (regions of v86's memory). */
  readonly ram: readonly RamRegion[];
  /** The IDE controller's requester id, when v86 has one. */
  readonly ideRid: Sid | undefined;
  /** The IDE channels' bus masters (primary, secondary as present). */
  readonly ideBusMasters: readonly BusMaster[];
  /** Interrupt delivery to the CPU. */
  readonly apic: V86LocalApic;
  /** Register accesses seen. */
  readonly window: WindowCounters;
  /** A bus master for any requester id (stray or test DMA from a device v86 does not model). */
  busMaster(rid: Sid): BusMaster;
  /** Every counter in one plain object (CLI, UI). */
  stats(): V86IommuStats;
}

/** What `V86Iommu.stats()` returns. */
export interface V86IommuStats {
  /** The core's counters (translations, IOTLB hits and misses, walks, faults, ...). */
  readonly core: Record<string, number>;
  /** Register accesses. */
  readonly mmio: WindowCounters;
  /** DMA requests, bytes and aborts of the IDE controller. */
  readonly ide: { requests: number; bytes: number; aborted: number };
  /** Interrupt messages delivered, merged and rejected. */
  readonly interrupts: { delivered: number; merged: number; rejected: number };
  /** Model log lines (guest programming errors the unit noticed). */
  readonly logLines: number;
}

/**
 * Attaches a VT-d unit to `emulator` (after its `emulator-loaded` event,
 * before `run()`). Throws an Error naming what is missing when the emulator
 * is not a v86 it knows (or was created without `acpi: true`).
 */
export async function attachIommu(emulator: V86Emulator, options: AttachOptions): Promise<V86Iommu> {
  const cpu = checkedCpu(emulator);
  const base = options.registerBase ?? V86_VTD_BASE;
  if (!Number.isInteger(base) || base < 0 || base > 0xffff_f000 || base % 0x1000 !== 0) {
    throw new Error(`registerBase: 0x${Number(base).toString(16)} is not a 4 KiB-aligned 32-bit physical address`);
  }
  const log = options.log ?? (() => {});
  const ram = ramRegions(cpu);
  const apic = new V86LocalApic(cpu, log);
  const iommu = await EmbeddedIommu.create({
    core: options.core, memory: cpu.wasm_memory, ram, stateBytes: options.stateBytes,
    profile: options.profile, iommu: options.iommu, log,
    onInterrupt: (msi) => {
      const outcome = apic.deliver(msi);
      options.observeInterrupt?.(msi, outcome);
    },
  });
  const dmar = buildDmar({ haw: iommu.core.getConfig(CFG_HAW), registerBase: BigInt(base), includePciAll: true, devices: [], bridges: [] });
  cpu.option_roms.push({ name: 'acpi/dmar', data: dmar });
  const window = mapRegisterWindow(cpu.io, base, iommu, log);
  const ide = cpu.devices.ide;
  const ideBusMasters: BusMaster[] = [];
  for (const channel of [ide?.primary, ide?.secondary]) {
    if (!ide || !channel) continue;
    const bm = new BusMaster(cpu, iommu.portFor(ide.pci_id), ram, () => markBusMasterError(channel));
    channel.master.cpu = bm;
    channel.slave.cpu = bm;
    ideBusMasters.push(bm);
  }
  const stats = (): V86IommuStats => ({
    core: iommu.stats(), mmio: { ...window },
    ide: sumCounters(ideBusMasters), interrupts: { ...apic.counters },
    logLines: iommu.unit.logLines.length,
  });
  return {
    iommu, dmar, ram, ideRid: ide?.pci_id, ideBusMasters, apic, window, stats,
    busMaster: (rid) => new BusMaster(cpu, iommu.portFor(rid), ram, () => {}),
  };
}

/** BMIS bit 1 (Error): what a PIIX channel reports after a master or target abort. */
function markBusMasterError(channel: V86IdeChannel): void {
  channel.dma_status |= 2;
}

function sumCounters(list: readonly BusMaster[]): { requests: number; bytes: number; aborted: number } {
  const s = { requests: 0, bytes: 0, aborted: 0 };
  for (const b of list) {
    s.requests += b.counters.requests;
    s.bytes += b.counters.bytes;
    s.aborted += b.counters.aborted;
  }
  return s;
}

/** The emulator's CPU, after checking the members the integration uses. */
function checkedCpu(emulator: V86Emulator): V86Cpu {
  const cpu = emulator?.v86?.cpu as Partial<V86Cpu> & { acpi_enabled?: ArrayLike<number> } | undefined;
  if (!cpu) throw new Error('emulator: no v86.cpu (pass the object `new V86(...)` returned, after "emulator-loaded")');
  const needed = ['wasm_memory', 'mem8', 'memory_size', 'option_roms', 'io', 'devices', 'get_apic_addr', 'stop_idling', 'write_blob'] as const;
  for (const k of needed) if (cpu[k] === undefined) throw new Error(`emulator: v86.cpu.${k} is missing (tested with v86 0.5.462)`);
  if (cpu.acpi_enabled && cpu.acpi_enabled[0] === 0) throw new Error('emulator: created without `acpi: true`; the guest would find no DMAR table');
  return cpu as V86Cpu;
}

/** Guest RAM of a PC with v86's memory size: below the 0xA0000 hole and from 1 MiB up. */
function ramRegions(cpu: V86Cpu): RamRegion[] {
  const size = cpu.memory_size[0]!;
  const offset = cpu.mem8.byteOffset;
  const regions: RamRegion[] = [{ gpa: 0, size: Math.min(size, PC_HOLE.start), offset }];
  if (size > PC_HOLE.end) regions.push({ gpa: PC_HOLE.end, size: size - PC_HOLE.end, offset: offset + PC_HOLE.end });
  return regions;
}
