/**
 * Two subsystems, one PASID, guest-driven: one VM with a VFIO device
 * (00:03.0, the cdev path: IOMMU_IOAS_MAP / UNMAP) and a vhost-vdpa device
 * (00:04.0, VmDeviceConfig.hostPath 'vdpa': vhost IOTLB UPDATE /
 * INVALIDATE). The guest runs its caching-mode vIOMMU in scalable mode
 * through MMIO and guest RAM: both devices' PASID tables carry PASID 5 as a
 * second-stage entry (PGTT 2) of one domain and one table, and both devices
 * are programmed to DMA with PASID 5. A guest change of a page followed by
 * a page-selective IOTLB invalidation (§6.5.2.3), and a removal followed by
 * a PASID-selective PASID-based IOTLB invalidation (§6.5.2.4), must reach
 * both subsystems: the VFIO device's host tables and the vDPA device's
 * IOTLB. Effects are checked in guest RAM, in the guest's fault recording
 * registers, in the host's tables and in the IOTLB messages the vDPA side
 * received; one test shows the checks fail when an invalidation reaches
 * only one subsystem.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACC_PASID, ACC_READ, FR_SM_SS_NP } from '../../../host/src/core/constants.js';
import { bootGuest, setDevicePasid, startIommu, type Guest } from '../../../host/src/flows/guest-side.js';
import { vfioVdpaPasid } from '../../../host/src/flows/vfio-vdpa-pasid.js';
import { VdpaDevice, VHOST_IOTLB, type VhostIotlbMsg } from '../../../host/src/hostiommu/vdpa.js';
import { PageTableBuilder, PasidTableBuilder } from '../../../host/src/tables/table-builders.js';
import { awForLevels } from '../../../host/src/vtd/spec/context-entry.js';
import { iotlbDesc, pasidIotlbDesc, PIOTLB } from '../../../host/src/vtd/spec/descriptors.js';
import { encodePasidEntry, PGTT } from '../../../host/src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../../../host/src/vtd/spec/ss-pte.js';
import type { ShadowMode } from '../../../host/src/vmm/shadow.js';
import type { VmConfig } from '../../../host/src/vmm/virtual-machine.js';

const RW = encodeSsPte({ R: true, W: true });
const PASID = 5;
const DID = 7;
const IOVA = 0x4000_0000n;
const GPA = { a: 0x300_0000n, b: 0x308_0000n, c: 0x310_0000n } as const;
const DEVICES = [
  { bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' as const },
  { bdf: '00:04.0', hostSid: 0x0320, kind: 'dma-test' as const, hostPath: 'vdpa' as const },
];

afterEach(() => vi.restoreAllMocks());

/** Every vhost IOTLB message the vDPA side gets, as [type, iova]; `drop` loses the messages it matches (a broken subsystem). */
function watchVdpa(drop: (m: VhostIotlbMsg) => boolean = () => false): [number, bigint | undefined][] {
  const seen: [number, bigint | undefined][] = [];
  const orig = VdpaDevice.prototype.message;
  vi.spyOn(VdpaDevice.prototype, 'message').mockImplementation(function (this: VdpaDevice, m: VhostIotlbMsg) {
    seen.push([m.type, m.iova]);
    if (!drop(m)) orig.call(this, m);
  });
  return seen;
}

/** The guest: PASID 5 of both devices -> one second-stage table of domain 7 with IOVA -> A, IOVA + 4K -> B; both devices tagged with PASID 5. */
async function twoSubsystems(config: Pick<VmConfig, 'devices' | 'hostPath'> = { devices: DEVICES }) {
  const g = await bootGuest({ name: 'vm-mixed', mode: 'shadow', ...config }, undefined, { scalable: true, pri: false });
  const { mem, alloc } = g.env;
  const ss = new PageTableBuilder(mem, alloc, { stage: 'ss', levels: 4 });
  for (const d of DEVICES) {
    const dir = new PasidTableBuilder(mem, alloc);
    dir.setPasid(PASID, encodePasidEntry({ P: true, PGTT: PGTT.SECOND_STAGE, DID, AW: awForLevels(4), SSPTPTR: ss.rootPointer }));
    g.iommu.ctx.setContext(g.vm.device(d.bdf).vrid, encodeSmContextEntry({ P: true, PASIDE: true, PASIDDIRPTR: dir.directory }));
  }
  ss.map(IOVA, GPA.a, 12, RW);
  ss.map(IOVA + 0x1000n, GPA.b, 12, RW);
  startIommu(g);
  for (const d of DEVICES) setDevicePasid(g, d.bdf, PASID);
  return { g, ss };
}

/** Device `i` writes `byte` x 8 at `iova` (PASID 5): whether it completed. */
function write(g: Guest, i: number, iova: bigint, byte: number): boolean {
  const dev = g.vm.machine.dmaTest(DEVICES[i]!.bdf);
  dev.buffer().fill(byte, 0, 8);
  return dev.write(iova, 8).ok;
}

/** What the host IOMMU gives device `i` (its pRID, the host PASID of guest PASID 5) at `iova`. */
function hostSees(g: Guest, i: number, iova: bigint): bigint | undefined {
  const t = g.host.core.translate(DEVICES[i]!.hostSid, g.vm.ctx.guestPasids.hostOf(PASID), iova, ACC_READ | ACC_PASID);
  return t.ok ? t.addr : undefined;
}

const byteAt = (g: Guest, gpa: bigint, off: number): number => g.host.guestRam.read(gpa + BigInt(off), 1)[0]!;

describe('one guest PASID on a VFIO device and a vDPA device', () => {
  it('both devices DMA with the guest PASID into guest RAM; each subsystem has the mapping in its own host tables', async () => {
    const seen = watchVdpa();
    const { g } = await twoSubsystems();
    const h = g.vm.ctx.guestPasids.hostOf(PASID);
    expect(h).toBeDefined();
    expect(write(g, 0, IOVA, 0x31) && write(g, 1, IOVA + 8n, 0x32)).toBe(true);
    expect([byteAt(g, GPA.a, 0), byteAt(g, GPA.a, 8)]).toEqual([0x31, 0x32]);
    expect([hostSees(g, 0, IOVA), hostSees(g, 1, IOVA)]).toEqual([g.host.hpaOf(GPA.a), g.host.hpaOf(GPA.a)]);
    const mode = g.vm.modeHandler as ShadowMode;
    const hwpts = mode.domains.get(DID)!.space.hwpts();
    expect(hwpts).toHaveLength(2); // one per subsystem
    expect(g.vm.ctx.attachedTo(g.vm.device(DEVICES[0]!.bdf).devId, h)).toBe(hwpts[0]);
    expect(g.vm.ctx.attachedTo(g.vm.device(DEVICES[1]!.bdf).devId, h)).toBe(hwpts[1]);
    expect(seen.filter(([t]) => t === VHOST_IOTLB.UPDATE).map(([, iova]) => iova)).toEqual([IOVA, IOVA + 0x1000n]); // replayed when the vDPA device joined
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0, boundDevices: 0 });
  });

  it('a changed page and a page-selective IOTLB invalidation: both devices DMA to the new page', async () => {
    const seen = watchVdpa();
    const { g, ss } = await twoSubsystems();
    const before = seen.length;
    ss.unmap(IOVA, 12);
    ss.map(IOVA, GPA.c, 12, RW);
    g.qi.submitSync([iotlbDesc(3, DID, IOVA)]);
    expect(seen.slice(before)).toEqual([[VHOST_IOTLB.INVALIDATE, IOVA], [VHOST_IOTLB.UPDATE, IOVA]]);
    expect(write(g, 0, IOVA, 0x41) && write(g, 1, IOVA + 8n, 0x42)).toBe(true);
    expect([byteAt(g, GPA.c, 0), byteAt(g, GPA.c, 8)]).toEqual([0x41, 0x42]);
    expect(byteAt(g, GPA.a, 0)).not.toBe(0x41);
    expect([hostSees(g, 0, IOVA), hostSees(g, 1, IOVA)]).toEqual([g.host.hpaOf(GPA.c), g.host.hpaOf(GPA.c)]);
    g.vm.close();
  });

  it('a removed page and a PASID-selective PASID-based IOTLB invalidation: both subsystems drop it, both devices fault, the guest sees both faults', async () => {
    const seen = watchVdpa();
    const { g, ss } = await twoSubsystems();
    expect(write(g, 0, IOVA + 0x1000n, 0x51) && write(g, 1, IOVA + 0x1000n, 0x52)).toBe(true); // both IOTLBs hold it now
    ss.unmap(IOVA + 0x1000n, 12);
    g.qi.submitSync([pasidIotlbDesc(PIOTLB.G_PASID, DID, PASID)]);
    expect(seen.filter(([t]) => t === VHOST_IOTLB.INVALIDATE)).toEqual([[VHOST_IOTLB.INVALIDATE, IOVA + 0x1000n]]);
    expect([hostSees(g, 0, IOVA + 0x1000n), hostSees(g, 1, IOVA + 0x1000n)]).toEqual([undefined, undefined]);
    expect([write(g, 0, IOVA + 0x1000n, 0x53), write(g, 1, IOVA + 0x1000n, 0x54)]).toEqual([false, false]);
    expect(byteAt(g, GPA.b, 0)).toBe(0x52);
    const faults = g.iommu.drv.readFaults().map((f) => [f.sid, f.pv, f.reason, f.addr]);
    expect(faults).toEqual(DEVICES.map((d) => [g.vm.device(d.bdf).vrid, PASID, FR_SM_SS_NP, IOVA + 0x1000n])); // SSL.2, as the guest's table says
    expect(write(g, 0, IOVA, 0x55) && write(g, 1, IOVA, 0x56)).toBe(true); // the page still mapped stays
    g.vm.close();
  });

  it('an invalidation that reaches only the VFIO side is caught: the vDPA device still DMAs to the removed page', async () => {
    watchVdpa((m) => m.type === VHOST_IOTLB.INVALIDATE); // the vDPA side loses its INVALIDATE messages
    const { g, ss } = await twoSubsystems();
    ss.unmap(IOVA + 0x1000n, 12);
    g.qi.submitSync([pasidIotlbDesc(PIOTLB.G_PASID, DID, PASID)]);
    expect(hostSees(g, 0, IOVA + 0x1000n)).toBeUndefined();
    expect(hostSees(g, 1, IOVA + 0x1000n)).toBe(g.host.hpaOf(GPA.b)); // stale: what the checks above would catch
    expect(write(g, 1, IOVA + 0x1000n, 0x66)).toBe(true);
    g.vm.close();
    const lines: string[] = [];
    const res = await vfioVdpaPasid.run({ say: (l) => lines.push(l) });
    expect(res.ok).toBe(false);
    expect(res.failures.join('\n')).toMatch(/both subsystems/);
  });

  it('the same with the VM on the vdpa path and the VFIO device as the exception', async () => {
    const seen = watchVdpa();
    const { g, ss } = await twoSubsystems({ hostPath: 'vdpa', devices: [{ ...DEVICES[0]!, hostPath: 'cdev' }, { ...DEVICES[1]!, hostPath: undefined }] });
    expect(g.vm.devices.size).toBe(2);
    expect([...g.vm.devices.values()].map((d) => d.hostPath)).toEqual(['cdev', 'vdpa']);
    expect(write(g, 0, IOVA + 0x1000n, 0x71) && write(g, 1, IOVA + 0x1000n, 0x72)).toBe(true);
    ss.unmap(IOVA + 0x1000n, 12);
    g.qi.submitSync([iotlbDesc(3, DID, IOVA + 0x1000n)]);
    expect([hostSees(g, 0, IOVA + 0x1000n), hostSees(g, 1, IOVA + 0x1000n)]).toEqual([undefined, undefined]);
    expect(seen.filter(([t]) => t === VHOST_IOTLB.INVALIDATE)).toEqual([[VHOST_IOTLB.INVALIDATE, IOVA + 0x1000n]]);
    g.vm.close();
    expect(g.host.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });

  it('refuses a per-device path it cannot serve, naming the device', async () => {
    await expect(bootGuest({ mode: 'nested', devices: DEVICES })).rejects.toThrow(/devices\[1\]\.hostPath: the vdpa path has no nesting/);
    await expect(bootGuest({ mode: 'shadow', devices: [{ ...DEVICES[0]!, hostPath: 'mdev' as never }] })).rejects.toThrow(/devices\[0\]\.hostPath: mdev is not/);
  });
});
