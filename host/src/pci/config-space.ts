/**
 * A PCI function's configuration space (PCI Local Bus 3.0 §6.1, PCIe 6.0 §7):
 * 4 KiB of registers with per-byte writable and write-1-to-clear masks, the
 * type-0 (endpoint) or type-1 (bridge) header, memory BARs (32- or 64-bit,
 * sized by writing all-ones), the capability list at 0x34 and the extended
 * capability list at 0x100. Capabilities with side effects register write
 * hooks; everything else is plain masked storage.
 *
 * Guest accesses never throw: unaligned or out-of-range accesses read
 * all-ones and writes to them are dropped, as on a real bus.
 */
import type { Gpa } from '../types.js';

/** A memory BAR of a function. */
export interface BarSpec {
  /** Size in bytes: a power of two, at least 16. */
  readonly size: number;
  /** 64-bit BAR (takes two BAR slots). Default false. */
  readonly is64?: boolean;
  /** Prefetchable memory. Default false. */
  readonly prefetchable?: boolean;
}

/** Identity of a PCI function. */
export interface PciIdentity {
  /** Vendor ID. */
  readonly vendorId: number;
  /** Device ID. */
  readonly deviceId: number;
  /** Class code: base << 16 | sub << 8 | prog-if. */
  readonly classCode: number;
  /** Revision ID. */
  readonly revision: number;
  /** Size of memory BAR0 in bytes (power of two, >= 16), or 0 for none (shorthand for `bars: [{ size }]`). */
  readonly bar0Size?: number;
  /** Memory BARs in slot order (type 0: up to 6 slots; type 1: 2). */
  readonly bars?: readonly BarSpec[];
  /** 0 endpoint (default), 1 PCI-to-PCI bridge. */
  readonly headerType?: 0 | 1;
  /** Subsystem Vendor ID (type 0). */
  readonly subsystemVendorId?: number;
  /** Subsystem ID (type 0). */
  readonly subsystemId?: number;
}

/** Configuration-space offsets of the common header and the type-0 / type-1 specifics. */
export const CFG = {
  VENDOR_ID: 0x00, DEVICE_ID: 0x02, COMMAND: 0x04, STATUS: 0x06, REVISION: 0x08,
  CLASS: 0x09, HEADER_TYPE: 0x0e, BAR0: 0x10, SUBSYS_VENDOR: 0x2c, SUBSYS_ID: 0x2e,
  CAP_PTR: 0x34, INTERRUPT_LINE: 0x3c, INTERRUPT_PIN: 0x3d,
  // type 1 (bridge)
  PRIMARY_BUS: 0x18, SECONDARY_BUS: 0x19, SUBORDINATE_BUS: 0x1a, MEMORY_BASE: 0x20, MEMORY_LIMIT: 0x22,
  BRIDGE_CONTROL: 0x3e,
} as const;

/** Command register bits. */
export const CMD = { IO: 1 << 0, MEMORY: 1 << 1, BUS_MASTER: 1 << 2, INTX_DISABLE: 1 << 10 } as const;
/** Status register bits. */
export const STATUS = { CAP_LIST: 1 << 4 } as const;

/** Start of the extended configuration space (PCIe §7.6). */
export const EXT_CAP_BASE = 0x100;
const CONFIG_SIZE = 4096;

/** Called after a guest write touched bytes [offset, offset + size) inside the hook's range. */
export type ConfigWriteHook = (offset: number, size: number) => void;

/** 4 KiB configuration space with masked writes, BARs and capability lists. */
export class ConfigSpace {
  private readonly bytes = new Uint8Array(CONFIG_SIZE);
  private readonly writable = new Uint8Array(CONFIG_SIZE);
  private readonly w1c = new Uint8Array(CONFIG_SIZE);
  private readonly view = new DataView(this.bytes.buffer);
  private readonly hooks: { start: number; end: number; fn: ConfigWriteHook }[] = [];
  /** Memory BARs: slot index and spec. */
  readonly bars: readonly { slot: number; spec: BarSpec }[];
  private nextCap = 0x40;
  private lastCap = 0;
  private nextExt = EXT_CAP_BASE;
  private lastExt = 0;
  private powerOn?: Uint8Array;
  /**
   * Called when something that moves memory decode may have changed: the
   * command register, a BAR or a bridge's memory window (header bytes
   * 0x04-0x27), or the whole space (reset, restore). The bus's BAR index
   * listens (bus.ts).
   */
  onDecodeChange?: () => void;

  /**
   * A power-on configuration space for the function `identity` describes.
   * @param identity The function's ids, class, header type and BARs.
   */
  constructor(readonly identity: PciIdentity) {
    this.view.setUint16(CFG.VENDOR_ID, identity.vendorId, true);
    this.view.setUint16(CFG.DEVICE_ID, identity.deviceId, true);
    this.bytes[CFG.REVISION] = identity.revision;
    this.bytes[CFG.CLASS] = identity.classCode & 0xff;
    this.bytes[CFG.CLASS + 1] = (identity.classCode >> 8) & 0xff;
    this.bytes[CFG.CLASS + 2] = (identity.classCode >> 16) & 0xff;
    const type = identity.headerType ?? 0;
    this.bytes[CFG.HEADER_TYPE] = type;
    this.setWritable(CFG.COMMAND, 2, CMD.IO | CMD.MEMORY | CMD.BUS_MASTER | CMD.INTX_DISABLE);
    this.setWritable(CFG.INTERRUPT_LINE, 1, 0xff);
    if (type === 0) {
      this.view.setUint16(CFG.SUBSYS_VENDOR, identity.subsystemVendorId ?? identity.vendorId, true);
      this.view.setUint16(CFG.SUBSYS_ID, identity.subsystemId ?? identity.deviceId, true);
    }
    this.bars = this.layoutBars(identity, type === 0 ? 6 : 2);
  }

  // --- guest access ----------------------------------------------------------

  /** Reads 1, 2 or 4 bytes (naturally aligned); other accesses read all-ones, as on PCI. */
  read(offset: number, size: number): number {
    if (!validAccess(offset, size)) return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.bytes[offset + i]!;
    return v >>> 0;
  }

  /** Writes 1, 2 or 4 bytes through the writable / write-1-to-clear masks; bad accesses are ignored. */
  write(offset: number, size: number, value: number): void {
    if (!validAccess(offset, size)) return;
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const b = (value >>> (8 * i)) & 0xff;
      const m = this.writable[at]!;
      this.bytes[at] = ((this.bytes[at]! & ~m) | (b & m)) & ~(b & this.w1c[at]!);
    }
    this.touched(offset, size);
    for (const h of this.hooks) if (offset < h.end && offset + size > h.start) h.fn(offset, size);
  }

  // --- device-side helpers ---------------------------------------------------

  /** Little-endian 16-bit value at `offset` (device side, no side effects). */
  u16(offset: number): number {
    return this.view.getUint16(offset, true);
  }

  /** Little-endian 32-bit value at `offset` (device side, no side effects). */
  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }

  /** Sets bytes as the device (or firmware) does: no masks, no hooks. */
  poke(offset: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) this.bytes[offset + i] = (value >>> (8 * i)) & 0xff;
    this.touched(offset, size);
  }

  /** Marks bits of [offset, offset + size) writable by the guest (`mask` little-endian). */
  setWritable(offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.writable[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Marks bits of [offset, offset + size) write-1-to-clear. */
  setW1c(offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.w1c[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Calls `fn` after every guest write overlapping [start, start + len). */
  onWrite(start: number, len: number, fn: ConfigWriteHook): void {
    this.hooks.push({ start, end: start + len, fn });
  }

  /**
   * Appends a capability (PCI §6.7) of `len` bytes with id `id` to the list
   * at 0x34; returns its offset. Throws naming `len` when 0x40-0xFF is full.
   */
  addCapability(id: number, len: number): number {
    const at = this.nextCap;
    if (len < 2 || at + len > 0x100) throw new Error(`len: no room for a ${len}-byte capability 0x${id.toString(16)}`);
    this.nextCap = (at + len + 3) & ~3;
    this.bytes[at] = id;
    if (this.lastCap) this.bytes[this.lastCap + 1] = at;
    else this.bytes[CFG.CAP_PTR] = at;
    this.lastCap = at;
    this.view.setUint16(CFG.STATUS, this.u16(CFG.STATUS) | STATUS.CAP_LIST, true);
    return at;
  }

  /** Appends an extended capability (PCIe §7.6.3 header: id, version, next) of `len` bytes; returns its offset. */
  addExtCapability(id: number, version: number, len: number): number {
    const at = this.nextExt;
    if (len < 4 || at + len > CONFIG_SIZE) throw new Error(`len: no room for a ${len}-byte extended capability 0x${id.toString(16)}`);
    this.nextExt = (at + len + 3) & ~3;
    this.view.setUint32(at, (id & 0xffff) | ((version & 0xf) << 16), true);
    if (this.lastExt) this.view.setUint32(this.lastExt, this.u32(this.lastExt) | (at << 20), true);
    this.lastExt = at;
    return at;
  }

  /** Offset of the first capability with `id` (standard list), or 0. */
  findCapability(id: number): number {
    for (let at = this.bytes[CFG.CAP_PTR]!, n = 0; at && n < 48; at = this.bytes[at + 1]!, n++) {
      if (this.bytes[at] === id) return at;
    }
    return 0;
  }

  /** Offset of the first extended capability with `id`, or 0. */
  findExtCapability(id: number): number {
    for (let at = EXT_CAP_BASE, n = 0; at >= EXT_CAP_BASE && n < 960; n++) {
      const h = this.u32(at);
      if (h === 0) return 0;
      if ((h & 0xffff) === id) return at;
      at = h >>> 20;
    }
    return 0;
  }

  // --- BARs and command -------------------------------------------------------

  /** Base address of BAR `index` (index into `bars`), as the guest programmed it. */
  barBase(index: number): bigint {
    const b = this.bars[index];
    if (!b) return 0n;
    const off = CFG.BAR0 + 4 * b.slot;
    const lo = BigInt((this.u32(off) & ~0xf) >>> 0);
    return b.spec.is64 ? lo | (BigInt(this.u32(off + 4)) << 32n) : lo;
  }

  /** Sets BAR `index` as firmware does during enumeration. */
  assignBar(index: number, base: bigint): void {
    const b = this.bars[index];
    if (!b) throw new Error(`index: BAR ${index} does not exist`);
    if (base % BigInt(b.spec.size) !== 0n) throw new Error(`base: 0x${base.toString(16)} is not aligned to the BAR size`);
    const off = CFG.BAR0 + 4 * b.slot;
    const type = this.u32(off) & 0xf;
    this.view.setUint32(off, Number(base & 0xffff_fff0n) | type, true);
    if (b.spec.is64) this.view.setUint32(off + 4, Number(base >> 32n), true);
    this.onDecodeChange?.();
  }

  /** Current BAR0 base address. */
  bar0(): number {
    return Number(this.barBase(0));
  }

  /** Sets BAR0 as firmware would during enumeration. */
  assignBar0(base: number): void {
    this.assignBar(0, BigInt(base));
  }

  /** The BAR (index into `bars`) decoding `addr` with the offset into it, when memory decoding is on. */
  decode(addr: Gpa): { bar: number; offset: number } | undefined {
    if (!this.memoryEnabled()) return undefined;
    for (let i = 0; i < this.bars.length; i++) {
      const base = this.barBase(i);
      if (base !== 0n && addr >= base && addr < base + BigInt(this.bars[i]!.spec.size)) {
        return { bar: i, offset: Number(addr - base) };
      }
    }
    return undefined;
  }

  /** True when memory decoding (Command.MEM) is on. */
  memoryEnabled(): boolean {
    return (this.bytes[CFG.COMMAND]! & CMD.MEMORY) !== 0;
  }

  /** True when the function may master DMA (Command.BME); MSIs are memory writes too. */
  busMaster(): boolean {
    return (this.bytes[CFG.COMMAND]! & CMD.BUS_MASTER) !== 0;
  }

  /** Records the current contents as the power-on image (after the capabilities were added). */
  markPowerOn(): void {
    this.powerOn = this.bytes.slice();
  }

  /** Back to the power-on image (function-level or system reset). */
  resetToPowerOn(): void {
    if (this.powerOn) this.bytes.set(this.powerOn);
    this.onDecodeChange?.();
  }

  /** The whole space (for snapshots). */
  saveBytes(): Uint8Array {
    return this.bytes.slice();
  }

  /** Restores the space saved by `saveBytes` (masks and hooks are the device's own). */
  loadBytes(bytes: Uint8Array): void {
    if (bytes.length !== CONFIG_SIZE) throw new Error(`bytes: config space must be ${CONFIG_SIZE} bytes, got ${bytes.length}`);
    this.bytes.set(bytes);
    this.onDecodeChange?.();
  }

  /** Tells the listener when [offset, offset + size) touches the decode bytes. */
  private touched(offset: number, size: number): void {
    if (offset < DECODE_BYTES.end && offset + size > DECODE_BYTES.start) this.onDecodeChange?.();
  }

  private layoutBars(identity: PciIdentity, slots: number): { slot: number; spec: BarSpec }[] {
    const specs = identity.bars ?? (identity.bar0Size ? [{ size: identity.bar0Size }] : []);
    const out: { slot: number; spec: BarSpec }[] = [];
    let slot = 0;
    for (const [i, spec] of specs.entries()) {
      const need = spec.is64 ? 2 : 1;
      if (!Number.isInteger(spec.size) || spec.size < 16 || (spec.size & (spec.size - 1)) !== 0) {
        throw new Error(`bars[${i}].size: ${spec.size} is not a power of two >= 16`);
      }
      if (slot + need > slots) throw new Error(`bars[${i}]: no BAR slot left`);
      const off = CFG.BAR0 + 4 * slot;
      const type = (spec.is64 ? 0x4 : 0) | (spec.prefetchable ? 0x8 : 0);
      this.view.setUint32(off, type, true);
      this.setWritable(off, 4, ~(spec.size - 1) & ~0xf);
      if (spec.is64) this.setWritable(off + 4, 4, 0xffff_ffff);
      out.push({ slot, spec });
      slot += need;
    }
    return out;
  }
}

/** Header bytes that steer memory decode: command (0x04), BARs (0x10-0x27), a bridge's memory window (0x20-0x23). */
const DECODE_BYTES = { start: 0x04, end: 0x28 } as const;

function validAccess(offset: number, size: number): boolean {
  return (size === 1 || size === 2 || size === 4) && Number.isInteger(offset)
    && offset >= 0 && offset + size <= CONFIG_SIZE && offset % size === 0;
}
