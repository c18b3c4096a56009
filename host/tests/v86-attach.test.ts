/**
 * The v86 integration without booting anything: a stand-in for v86's CPU
 * whose guest RAM lives in a `WebAssembly.Memory` (as v86's does), the unit
 * attached to it, and the guest-driver library programming the unit only
 * through the mapped 32-bit MMIO handlers (low dword first, as Linux on i386)
 * and RAM. Checks the DMAR file, that the IDE controller's DMA is translated
 * with its requester id in place (no copies: a page-table edit in the
 * emulator's memory is seen after the invalidation alone), that a fault is
 * recorded, sets the channel's bus-master error bit and raises the fault
 * event in the local APIC's IRR, and that bad accesses are dropped.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasmPath } from '../src/core/load-node.js';
import { attachIommu, type V86Iommu } from '../src/v86/attach.js';
import type { V86Cpu, V86Emulator, V86IdeChannel, V86IdeInterface } from '../src/v86/v86-types.js';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import type { GuestMemoryLike } from '../src/tables/guest-ram.js';
import { PageAllocator } from '../src/tables/page-allocator.js';
import { encodeSsPte } from '../src/vtd/spec/ss-pte.js';

const RAM_OFFSET = 0x10_0000; // where "v86" keeps guest RAM in its memory
const RAM_BYTES = 32 << 20;
const APIC_OFFSET = 0x1000;
const IDE_RID = 0xf0;
const RW = encodeSsPte({ R: true, W: true });

interface MmioHandlers { read32(a: number): number; write32(a: number, v: number): void; read8(a: number): number; write8(a: number, v: number): void }

/** A v86-shaped CPU over a fresh memory; records what the integration registers. */
function fakeV86() {
  const memory = new WebAssembly.Memory({ initial: (RAM_OFFSET + RAM_BYTES) / 65536 });
  const ram = (): Uint8Array => new Uint8Array(memory.buffer, RAM_OFFSET, RAM_BYTES);
  const view = (): DataView => new DataView(memory.buffer, RAM_OFFSET, RAM_BYTES);
  const mmio: { base?: number; size?: number; h?: MmioHandlers } = {};
  let wakeups = 0;
  const iface = (): V86IdeInterface => ({ cpu: undefined!, channel: undefined! });
  const channel = (): V86IdeChannel => ({ master: iface(), slave: iface(), dma_status: 0 });
  const ide = { pci_id: IDE_RID, primary: channel(), secondary: channel() };
  const cpu: V86Cpu & { acpi_enabled: number[] } = {
    wasm_memory: memory,
    get mem8() { return ram(); },
    memory_size: [RAM_BYTES], acpi_enabled: [1], option_roms: [],
    io: { mmap_register: (base, size, read8, write8, read32, write32) => Object.assign(mmio, { base, size, h: { read8, write8, read32, write32 } }) },
    devices: { ide },
    get_apic_addr: () => APIC_OFFSET,
    stop_idling: () => { wakeups++; },
    read8: (a) => ram()[a]!, read16: (a) => view().getUint16(a, true), read32s: (a) => view().getInt32(a, true),
    write_blob: (blob, a) => ram().set(blob, a),
  };
  const emulator: V86Emulator = { v86: { cpu } };
  return { memory, ram, view, mmio, ide, cpu, emulator, wakeups: () => wakeups };
}

type Fake = ReturnType<typeof fakeV86>;

/** The guest-driver library over the fake: 32-bit MMIO through v86's handlers, RAM through its memory. */
function guestOver(f: Fake): GuestIommu {
  const h = f.mmio.h!;
  const platform = {
    mmioRead: (addr: bigint, size: 4 | 8): bigint => {
      const lo = BigInt(h.read32(Number(addr)) >>> 0);
      return size === 4 ? lo : lo | (BigInt(h.read32(Number(addr) + 4) >>> 0) << 32n);
    },
    mmioWrite: (addr: bigint, size: 4 | 8, value: bigint): void => {
      h.write32(Number(addr), Number(value & 0xffff_ffffn));
      if (size === 8) h.write32(Number(addr) + 4, Number(value >> 32n));
    },
  };
  const mem: GuestMemoryLike & { contains(gpa: bigint, len: number): boolean } = {
    readU64: (gpa) => f.view().getBigUint64(Number(gpa), true),
    writeU64: (gpa, v) => f.view().setBigUint64(Number(gpa), BigInt.asUintN(64, v), true),
    fill: (gpa, len, byte) => { f.ram().fill(byte, Number(gpa), Number(gpa) + len); },
    contains: (gpa, len) => gpa >= 0n && gpa + BigInt(len) <= BigInt(RAM_BYTES),
  };
  return new GuestIommu({ platform, mem, alloc: new PageAllocator(mem, 0x100_0000n, 0x180_0000n) }, 'legacy');
}

async function attached(): Promise<{ f: Fake; vtd: V86Iommu }> {
  const f = fakeV86();
  const vtd = await attachIommu(f.emulator, { core: readFileSync(wasmPath()), iommu: { scalableMode: false }, stateBytes: 8 << 20 });
  return { f, vtd };
}

describe('v86 integration (stand-in CPU, real core over the emulator memory)', () => {
  it('hands SeaBIOS an acpi/dmar file with one INCLUDE_PCI_ALL DRHD at 0xFED90000 and maps its 128 KiB block', async () => {
    const { f, vtd } = await attached();
    expect(f.cpu.option_roms.map((r) => r.name)).toEqual(['acpi/dmar']);
    const t = f.cpu.option_roms[0]!.data;
    expect(String.fromCharCode(...t.subarray(0, 4))).toBe('DMAR');
    expect(t[48 + 4]).toBe(1); // DRHD flags: INCLUDE_PCI_ALL
    expect(new DataView(t.buffer, t.byteOffset).getBigUint64(48 + 8, true)).toBe(0xfed9_0000n);
    expect(vtd.dmar).toBe(t);
    expect({ base: f.mmio.base, size: f.mmio.size }).toEqual({ base: 0xfed8_0000, size: 0x2_0000 });
    expect(vtd.ram).toEqual([{ gpa: 0, size: 0xa_0000, offset: RAM_OFFSET }, { gpa: 0x10_0000, size: RAM_BYTES - 0x10_0000, offset: RAM_OFFSET + 0x10_0000 }]);
    expect(f.memory.buffer.byteLength).toBe(RAM_OFFSET + RAM_BYTES + (8 << 20)); // the state region was grown for the core
  });

  it('the IDE controller reads its PRD table and writes sector data through the unit, in the emulator RAM itself', async () => {
    const { f, vtd } = await attached();
    const g = guestOver(f);
    const ss = g.attachLegacy(IDE_RID, { did: 7, levels: 4 });
    ss.map(0xffff_f000n, 0x20_0000n, 12, RW); // PRD table page
    ss.map(0xffff_0000n, 0x30_0000n, 12, RW); // data pages: not contiguous in GPA
    ss.map(0xffff_1000n, 0x50_0000n, 12, RW);
    g.start();
    f.view().setUint32(0x20_0000, 0xffff_0800, true);
    const bm = f.ide.primary.master.cpu;
    expect(f.ide.primary.slave.cpu).toBe(bm);
    expect(bm.read32s(0xffff_f000) >>> 0).toBe(0xffff_0800);
    const data = Uint8Array.from({ length: 0x1000 }, (_, i) => i * 7);
    bm.write_blob(data, 0xffff_0800); // crosses from 0x300800.. into 0x500000..
    expect([...f.ram().subarray(0x30_0800, 0x30_1000)]).toEqual([...data.subarray(0, 0x800)]);
    expect([...f.ram().subarray(0x50_0000, 0x50_0800)]).toEqual([...data.subarray(0x800)]);
    expect([...bm.mem8.subarray(0xffff_0800, 0xffff_1800)]).toEqual([...data]);
    // No copy of RAM anywhere: the guest retargets the data page in place, invalidates, and the next DMA goes there.
    ss.map(0xffff_0000n, 0x40_0000n, 12, RW);
    g.drv.iotlbInvalidateDomain(7);
    bm.write_blob(Uint8Array.of(0xab), 0xffff_0010);
    expect(f.ram()[0x40_0010]).toBe(0xab);
    expect(vtd.stats().ide).toMatchObject({ aborted: 0 });
    expect(vtd.stats().core.translations).toBeGreaterThan(0);
  });

  it('a DMA to an unmapped IOVA faults: recorded for 00:1e.0, the bus-master error bit set, the fault event in the IRR', async () => {
    const { f, vtd } = await attached();
    const g = guestOver(f);
    const ss = g.attachLegacy(IDE_RID, { did: 3, levels: 4 });
    ss.map(0x1000n, 0x30_0000n, 12, RW);
    g.start();
    g.drv.setupFaultEvent(0xfee0_0000n, 0x41);
    const bm = f.ide.secondary.master.cpu;
    bm.write_blob(new Uint8Array(0x2000).fill(0x5a), 0x1000); // second page unmapped
    expect(f.ram()[0x30_0fff]).toBe(0x5a);
    expect(f.ide.secondary.dma_status & 2).toBe(2);
    expect(f.ide.primary.dma_status & 2).toBe(0);
    expect(g.drv.readFaults()).toMatchObject([{ sid: IDE_RID, reason: 5, addr: 0x2000n, read: false }]);
    const irr = new Uint32Array(f.memory.buffer, APIC_OFFSET, 48);
    expect(irr[16 + 2]! & (1 << 1)).toBe(1 << 1); // vector 0x41 = word 2, bit 1
    expect(f.wakeups()).toBe(1);
    expect(bm.read16(0x9000)).toBe(0xffff); // reads of unmapped IOVAs return all-ones
    expect(vtd.stats()).toMatchObject({ core: { faults: 2 }, interrupts: { delivered: 1 }, ide: { aborted: 2 } });
  });

  it('drops byte writes and accesses outside the register page; byte reads see the register', async () => {
    const { f, vtd } = await attached();
    const h = f.mmio.h!;
    expect(h.read32(0xfed9_0000)).toBe(0x10); // VER
    expect(h.read8(0xfed9_0000)).toBe(0x10);
    h.write8(0xfed9_0038, 0);
    expect(h.read32(0xfed8_0000)).toBe(-1);
    h.write32(0xfed9_1000, 1);
    expect(vtd.window).toMatchObject({ dropped: 3 });
  });

  it('refuses an emulator it does not know, naming what is missing', async () => {
    const core = readFileSync(wasmPath());
    await expect(attachIommu({} as V86Emulator, { core })).rejects.toThrow(/emulator: no v86.cpu/);
    const f = fakeV86();
    f.cpu.acpi_enabled[0] = 0;
    await expect(attachIommu(f.emulator, { core })).rejects.toThrow(/acpi: true/);
    const st = fakeV86();
    await expect(attachIommu(st.emulator, { core, stateBytes: 12345 })).rejects.toThrow(/stateBytes/);
    expect(st.memory.buffer.byteLength).toBe(RAM_OFFSET + RAM_BYTES); // refused before the memory grew
    await expect(attachIommu(fakeV86().emulator, { core, registerBase: 0xfed9_0100 })).rejects.toThrow(/registerBase/);
    const g = fakeV86();
    await expect(attachIommu(g.emulator, { core, profile: 'qemu-9.9' })).rejects.toThrow(/profile/);
    expect(g.cpu.option_roms).toEqual([]); // nothing half-done: no DMAR file, no MMIO handlers, IDE untouched
    expect(g.mmio.h).toBeUndefined();
    expect(g.ide.primary.master.cpu).toBeUndefined();
    expect(g.memory.buffer.byteLength).toBe(RAM_OFFSET + RAM_BYTES); // and no state region grown
  });
});
