/**
 * Host API misuse: every public entry point a caller reaches with nonsense
 * answers an Error naming the bad argument at the call, never later from
 * guest activity, never a silent wrong answer; a refused `createMachine`
 * leaves nothing in the caller's core.
 */
import { describe, expect, it } from 'vitest';
import { loadCore } from '../src/core/load-node.js';
import { createMachine, type MachineConfig } from '../src/machine.js';
import { MAX_RAM_MIB } from '../src/machine-check.js';
import { VTD_BASE } from '../src/machine.js';
import { SRC_DISABLED } from '../src/core/constants.js';

const bad = (v: unknown) => v as never;

describe('createMachine checks its config before building anything', () => {
  const cases: [string, MachineConfig, RegExp][] = [
    ['onInterrupt not a function', { onInterrupt: bad(5) }, /^onInterrupt: /],
    ['onDeviceInterrupt not a function', { onDeviceInterrupt: bad('x') }, /^onDeviceInterrupt: /],
    ['log not a function', { log: bad('x') }, /^log: /],
    ['config not an object', bad(7), /^config: /],
    ['ramMib past what a wasm32 core holds', { ramMib: MAX_RAM_MIB + 1 }, /^ramMib: .*at most/],
    ['ramMib not an integer', { ramMib: 2.5 }, /^ramMib: /],
    ['core not a Core', { core: bad({}) }, /^core: /],
    ['device kind unknown', { devices: [{ bdf: '00:03.0', kind: bad('nic') }] }, /^devices\[0\]\.kind: /],
    ['device bdf taken twice', { devices: [{ bdf: '00:03.0', kind: 'dma-test' }, { bdf: '00:03.0', kind: 'ats' }] }, /^devices\[1\]\.bdf: /],
    ['device on a chipset slot', { devices: [{ bdf: '00:1f.0', kind: 'dma-test' }] }, /^devices\[0\]\.bdf: /],
    ['device options out of range', { devices: [{ bdf: '00:03.0', kind: 'dma-test', dmaMaskBits: 99 }] }, /^devices\[0\]\.dmaMaskBits: /],
    ['rmrr region unaligned', { rmrr: [{ base: 0x1001n, limit: 0x1fffn, devices: [] }] }, /^rmrr\[0\]/],
    ['rmrr device bdf malformed', { rmrr: [{ base: 0x1000n, limit: 0x1fffn, devices: ['x'] }] }, /^rmrr\[0\]\.devices\[0\]/],
  ];
  for (const [what, config, err] of cases) {
    it(`${what}: an Error naming it`, async () => {
      await expect(createMachine(config)).rejects.toThrow(err);
    });
  }

  it('a refused config leaves the caller\'s core untouched (no RAM region, configuration as it was)', async () => {
    const core = await loadCore();
    const config = () => [0, 1, 2, 3].map((k) => core.getConfig(k));
    const before = config();
    for (const [, c] of cases) {
      if (typeof c !== 'object' || c === null || 'core' in c) continue;
      await expect(createMachine({ ...c, core })).rejects.toThrow();
      expect(core.ramRegions()).toEqual([]);
      expect(config()).toEqual(before);
    }
    const m = await createMachine({ core, ramMib: 16 }); // the same core still builds a machine afterwards
    expect(m.ram.contains(0x100_0000n - 8n, 8)).toBe(true);
  });
});

describe('machine and unit entry points name the bad argument', () => {
  async function machine() {
    return createMachine({ ramMib: 16, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
  }

  it('translation enable, root table and queue enable take what they say, not truthy strings', async () => {
    const m = await machine();
    expect(() => m.vtd.setTranslationEnabled(bad('no'))).toThrow(/^on: /);
    expect(() => m.vtd.setQueuedInvalidation(bad(3))).toThrow(/^on: /);
    expect(() => m.vtd.setRootTable(bad('x'))).toThrow(/^rtaddr: /);
    expect(() => m.vtd.setRootTable(-1n)).toThrow(/^rtaddr: /);
    expect(Number(m.mmioRead(VTD_BASE + 0x1cn, 4)) >>> 31).toBe(0); // GSTS.TES still clear
    expect(m.core.translate(0x18, undefined, 0x5000n, 1).source).toBe(SRC_DISABLED); // translation still off
  });

  it('MMIO and port accesses check address, size and value', async () => {
    const m = await machine();
    expect(() => m.mmioRead(bad('x'), 4)).toThrow(/^addr: /);
    expect(() => m.mmioRead(VTD_BASE, 3)).toThrow(/^size: /);
    expect(() => m.mmioRead(VTD_BASE, bad('4'))).toThrow(/^size: /);
    expect(() => m.mmioWrite(VTD_BASE + 0x20n, 8, -(1n << 64n))).toThrow(/^value: /);
    expect(() => m.mmioWrite(VTD_BASE + 0x20n, 4, 1n << 32n)).toThrow(/^value: /);
    expect(() => m.mmioWrite(VTD_BASE + 0x20n, 16, 1n)).toThrow(/^size: /);
    expect(() => m.ioRead(-1, 4)).toThrow(/^port: /);
    expect(() => m.ioRead(0xcf8, 3)).toThrow(/^size: /);
    expect(() => m.ioWrite(0xcf8, 4, bad('x'))).toThrow(/^value: /);
    expect(() => m.ioWrite(0xcfc, 1, 0x100)).toThrow(/^value: /);
    expect(m.vtd.regs.get('RTADDR')).toBe(0n); // nothing was written
  });

  it('unit hooks and device events check their arguments', async () => {
    const m = await machine();
    expect(() => { m.vtd.onInvalidate = bad(5); }).toThrow(/^onInvalidate: /);
    expect(() => m.vtd.invalidationCompletion(bad('x'), 1)).toThrow(/^sid: /);
    expect(() => m.vtd.invalidationCompletion(0x18, bad(-1))).toThrow(/^itag: /);
    expect(() => m.vtd.reportCoreFault(bad('x'), true)).toThrow(/^sid: /);
    expect(() => m.dmaTest('00:03.0').read(-1n, 4)).toThrow(/^iova: /);
    expect(() => m.dmaTest('00:03.0').write(0n, bad(1.5))).toThrow(/^len: /);
  });

  it('guest RAM writes take bytes, not strings that would land as zeros', async () => {
    const m = await machine();
    expect(() => m.ram.write(0x1000n, bad('abc'))).toThrow(/bytes/);
    expect([...m.ram.read(0x1000n, 3)]).toEqual([0, 0, 0]);
  });
});
