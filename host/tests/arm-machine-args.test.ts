/**
 * Host API misuse on the Arm machine, as host-api-args.test.ts does for the
 * VT-d one: `createArmMachine` refuses a bad config with an Error naming
 * the field before it touches anything (a refused config leaves the
 * caller's core as it was), and every entry point of the machine and its
 * SMMUv3 unit names a bad argument; guest-shaped mistakes (a bad register
 * offset or size) stay guest behaviour: read 0, logged.
 */
import { describe, expect, it } from 'vitest';
import { loadCore } from '../src/core/load-node.js';
import { createArmMachine, SMMU_BASE, type ArmMachineConfig } from '../src/arm-machine.js';
import { MAX_RAM_MIB } from '../src/machine-check.js';

const bad = (v: unknown) => v as never;

describe('createArmMachine checks its config before building anything', () => {
  const cases: [string, ArmMachineConfig, RegExp][] = [
    ['config not an object', bad(7), /^config: /],
    ['onInterrupt not a function', { onInterrupt: bad(5) }, /^onInterrupt: /],
    ['onDeviceInterrupt not a function', { onDeviceInterrupt: bad('x') }, /^onDeviceInterrupt: /],
    ['log not a function', { log: bad('x') }, /^log: /],
    ['ramMib past what a wasm32 core holds', { ramMib: MAX_RAM_MIB + 1 }, /^ramMib: .*at most/],
    ['ramMib not an integer', { ramMib: 2.5 }, /^ramMib: /],
    ['core not a Core', { core: bad({}) }, /^core: /],
    ['backing not a backing', { backing: bad({ ram: 1 }) }, /^backing: /],
    ['profile not a name', { profile: bad(3) }, /^profile: /],
    ['profile unknown', { profile: 'smmuv9' }, /^profile: unknown/],
    ['smmu options not an object', { smmu: bad('s1') }, /^smmu: /],
    ['smmu option the profile lacks', { profile: 'qemu-7.2', smmu: { stage2: true } }, /^stage2: /],
    ['smmu option out of range', { smmu: { ssidBits: 99 } }, /^ssidBits: /],
    ['device kind unknown', { devices: [{ bdf: '00:03.0', kind: bad('nic') }] }, /^devices\[0\]\.kind: /],
    ['device bdf malformed', { devices: [{ bdf: 'x', kind: 'dma-test' }] }, /^devices\[0\]\.bdf: /],
    ['device bdf taken twice', { devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:03.0', kind: 'dma-test' }] }, /^devices\[1\]\.bdf: /],
    ['device on the host bridge\'s slot', { devices: [{ bdf: '00:00.0', kind: 'dma-test' }] }, /^devices\[0\]\.bdf: /],
    ['device options out of range', { devices: [{ bdf: '00:03.0', kind: 'dma-test', dmaMaskBits: 99 }] }, /^devices\[0\]\.dmaMaskBits: /],
    ['devices not an array', { devices: bad({}) }, /^devices: /],
  ];
  for (const [what, config, err] of cases) {
    it(`${what}: an Error naming it`, async () => {
      await expect(createArmMachine(config)).rejects.toThrow(err);
    });
  }

  it('a refused config leaves the caller\'s core untouched (no RAM region, no buffer); the same core builds afterwards', async () => {
    const core = await loadCore();
    const probe = () => core.bufAlloc(64);
    const [a, b] = [probe(), probe()];
    for (const [, c] of cases) {
      if (typeof c !== 'object' || c === null || 'core' in c) continue;
      await expect(createArmMachine({ ...c, core })).rejects.toThrow();
      expect(core.ramRegions()).toEqual([]);
    }
    expect(probe()).toBe(b + (b - a)); // nothing else was allocated in between
    const m = await createArmMachine({ core, ramMib: 16, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
    expect(m.ram.contains(0x4000_0000n + 0x100_0000n - 8n, 8)).toBe(true);
    expect(m.deviceList().map((d) => d.sid)).toEqual([0x18]);
  });

  it('4032 MiB of RAM (the most) is accepted as a size, not wrapped by a 32-bit shift', async () => {
    const core = await loadCore();
    // Only the size arithmetic is checked here: a region of 4032 MiB at 0x4000_0000 (the core may refuse to grow that far).
    const m = await createArmMachine({ core, ramMib: MAX_RAM_MIB }).catch((e: Error) => e);
    if (m instanceof Error) expect(m.message).not.toMatch(/^ramMib: /);
    else expect(m.core.ramRegions()[0]!.size).toBe(MAX_RAM_MIB * 0x10_0000);
  });
});

describe('Arm machine and SMMU entry points name the bad argument', () => {
  const machine = () => createArmMachine({ ramMib: 16, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });

  it('the BigInt MMIO API checks address, size and value; nothing is written', async () => {
    const m = await machine();
    expect(() => m.mmioRead(bad('x'), 4)).toThrow(/^addr: /);
    expect(() => m.mmioRead(-1n, 4)).toThrow(/^addr: /);
    expect(() => m.mmioRead(SMMU_BASE, 3)).toThrow(/^size: /);
    expect(() => m.mmioWrite(SMMU_BASE + 0x20n, 4, 1n << 32n)).toThrow(/^value: /);
    expect(() => m.mmioWrite(SMMU_BASE + 0x20n, 4, bad(1))).toThrow(/^value: /);
    expect(() => m.mmioWrite(SMMU_BASE + 0x20n, 16, 1n)).toThrow(/^size: /);
    m.mmioWrite(SMMU_BASE + 0x80n, 8, -1n); // the same bits as 2^64-1: STRTAB_BASE keeps its writable bits
    expect(m.mmioRead(SMMU_BASE + 0x80n, 8)).toBe(0x400f_ffff_ffff_ffc0n);
    expect(m.smmu.regs.get('CR0')).toBe(0n);
  });

  it('the number MMIO API checks address and values, in the SMMU frame and outside it', async () => {
    const m = await machine();
    const S = Number(SMMU_BASE);
    for (const addr of [-4, 2 ** 53, 1.5, NaN, S + 0.5]) expect(() => m.mmioRead32(addr)).toThrow(/^addr: /);
    expect(() => m.mmioWrite32(S + 0x20, 2 ** 32)).toThrow(/^value: /);
    expect(() => m.mmioWrite32(S + 0x20, bad('1'))).toThrow(/^value: /);
    expect(() => m.mmioWrite64(S + 0x80, 0.5, 0)).toThrow(/^lo: /);
    expect(() => m.mmioWrite64(S + 0x80, 0, -(2 ** 32))).toThrow(/^hi: /);
    expect(() => m.mmioWrite32(0x1000_0000, 1.5)).toThrow(/^value: /);
    expect(m.mmioRead32(S + 0x20)).toBe(0); // CR0 untouched
  });

  it('device lookups, the unit\'s DMA, translation, invalidation and event injection name their argument', async () => {
    const m = await machine();
    expect(() => m.device('00:04.0')).toThrow(/^bdf: no device/);
    expect(() => m.dmaTest('zz')).toThrow(/^bdf: /);
    expect(m.dmaTest('00:03.0').sid).toBe(0x18);
    const u = m.smmu;
    const buf = m.core.bufAlloc(64);
    expect(() => u.dma(-1, undefined, 0n, 8, false, buf)).toThrow(/^sid: /);
    expect(() => u.dma(1, 1 << 20, 0n, 8, false, buf)).toThrow(/^ssid: /);
    expect(() => u.dma(1, undefined, 1n << 64n, 8, false, buf)).toThrow(/^iova: /);
    expect(() => u.dma(1, undefined, 0n, 0, false, buf)).toThrow(/^len: /);
    expect(() => u.translateOnly(1, undefined, 0n, 1.5)).toThrow(/^access: /);
    expect(() => u.portFor(0x1_0000)).toThrow(/^sid: /);
    expect(() => u.invalidateSte(-1, 5)).toThrow(/^first: /);
    expect(() => u.invalidateSte(0, 2 ** 32)).toThrow(/^last: /);
    expect(() => u.invalidateCd(1, 1 << 20)).toThrow(/^ssid: /);
    expect(() => u.guestSte(bad('1'))).toThrow(/^sid: /);
    expect(() => u.injectEvent([1n, 2n])).toThrow(/^record: /);
    expect(() => u.write32(0x20, 2 ** 33)).toThrow(/^value: /);
    // A guest-shaped mistake is guest behaviour: logged, read 0, no throw.
    expect(u.mmioRead(0x3, 4)).toBe(0n);
    expect(u.logLines.at(-1)).toMatch(/ignored 4-byte read at 0x3/);
  });
});
