// The SMMU's ATS entry points (smmu/ats.ts through SmmuUnit.ats and the DMA
// port) refuse a host caller's nonsense with an Error naming the argument,
// before anything happens (no event recorded).
import { describe, expect, it } from 'vitest';
import { createArmMachine } from '../src/arm-machine.js';
import { REQ } from '../src/pci/dma-port.js';

describe('SMMU ATS: bad host arguments are Errors naming them', () => {
  it('translate / translated / the port\'s translation and translated requests', async () => {
    const m = await createArmMachine({ ramMib: 4 });
    const ats = m.smmu.ats;
    const ok = { sid: 1, ssid: undefined, iova: 0n, write: false, priv: false, exec: false };
    expect(() => ats.translate({ ...ok, sid: -1 })).toThrow(/sid/);
    expect(() => ats.translate({ ...ok, ssid: 1 << 20 })).toThrow(/^ssid/);
    expect(() => ats.translate({ ...ok, iova: 1n << 64n })).toThrow(/iova/);
    expect(() => ats.translated(1, -1n, 4, false)).toThrow(/^addr/);
    for (const len of [0, 1.5, 2 ** 32]) expect(() => ats.translated(1, 0n, len, false)).toThrow(/^len/);
    const port = m.smmu.portFor(8);
    const buf = port.allocBuffer(16);
    expect(() => port.translationRequest(-4)).toThrow(/^iova/);
    expect(() => port.translationRequest(0, 0x4000)).toThrow(/^flags/);
    expect(() => port.translated64(0, 0, 4, buf, REQ.PASID)).toThrow(/^flags/);
    expect(() => port.translated64(0, 0, 32, buf)).toThrow(/^bufOff/);
    expect(m.smmu.eventsLost).toBe(0);
  });
});
