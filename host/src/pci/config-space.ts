/**
 * A PCI function's configuration space (PCI Local Bus spec §6.1, PCIe §7):
 * 4 KiB of registers with per-byte writable masks. This first version holds
 * the type-0 header (identity, command, BAR0 size probing); capability lists
 * arrive with the full PCI model.
 */

/** Identity of a PCI function (header type 0). */
export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  /** Class code: base << 16 | sub << 8 | prog-if. */
  readonly classCode: number;
  readonly revision: number;
  /** Size of memory BAR0 in bytes (power of two, >= 16), or 0 for none. */
  readonly bar0Size: number;
}

/** Configuration-space offsets of the type-0 header. */
export const CFG = {
  VENDOR_ID: 0x00, DEVICE_ID: 0x02, COMMAND: 0x04, STATUS: 0x06, REVISION: 0x08,
  CLASS: 0x09, HEADER_TYPE: 0x0e, BAR0: 0x10,
} as const;

/** Command register bits. */
export const CMD = { MEMORY: 1 << 1, BUS_MASTER: 1 << 2 } as const;

/** 4 KiB configuration space with masked writes. */
export class ConfigSpace {
  private readonly bytes = new Uint8Array(4096);
  private readonly writable = new Uint8Array(4096);
  private readonly view = new DataView(this.bytes.buffer);

  constructor(readonly identity: PciIdentity) {
    this.view.setUint16(CFG.VENDOR_ID, identity.vendorId, true);
    this.view.setUint16(CFG.DEVICE_ID, identity.deviceId, true);
    this.bytes[CFG.REVISION] = identity.revision;
    this.bytes[CFG.CLASS] = identity.classCode & 0xff;
    this.bytes[CFG.CLASS + 1] = (identity.classCode >> 8) & 0xff;
    this.bytes[CFG.CLASS + 2] = (identity.classCode >> 16) & 0xff;
    this.writable[CFG.COMMAND] = CMD.MEMORY | CMD.BUS_MASTER;
    if (identity.bar0Size) {
      const mask = ~(identity.bar0Size - 1) >>> 0;
      for (let i = 0; i < 4; i++) this.writable[CFG.BAR0 + i] = (mask >>> (8 * i)) & 0xff;
    }
  }

  /** Reads 1, 2 or 4 bytes (naturally aligned); other accesses read all-ones, as on PCI. */
  read(offset: number, size: number): number {
    if (!validAccess(offset, size)) return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.bytes[offset + i]!;
    return v >>> 0;
  }

  /** Writes 1, 2 or 4 bytes through the writable masks; bad accesses are ignored. */
  write(offset: number, size: number, value: number): void {
    if (!validAccess(offset, size)) return;
    for (let i = 0; i < size; i++) {
      const m = this.writable[offset + i]!;
      const b = (value >>> (8 * i)) & 0xff;
      this.bytes[offset + i] = (this.bytes[offset + i]! & ~m) | (b & m);
    }
  }

  /** Current BAR0 base address (memory BAR, 32-bit). */
  bar0(): number {
    return this.view.getUint32(CFG.BAR0, true) & ~0xf;
  }

  /** Sets BAR0 as firmware would during enumeration. */
  assignBar0(base: number): void {
    this.view.setUint32(CFG.BAR0, base >>> 0, true);
  }

  /** True when memory decoding (Command.MEM) is on. */
  memoryEnabled(): boolean {
    return (this.bytes[CFG.COMMAND]! & CMD.MEMORY) !== 0;
  }

  /** True when the function may master DMA (Command.BME). */
  busMaster(): boolean {
    return (this.bytes[CFG.COMMAND]! & CMD.BUS_MASTER) !== 0;
  }
}

function validAccess(offset: number, size: number): boolean {
  return (size === 1 || size === 2 || size === 4) && Number.isInteger(offset)
    && offset >= 0 && offset + size <= 4096 && offset % size === 0;
}
