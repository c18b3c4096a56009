// Each descriptor type drives the core's primitives with exactly the scope it names (§6.5.2.x).
import { describe, expect, it } from 'vitest';
import { makeQiRig, putDescriptors, type QiRig, type QiRigOptions } from '../src/vtd/qi/testing.js';
import {
  ccDesc, descType, deviceTlbRange, devTlbDesc, iecDesc, iotlbDesc, pageGroupResponseDesc, pasidCacheDesc,
  pasidDevTlbDesc, pasidIotlbDesc, waitDesc,
} from '../src/vtd/spec/descriptors.js';
import { FSTS } from '../src/vtd/spec/registers.js';

const BASE = 0x10000n;

/** A rig with an enabled queue (256-bit when `wide`), 2^qs pages. */
function started(o: QiRigOptions & { wide?: boolean; qs?: number } = {}): QiRig {
  const rig = makeQiRig(o);
  rig.q.onWrite('IQA', BASE | (o.wide ? 0x800n : 0n) | BigInt(o.qs ?? 0));
  rig.q.onWrite('IQT', 0n);
  expect(rig.q.enable()).toBe(true);
  return rig;
}

/** Submits `descs` at IQH and moves IQT past them. */
function submit(rig: QiRig, wide: boolean, ...descs: bigint[][]): void {
  const size = wide ? 32 : 16;
  const head = Number(rig.q.read('IQH')) / size;
  putDescriptors(rig.mem, BASE, head, wide, descs);
  rig.q.onWrite('IQT', BigInt((head + descs.length) * size));
}

const iqe = (rig: QiRig): boolean => (rig.regs.get('FSTS') & BigInt(FSTS.IQE)) !== 0n;

describe('descriptor encodings', () => {
  it('type is qw0[11:9] << 4 | qw0[3:0]', () => {
    expect(descType(0x5)).toBe(5);
    expect(descType(0x205)).toBe(0x15);
    expect(descType(0xe00 | 0xf)).toBe(0x7f);
  });
  it('device-TLB size: S=0 one page, S=1 from the lowest 0 bit above bit 11', () => {
    expect(deviceTlbRange(0x12345000n, 0)).toEqual({ addr: 0x12345000n, sizeLg2: 12 });
    expect(deviceTlbRange(0x12344000n, 1)).toEqual({ addr: 0x12344000n, sizeLg2: 13 });
    expect(deviceTlbRange(0x12341000n, 1)).toEqual({ addr: 0x12340000n, sizeLg2: 14 });
    expect(deviceTlbRange(0x7ffff000n, 1)).toEqual({ addr: 0n, sizeLg2: 32 });
    expect(deviceTlbRange(0xffff_ffff_ffff_f000n, 1)).toEqual({ addr: 0n, sizeLg2: 64 });
  });
});

describe('context-cache invalidation (§6.5.2.1)', () => {
  it('global, domain, device with function mask', () => {
    const rig = started();
    submit(rig, false, ccDesc(1), ccDesc(2, 7), ccDesc(3, 7, 0x0108, 2));
    expect(rig.core.calls).toEqual(['invContextGlobal()', 'invContextDomain(7)', 'invContextDevice(7,264,2)']);
    expect(rig.q.read('IQH')).toBe(0x30n);
  });
  it('granularity 0 is IQE', () => {
    const rig = started();
    submit(rig, false, ccDesc(0));
    expect(iqe(rig)).toBe(true);
    expect(rig.core.calls).toEqual([]);
  });
  it('qemu profiles do domain-selective as global', () => {
    const rig = started({ profile: 'qemu-7.2' });
    submit(rig, false, ccDesc(2, 7));
    expect(rig.core.calls).toEqual(['invContextGlobal()']);
  });
});

describe('IOTLB invalidation (§6.5.2.3)', () => {
  it('global, domain and page-selective with AM and IH', () => {
    const rig = started();
    submit(rig, false, iotlbDesc(1), iotlbDesc(2, 3), iotlbDesc(3, 3, 0x40000n, 2, 1, { dr: 1, dw: 1 }));
    expect(rig.core.calls).toEqual(['invIotlbGlobal()', 'invIotlbDomain(3)', 'invIotlbPage(3,0x40000,2,1)']);
  });
  it('AM above CAP.MAMV (18) is IQE', () => {
    const rig = started();
    submit(rig, false, iotlbDesc(3, 3, 0n, 19));
    expect(iqe(rig)).toBe(true);
    expect(rig.regs.get('IQERCD') & 0xfn).toBe(4n);
  });
  it('qemu-10.0 with first-stage translation: the descriptor is one page-selective core call (the core drops the domain\'s first-stage entries, §6.5.2.3)', () => {
    const rig = started({ profile: 'qemu-10.0', iommu: { scalableMode: true, awBits: 48, firstStage: true }, wide: true });
    submit(rig, true, iotlbDesc(3, 3, 0x40000n, 0));
    expect(rig.core.calls).toEqual(['invIotlbPage(3,0x40000,0,0)']);
  });
});

describe('device-TLB invalidation (§6.5.2.5)', () => {
  it('forwards SID, PFSID and the decoded range', () => {
    const rig = started();
    submit(rig, false, devTlbDesc(0x18, 0x12341000n, 1, 0xabc));
    expect(rig.devTlb).toEqual([{ sid: 0x18, pfsid: 0xabc, addr: 0x12340000n, sizeLg2: 14, global: false }]);
  });
  it('needs ECAP.DT: the qemu profiles (no DT) treat PFSID bits as reserved instead', () => {
    const rig = started({ profile: 'qemu-7.2' });
    submit(rig, false, devTlbDesc(0x18, 0x1000n, 0, 0x1));
    expect(iqe(rig)).toBe(true);
  });
});

describe('interrupt-entry cache (§6.5.2.7)', () => {
  it('global and index-selective are accepted; reserved bits are IQE', () => {
    const rig = started();
    submit(rig, false, iecDesc(0), iecDesc(1, 5, 0));
    expect(iqe(rig)).toBe(false);
    submit(rig, false, [iecDesc(0)[0] | 1n << 20n, 0n]);
    expect(iqe(rig)).toBe(true);
  });
});

describe('invalidation wait (§6.5.2.8)', () => {
  it('SW writes the status dword; IF sets ICS.IWC and raises the event', () => {
    const rig = started();
    submit(rig, false, waitDesc({ sw: true, fn: true, data: 0x600dcafe, addr: 0x9000n }));
    expect(rig.mem.readU32(0x9000n)).toBe(0x600dcafe);
    expect(rig.regs.get('ICS')).toBe(0n);
    submit(rig, false, waitDesc({ if: true }));
    expect(rig.regs.get('ICS')).toBe(1n);
    expect(rig.regs.get('IECTL')).toBe(0xc000_0000n);
  });
  it('SW and IF together do both (QEMU aborts here; the model does not)', () => {
    const rig = started({ profile: 'qemu-7.2' });
    submit(rig, false, waitDesc({ sw: true, if: true, data: 7, addr: 0x9000n }));
    expect(rig.mem.readU32(0x9000n)).toBe(7);
    expect(rig.regs.get('ICS')).toBe(1n);
  });
  it('neither SW nor IF: fine in the spec, IQE in QEMU', () => {
    const spec = started();
    submit(spec, false, waitDesc({ fn: true }));
    expect(iqe(spec)).toBe(false);
    const qemu = started({ profile: 'qemu-7.2' });
    submit(qemu, false, waitDesc({ fn: true }));
    expect(iqe(qemu)).toBe(true);
  });
  it('PD needs ECAP.PDS; a status address outside RAM is IQE', () => {
    const legacy = started({ iommu: { scalableMode: false } });
    submit(legacy, false, waitDesc({ pd: true, sw: true, addr: 0x9000n }));
    expect(iqe(legacy)).toBe(true);
    const rig = started();
    submit(rig, false, waitDesc({ pd: true, sw: true, addr: 0x9000n, data: 1 }));
    expect(rig.mem.readU32(0x9000n)).toBe(1);
    submit(rig, false, waitDesc({ sw: true, addr: 0x1_0000_0000n }));
    expect(iqe(rig)).toBe(true);
  });
});

describe('PASID-based descriptors (§6.5.2.2, .4, .6, page-group response)', () => {
  it('PASID-IOTLB: PASID-selective and page-selective within PASID', () => {
    const rig = started({ wide: true });
    submit(rig, true, pasidIotlbDesc(2, 4, 0x123), pasidIotlbDesc(3, 4, 0x123, 0x200000n, 9, 1));
    expect(rig.core.calls).toEqual(['invPasidIotlb(4,291)', 'invPasidIotlbPage(4,291,0x200000,9,1)']);
    submit(rig, true, pasidIotlbDesc(1, 4, 0x123));
    expect(iqe(rig)).toBe(true);
  });
  it('PASID cache: domain, PASID in domain, global; G=2 is IQE', () => {
    const rig = started({ wide: true });
    submit(rig, true, pasidCacheDesc(0, 4), pasidCacheDesc(1, 4, 9), pasidCacheDesc(3));
    expect(rig.core.calls).toEqual(['invPasidCache(0,4,0)', 'invPasidCache(1,4,9)', 'invPasidCache(3,0,0)']);
    submit(rig, true, pasidCacheDesc(2, 4));
    expect(iqe(rig)).toBe(true);
  });
  it('PASID device-TLB: SID, PASID, global flag, size', () => {
    const rig = started({ wide: true });
    submit(rig, true, pasidDevTlbDesc(0x20, 5, 0x5000n, { size: 1, global: true, pfsid: 0x21 }));
    expect(rig.devTlb).toEqual([{ sid: 0x20, pfsid: 0x21, pasid: 5, addr: 0x4000n, sizeLg2: 14, global: true }]);
  });
  it('qemu-10.0 runs PASID device-TLB descriptors but checks PFSID as reserved', () => {
    const rig = started({ profile: 'qemu-10.0', iommu: { scalableMode: true }, wide: true });
    submit(rig, true, pasidDevTlbDesc(0x20, 5, 0x5000n));
    expect(rig.devTlb.length).toBe(1);
    submit(rig, true, pasidDevTlbDesc(0x20, 5, 0x5000n, { pfsid: 0x21 }));
    expect(iqe(rig)).toBe(true);
  });
  it('page-group response is routed to the device', () => {
    const rig = started({ wide: true });
    submit(rig, true, pageGroupResponseDesc(0x18, 0x1a5, 0, { pasid: 3, lpig: true }), pageGroupResponseDesc(0x18, 2, 0xf));
    expect(rig.responses).toEqual([
      { rid: 0x18, pasid: 3, prgi: 0x1a5, code: 0, lpig: true },
      { rid: 0x18, pasid: undefined, prgi: 2, code: 0xf, lpig: false },
    ]);
    submit(rig, true, pageGroupResponseDesc(0x18, 2, 0x5));
    expect(iqe(rig)).toBe(true);
  });
  it('need a 256-bit queue (IQEI 5) and scalable mode (IQEI 7)', () => {
    const narrow = started();
    submit(narrow, false, pasidCacheDesc(3).slice(0, 2));
    expect(narrow.regs.get('IQERCD') & 0xfn).toBe(5n);
    const legacy = started({ wide: true, scalable: false });
    submit(legacy, true, pasidCacheDesc(3));
    expect(legacy.regs.get('IQERCD') & 0xfn).toBe(7n);
  });
  it('qemu-7.2 accepts types 6 (a no-op) and 7 unchecked in a 128-bit queue; qemu-10.0 gives IQE', () => {
    const q72 = started({ profile: 'qemu-7.2', iommu: { scalableMode: true } });
    submit(q72, false, [0x6n, 0n], pasidCacheDesc(0, 1).slice(0, 2));
    expect(q72.core.calls).toEqual(['invPasidCache(3,0,0)']);
    expect(q72.q.read('IQH')).toBe(0x20n);
    const q10 = started({ profile: 'qemu-10.0', iommu: { scalableMode: true } });
    submit(q10, false, pasidCacheDesc(0, 1).slice(0, 2)); // type 7: only needs a scalable-mode unit
    expect(iqe(q10)).toBe(false);
    submit(q10, false, pasidIotlbDesc(2, 1, 2).slice(0, 2));
    expect(iqe(q10)).toBe(true);
    expect(q10.q.read('IQH')).toBe(0x10n);
    const legacy10 = started({ profile: 'qemu-10.0', iommu: { scalableMode: false } });
    submit(legacy10, false, pasidCacheDesc(0, 1).slice(0, 2));
    expect(iqe(legacy10)).toBe(true);
  });
  it('types 8 and 9 are unknown to qemu-7.2', () => {
    const rig = started({ profile: 'qemu-7.2', iommu: { scalableMode: true }, wide: true });
    submit(rig, true, pageGroupResponseDesc(1, 1, 0));
    expect(iqe(rig)).toBe(true);
  });
});
