/**
 * A guest whose devices reach it through VFIO's legacy interface: the VMM
 * (shadow mode, hostPath 'group') keeps one VFIO container per guest domain,
 * devices join it by IOMMU group, and the guest's caching-mode vIOMMU
 * invalidations become MAP_DMA / UNMAP_DMA on the container. The guest
 * programs its unit only through MMIO and guest RAM; the effects are
 * checked in guest memory, in its fault recording registers and in the
 * host's objects.
 */
import { describe, expect, it } from 'vitest';
import { bootGroups } from '../../../host/src/flows/container-group.js';
import { bootGuest, setDevicePasid, startIommu } from '../../../host/src/flows/guest-side.js';
import { GuestIommu } from '../../../host/src/guest/guest-iommu.js';
import { PageTableBuilder, PasidTableBuilder } from '../../../host/src/tables/table-builders.js';
import { encodePasidEntry, PGTT } from '../../../host/src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../../../host/src/vtd/spec/sm-context-entry.js';
import type { ShadowMode } from '../../../host/src/vmm/shadow.js';
import { awForLevels, encodeContextEntry } from '../../../host/src/vtd/spec/context-entry.js';
import { ccDesc, iotlbDesc, pasidCacheDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';

const RW = encodeSsPte({ R: true, W: true });
const IOVA = 0x4000_0000n;
const GPA = 0x300_0000n;
/** 00:03.0 and 00:04.0 are the two functions of host device 03:05 (one group); 00:05.0 is 03:03.0. */
const DEVICES = [
  { bdf: '00:03.0', hostSid: 0x0328, kind: 'dma-test' as const },
  { bdf: '00:04.0', hostSid: 0x0329, kind: 'dma-test' as const },
  { bdf: '00:05.0', hostSid: 0x0318, kind: 'dma-test' as const },
];

async function legacyGuest() {
  const { host, groups } = await bootGroups();
  const g = await bootGuest({ name: 'vm-legacy', mode: 'shadow', hostPath: 'group', groups, devices: DEVICES }, host);
  // One guest domain (DID 3): one second-stage table, every device's context entry points at it.
  const ss = g.iommu.attachLegacy(g.vm.device(DEVICES[0]!.bdf).vrid, { did: 3, levels: 4 });
  for (const d of DEVICES.slice(1)) {
    g.iommu.ctx.setContext(g.vm.device(d.bdf).vrid, encodeContextEntry({ P: true, SSPTPTR: ss.rootPointer, AW: awForLevels(4), DID: 3 }));
  }
  ss.map(IOVA, GPA, 12, RW);
  startIommu(g);
  return { host, groups, g, ss };
}

describe('a shadowed guest over VFIO containers and groups', () => {
  it('one guest domain is one container; both groups join it; guest mappings become MAP_DMA', async () => {
    const { host, g } = await legacyGuest();
    const mode = g.vm.modeHandler as ShadowMode;
    expect(mode.stats.maps).toBe(1);
    expect(host.platform.usage().boundDevices).toBe(3); // all members of both groups, in the container's context
    expect(g.vm.ctx.counts()['device']).toBeUndefined(); // nothing bound in the VM's own context
    for (const [i, d] of DEVICES.entries()) {
      const dev = g.vm.machine.dmaTest(d.bdf);
      dev.buffer().fill(0x10 + i, 0, 8);
      expect(dev.write(IOVA + BigInt(8 * i), 8).ok).toBe(true);
      expect(host.guestRam.read(GPA + BigInt(8 * i), 1)[0]).toBe(0x10 + i);
    }
    g.vm.close();
    expect(host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0, pinnedPages: 0 });
  });

  it('a guest invalidation reaches the container: a new mapping appears, an unmapped page faults in the guest', async () => {
    const { g, ss, host } = await legacyGuest();
    const vrid = g.vm.device('00:05.0').vrid;
    const dev = g.vm.machine.dmaTest('00:05.0');
    ss.map(IOVA + 0x1000n, GPA + 0x1000n, 12, RW);
    expect(dev.read(IOVA + 0x1000n, 8).ok).toBe(false);
    g.iommu.drv.readFaults();
    g.qi.submitSync([iotlbDesc(3, 3, IOVA + 0x1000n)]);
    expect(dev.read(IOVA + 0x1000n, 8).ok).toBe(true);
    ss.unmap(IOVA, 12);
    g.qi.submitSync([iotlbDesc(2, 3)]);
    expect(dev.read(IOVA, 8).ok).toBe(false);
    expect(g.iommu.drv.readFaults().map((f) => [f.sid, f.reason, f.addr])).toEqual([[vrid, 0x6, IOVA]]);
    g.vm.close();
    expect(host.platform.usage().objects).toBe(0);
  });

  it('a group follows one domain: moving one function to another domain is refused and logged (the group cannot be split)', async () => {
    const { g } = await legacyGuest();
    const vrid = g.vm.device('00:04.0').vrid;
    const other = g.iommu.attachLegacy(vrid, { did: 5, levels: 4 });
    other.map(IOVA, GPA + 0x10_0000n, 12, RW);
    g.qi.submitSync([ccDesc(3, 3, vrid), iotlbDesc(2, 5)]);
    expect(g.vm.logLines.join('\n')).toMatch(/guest domain 5 refused by the host: EBUSY/);
    const dev = g.vm.machine.dmaTest('00:04.0');
    dev.buffer().fill(0x77, 0, 4);
    expect(dev.write(IOVA, 4).ok).toBe(true); // still through domain 3: its sibling holds the group there
    expect(g.host.guestRam.read(GPA, 1)[0]).toBe(0x77);
    expect(g.host.guestRam.read(GPA + 0x10_0000n, 1)[0]).toBe(0);
    g.vm.close();
  });

  it('a device alone in its group moves between domains: it leaves the first container, then joins the second', async () => {
    const { g, host } = await legacyGuest();
    const vrid = g.vm.device('00:05.0').vrid;
    const other = g.iommu.attachLegacy(vrid, { did: 5, levels: 4 });
    other.map(IOVA, GPA + 0x10_0000n, 12, RW);
    g.qi.submitSync([ccDesc(3, 3, vrid), iotlbDesc(2, 5)]);
    const dev = g.vm.machine.dmaTest('00:05.0');
    dev.buffer().fill(0x66, 0, 4);
    expect(dev.write(IOVA, 4).ok).toBe(true);
    expect(host.guestRam.read(GPA + 0x10_0000n, 1)[0]).toBe(0x66);
    expect((g.vm.modeHandler as ShadowMode).domains.size).toBe(2);
    expect(g.vm.resetDevice('00:05.0')).toBe(0); // reset reaches the device in its container: nothing outstanding
    g.vm.close();
    expect(host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0 });
  });

  it('pass-through is a container holding all of guest RAM at IOVA = GPA; the device leaves it when the guest translates again', async () => {
    const { g, host } = await legacyGuest();
    const vrid = g.vm.device('00:05.0').vrid;
    const dev = g.vm.machine.dmaTest('00:05.0');
    g.iommu.ctx.setContext(vrid, encodeContextEntry({ P: true, TT: 2, AW: awForLevels(4), DID: 7 }));
    g.qi.submitSync([ccDesc(3, 3, vrid)]);
    expect(g.vm.logLines.at(-1)).toBe(`vmm: ${vrid.toString(16)} RID -> pass-through (VFIO container)`);
    for (const gpa of [0x10_0000n, GPA + 0x20_0000n, host.guestRam.size - 0x1000n]) {
      dev.buffer().fill(0x77, 0, 4);
      expect(dev.write(gpa, 4).ok).toBe(true);
      expect(host.guestRam.read(gpa, 1)[0]).toBe(0x77);
    }
    expect(dev.read(host.guestRam.size, 4).ok).toBe(false); // past guest RAM: nothing mapped
    expect(host.platform.usage().boundDevices).toBe(3);
    const ss = g.iommu.attachLegacy(vrid, { did: 9, levels: 4 });
    ss.map(IOVA, GPA, 12, RW);
    g.qi.submitSync([ccDesc(3, 3, vrid), iotlbDesc(2, 9)]);
    expect(dev.write(0x10_0000n, 4).ok).toBe(false); // out of the pass-through container
    expect(dev.write(IOVA, 4).ok).toBe(true);
    g.vm.close();
    expect(host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0, pinnedPages: 0 });
  });

  it('one function of a group in pass-through while the other stays in a domain: refused (EBUSY, the group cannot be split)', async () => {
    const { g } = await legacyGuest();
    const vrid = g.vm.device('00:04.0').vrid;
    g.iommu.ctx.setContext(vrid, encodeContextEntry({ P: true, TT: 2, AW: awForLevels(4), DID: 7 }));
    g.qi.submitSync([ccDesc(3, 3, vrid)]);
    expect(g.vm.logLines.join('\n')).toMatch(new RegExp(`${vrid.toString(16)} RID: pass-through refused by the host: EBUSY`));
    expect(g.vm.machine.dmaTest('00:04.0').write(0x10_0000n, 4).ok).toBe(false);
    g.vm.close();
  });

  it('a scalable-mode guest: RID_PASID is shadowed into a container, a PASID has none (type1 has no PASID): refused, logged, its DMA fails', async () => {
    const { host, groups } = await bootGroups();
    const dev0 = [{ bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' as const }];
    const g = await bootGuest({ name: 'vm-sm', mode: 'shadow', hostPath: 'group', groups, devices: dev0 }, host);
    const iommu = new GuestIommu(g.env, 'scalable');
    const pasids = new PasidTableBuilder(g.env.mem, g.env.alloc);
    const vrid = g.vm.device('00:03.0').vrid;
    iommu.ctx.setContext(vrid, encodeSmContextEntry({ P: true, PASIDE: true, PASIDDIRPTR: pasids.directory, RID_PASID: 0 }));
    const ss = new PageTableBuilder(g.env.mem, g.env.alloc, { stage: 'ss', levels: 4 });
    ss.map(IOVA, GPA, 12, RW);
    for (const [pasid, did] of [[0, 3], [5, 4]] as const) pasids.setPasid(pasid, encodePasidEntry({ P: true, PGTT: PGTT.SECOND_STAGE, DID: did, AW: 2, SSPTPTR: ss.rootPointer }));
    startIommu({ ...g, iommu });
    g.pci.enablePasid(vrid);
    g.qi.submitSync([pasidCacheDesc(3), ccDesc(1)]);
    const dev = g.vm.machine.dmaTest('00:03.0');
    dev.buffer().fill(0x42, 0, 4);
    expect(dev.write(IOVA, 4).ok).toBe(true); // without PASID: RID_PASID's second stage, in domain 3's container
    expect(host.guestRam.read(GPA, 1)[0]).toBe(0x42);
    setDevicePasid(g, '00:03.0', 5);
    expect(dev.write(IOVA, 4).ok).toBe(false);
    expect(g.vm.logLines.join('\n')).toMatch(new RegExp(`${vrid.toString(16)} PASID 5: shadow of guest domain 4 refused by the host: EOPNOTSUPP`));
    g.vm.close();
    expect(host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0, pasids: 0 });
  });

  it('the group path needs shadow mode and the host topology', async () => {
    const { host, groups } = await bootGroups();
    await expect(bootGuest({ mode: 'nested', hostPath: 'group', groups, devices: DEVICES }, host)).rejects.toThrow(/hostPath/);
    await expect(bootGuest({ mode: 'shadow', hostPath: 'group', devices: DEVICES }, host)).rejects.toThrow(/groups/);
  });
});
