import { describe, expect, it } from 'vitest';
import { DmaTestDevice } from '../src/devices/dma-test/device.js';
import { DMAT, DMAT_ID, DMAT_STATE, dmatStatus } from '../src/devices/dma-test/regs.js';
import { FakeDmaPort, barCommand } from '../src/devices/dma-test/testing.js';
import { sid } from '../src/types.js';

/** A device with Bus Master Enable on, as firmware leaves it (a device with BME off cannot DMA). */
function enabled(dev: DmaTestDevice): DmaTestDevice {
  dev.config.write(0x04, 2, 0x6);
  return dev;
}

function device() {
  const port = new FakeDmaPort();
  return { port, dev: enabled(new DmaTestDevice(sid(0x18), port)) };
}

describe('DMA test device', () => {
  it('identifies itself and keeps IOVA/LEN/BUF_OFF in its BAR', () => {
    const { dev } = device();
    expect(dev.barRead(DMAT.ID, 4)).toBe(BigInt(DMAT_ID));
    dev.barWrite(DMAT.IOVA, 4, 0x1234_5000n);
    dev.barWrite(DMAT.IOVA + 4, 4, 0xabn);
    expect(dev.barRead(DMAT.IOVA, 8)).toBe(0xab_1234_5000n);
    dev.barWrite(DMAT.LEN, 4, 77n);
    expect(dev.barRead(DMAT.LEN, 4)).toBe(77n);
    expect(dev.barRead(0x40, 4)).toBe(0n);
    expect(dev.config.read(0, 4)).toBe(0x0d7a_5654);
  });

  it('READ and WRITE commands move bytes through its port with its requester id', () => {
    const { port, dev } = device();
    port.memory.set([1, 2, 3, 4], 0x100);
    expect(barCommand(dev, 'read', 0x100n, 4, 8)).toBe(dmatStatus(DMAT_STATE.DONE));
    expect([...dev.buffer().subarray(8, 12)]).toEqual([1, 2, 3, 4]);
    expect(barCommand(dev, 'write', 0x200n, 4, 8)).toBe(dmatStatus(DMAT_STATE.DONE));
    expect([...port.memory.subarray(0x200, 0x204)]).toEqual([1, 2, 3, 4]);
    expect(dev.barRead(DMAT.COUNT, 4)).toBe(2n);
    expect(port.requests).toEqual([
      { iova: 0x100n, len: 4, write: false, bufOff: 8 }, { iova: 0x200n, len: 4, write: true, bufOff: 8 },
    ]);
  });

  it('a fault shows in STATUS with the reason; bad commands and lengths are refused', () => {
    const { port, dev } = device();
    port.faultFrom = 0x1000;
    expect(barCommand(dev, 'read', 0x1000n, 4)).toBe(dmatStatus(DMAT_STATE.FAULT, 6));
    expect(dev.read(0n, 0)).toMatchObject({ ok: false });
    expect(dev.lastStatus()).toBe(dmatStatus(DMAT_STATE.BAD_COMMAND));
    expect(dev.read(0n, 4000, 200)).toMatchObject({ ok: false });
    dev.barWrite(DMAT.CMD, 4, 9n);
    expect(Number(dev.barRead(DMAT.STATUS, 4))).toBe(dmatStatus(DMAT_STATE.BAD_COMMAND));
    expect(port.requests).toHaveLength(1);
  });

  it('the buffer window in BAR0 reads and writes the buffer', () => {
    const { dev } = device();
    dev.barWrite(DMAT.BUFFER + 8, 8, 0x0807_0605_0403_0201n);
    expect([...dev.buffer().subarray(8, 16)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(dev.barRead(DMAT.BUFFER + 12, 4)).toBe(0x0807_0605n);
  });

  it('clamps DMA addresses to its DMA mask (the reference edu device has 28 bits)', () => {
    const port = new FakeDmaPort();
    const dev = enabled(new DmaTestDevice(sid(0x18), port, { dmaMaskBits: 28 }));
    dev.read(0x4000_0100n, 4);
    expect(port.requests[0]!.iova).toBe(0x100n);
    expect(() => new DmaTestDevice(sid(0x18), port, { dmaMaskBits: 70 })).toThrow(/dmaMaskBits/);
  });
});
