import { describe, expect, it } from 'vitest';
import { patch } from './patch.js';
import { HwptPaging } from '../../host/src/hostiommu/hwpt.js';
import { HostIommu } from '../../host/src/hostiommu/host-iommu.js';
import { VdpaDevice, VHOST_IOTLB } from '../../host/src/hostiommu/vdpa.js';
import { VfioContainer } from '../../host/src/hostiommu/vfio-container.js';
import { Executor, loadFuzzModule } from '../execute.js';
import { fromScenarioDoc, toScenarioDoc, type FuzzInput, type Step, type VmmHost } from '../input.js';
import { mutate } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs, withVmmVariants } from '../seeds.js';
import { vmMachine, vmmHostFor } from '../vmm-run.js';
import { HOST_FEATURE_BASE } from '../coverage.js';

// Issue 19: VMM-backed inputs over the group (and no-cdev fallback), vdpa
// and subdevice host paths, and VMs with both VFIO and vDPA devices, with
// the host-tables and physical-cache oracles applying to them: silent on
// the real host side, firing on injected bugs.
const { module } = loadFuzzModule();

const w = (gpa: number, u64: bigint[]): Step => ({ op: 'mem.write', gpa: BigInt(gpa), u64 });
const mmio = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value });
const dma = (bdf: string, iova: bigint): Step => ({ op: 'dma.read', bdf, iova, len: 8 });

/**
 * A caching-mode legacy guest (VT-d §6.1): 00:03.0 and 00:04.0 in domain 1
 * (one 4-level second stage, IOVA 0 and 0x1000 -> 0x300000, 0x301000);
 * root table, translation, queue; global context and IOTLB invalidations,
 * DMAs from both; then the guest clears the leaf of IOVA 0, invalidates
 * domain 1 (§6.5.2.3) and both DMA again.
 */
function input(vmmHost: VmmHost | undefined): FuzzInput {
  const devices = [{ bdf: '00:03.0', kind: 'dma-test' as const }, { bdf: '00:04.0', kind: 'dma-test' as const }];
  const machine = vmMachine({ profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: true, aw_bits: 48 }, devices });
  const host = vmmHostFor('shadow', vmmHost, 2);
  return {
    vmm: 'shadow',
    ...(host ? { vmmHost: host } : {}),
    machine,
    steps: [
      w(0x100000, [0x101001n, 0n]),
      w(0x101180, [0x200001n, 0x102n]), w(0x101200, [0x200001n, 0x102n]),
      w(0x200000, [0x201003n]), w(0x201000, [0x202003n]), w(0x202000, [0x203003n]), w(0x203000, [0x300003n, 0x301003n]),
      mmio(0x20, 8, 0x100000n), mmio(0x18, 4, 0x4000_0000n),
      mmio(0x90, 8, 0x180000n), mmio(0x18, 4, 0x8400_0000n),
      w(0x180000, [0x11n, 0n, 0x12n, 0n]), mmio(0x88, 8, 0x20n),
      dma('00:03.0', 0n), dma('00:04.0', 0x1000n),
      w(0x203000, [0n]),
      w(0x180020, [0x10022n, 0n]), mmio(0x88, 8, 0x30n),
      dma('00:03.0', 0n), dma('00:04.0', 0x1000n),
    ],
  };
}
/** The IQT write that runs the domain invalidation. */
const INVALIDATION_STEP = 17;

/** Counts calls of `obj[key]` (a method) during the running test. */
function count<T extends object, K extends keyof T>(obj: T, key: K, which: (...a: never[]) => boolean = () => true): { n: number } {
  const c = { n: 0 };
  const real = obj[key] as (...a: unknown[]) => unknown;
  patch(obj, key, function (this: unknown, ...a: unknown[]) { if ((which as (...x: unknown[]) => boolean)(...a)) c.n++; return real.apply(this, a); } as T[K]);
  return c;
}

/**
 * IOMMU_IOAS_UNMAP calls of the VFIO side (those a vhost IOTLB message does
 * not make: VdpaDevice turns INVALIDATE into one); with `forget`, they unmap nothing.
 */
function cdevUnmaps(forget = false): { n: number } {
  const c = { n: 0 };
  let inVdpa = false;
  const message = VdpaDevice.prototype.message;
  const unmap = HostIommu.prototype.ioasUnmap;
  patch(VdpaDevice.prototype, 'message', function (this: VdpaDevice, m) {
    inVdpa = true;
    try {
      message.call(this, m);
    } finally {
      inVdpa = false;
    }
  });
  patch(HostIommu.prototype, 'ioasUnmap', function (this: HostIommu, ...a: Parameters<HostIommu['ioasUnmap']>) {
    if (inVdpa) return unmap.apply(this, a);
    c.n++;
    return forget ? a[2] : unmap.apply(this, a);
  });
  return c;
}

describe('VMM-backed inputs over the group, vdpa and subdevice host paths', () => {
  it.each<[string, VmmHost | undefined]>([
    ['cdev', undefined], ['group', { path: 'group' }], ['no-cdev fallback to groups', { path: 'fallback' }],
    ['group, one IOMMU group', { path: 'group', sharedGroup: true }], ['vdpa', { path: 'vdpa' }],
    ['subdevices', { subdevices: 3 }], ['subdevices over vdpa', { path: 'vdpa', subdevices: 1 }],
    ['VFIO cdev and vDPA devices in one VM', { vdpaDevices: 2 }],
  ])('%s: the oracles are silent on the real host side, which took that path', async (_name, host) => {
    const containers = count(VfioContainer.prototype, 'map');
    const vdpa = count(VdpaDevice.prototype, 'message', (m: { type: number }) => m.type === VHOST_IOTLB.INVALIDATE);
    const subdevices = count(HostIommu.prototype, 'subdeviceAlloc');
    const iommufdUnmaps = cdevUnmaps();
    const r = await new Executor(module).run(input(host));
    expect(r.finding).toBeUndefined();
    const grouped = host?.path === 'group' || host?.path === 'fallback';
    expect(containers.n > 0).toBe(grouped);
    expect(vdpa.n > 0).toBe(host?.path === 'vdpa' || host?.vdpaDevices !== undefined); // the withdrawn page went as VHOST_IOTLB_INVALIDATE
    expect(iommufdUnmaps.n > 0).toBe(host?.path !== 'vdpa'); // ... or as IOMMU_IOAS_UNMAP (VFIO: cdev, containers; both in a VM with both)
    expect(subdevices.n).toBe(host?.subdevices === 3 ? 2 : host?.subdevices === 1 ? 1 : 0);
  });

  it('vdpa: a device that drops IOTLB INVALIDATE messages is a host-tables finding', async () => {
    const real = VdpaDevice.prototype.message;
    patch(VdpaDevice.prototype, 'message', function (this: VdpaDevice, m) { if (m.type !== VHOST_IOTLB.INVALIDATE) real.call(this, m); });
    const r = await new Executor(module).run(input({ path: 'vdpa' }));
    expect(r.finding?.kind).toBe('host-tables');
    expect(r.finding?.step).toBe(INVALIDATION_STEP);
    expect(r.finding?.message).toMatch(/after the guest's iotlbDomain invalidation, guest domain 1: the host maps IOVA 0x0 -> 0x100300000/);
  });

  it.each<[string, VmmHost]>([['second device by vDPA', { vdpaDevices: 2 }], ['first device by vDPA', { vdpaDevices: 1 }]])(
    'VFIO cdev and vDPA devices in one VM (%s): vDPA drops IOTLB INVALIDATE while VFIO unmaps: a host-tables finding on the vdpa side', async (_name, host) => {
      const real = VdpaDevice.prototype.message;
      patch(VdpaDevice.prototype, 'message', function (this: VdpaDevice, m) { if (m.type !== VHOST_IOTLB.INVALIDATE) real.call(this, m); });
      const unmaps = cdevUnmaps();
      const r = await new Executor(module).run(input(host));
      expect(r.finding?.kind).toBe('host-tables');
      expect(r.finding?.step).toBe(INVALIDATION_STEP);
      expect(r.finding?.message).toMatch(new RegExp(`after the guest's iotlbDomain invalidation, guest domain 1: the host maps IOVA 0x0 -> 0x100300000 .*\\(HWPT \\d+, the vdpa side\\)`));
      expect(unmaps.n).toBeGreaterThan(0); // the VFIO side did unmap
    });

  it('VFIO cdev and vDPA devices in one VM: the VFIO side forgets IOMMU_IOAS_UNMAP while vDPA invalidates: a host-tables finding on the cdev side', async () => {
    const vdpa = count(VdpaDevice.prototype, 'message', (m: { type: number }) => m.type === VHOST_IOTLB.INVALIDATE);
    const unmaps = cdevUnmaps(true);
    const r = await new Executor(module).run(input({ vdpaDevices: 2 }));
    expect(r.finding?.kind).toBe('host-tables');
    expect(r.finding?.step).toBe(INVALIDATION_STEP);
    expect(r.finding?.message).toMatch(/guest domain 1: the host maps IOVA 0x0 -> 0x100300000 .*\(HWPT \d+, the cdev side\)/);
    expect(vdpa.n).toBeGreaterThan(0); // the vDPA side did invalidate
    expect(unmaps.n).toBeGreaterThan(0);
  });

  it.each<[string, VmmHost]>([['group', { path: 'group' }], ['no-cdev fallback', { path: 'fallback' }]])(
    '%s: a VFIO container that forgets UNMAP_DMA is a finding of the physical-cache oracle', async (_name, host) => {
      patch(VfioContainer.prototype, 'unmap', (_iova: bigint, len: bigint) => len);
      const r = await new Executor(module).run(input(host));
      expect(r.finding?.kind).toBe('host-tables');
      expect(r.finding?.step).toBe(INVALIDATION_STEP);
      expect(r.finding?.message).toMatch(/physical caches vs guest: after the guest's iotlbDomain invalidation \(DID 1\), shadow requester 18 RID .*the physical IOTLB keeps IOVA 0x0: the guest's tables map nothing/);
    });

  it('subdevices: a stale physical IOTLB entry is found under the parent\'s RID and the subdevice\'s default PASID', async () => {
    patch(HwptPaging.prototype, 'unmap', function () { /* forgets table and flush */ });
    const r = await new Executor(module).run(input({ subdevices: 1 }));
    expect(r.finding?.kind).toBe('host-tables');
    expect(r.finding?.message).toMatch(/shadow requester 18 RID \(guest domain 1; pRID 338, host PASID [1-9]\d*, host DID \d+\): the physical IOTLB keeps IOVA 0x0/);
  });

  it('the vmm-host operator makes every host side, each a valid scenario that builds its VM', async () => {
    const seeds = withVmmVariants(loadInputs([goldenDir()]));
    const hosts = seeds.flatMap((s) => (s.vmmHost ? [JSON.stringify(s.vmmHost)] : []));
    expect(new Set(hosts).size).toBeGreaterThanOrEqual(4); // the seeds' VM copies cycle through the host sides
    const vmSeeds = seeds.filter((s) => s.vmm);
    const rng = new Rng(19);
    const seen = new Set<string>();
    const ex = new Executor(module);
    const wanted = ['shadow:group', 'shadow:vdpa', 'shadow:fallback'];
    const allSeen = () => wanted.every((w) => [...seen].some((s) => s.startsWith(w))) && [...seen].some((s) => s.includes('+sub'));
    let vm = 0;
    for (let i = 0; i < 3000 && (vm < 24 || !allSeen()) && vm < 96; i++) {
      const { input: m, ops } = mutate(vmSeeds[i % vmSeeds.length]!, rng, seeds);
      if (!ops.includes('vmm-host') || !m.vmm) continue;
      vm++;
      seen.add(`${m.vmm}:${m.vmmHost?.path ?? 'cdev'}${m.vmmHost?.subdevices ? '+sub' : ''}${m.vmmHost?.sharedGroup ? '+shared' : ''}`);
      expect(fromScenarioDoc(JSON.parse(JSON.stringify(toScenarioDoc(m, 'x', ''))))).toEqual(m);
      const r = await ex.run({ ...m, steps: m.steps.slice(0, 24) });
      expect(r.finding?.message ?? '').not.toMatch(/building the VM/);
    }
    expect(vm).toBeGreaterThanOrEqual(24);
    for (const want of wanted) expect([...seen].some((s) => s.startsWith(want))).toBe(true);
    expect([...seen].some((s) => s.includes('+sub'))).toBe(true);
  });

  it('the vmm-mixed operator makes shadow VMs with VFIO and vDPA devices, valid scenarios whose VM takes both paths', async () => {
    const seeds = withVmmVariants(loadInputs([goldenDir()]));
    const shadow = seeds.filter((s) => s.vmm === 'shadow');
    const rng = new Rng(23);
    const ex = new Executor(module);
    let mixed = 0;
    for (let i = 0; i < 3000 && mixed < 12; i++) {
      const { input: m, ops } = mutate(shadow[i % shadow.length]!, rng, seeds);
      if (!ops.includes('vmm-mixed') || m.vmm !== 'shadow') continue;
      const dma = m.machine.devices.filter((d) => d.kind === 'dma-test').length;
      const mask = vmmHostFor('shadow', m.vmmHost, dma)?.vdpaDevices ?? 0;
      if (mask === 0 || mask === (1 << Math.min(dma, 4)) - 1) continue; // every device on one side
      mixed++;
      expect(fromScenarioDoc(JSON.parse(JSON.stringify(toScenarioDoc(m, 'x', ''))))).toEqual(m);
      const r = await ex.run({ ...m, steps: m.steps.slice(0, 24) });
      expect(r.finding?.message ?? '').not.toMatch(/building the VM/);
      expect(r.features.some((f) => f % HOST_FEATURE_BASE === HOST_FEATURE_BASE - 40 + 5)).toBe(true); // the both-subsystems feature
    }
    expect(mixed).toBe(12);
  });
});
