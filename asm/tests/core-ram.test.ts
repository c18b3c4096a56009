// Guest RAM regions and the host wrapper: region errors, growth (views
// survive), large regions, out-of-RAM accesses are values, bad host
// arguments throw Errors naming the argument.
import { describe, expect, it } from 'vitest';
import { loadCore, loadCoreSync, packageRoot } from '../../host/src/core/load-node.js';
import { GuestMemory } from '../../host/src/core/guest-memory.js';
import * as K from '../../host/src/core/constants.js';

describe('RAM regions', () => {
  it('adds regions and reports base, size and offset; rejects overlap, misalignment, bad sizes', async () => {
    const core = await loadCore();
    const e = core.unsafeExports;
    expect(core.addRam(0, 0x10_0000)).toBe(0);
    expect(core.addRam(0x1_0000_0000n, 0x20_0000)).toBe(1);
    expect(core.ramRegions()).toMatchObject([{ base: 0, size: 0x10_0000 }, { base: 0x1_0000_0000, size: 0x20_0000 }]);
    expect(e.ramAddRegion(0x8_0000, 0x10_0000)).toBe(K.ERR_OVERLAP);
    expect(e.ramAddRegion(0x20_0800, 0x1000)).toBe(K.ERR_UNALIGNED);
    expect(e.ramAddRegion(0x20_0000, 0x1001)).toBe(K.ERR_UNALIGNED);
    expect(e.ramAddRegion(0x20_0000, 0)).toBe(K.ERR_BAD_ARG);
    expect(e.ramAddRegion(-4096, 4096)).toBe(K.ERR_BAD_ARG);
    expect(e.ramAddRegion(0x10_0000_0000, 8 * 2 ** 30)).toBe(K.ERR_TOO_LARGE);
    expect(() => core.addRam(0x30_0000, 0x1001)).toThrow(/not 4 KiB aligned/);
    expect(() => core.addRam(-1, 4096)).toThrow(/baseGpa/);
    expect(() => core.addRam(0, 1.5)).toThrow(/size/);
    for (let i = 2; i < K.MAX_RAM_REGIONS; i++) core.addRam(0x1000_0000 + i * 0x1000, 0x1000);
    expect(e.ramAddRegion(0x2000_0000, 0x1000)).toBe(K.ERR_TOO_MANY);
  });

  it('a 256 MiB region grows memory; earlier views are re-created and data survives', async () => {
    const core = loadCoreSync();
    core.addRam(0, 0x10_0000);
    const mem = new GuestMemory(core);
    mem.writeU64(0x1000n, 0x1122_3344_5566_7788n);
    const before = core.memory.buffer;
    core.addRam(0x1000_0000, 256 * 0x10_0000);
    expect(core.memory.buffer).not.toBe(before);
    expect(mem.readU64(0x1000n)).toBe(0x1122_3344_5566_7788n);
    mem.writeU32(0x1000_0000n + 0xfff_fffcn, 0xcafe_f00d);
    expect(mem.readU32(0x1fff_fffcn)).toBe(0xcafe_f00d);
    expect(mem.contains(0x1fff_fffcn, 4)).toBe(true);
    expect(mem.contains(0x1fff_fffcn, 8)).toBe(false);
    expect(() => mem.readU64(0x2000_0000n)).toThrow(/0x20000000/);
    expect(() => mem.write(0x0ff_ffffn, new Uint8Array(2))).toThrow(/outside guest RAM/);
  });

  it('a table pointer outside RAM is a fault value, not a trap', async () => {
    const core = await loadCore();
    core.addRam(0, 0x10_0000);
    const mem = new GuestMemory(core);
    core.setRootTable(0xf_f000n, 0);
    core.setTranslationEnabled(true);
    mem.fill(0xf_f000n, 4096, 0);
    mem.writeU64(0xf_f000n, 0x10_0000n | 1n); // context table just past the end of RAM
    expect(core.translate(0x0018, undefined, 0x1000n, K.ACC_READ).fault).toBe(K.FR_CTX_ACCESS);
    core.setRootTable(0xffff_ffff_f000n, 0);
    expect(core.translate(0, undefined, 0n, K.ACC_READ).fault).toBe(K.FR_ROOT_ACCESS);
  });

  it('host argument checks name the argument', async () => {
    const core = await loadCore();
    expect(() => core.translate(0x1_0000, undefined, 0n, 1)).toThrow(/sid/);
    expect(() => core.translate(0, 0x10_0000, 0n, 1)).toThrow(/pasid/);
    expect(() => core.translate(0, undefined, -1n, 1)).toThrow(/iova/);
    expect(() => core.setConfig(K.CFG_COUNT, 0)).toThrow(/key/);
    expect(() => core.setConfig(K.CFG_IOTLB_WAYS, 0)).toThrow(/value/);
    expect(() => core.invIotlbPage(1, 0n, 64, 0)).toThrow(/am/);
    expect(() => core.invPasidCache(2, 0, 0)).toThrow(/granularity/);
    expect(() => core.dmaCopy(0, undefined, 0n, 16, K.ACC_READ, 8)).toThrow(/bufOff/);
    expect(packageRoot()).toMatch(/\/?[^/]+$/);
  });
});
