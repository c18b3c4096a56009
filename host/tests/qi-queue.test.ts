// The queue engine: IQA/IQH/IQT/ICS semantics, QIE enable/disable, errors (IQE, ITE, ICE)
// and recovery, bounded processing (§6.5.2, §11.4.9).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { clearFsts, makeQiRig, putDescriptors, type QiRig, type QiRigOptions } from '../src/vtd/qi/testing.js';
import { ccDesc, devTlbDesc, iotlbDesc, waitDesc } from '../src/vtd/spec/descriptors.js';
import { FSTS } from '../src/vtd/spec/registers.js';

const BASE = 0x10000n;
const fsts = (rig: QiRig): bigint => rig.regs.get('FSTS');
const IQE = BigInt(FSTS.IQE);
const ITE = BigInt(FSTS.ITE);
const ICE = BigInt(FSTS.ICE);

function started(o: QiRigOptions & { wide?: boolean; qs?: number } = {}): QiRig {
  const rig = makeQiRig(o);
  rig.q.onWrite('IQA', BASE | (o.wide ? 0x800n : 0n) | BigInt(o.qs ?? 0));
  rig.q.onWrite('IQT', 0n);
  rig.q.enable();
  return rig;
}

function submitAt(rig: QiRig, slot: number, ...descs: bigint[][]): void {
  putDescriptors(rig.mem, BASE, slot, false, descs);
  rig.q.onWrite('IQT', BigInt((slot + descs.length) * 16));
}

describe('registers and enable/disable', () => {
  it('IQH advances per descriptor and wraps at the end of the queue', () => {
    const rig = started();
    const n = 256; // QS=0: 256 entries of 16 bytes
    putDescriptors(rig.mem, BASE, 0, false, Array.from({ length: n }, () => iotlbDesc(1)));
    rig.q.onWrite('IQT', 0xff0n);
    expect(rig.q.read('IQH')).toBe(0xff0n);
    rig.q.onWrite('IQT', 0x10n); // wrap: slot 255, then slot 0
    expect(rig.q.read('IQH')).toBe(0x10n);
    expect(rig.core.calls.length).toBe(257);
  });
  it('descriptors written while QIE=0 do nothing until QIE=1', () => {
    const rig = makeQiRig();
    rig.q.onWrite('IQA', BASE);
    putDescriptors(rig.mem, BASE, 0, false, [iotlbDesc(1)]);
    rig.q.onWrite('IQT', 0x10n);
    expect(rig.core.calls).toEqual([]);
    expect(rig.q.read('IQH')).toBe(0n);
    rig.q.enable();
    expect(rig.core.calls).toEqual(['invIotlbGlobal()']);
  });
  it('QIE=0 resets IQH to 0 (spec: even with work pending, which is dropped)', () => {
    const rig = started();
    submitAt(rig, 0, iotlbDesc(1), iotlbDesc(1));
    expect(rig.q.read('IQH')).toBe(0x20n);
    expect(rig.q.disable()).toBe(true);
    expect(rig.q.read('IQH')).toBe(0n);
  });
  it('QEMU refuses QIE=0 unless idle after a wait descriptor', () => {
    const rig = started({ profile: 'qemu-7.2' });
    submitAt(rig, 0, iotlbDesc(1));
    expect(rig.q.disable()).toBe(false);
    expect(rig.q.isEnabled).toBe(true);
    submitAt(rig, 1, waitDesc({ sw: true, addr: 0x9000n }));
    expect(rig.q.disable()).toBe(true);
    expect(rig.q.read('IQH')).toBe(0n);
  });
  it('IQA read-back: spec as written, QEMU 7.2 latched base | QS, QEMU 10.0 adds DW', () => {
    const value = 0x180000n | 0x800n | 2n;
    const spec = makeQiRig();
    spec.q.onWrite('IQA', value);
    expect(spec.q.read('IQA')).toBe(value);
    const q72 = makeQiRig({ profile: 'qemu-7.2', iommu: { scalableMode: false, awBits: 39 } });
    q72.q.onWrite('IQA', value);
    expect(q72.q.read('IQA')).toBe(2n);
    q72.q.enable();
    expect(q72.q.read('IQA')).toBe(0x180002n);
    const high = makeQiRig({ profile: 'qemu-7.2', iommu: { scalableMode: false, awBits: 39 } });
    high.q.onWrite('IQA', 0xff00_0000_0018_0000n); // QEMU keeps the base bits below the address width
    high.q.enable();
    expect(high.q.read('IQA')).toBe(0x180000n);
    const q10 = makeQiRig({ profile: 'qemu-10.0', iommu: { scalableMode: false, awBits: 39 } });
    q10.q.onWrite('IQA', 0x180800n);
    expect(q10.q.read('IQA')).toBe(0x800n);
    q10.q.enable();
    expect(q10.q.read('IQA')).toBe(0x180800n);
  });
  it('DW=1 is ignored without scalable-mode support (16-byte descriptors)', () => {
    const rig = started({ iommu: { scalableMode: false }, wide: true });
    expect(rig.q.read('IQA') & 0x800n).toBe(0n);
    submitAt(rig, 0, iotlbDesc(1));
    expect(rig.q.read('IQH')).toBe(0x10n);
  });
  it('ICS: W1C of IWC withdraws IECTL.IP', () => {
    const rig = started();
    submitAt(rig, 0, waitDesc({ if: true }));
    expect(rig.regs.get('ICS')).toBe(1n);
    expect(rig.regs.get('IECTL')).toBe(0xc000_0000n);
    rig.q.onWrite('ICS', 0n);
    expect(rig.regs.get('ICS')).toBe(1n);
    rig.q.onWrite('ICS', 1n);
    expect(rig.regs.get('ICS')).toBe(0n);
    expect(rig.regs.get('IECTL')).toBe(0x8000_0000n);
  });
  it('IQH is read-only', () => {
    const rig = started();
    rig.q.onWrite('IQH', 0x40n);
    expect(rig.q.read('IQH')).toBe(0n);
  });
});

describe('invalidation queue errors (§6.5.2.10)', () => {
  it('IQE: IQH stays at the bad descriptor, nothing after it runs, fault event raised', () => {
    const rig = started();
    submitAt(rig, 0, iotlbDesc(1), [0xfn, 0n], ccDesc(1));
    expect(rig.q.read('IQH')).toBe(0x10n);
    expect(fsts(rig) & IQE).toBe(IQE);
    expect(rig.regs.get('IQERCD') & 0xfn).toBe(3n);
    expect(rig.core.calls).toEqual(['invIotlbGlobal()']);
    expect(rig.regs.get('FECTL')).toBe(0xc000_0000n); // IM=1 at reset: the message is held
  });
  it('spec recovery: replace the descriptor, clear IQE, processing resumes at IQH', () => {
    const rig = started();
    submitAt(rig, 0, [0xfn, 0n], ccDesc(1));
    putDescriptors(rig.mem, BASE, 0, false, [waitDesc({ sw: true, data: 1, addr: 0x9000n })]);
    clearFsts(rig, FSTS.IQE);
    expect(rig.mem.readU32(0x9000n)).toBe(1);
    expect(rig.core.calls).toEqual(['invContextGlobal()']);
    expect(rig.q.read('IQH')).toBe(0x20n);
  });
  it('QEMU recovery: clearing IQE does not resume; the next IQT write does', () => {
    const rig = started({ profile: 'qemu-7.2' });
    submitAt(rig, 0, [0xfn, 0n], ccDesc(1));
    putDescriptors(rig.mem, BASE, 0, false, [iotlbDesc(1)]);
    rig.q.onWrite('IQT', 0x20n); // IQE still set: ignored
    clearFsts(rig, FSTS.IQE);
    expect(rig.core.calls).toEqual([]);
    rig.q.onWrite('IQT', 0x20n);
    expect(rig.core.calls).toEqual(['invIotlbGlobal()', 'invContextGlobal()']);
    expect(rig.regs.get('IQERCD')).toBe(0n);
  });
  it('IQT beyond the queue is IQE (invalid tail, IQEI 1)', () => {
    const rig = started();
    rig.q.onWrite('IQT', 0x1000n); // 256 entries of 16 bytes end at 0x1000
    expect(fsts(rig) & IQE).toBe(IQE);
    expect(rig.regs.get('IQERCD') & 0xfn).toBe(1n);
  });
  it('IQT bit 4 in a 256-bit queue is IQE (IQEI 6) and does not move the tail', () => {
    const rig = started({ wide: true });
    rig.q.onWrite('IQT', 0x30n);
    expect(rig.regs.get('IQERCD') & 0xfn).toBe(6n);
    expect(rig.q.pending).toBe(0);
    const qemu = started({ profile: 'qemu-10.0', iommu: { scalableMode: true }, wide: true });
    qemu.q.onWrite('IQT', 0x30n);
    expect(fsts(qemu) & IQE).toBe(IQE);
    expect(qemu.q.pending).toBe(0);
  });
  it('a queue outside RAM is a fetch error (IQEI 2), not a crash', () => {
    const rig = makeQiRig({ ramBytes: 0x20000 });
    rig.q.onWrite('IQA', 0xfff_0000_0000n);
    rig.q.enable();
    rig.q.onWrite('IQT', 0x10n);
    expect(rig.regs.get('IQERCD') & 0xfn).toBe(2n);
    expect(rig.q.read('IQH')).toBe(0n);
  });
  it('ITE: a device-TLB time-out aborts the next wait (no status write) and halts until cleared', () => {
    const rig = started({ deadDevices: [0x18] });
    submitAt(rig, 0, devTlbDesc(0x18, 0x1000n), iotlbDesc(1), waitDesc({ sw: true, data: 5, addr: 0x9000n }), ccDesc(1));
    expect(fsts(rig) & ITE).toBe(ITE);
    expect((rig.regs.get('IQERCD') >> 32n) & 0xffffn).toBe(0x18n);
    expect(rig.mem.readU32(0x9000n)).toBe(0);
    expect(rig.q.read('IQH')).toBe(0x30n); // past the aborted wait
    expect(rig.core.calls).toEqual(['invIotlbGlobal()']);
    clearFsts(rig, FSTS.ITE);
    expect(rig.core.calls).toEqual(['invIotlbGlobal()', 'invContextGlobal()']);
  });
  it('QEMU has no ITE: the time-out counts as done', () => {
    const rig = started({ profile: 'qemu-7.2', deadDevices: [0x18] });
    submitAt(rig, 0, devTlbDesc(0x18, 0x1000n), waitDesc({ sw: true, data: 5, addr: 0x9000n }));
    expect(fsts(rig)).toBe(0n);
    expect(rig.mem.readU32(0x9000n)).toBe(5);
  });
  it('ICE: an unexpected completion records ICESID; processing continues', () => {
    const rig = started();
    rig.q.invalidCompletion(0x21);
    expect(fsts(rig) & ICE).toBe(ICE);
    expect(rig.regs.get('IQERCD') >> 48n).toBe(0x21n);
    submitAt(rig, 0, iotlbDesc(1));
    expect(rig.core.calls).toEqual(['invIotlbGlobal()']);
  });
});

describe('bounded processing', () => {
  it('1000 page invalidations in one tail update', () => {
    const rig = started({ qs: 2 }); // 1024 entries
    const descs = Array.from({ length: 1000 }, (_, i) => iotlbDesc(3, 1, BigInt(i) << 12n));
    submitAt(rig, 0, ...descs, waitDesc({ sw: true, data: 0xd0e, addr: 0x9000n }));
    expect(rig.core.calls.length).toBe(1000);
    expect(rig.core.calls[999]).toBe('invIotlbPage(1,0x3e7000,0,0)');
    expect(rig.mem.readU32(0x9000n)).toBe(0xd0e);
    expect(rig.q.read('IQH')).toBe(1001n * 16n);
  });
  it('an MSI handler that writes IQT during processing is served in the same pass', () => {
    const rig = started();
    putDescriptors(rig.mem, BASE, 0, false, [waitDesc({ if: true }), iotlbDesc(1)]);
    const inner = rig.host.invalidationEvent.bind(rig.host);
    rig.host.invalidationEvent = () => { inner(); rig.q.onWrite('IQT', 0x20n); };
    rig.q.onWrite('IQT', 0x10n);
    expect(rig.core.calls).toEqual(['invIotlbGlobal()']);
    expect(rig.q.read('IQH')).toBe(0x20n);
  });
  it('any register writes and queue contents: never throws, IQH stays inside the queue', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.constantFrom('IQA', 'IQT', 'IQH', 'ICS', 'QIE', 'FSTS'), fc.bigInt(0n, (1n << 64n) - 1n)), { maxLength: 30 }),
      fc.array(fc.bigInt(0n, (1n << 64n) - 1n), { minLength: 64, maxLength: 64 }),
      fc.constantFrom('default', 'qemu-7.2', 'qemu-10.0'),
      (ops, words, profile) => {
        const rig = makeQiRig({ profile, iommu: { scalableMode: true, awBits: 48 }, ramBytes: 0x20000 });
        words.forEach((w, i) => rig.mem.writeU64(BASE + BigInt(8 * i), w));
        for (const [reg, v] of ops) {
          if (reg === 'QIE') void ((v & 1n) ? rig.q.enable() : rig.q.disable());
          else if (reg === 'FSTS') clearFsts(rig, Number(v & 0x7fn));
          else rig.q.onWrite(reg as 'IQA', v);
          expect(rig.q.read('IQH') < 0x80000n).toBe(true);
        }
      },
    ), { numRuns: 300 });
  });
});
