import { describe, expect, it } from 'vitest';
import { createProfile } from '../src/vtd/profiles.js';
import { buildRegisterTable } from '../src/vtd/register-table.js';
import { CAP, ECAP } from '../src/vtd/spec/registers.js';

const hex = (v: bigint): string => `0x${v.toString(16)}`;

describe('qemu profiles present QEMU\'s CAP/ECAP for the scenario options (FORMAT.md)', () => {
  // A scenario's QEMU machine is -device intel-iommu,intremap=on,x-buggy-eim=on plus its options (tools/qemu-record).
  const SCENARIO = { interruptRemapping: true, extendedInterruptMode: true };
  const cases: [string, object, string, string][] = [
    ['qemu-7.2', { scalableMode: false, awBits: 39 }, '0xd2008c22260206', '0xf00f5a'],
    ['qemu-7.2', { scalableMode: false, awBits: 39, cachingMode: true }, '0xd2008c22260286', '0xf00f5a'],
    ['qemu-7.2', { scalableMode: false, awBits: 48 }, '0xd2008c222f0606', '0xf00f5a'],
    ['qemu-7.2', { scalableMode: true, awBits: 39 }, '0xd2008c22260206', '0x480080f00f5a'],
    ['qemu-10.0', { scalableMode: true, awBits: 48 }, '0xd2008c222f0606', '0x480080f00f5a'],
    ['qemu-10.0', { scalableMode: true, awBits: 48, firstStage: true }, '0x1d2008c222f0606', '0x880000f00f5a'],
  ];
  for (const [name, opts, cap, ecap] of cases) {
    it(`${name} ${JSON.stringify(opts)}`, () => {
      const p = createProfile(name, { ...SCENARIO, ...opts });
      expect(hex(p.cap)).toBe(cap);
      expect(hex(p.ecap)).toBe(ecap);
      expect(p.ver).toBe(0x10);
      expect(p.blockSize).toBe(0x230);
    });
  }

  it('without options a qemu profile is QEMU\'s bare -device intel-iommu (7.2: 39-bit; 10.0: 48-bit; legacy, no EIM)', () => {
    expect(hex(createProfile('qemu-7.2').cap)).toBe('0xd2008c22260206');
    expect(hex(createProfile('qemu-10.0').cap)).toBe('0xd2008c222f0606');
    for (const name of ['qemu-7.2', 'qemu-10.0']) expect(hex(createProfile(name).ecap)).toBe('0xf00f4a');
  });

  it('rejects first_stage where QEMU cannot do it, naming the option', () => {
    expect(() => createProfile('qemu-7.2', { scalableMode: true, awBits: 48, firstStage: true })).toThrow(/firstStage/);
    expect(() => createProfile('qemu-10.0', { scalableMode: true, awBits: 39, firstStage: true })).toThrow(/firstStage/);
    expect(() => createProfile('qemu-10.0', { scalableMode: false, awBits: 48, firstStage: true })).toThrow(/firstStage/);
  });

  it('rejects unknown profiles and widths, naming the argument', () => {
    expect(() => createProfile('qemu-6.0')).toThrow(/profile/);
    expect(() => createProfile('default', { awBits: 40 as 48 })).toThrow(/awBits/);
  });
});

describe('every profile\'s layout agrees with its own CAP/ECAP', () => {
  const profiles = [
    createProfile('default'), createProfile('default', { scalableMode: false, awBits: 57 }),
    createProfile('qemu-7.2', { scalableMode: false, awBits: 39 }),
    createProfile('qemu-10.0', { scalableMode: true, awBits: 48, firstStage: true }),
  ];
  for (const p of profiles) {
    it(`${p.name} ${JSON.stringify(p.options)}`, () => {
      expect(CAP.fro(p.cap) * 16).toBe(p.frcdOffset);
      expect(CAP.nfr(p.cap) + 1).toBe(p.frcdCount);
      expect(ECAP.iro(p.ecap) * 16).toBe(p.ivaOffset);
      expect(CAP.mgaw(p.cap)).toBe(p.options.awBits);
      const rows = buildRegisterTable(p);
      const frcd = rows.filter((r) => r.name.startsWith('FRCD'));
      expect(frcd).toHaveLength(2 * p.frcdCount);
      expect(rows.find((r) => r.name === 'IOTLB')!.offset).toBe(p.ivaOffset + 8);
      for (const r of rows) {
        expect(r.writable & r.w1c, `${r.name}: writable and W1C overlap`).toBe(0n);
        expect(r.offset % r.width, `${r.name} alignment`).toBe(0);
      }
    });
  }

  it('the number of fault recording registers is configurable (default profile), NFR follows', () => {
    const p = createProfile('default', { faultRecords: 2 });
    expect(CAP.nfr(p.cap)).toBe(1);
    expect(buildRegisterTable(p).filter((r) => r.name.startsWith('FRCD'))).toHaveLength(4);
    expect(() => createProfile('default', { faultRecords: 0 })).toThrow(/faultRecords/);
    expect(() => createProfile('default', { faultRecords: 15 })).toThrow(/faultRecords/);
    expect(() => createProfile('qemu-7.2', { scalableMode: false, awBits: 39, faultRecords: 2 })).toThrow(/faultRecords/);
  });

  it('the default profile advertises scalable mode, first stage, nested, PASID, PRS, DT', () => {
    const e = createProfile('default').ecap;
    for (const bit of [ECAP.SMTS, ECAP.FSTS, ECAP.SSTS, ECAP.NEST, ECAP.PASID, ECAP.PRS, ECAP.DT, ECAP.QI, ECAP.PT]) {
      expect(e & bit).toBe(bit);
    }
    expect(ECAP.pss(e) + 1).toBe(20);
  });
});
