/**
 * The host object model over the real wasm core: the physical IOMMU's
 * tables live in the core's RAM, the core's root table points at them, and
 * device DMA is translated by the core through HWPT second stages (and a
 * guest first stage nested over one).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { existsSync } from 'node:fs';
import type { Core } from '../src/core/core.js';
import { loadCoreSync, wasmPath } from '../src/core/load-node.js';
import { GuestMemory } from '../src/core/guest-memory.js';
import { ACC_READ, ACC_WRITE } from '../src/core/constants.js';
import { configureCore } from '../src/vtd/core-config.js';
import { createProfile } from '../src/vtd/profiles.js';
import { FailInjector } from '../src/hostiommu/fail-nth.js';
import { HostPages, hostRam } from '../src/hostiommu/host-pages.js';
import { TableIommu } from '../src/hostiommu/table-iommu.js';
import { HostPlatform } from '../src/hostiommu/platform.js';
import { PERM } from '../src/hostiommu/ss-table.js';
import type { GuestMemoryLike } from '../src/tables/guest-ram.js';
import { PageAllocator } from '../src/tables/page-allocator.js';
import { PageTableBuilder } from '../src/tables/table-builders.js';
import { encodeFsPte } from '../src/vtd/spec/fs-pte.js';

const HOST_RAM = 0x100_0000; // 16 MiB of "host physical" memory at 0
const TABLES = 0x1000_0000n; // host table memory
const SID = 0x0018;

interface Host { core: Core; mem: GuestMemory; platform: HostPlatform; iommu: TableIommu }

function host(): Host {
  const core = loadCoreSync();
  configureCore(core, createProfile('default'));
  core.addRam(0, HOST_RAM);
  core.addRam(TABLES, 0x40_0000);
  const mem = new GuestMemory(core);
  const injector = new FailInjector();
  const iommu = new TableIommu(new HostPages(hostRam(mem), TABLES, TABLES + 0x40_0000n, injector), core, { pasidBits: 15 });
  core.setRootTable(iommu.rootTable, 1); // TTM = 01: scalable mode
  core.setTranslationEnabled(1);
  const platform = new HostPlatform({ iommu, injector, hostMemory: (h, l) => h + l <= BigInt(HOST_RAM) });
  platform.addDevice(SID, { pasidBits: 8, pri: true });
  return { core, mem, platform, iommu };
}

const haveWasm = existsSync(wasmPath());

describe.skipIf(!haveWasm)('host object model on the wasm core', () => {
  let h: Host;
  beforeAll(() => {
    h = host();
  });

  it('a parked device faults; attached to a paging HWPT its DMA follows the IOAS', () => {
    const { core, platform } = h;
    const ctx = platform.createContext('vm-a');
    const ioas = ctx.ioasAlloc();
    ctx.ioasMap(ioas, { iova: 0x10_0000n, hpa: 0x20_0000n, len: 0x2000n });
    const hp = ctx.hwptAllocPaging(ioas);
    const dev = ctx.bindDevice(platform.openDevice(SID));
    expect(core.translate(SID, undefined, 0x10_0123n, ACC_READ).ok).toBe(false);
    ctx.attach(dev, hp);
    const r = core.translate(SID, undefined, 0x10_1123n, ACC_READ | ACC_WRITE);
    expect(r).toMatchObject({ ok: true, addr: 0x20_1123n, pageLg2: 12 });
    // DMA write through the core lands in host memory
    const buf = core.bufAlloc(16);
    core.buffer(buf, 16).fill(0xab);
    expect(core.dmaCopy(SID, undefined, 0x10_0010n, 16, ACC_WRITE, buf)).toBe(0);
    expect([...h.mem.read(0x20_0010n, 4)]).toEqual([0xab, 0xab, 0xab, 0xab]);
    // unmap: the IOTLB entry is flushed, the next access faults
    ctx.ioasUnmap(ioas, 0x10_0000n, 0x2000n);
    expect(core.translate(SID, undefined, 0x10_1123n, ACC_READ).ok).toBe(false);
    // read-only mapping: writes fault
    ctx.ioasMap(ioas, { iova: 0x30_0000n, hpa: 0x20_0000n, len: 0x1000n, perms: PERM.READ });
    expect(core.translate(SID, undefined, 0x30_0000n, ACC_READ).ok).toBe(true);
    expect(core.translate(SID, undefined, 0x30_0000n, ACC_WRITE).ok).toBe(false);
    ctx.close();
    expect(core.translate(SID, undefined, 0x30_0000n, ACC_READ).ok).toBe(false);
    expect(platform.usage().tablePages).toBe(1);
  });

  it('per (device, PASID) attach and replace switch what the core translates', () => {
    const { core, platform } = h;
    const ctx = platform.createContext('vm-b');
    const i1 = ctx.ioasAlloc();
    const i2 = ctx.ioasAlloc();
    ctx.ioasMap(i1, { iova: 0n, hpa: 0x10_0000n, len: 0x20_0000n });
    ctx.ioasMap(i2, { iova: 0n, hpa: 0x80_0000n, len: 0x20_0000n });
    const h1 = ctx.hwptAllocPaging(i1, { pasid: true });
    const h2 = ctx.hwptAllocPaging(i2, { pasid: true });
    const dev = ctx.bindDevice(platform.openDevice(SID));
    ctx.devicePasidAlloc(dev, 5);
    ctx.attach(dev, h1, 5);
    expect(core.translate(SID, 5, 0x1234n, ACC_READ)).toMatchObject({ ok: true, addr: 0x10_1234n });
    expect(core.translate(SID, 6, 0x1234n, ACC_READ).ok).toBe(false);
    expect(core.translate(SID, undefined, 0x1234n, ACC_READ).ok).toBe(false);
    ctx.replace(dev, h2, 5);
    expect(core.translate(SID, 5, 0x1234n, ACC_READ)).toMatchObject({ ok: true, addr: 0x80_1234n });
    ctx.close();
  });

  it('nested: a guest first stage over the host second stage; guest invalidations pass through', () => {
    const { core, platform, mem } = h;
    const ctx = platform.createContext('vm-c');
    const GUEST_RAM_HPA = 0x40_0000n; // guest-physical 0..4 MiB lives at host 4..8 MiB
    const ioas = ctx.ioasAlloc();
    ctx.ioasMap(ioas, { iova: 0n, hpa: GUEST_RAM_HPA, len: 0x40_0000n });
    const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
    // the guest builds its first-stage table in its own RAM (guest-physical addresses)
    const guestMem: GuestMemoryLike = {
      readU64: (g) => mem.readU64(g + GUEST_RAM_HPA),
      writeU64: (g, v) => mem.writeU64(g + GUEST_RAM_HPA, v),
      fill: (g, len, b) => mem.fill(g + GUEST_RAM_HPA, len, b),
    };
    const fs = new PageTableBuilder(guestMem, new PageAllocator(guestMem, 0x1000n, 0x10_0000n), { stage: 'fs', levels: 4 });
    const leaf = encodeFsPte({ P: true, RW: true, US: true });
    fs.map(0x7000_0000n, 0x20_0000n, 12, leaf);
    const hn = ctx.hwptAllocNested(parent, { fsptptr: fs.rootTable, pasid: true });
    const dev = ctx.bindDevice(platform.openDevice(SID));
    ctx.devicePasidAlloc(dev, 7);
    ctx.attach(dev, hn, 7);
    expect(core.translate(SID, 7, 0x7000_0010n, ACC_READ)).toMatchObject({ ok: true, addr: GUEST_RAM_HPA + 0x20_0010n });
    // the guest remaps the page: the IOTLB still holds the old translation until the guest invalidates
    fs.map(0x7000_0000n, 0x30_0000n, 12, leaf);
    expect(core.translate(SID, 7, 0x7000_0010n, ACC_READ).addr).toBe(GUEST_RAM_HPA + 0x20_0010n);
    ctx.hwptInvalidate(hn, [{ addr: 0x7000_0000n, npages: 1n, leafOnly: true }]);
    expect(core.translate(SID, 7, 0x7000_0010n, ACC_READ).addr).toBe(GUEST_RAM_HPA + 0x30_0010n);
    // the host unmaps guest RAM behind the page: the nested translation faults
    ctx.ioasUnmap(ioas, 0n, 0x40_0000n);
    expect(core.translate(SID, 7, 0x7000_0010n, ACC_READ).ok).toBe(false);
    ctx.close();
    expect(platform.usage()).toMatchObject({ objects: 0, pinnedPages: 0, tablePages: 1, dids: 0 });
  });
});
