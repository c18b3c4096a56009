/**
 * The host-side objects of issue 24 over the test platform: IOMMU groups,
 * the VFIO container on the iommufd-like objects, the vDPA-style IOTLB
 * interface, a host process and its SVA binding. Bad arguments name
 * themselves; every call completes or leaves nothing (fail-nth sweeps).
 */
import { describe, expect, it } from 'vitest';
import { ArrayGuestMemory } from '../src/tables/guest-ram.js';
import { isHostIommuError } from '../src/hostiommu/errors.js';
import type { HostIommu } from '../src/hostiommu/host-iommu.js';
import { IommuGroups } from '../src/hostiommu/groups.js';
import { HostProcess } from '../src/hostiommu/host-process.js';
import { SvaBinding } from '../src/hostiommu/sva.js';
import { createTestPlatform, hostErrorOf, type TestPlatform } from '../src/hostiommu/testing.js';
import { VdpaDevice, VHOST_ACCESS, VHOST_IOTLB } from '../src/hostiommu/vdpa.js';
import { VfioContainer } from '../src/hostiommu/vfio-container.js';

const SIDS = [0x0018, 0x0020, 0x0021, 0x0022, 0x0120];

function platform(): TestPlatform {
  const t = createTestPlatform({ pasidRange: { first: 1, last: 255 } });
  for (const sid of SIDS) t.platform.addDevice(sid, { pasidBits: 8, pri: true });
  return t;
}

const errno = (fn: () => unknown): string => hostErrorOf(fn).errno;

/** Runs `steps` with the n-th allocation point failing; every failed call must leave the platform as it was. */
function sweep(name: string, steps: ((t: TestPlatform) => void)[], cleanup: (t: TestPlatform) => void): void {
  const dry = platform();
  dry.injector.failAt(0);
  for (const s of steps) s(dry);
  const total = dry.injector.reached;
  expect(total, `${name}: allocation points`).toBeGreaterThan(3);
  for (let n = 1; n <= total; n++) {
    const t = platform();
    t.injector.failAt(n);
    let failed = false;
    for (const s of steps) {
      const before = t.platform.usage();
      try {
        s(t);
      } catch (e) {
        if (!isHostIommuError(e, 'ENOMEM')) throw e;
        expect(t.platform.usage(), `${name}: fail-nth ${n} (${t.injector.sites.at(-1)})`).toEqual(before);
        failed = true;
        break;
      }
    }
    expect(failed, `${name}: fail-nth ${n} failed a step`).toBe(true);
    t.injector.reset();
    cleanup(t);
    expect(t.platform.usage().objects + t.platform.usage().pasids + t.platform.usage().boundDevices).toBe(0);
  }
}

describe('IOMMU groups', () => {
  it('functions of one device share a group unless isolated; lookups name what is missing', () => {
    const t = platform();
    const g = new IommuGroups(t.platform, SIDS, { isolated: [0x0022] });
    expect(g.list().map((x) => x.members)).toEqual([[0x18], [0x20, 0x21], [0x22], [0x120]]);
    expect(g.groupOf(0x21).id).toBe(1);
    expect(errno(() => g.groupOf(0x99))).toBe('ENOENT');
    expect(errno(() => g.group(9))).toBe('ENOENT');
    expect(errno(() => new IommuGroups(t.platform, [0x18, 0x18]))).toBe('EEXIST');
    expect(errno(() => new IommuGroups(t.platform, [0x77]))).toBe('ENOENT');
    expect(hostErrorOf(() => new IommuGroups(t.platform, [0x18, -1])).message).toMatch(/sids\[1\]/);
  });
});

describe('VFIO container on the iommufd-like objects', () => {
  it('follows VFIO\'s order: group, SET_IOMMU once, then MAP_DMA; device fds only for members', () => {
    const t = platform();
    const groups = new IommuGroups(t.platform, SIDS);
    const c = new VfioContainer(t.platform.createContext('legacy'), groups);
    expect(errno(() => c.setIommu('type1'))).toBe('EINVAL');
    c.addGroup(1);
    expect(errno(() => c.addGroup(1))).toBe('EINVAL');
    expect(errno(() => c.device(1, 0x20))).toBe('EINVAL'); // no IOMMU model yet
    expect(errno(() => c.setIommu('spapr' as 'type1'))).toBe('EINVAL');
    c.setIommu('type1');
    expect(errno(() => c.setIommu('type1'))).toBe('EBUSY');
    expect(c.map({ iova: 0x1000n, hpa: 0x10_0000n, len: 0x2000n })).toBe(0x1000n);
    expect(errno(() => c.map({ iova: 0x2000n, hpa: 0x10_0000n, len: 0x1000n }))).toBe('EEXIST');
    expect(c.device(1, 0x21)).toBeGreaterThan(0);
    expect(errno(() => c.device(1, 0x18))).toBe('EINVAL');
    expect(errno(() => c.removeGroup(3))).toBe('EINVAL');
    c.close();
    expect(errno(() => c.addGroup(0))).toBe('EINVAL');
    expect(t.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0, pinnedPages: 0 });
  });

  it('a group with a member bound elsewhere is not viable (EBUSY) and nothing of it is bound', () => {
    const t = platform();
    const groups = new IommuGroups(t.platform, SIDS);
    const other = t.platform.createContext('cdev');
    other.bindDevice(t.platform.openDevice(0x21));
    const c = new VfioContainer(t.platform.createContext('legacy'), groups);
    expect(errno(() => c.addGroup(1))).toBe('EBUSY');
    expect(t.platform.usage().boundDevices).toBe(1);
    c.close();
    other.close();
  });

  it('fail-nth: every step of a container\'s life unwinds completely', () => {
    let c: VfioContainer | undefined;
    sweep('container', [
      (t) => { c = new VfioContainer(t.platform.createContext('legacy'), new IommuGroups(t.platform, SIDS)); },
      () => c!.addGroup(1),
      () => c!.setIommu('type1'),
      () => void c!.map({ iova: 0n, hpa: 0x20_0000n, len: 0x10_0000n }),
      () => c!.addGroup(0),
      () => void c!.unmap(0n, 0x10_0000n),
      () => c!.removeGroup(1),
    ], () => c?.close());
  });
});

describe('vDPA-style IOTLB messages', () => {
  it('update / invalidate map the shared IOAS; bad messages are EINVAL / EEXIST and change nothing', () => {
    const t = platform();
    const ctx = t.platform.createContext('proc');
    const ioas = ctx.ioasAlloc();
    const v = new VdpaDevice(ctx, ioas);
    v.message({ type: VHOST_IOTLB.BATCH_BEGIN });
    v.message({ type: VHOST_IOTLB.UPDATE, iova: 0x1000n, size: 0x1000n, uaddr: 0x3000n, perm: VHOST_ACCESS.RO });
    v.message({ type: VHOST_IOTLB.BATCH_END });
    expect(errno(() => v.message({ type: VHOST_IOTLB.BATCH_END }))).toBe('EINVAL');
    expect(errno(() => v.message({ type: VHOST_IOTLB.UPDATE, iova: 0x1000n, size: 0x1000n, uaddr: 0n, perm: VHOST_ACCESS.RW }))).toBe('EEXIST');
    expect(errno(() => v.message({ type: VHOST_IOTLB.UPDATE, iova: 0x5000n, size: 0n, uaddr: 0n, perm: VHOST_ACCESS.RW }))).toBe('EINVAL');
    expect(errno(() => v.message({ type: VHOST_IOTLB.UPDATE, iova: (1n << 64n) - 0x1000n, size: 0x2000n, uaddr: 0n, perm: 3 }))).toBe('EINVAL');
    expect(errno(() => v.message({ type: VHOST_IOTLB.UPDATE, iova: 0x5000n, size: 0x1000n, uaddr: 0n, perm: 0 }))).toBe('EINVAL');
    expect(errno(() => v.message({ type: VHOST_IOTLB.UPDATE, iova: 0x5000n, size: 0x1000n, uaddr: 0n, perm: 3, asid: 1 }))).toBe('EINVAL');
    expect(errno(() => v.message({ type: VHOST_IOTLB.ACCESS_FAIL }))).toBe('EINVAL');
    expect(errno(() => v.message(null as never))).toBe('EINVAL');
    expect(t.platform.usage().pinnedPages).toBe(1);
    v.message({ type: VHOST_IOTLB.INVALIDATE, iova: 0n, size: 0x10_0000n });
    v.message({ type: VHOST_IOTLB.INVALIDATE, iova: 0n, size: 0x10_0000n }); // nothing left: not an error
    expect(t.platform.usage().pinnedPages).toBe(0);
    ctx.close();
  });
});

describe('host process and native SVA', () => {
  const procMem = () => new HostProcess('p', new ArrayGuestMemory(0x100_0000n, 0x10_0000), 0x100_0000n, 0x110_0000n);

  it('areas are checked; a fault populates once, refuses outside areas and writes to read-only ones', () => {
    const p = procMem();
    p.mmap(0x4000_0000n, 0x2000n, { write: true });
    p.mmap(0x5000_0000n, 0x1000n, { write: false });
    expect(errno(() => p.mmap(0x4000_1000n, 0x1000n, { write: true }))).toBe('EEXIST');
    expect(errno(() => p.mmap(0x4000_0800n, 0x1000n, { write: true }))).toBe('EINVAL');
    expect(errno(() => p.mmap(1n << 47n, 0x1000n, { write: true }))).toBe('EINVAL');
    expect(p.fault(0x4000_0010n, true)).toBe('populated');
    expect(p.fault(0x4000_0ff0n, false)).toBe('present');
    expect(p.physical(0x4000_0010n)! & 0xfffn).toBe(0x10n);
    expect(p.fault(0x5000_0000n, true)).toBe('segv');
    expect(p.fault(0x6000_0000n, false)).toBe('segv');
    expect(p.counts).toEqual({ populated: 1, refused: 2 });
  });

  it('fail-nth: binding a process and a device unwinds completely', () => {
    const st: { ctx?: HostIommu; set?: number; sva?: SvaBinding; dev?: number } = {};
    sweep('sva', [
      (t) => {
        st.ctx = t.platform.createContext('proc');
        st.set = st.ctx.pasidSetAlloc(2);
      },
      () => { st.sva = new SvaBinding(st.ctx!, procMem(), st.set!); },
      (t) => { st.dev = st.ctx!.bindDevice(t.platform.openDevice(0x18)); },
      () => st.sva!.bind(st.dev!),
      () => st.sva!.unbind(st.dev!),
      () => st.sva!.close(),
    ], () => st.ctx?.close());
  });
});

describe('subdevices', () => {
  function bed() {
    const t = platform();
    const ctx = t.platform.createContext('tenant');
    const parent = ctx.bindDevice(t.platform.openDevice(0x20));
    const fq = ctx.faultQueueAlloc();
    const ioas = ctx.ioasAlloc();
    const hwpt = ctx.hwptAllocPaging(ioas, { faultId: fq, pasid: true });
    return { t, ctx, parent, fq, hwpt };
  }

  it('a subdevice takes a default PASID of its parent; device operations accept it; siblings are isolated', () => {
    const { t, ctx, parent, hwpt } = bed();
    const a = ctx.subdeviceAlloc(parent);
    const b = ctx.subdeviceAlloc(parent, 9);
    expect(ctx.subdevicePasid(b)).toBe(9);
    expect(errno(() => ctx.subdeviceAlloc(parent, 9))).toBe('EEXIST');
    expect(errno(() => ctx.subdeviceAlloc(parent, 0x100))).toBe('EINVAL'); // beyond the parent's 8-bit PASID width
    expect(errno(() => ctx.subdeviceAlloc(hwpt))).toBe('ENOENT');
    ctx.attach(a, hwpt);
    expect(errno(() => ctx.attach(b, hwpt, 0x21))).toBe('ENOENT'); // not a PASID of the parent, not a global one of the owner
    ctx.devicePasidAlloc(parent, 0x21);
    ctx.attach(b, hwpt, 0x21); // a PASID of its own address space
    expect(t.iommu.didOf(0x20, ctx.subdevicePasid(a))).toBeDefined();
    expect(t.iommu.didOf(0x20, 0x21)).toBeDefined();
    expect(errno(() => ctx.attach(a, hwpt))).toBe('EBUSY');
    expect(errno(() => ctx.detach(a, 0x21))).toBe('ENOENT');
    expect(errno(() => ctx.replace(b, hwpt, ctx.subdevicePasid(a)))).toBe('ENOENT');
    expect(errno(() => ctx.destroy(parent))).toBe('EBUSY');
    expect(ctx.call('subdevice.alloc', { devId: parent })).toBeGreaterThan(0);
    ctx.close();
    expect(t.platform.usage()).toMatchObject({ objects: 0, pasids: 0, boundDevices: 0 });
  });

  it('a subdevice\'s page requests reach its domain\'s fault queue; its reset answers only its own groups', () => {
    const { t, ctx, parent, fq, hwpt } = bed();
    const [a, b] = [ctx.subdeviceAlloc(parent), ctx.subdeviceAlloc(parent)];
    ctx.attach(a, hwpt);
    ctx.attach(b, hwpt);
    for (const [sub, grp] of [[a, 1], [b, 2]] as const) {
      expect(t.platform.pageRequest(0x20, { pasid: ctx.subdevicePasid(sub), groupId: grp, perms: 1, addr: 0x5000n, last: true })).toBe(true);
    }
    expect(ctx.faultRead(fq).map((r) => r.pasid)).toEqual([ctx.subdevicePasid(a), ctx.subdevicePasid(b)]);
    expect(ctx.reset(a)).toBe(1);
    expect(t.responses.map((r) => [r[1], r[2]])).toEqual([[ctx.subdevicePasid(a), 1]]);
    ctx.close();
  });

  it('two subdevices faulting with the same PRG index are two groups under their own ids; a cookie answers one; detach and the parent\'s reset drain by slice', () => {
    const { t, ctx, parent, fq, hwpt } = bed();
    const [a, b] = [ctx.subdeviceAlloc(parent), ctx.subdeviceAlloc(parent)];
    const [pa, pb] = [ctx.subdevicePasid(a), ctx.subdevicePasid(b)];
    ctx.attach(a, hwpt);
    ctx.attach(b, hwpt);
    ctx.devicePasidAlloc(parent, 0x21);
    ctx.attach(b, hwpt, 0x21); // a PASID of b's own
    for (const pasid of [pa, pb, 0x21]) t.platform.pageRequest(0x20, { pasid, groupId: 5, perms: 2, addr: 0x7000n, last: true });
    const recs = ctx.faultRead(fq);
    expect(recs.map((r) => [r.devId, r.pasid, r.groupId])).toEqual([[a, pa, 5], [b, pb, 5], [b, 0x21, 5]]);
    expect(new Set(recs.map((r) => r.cookie)).size).toBe(3);
    ctx.faultRespond(fq, recs[1]!.cookie, 0);
    expect(t.responses).toEqual([[0x20, pb, 5, 0]]);
    expect(errno(() => ctx.faultRespond(fq, recs[1]!.cookie, 0))).toBe('EINVAL'); // answered: the cookie names nothing now
    ctx.detach(b, 0x21); // drains b's group at 0x21 only
    expect(t.responses.slice(1)).toEqual([[0x20, 0x21, 5, 1]]);
    expect(ctx.reset(parent)).toBe(1); // a function-level reset ends a's group too
    expect(t.responses.slice(2)).toEqual([[0x20, pa, 5, 0xf]]);
    ctx.close();
    expect(t.platform.usage()).toMatchObject({ objects: 0, pasids: 0 });
  });

  it('the global space does not pick a number a subdevice holds as its default PASID, so a VM\'s host PASID can go on the parent too', () => {
    const { ctx, parent, hwpt } = bed();
    const sub = ctx.subdeviceAlloc(parent);
    ctx.attach(sub, hwpt);
    const g = ctx.pasidAlloc(ctx.pasidSetAlloc(4));
    expect(g).not.toBe(ctx.subdevicePasid(sub));
    ctx.attach(parent, hwpt, g);
    expect(ctx.pasidAlloc(ctx.pasidSetAlloc(1), ctx.subdevicePasid(sub))).toBe(ctx.subdevicePasid(sub)); // asked for by value: separate namespaces
    ctx.close();
  });

  it('fail-nth: allocating and attaching a subdevice unwinds completely', () => {
    const st: { ctx?: HostIommu; parent?: number; ioas?: number; hwpt?: number; sub?: number } = {};
    sweep('subdevice', [
      (t) => {
        st.ctx = t.platform.createContext('tenant');
        st.parent = st.ctx.bindDevice(t.platform.openDevice(0x20));
      },
      () => { st.ioas = st.ctx!.ioasAlloc(); },
      () => { st.hwpt = st.ctx!.hwptAllocPaging(st.ioas!, { pasid: true }); },
      () => { st.sub = st.ctx!.subdeviceAlloc(st.parent!); },
      () => st.ctx!.attach(st.sub!, st.hwpt!),
      () => st.ctx!.destroy(st.sub!),
    ], () => st.ctx?.close());
  });
});
