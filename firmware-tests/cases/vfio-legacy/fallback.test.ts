/**
 * The fallback to the group path (issue 24): a VM that asks for no host
 * path binds its devices through their VFIO cdevs (iommufd), but when one
 * device's driver offers no cdev (DeviceInfo.cdev false) and the host's
 * IOMMU groups are known, the whole VM takes its devices through VFIO
 * groups and containers instead, and says so in its log. The guest drives
 * its caching-mode vIOMMU as usual; its mappings become MAP_DMA.
 */
import { describe, expect, it } from 'vitest';
import { bootGuest, bootHost, HOST_DEVICES, startIommu } from '../../../host/src/flows/guest-side.js';
import { IommuGroups } from '../../../host/src/hostiommu/groups.js';
import { awForLevels, encodeContextEntry } from '../../../host/src/vtd/spec/context-entry.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

/** A device whose driver has the legacy group interface only. */
const LEGACY_ONLY = 0x0330;
const DEVICES = [
  { bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' as const },
  { bdf: '00:04.0', hostSid: LEGACY_ONLY, kind: 'dma-test' as const },
];

async function hostWithLegacyDevice() {
  const host = await bootHost();
  host.platform.addDevice(LEGACY_ONLY, { pasidBits: 8, pri: true, cdev: false });
  const groups = new IommuGroups(host.platform, [...HOST_DEVICES.map((d) => d.prid), LEGACY_ONLY]);
  return { host, groups };
}

describe('a device without a VFIO cdev: the VM falls back to the group path', () => {
  it('the VM takes both devices by group, logs why, and the guest\'s mapping reaches both through a container', async () => {
    const { host, groups } = await hostWithLegacyDevice();
    const g = await bootGuest({ name: 'vm-fallback', mode: 'shadow', groups, devices: DEVICES }, host);
    expect(g.vm.hostPath).toBe('group');
    expect(g.vm.logLines.join('\n')).toMatch(/no VFIO cdev .* through VFIO groups/);
    const ss = g.iommu.attachLegacy(g.vm.device('00:03.0').vrid, { did: 3, levels: 4 });
    g.iommu.ctx.setContext(g.vm.device('00:04.0').vrid, encodeContextEntry({ P: true, SSPTPTR: ss.rootPointer, AW: awForLevels(4), DID: 3 }));
    ss.map(0x4000_0000n, 0x300_0000n, 12, encodeSsPte({ R: true, W: true }));
    startIommu(g);
    for (const [i, d] of DEVICES.entries()) {
      const dev = g.vm.machine.dmaTest(d.bdf);
      dev.buffer().fill(0x90 + i, 0, 4);
      expect(dev.write(0x4000_0000n + BigInt(4 * i), 4).ok).toBe(true);
      expect(host.guestRam.read(0x300_0000n + BigInt(4 * i), 1)[0]).toBe(0x90 + i);
    }
    expect(g.vm.ctx.counts()['device']).toBeUndefined(); // nothing bound through a cdev
    expect(host.platform.usage().boundDevices).toBe(2); // both bound by the domain's container
    g.vm.close();
    expect(host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0 });
  });

  it('without the host\'s groups, or with hostPath cdev asked for, there is nothing to fall back to: EOPNOTSUPP naming the device', async () => {
    const { host, groups } = await hostWithLegacyDevice();
    await expect(bootGuest({ mode: 'shadow', devices: DEVICES }, host)).rejects.toThrow(/03:06\.0 has no VFIO cdev/);
    await expect(bootGuest({ mode: 'shadow', hostPath: 'cdev', groups, devices: DEVICES }, host)).rejects.toThrow(/no VFIO cdev/);
    await expect(bootGuest({ mode: 'nested', groups, devices: DEVICES }, host)).rejects.toThrow(/no VFIO cdev/);
    expect(host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0 });
  });

  it('devices that all have a cdev stay on the cdev path even when the groups are known', async () => {
    const { host, groups } = await hostWithLegacyDevice();
    const g = await bootGuest({ mode: 'shadow', groups, devices: [DEVICES[0]!] }, host);
    expect(g.vm.hostPath).toBe('cdev');
    expect(g.vm.ctx.counts()['device']).toBe(1);
    g.vm.close();
  });
});
