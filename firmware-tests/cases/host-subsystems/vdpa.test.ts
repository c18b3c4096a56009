/**
 * A guest whose devices are vhost-vdpa devices (VmConfig.hostPath 'vdpa'):
 * the guest programs its caching-mode vIOMMU through MMIO and guest RAM
 * (legacy context entries, a second-stage table, queued invalidations), and
 * the VMM turns each shadow mapping into a VHOST_IOTLB_UPDATE and each
 * unmap into a VHOST_IOTLB_INVALIDATE on the device's IOTLB interface
 * (hostiommu/vdpa.ts), as QEMU's vhost-vdpa follows a vIOMMU. The effects
 * are checked in guest RAM, in the guest's fault recording registers and in
 * the messages the host received.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bootGuest, startIommu } from '../../../host/src/flows/guest-side.js';
import { VdpaDevice, VHOST_ACCESS, VHOST_IOTLB, type VhostIotlbMsg } from '../../../host/src/hostiommu/vdpa.js';
import { awForLevels, encodeContextEntry } from '../../../host/src/vtd/spec/context-entry.js';
import { ccDesc, iotlbDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

const RW = encodeSsPte({ R: true, W: true });
const RO = encodeSsPte({ R: true, W: false });
const IOVA = 0x4000_0000n;
const GPA = 0x300_0000n;
const DEVICES = [
  { bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' as const },
  { bdf: '00:04.0', hostSid: 0x0320, kind: 'dma-test' as const },
];

afterEach(() => vi.restoreAllMocks());

/** Every vhost IOTLB message the host's vDPA devices receive, as [type, iova, size, uaddr, perm]. */
function watchMessages(): (string | undefined)[][] {
  const seen: (string | undefined)[][] = [];
  const orig = VdpaDevice.prototype.message;
  vi.spyOn(VdpaDevice.prototype, 'message').mockImplementation(function (this: VdpaDevice, m: VhostIotlbMsg) {
    seen.push([m.type, m.iova, m.size, m.uaddr, m.perm].map((v) => (v === undefined ? undefined : `0x${v.toString(16)}`)));
    return orig.call(this, m);
  });
  return seen;
}

const hex = (v: number | bigint): string => `0x${v.toString(16)}`;

/** Both devices in guest domain 3 with IOVA -> GPA mapped read-write, translation on. */
async function vdpaGuest() {
  const seen = watchMessages();
  const g = await bootGuest({ name: 'vm-vdpa', mode: 'shadow', hostPath: 'vdpa', devices: DEVICES });
  const ss = g.iommu.attachLegacy(g.vm.device(DEVICES[0]!.bdf).vrid, { did: 3, levels: 4 });
  g.iommu.ctx.setContext(g.vm.device(DEVICES[1]!.bdf).vrid, encodeContextEntry({ P: true, SSPTPTR: ss.rootPointer, AW: awForLevels(4), DID: 3 }));
  ss.map(IOVA, GPA, 12, RW);
  startIommu(g);
  return { g, ss, seen, hpa: (gpa: bigint) => g.host.hpaOf(gpa) };
}

describe('a shadowed guest over vhost-vdpa devices', () => {
  it('the guest domain reaches the host as IOTLB UPDATE messages; both devices DMA through it into guest RAM', async () => {
    const { g, seen, hpa } = await vdpaGuest();
    expect(seen).toEqual([[hex(VHOST_IOTLB.UPDATE), hex(IOVA), '0x1000', hex(hpa(GPA)), hex(VHOST_ACCESS.RW)]]);
    for (const [i, d] of DEVICES.entries()) {
      const dev = g.vm.machine.dmaTest(d.bdf);
      dev.buffer().fill(0x60 + i, 0, 8);
      expect(dev.write(IOVA + BigInt(8 * i), 8).ok).toBe(true);
      expect(g.host.guestRam.read(GPA + BigInt(8 * i), 1)[0]).toBe(0x60 + i);
    }
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0 });
  });

  it('a guest page-selective invalidation sends an UPDATE with the entry\'s permission; a read-only page refuses writes with the guest\'s fault', async () => {
    const { g, ss, seen, hpa } = await vdpaGuest();
    const dev = g.vm.machine.dmaTest('00:04.0');
    ss.map(IOVA + 0x1000n, GPA + 0x1000n, 12, RO);
    g.qi.submitSync([iotlbDesc(3, 3, IOVA + 0x1000n)]);
    expect(seen.at(-1)).toEqual([hex(VHOST_IOTLB.UPDATE), hex(IOVA + 0x1000n), '0x1000', hex(hpa(GPA + 0x1000n)), hex(VHOST_ACCESS.RO)]);
    g.host.guestRam.fill(GPA + 0x1000n, 8, 0x3c);
    expect(dev.read(IOVA + 0x1000n, 8).ok).toBe(true);
    expect([...dev.buffer().subarray(0, 8)]).toEqual(Array(8).fill(0x3c));
    expect(dev.write(IOVA + 0x1000n, 8).ok).toBe(false);
    expect(g.iommu.drv.readFaults().map((f) => [f.sid, f.reason, f.addr])).toEqual([[g.vm.device('00:04.0').vrid, 0x5, IOVA + 0x1000n]]);
    g.vm.close();
  });

  it('an unmap and domain invalidation sends INVALIDATE: the page is gone for both devices, the guest sees the fault', async () => {
    const { g, ss, seen } = await vdpaGuest();
    ss.unmap(IOVA, 12);
    g.qi.submitSync([iotlbDesc(2, 3)]);
    expect(seen.some(([t, iova, size]) => t === hex(VHOST_IOTLB.INVALIDATE) && BigInt(iova!) <= IOVA && BigInt(iova!) + BigInt(size!) > IOVA)).toBe(true);
    for (const d of DEVICES) expect(g.vm.machine.dmaTest(d.bdf).read(IOVA, 8).ok).toBe(false);
    expect(g.iommu.drv.readFaults().map((f) => [f.sid, f.reason, f.addr])).toEqual(DEVICES.map((d) => [g.vm.device(d.bdf).vrid, 0x6, IOVA]));
    g.vm.close();
    expect(g.host.platform.usage().objects).toBe(0);
  });

  it('refuses nesting on the vdpa path and an unknown path, naming the option', async () => {
    await expect(bootGuest({ mode: 'nested', hostPath: 'vdpa', devices: DEVICES })).rejects.toThrow(/hostPath: the vdpa path has no nesting/);
    await expect(bootGuest({ mode: 'shadow', hostPath: 'mdev' as never, devices: DEVICES })).rejects.toThrow(/hostPath: mdev is not/);
  });
});
