/**
 * Subdevices given to a guest (VmDeviceConfig.subdevice): two guest
 * functions are slices of one physical device (parent RID 03:04.0), each a
 * subdevice with its own default PASID. The guest programs its
 * caching-mode vIOMMU through MMIO and guest RAM as for any device: context
 * entries, second-stage tables, context-cache and IOTLB invalidations; the
 * VMM attaches, replaces and detaches the *subdevices*. On the host both
 * functions DMA with the parent's RID, told apart only by the PASID the
 * parent tags them with; the guest sees ordinary functions with their own
 * domains and faults.
 */
import { describe, expect, it } from 'vitest';
import { ACC_PASID, ACC_READ } from '../../../host/src/core/constants.js';
import { bootGuest, startIommu } from '../../../host/src/flows/guest-side.js';
import { awForLevels, encodeContextEntry } from '../../../host/src/vtd/spec/context-entry.js';
import { ccDesc, iotlbDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

const RW = encodeSsPte({ R: true, W: true });
const PARENT = 0x0320;
const IOVA = 0x4000_0000n;
const GPA = [0x300_0000n, 0x310_0000n] as const;
const DEVICES = [
  { bdf: '00:03.0', hostSid: PARENT, kind: 'dma-test' as const, subdevice: true },
  { bdf: '00:04.0', hostSid: PARENT, kind: 'dma-test' as const, subdevice: true },
  { bdf: '00:05.0', hostSid: 0x0318, kind: 'dma-test' as const },
];

/** 00:03.0 in guest domain 3 (IOVA -> GPA[0]), 00:04.0 in domain 5 (IOVA -> GPA[1]), 00:05.0 in domain 3. */
async function subdeviceGuest() {
  const g = await bootGuest({ name: 'vm-siov', mode: 'shadow', devices: DEVICES });
  const vrid = (i: number) => g.vm.device(DEVICES[i]!.bdf).vrid;
  const d3 = g.iommu.attachLegacy(vrid(0), { did: 3, levels: 4 });
  const d5 = g.iommu.attachLegacy(vrid(1), { did: 5, levels: 4 });
  g.iommu.ctx.setContext(vrid(2), encodeContextEntry({ P: true, SSPTPTR: d3.rootPointer, AW: awForLevels(4), DID: 3 }));
  d3.map(IOVA, GPA[0], 12, RW);
  d5.map(IOVA, GPA[1], 12, RW);
  startIommu(g);
  const dev = (i: number) => g.vm.machine.dmaTest(DEVICES[i]!.bdf);
  /** Device `i` writes `byte` x 8 at IOVA; true when it completed. */
  const write = (i: number, byte: number): boolean => {
    dev(i).buffer().fill(byte, 0, 8);
    return dev(i).write(IOVA, 8).ok;
  };
  return { g, vrid, d3, d5, dev, write, pasids: [0, 1].map((i) => g.vm.device(DEVICES[i]!.bdf).defaultPasid!) };
}

describe('subdevices of one physical device given to a guest', () => {
  it('each subdevice DMAs in its own guest domain; on the host they are the parent\'s RID with two default PASIDs', async () => {
    const { g, write, pasids } = await subdeviceGuest();
    expect(pasids[0]).not.toBe(pasids[1]);
    expect(write(0, 0xa0) && write(1, 0xa1) && write(2, 0xa2)).toBe(true);
    expect(g.host.guestRam.read(GPA[0], 1)[0]).toBe(0xa2); // 00:05.0 shares domain 3 and wrote last
    expect(g.host.guestRam.read(GPA[1], 1)[0]).toBe(0xa1);
    const hostSees = (pasid: number | undefined) => {
      const t = g.host.core.translate(PARENT, pasid, IOVA, ACC_READ | (pasid === undefined ? 0 : ACC_PASID));
      return t.ok ? t.addr : undefined;
    };
    expect(hostSees(pasids[0])).toBe(g.host.hpaOf(GPA[0]));
    expect(hostSees(pasids[1])).toBe(g.host.hpaOf(GPA[1]));
    expect(hostSees(undefined)).toBeUndefined(); // the parent itself is attached nowhere
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0, pasids: 0 });
  });

  it('the guest moving a subdevice to another domain replaces its attachment; clearing its context entry detaches it and the guest sees the fault', async () => {
    const { g, vrid, d3, write } = await subdeviceGuest();
    g.iommu.ctx.setContext(vrid(1), encodeContextEntry({ P: true, SSPTPTR: d3.rootPointer, AW: awForLevels(4), DID: 3 }));
    g.qi.submitSync([ccDesc(3, 0, vrid(1)), iotlbDesc(2, 5)]);
    expect(write(1, 0xb1)).toBe(true);
    expect(g.host.guestRam.read(GPA[0], 1)[0]).toBe(0xb1);
    expect(g.host.guestRam.read(GPA[1], 1)[0]).not.toBe(0xb1);

    g.iommu.ctx.setContext(vrid(0), [0n, 0n]);
    g.qi.submitSync([ccDesc(3, 0, vrid(0))]);
    expect(write(0, 0xb0)).toBe(false);
    expect(write(1, 0xb2)).toBe(true); // the sibling on the same parent RID is untouched
    expect(g.iommu.drv.readFaults().map((f) => [f.sid, f.reason, f.addr])).toEqual([[vrid(0), 0x2, IOVA]]);
    expect(g.vm.resetDevice(DEVICES[0]!.bdf)).toBe(0); // FLR of a subdevice: nothing in flight
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });

  it('a guest unmap reaches only the subdevice\'s domain', async () => {
    const { g, d5, write } = await subdeviceGuest();
    d5.unmap(IOVA, 12);
    g.qi.submitSync([iotlbDesc(3, 5, IOVA)]);
    expect(write(1, 0xc1)).toBe(false);
    expect(write(0, 0xc0)).toBe(true);
    g.vm.close();
  });

  it('subdevices are refused where the VMM cannot serve them, naming the device; a whole device is still given once', async () => {
    await expect(bootGuest({ mode: 'nested', devices: DEVICES })).rejects.toThrow(/devices\[0\]\.subdevice/);
    const twice = [DEVICES[0]!, { ...DEVICES[1]!, subdevice: false }];
    await expect(bootGuest({ mode: 'shadow', devices: twice })).rejects.toThrow(/EBUSY|bound/);
    await expect(bootGuest({ mode: 'shadow', devices: [twice[1]!, { ...twice[1]!, bdf: '00:05.0' }] })).rejects.toThrow(/EBUSY|bound/);
  });
});
