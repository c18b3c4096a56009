/**
 * A DMA whose last byte would lie past 2^64 (the device's address counter
 * wrapping to 0) is a malformed request: nothing of it reaches guest RAM,
 * neither with translation off (GSTS.TES = 0: identity) nor through a
 * pass-through context (TT = 10, VT-d §9.3), where the wrapped part would
 * land at guest-physical 0. The guest programs the DMA test device through
 * BAR0 (IOVA, LEN, CMD) and reads STATUS; the host port refuses the same
 * request from an embedder's device.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../../host/src/machine.js';
import { DMAT, DMAT_CMD, DMAT_STATE } from '../../../host/src/devices/dma-test/regs.js';
import { DMA_ABORT, REQ } from '../../../host/src/pci/dma-port.js';
import { GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';

const SID = 0x18; // 00:03.0
const NEAR_TOP = 0xffff_ffff_ffff_f800n;

async function boot() {
  const m = await createMachine({ ramMib: 64, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
  const env = guestEnvFor(m);
  const pci = new PciDriver(m);
  pci.command(SID, 0x6, true); // memory decode + bus master
  const bar = pci.barBase(SID, 0);
  const write = (iova: bigint, len: number): number => {
    for (let i = 0; i < len; i += 8) m.mmioWrite(bar + BigInt(DMAT.BUFFER + i), 8, 0xa5a5_a5a5_a5a5_a5a5n);
    m.mmioWrite(bar + BigInt(DMAT.IOVA), 8, iova);
    m.mmioWrite(bar + BigInt(DMAT.LEN), 4, BigInt(len));
    m.mmioWrite(bar + BigInt(DMAT.CMD), 4, BigInt(DMAT_CMD.WRITE));
    return Number(m.mmioRead(bar + BigInt(DMAT.STATUS), 4)) & 7;
  };
  const low = () => [...m.ram.read(0n, 0x800)].some((b) => b !== 0);
  return { m, env, write, low };
}

describe('a DMA wrapping past 2^64 reaches nothing', () => {
  it('translation off: the device write at 0xFFFF_FFFF_FFFF_F800 + 0x1000 leaves guest-physical 0 untouched', async () => {
    const t = await boot();
    expect(t.write(NEAR_TOP, 0x1000)).not.toBe(DMAT_STATE.DONE);
    expect(t.low()).toBe(false);
    expect(t.write(0x1000n, 0x800)).toBe(DMAT_STATE.DONE); // an ordinary write still lands
  });

  it('pass-through context (TT=10): the same write is refused, guest-physical 0 untouched', async () => {
    const t = await boot();
    const g = new GuestIommu(t.env, 'legacy');
    g.attachLegacy(SID, { did: 1, levels: 4, tt: 2 });
    g.start();
    expect(t.write(NEAR_TOP, 0x1000)).not.toBe(DMAT_STATE.DONE);
    expect(t.low()).toBe(false);
    expect(g.drv.readFaults()).toEqual([]); // a malformed request, not a translation fault
  });

  it('an embedder port refuses the request whole (DMA_ABORT), in both 64-bit forms', async () => {
    const t = await boot();
    const port = t.m.vtd.portFor(0x20);
    const buf = port.allocBuffer(0x1000);
    port.buffer(buf, 0x1000).fill(0x5a);
    expect(port.dma64(0xffff_ffff, 0xffff_f800, 0x1000, buf, REQ.WRITE)).toBe(DMA_ABORT);
    expect(port.dmaBig(NEAR_TOP, 0x1000, true, buf)).toMatchObject({ ok: false, reason: 0, recorded: false });
    expect(t.low()).toBe(false);
    expect(port.dma64(0xffff_ffff, 0xffff_f800, 0x800, buf, REQ.WRITE)).not.toBe(DMA_ABORT); // ends exactly at 2^64: well-formed
  });
});
