/**
 * The parts of v86 (npm `v86`, tested with 0.5.462) the integration touches,
 * as structural types. v86 has no typed API for its internals; these names
 * survive its minified build (`emulator.v86.cpu`, `cpu.io.mmap_register`,
 * ...). Source of truth: src/cpu.js, src/io.js, src/ide.js and
 * src/rust/cpu/apic.rs of github.com/copy/v86.
 */
import type { Gpa, Iova } from '../types.js';

/** A file v86 serves to SeaBIOS through fw_cfg (`FW_CFG_FILE_DIR`). */
export interface V86FwCfgFile {
  /** The fw_cfg name; SeaBIOS appends every `acpi/*` file to the ACPI tables. */
  name: string;
  /** The file's bytes. */
  data: Uint8Array;
}

/** v86's physical-address decoder (src/io.js). */
export interface V86Io {
  /**
   * Routes physical accesses in [base, base + size) to the handlers; base and
   * size are multiples of 128 KiB (MMAP_BLOCK_SIZE). Addresses arrive as
   * signed 32-bit numbers; 64- and 128-bit stores arrive as 32-bit writes,
   * lowest address first; 16-bit accesses as two 8-bit ones.
   */
  mmap_register(
    base: number, size: number,
    read8: (addr: number) => number, write8: (addr: number, value: number) => void,
    read32: (addr: number) => number, write32: (addr: number, value: number) => void,
  ): void;
}

/** The members of v86's CPU object the integration and the IDE's DMA paths use. */
export interface V86Cpu {
  /** v86's wasm memory: guest RAM, the local APIC state and v86's own state. */
  wasm_memory: WebAssembly.Memory;
  /** Guest RAM (a view that re-creates itself when the memory grows). */
  mem8: Uint8Array;
  /** Guest RAM size in bytes at word 0. */
  memory_size: ArrayLike<number>;
  /** fw_cfg files; read by SeaBIOS while it boots. */
  option_roms: V86FwCfgFile[];
  /** Port and physical-address decoding. */
  io: V86Io;
  /** Devices by name (`ide`, `pci`, `rtc`, ...). */
  devices: V86Devices;
  /** Byte offset of the local APIC state (apic.rs `Apic`) in `wasm_memory`. */
  get_apic_addr(): number;
  /** Wakes a halted CPU loop so pending interrupts are looked at now. */
  stop_idling(): void;
  /** Guest-physical loads and stores (RAM or MMIO). */
  read8(addr: Gpa<number>): number;
  read16(addr: Gpa<number>): number;
  read32s(addr: Gpa<number>): number;
  write_blob(blob: Uint8Array, addr: Gpa<number>): void;
}

/** v86's devices the integration looks at. */
export interface V86Devices {
  /** The PIIX IDE controller (absent without disks). */
  ide?: V86IdeController;
  /** Anything else v86 keeps here (rtc, pci, ...). */
  readonly [name: string]: unknown;
}

/** The PIIX3 IDE controller (src/ide.js IDEController). */
export interface V86IdeController {
  /** PCI requester id (bus << 8 | device << 3 | function): 0x00F0, 00:1e.0. */
  pci_id: number;
  /** Channel 0 (ports 0x1F0), absent without a primary disk. */
  primary?: V86IdeChannel;
  /** Channel 1 (ports 0x170). */
  secondary?: V86IdeChannel;
}

/** One IDE channel with its bus-master registers (src/ide.js IDEChannel). */
export interface V86IdeChannel {
  /** The drive at position 0. */
  master: V86IdeInterface;
  /** The drive at position 1. */
  slave: V86IdeInterface;
  /** Bus-master IDE status (BMIS): bit 0 active, bit 1 error, bit 2 interrupt. */
  dma_status: number;
}

/**
 * One drive (src/ide.js IDEInterface). Its DMA paths (`do_ata_read_sectors_dma`,
 * `do_ata_write_sectors_dma`, `do_atapi_dma`) fetch the PRD table with
 * `cpu.read32s/read16/read8` and move data with `cpu.write_blob` and
 * `cpu.mem8.subarray`, all through its own `cpu` member.
 */
export interface V86IdeInterface {
  /** What the drive's DMA paths use as guest memory. */
  cpu: V86BusMasterMemory;
  /** The channel the drive sits on. */
  channel: V86IdeChannel;
}

/**
 * The memory interface an IDE drive's DMA paths call (a subset of `V86Cpu`).
 * Its addresses are bus addresses: IOVAs translated by the IOMMU once
 * `BusMaster` stands in for the CPU (guest-physical without an IOMMU).
 */
export interface V86BusMasterMemory {
  read8(addr: Iova<number>): number;
  read16(addr: Iova<number>): number;
  read32s(addr: Iova<number>): number;
  write_blob(blob: Uint8Array, addr: Iova<number>): void;
  /** Only `.subarray(start, end)` is used on the DMA paths. */
  readonly mem8: { subarray(start: number, end: number): Uint8Array };
  /** Read by the drive's constructor (CMOS), forwarded. */
  readonly devices: V86Devices;
}

/** The emulator object `new V86(...)` returns, as far as the integration uses it. */
export interface V86Emulator {
  /** The machine; `v86.cpu` is the CPU. */
  v86: { cpu: V86Cpu };
}
