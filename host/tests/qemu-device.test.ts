/**
 * QEMU `-device intel-iommu,...` property strings (host/src/vtd/qemu-device.ts)
 * against what QEMU 7.2.22 and QEMU 10.0.13 did with the same strings
 * (host/tests/data/qemu-device-registers.json, recorded through qtest by
 * tools/qemu-device/record-registers.ts): a string QEMU accepts gives a machine whose
 * whole register block reads as QEMU's did right after reset; a string QEMU
 * refuses is refused with an Error naming the property.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMachine, VTD_BASE } from '../src/machine.js';
import { createProfile, createProfileFromDevice } from '../src/vtd/profiles.js';
import { parseQemuDevice } from '../src/vtd/qemu-device.js';

type DeviceRecord = { device: string; dwords: string[] } | { device: string; error: string };
const RECORDED = JSON.parse(readFileSync(new URL('data/qemu-device-registers.json', import.meta.url), 'utf8')) as Record<string, { qemu: string; records: DeviceRecord[] }>;

/** Strings QEMU accepts that this model refuses on purpose, with the reason its message gives. */
const NOT_MODELLED: Record<string, RegExp> = { 'stale-tm=on': /stale-tm: on is not supported/ };

/** The property names a string mentions. */
const propertiesOf = (device: string): string[] => device.split(',').map((p) => p.split('=')[0]!).filter(Boolean);

describe('QEMU -device intel-iommu strings present QEMU\'s registers', () => {
  for (const [profile, { qemu, records }] of Object.entries(RECORDED)) {
    describe(`${profile} (${qemu})`, () => {
      for (const rec of records.filter((r): r is Extract<DeviceRecord, { dwords: string[] }> => 'dwords' in r)) {
        const why = NOT_MODELLED[rec.device];
        it(`${rec.device || '(QEMU defaults)'}${why ? ': refused, not modelled' : ''}`, async () => {
          if (why) {
            await expect(createMachine({ profile, device: rec.device })).rejects.toThrow(why);
            return;
          }
          const m = await createMachine({ profile, device: `-device intel-iommu,${rec.device}` });
          const read = rec.dwords.map((_, i) => `0x${m.mmioRead(VTD_BASE + BigInt(4 * i), 4).toString(16)}`);
          expect(read).toEqual(rec.dwords);
        });
      }
      for (const rec of records.filter((r): r is Extract<DeviceRecord, { error: string }> => 'error' in r)) {
        it(`${rec.device} is refused (QEMU: ${rec.error})`, () => {
          let message = '';
          try {
            createProfileFromDevice(profile, rec.device);
          } catch (err) {
            message = (err as Error).message;
          }
          expect(message, 'refused').not.toBe('');
          expect(propertiesOf(rec.device).some((p) => message.includes(p)), `"${message}" names a property of ${rec.device}`).toBe(true);
        });
      }
    });
  }
});

describe('property strings: syntax and where they apply', () => {
  it('takes the string with or without "-device " and "intel-iommu,", later settings winning', () => {
    const a = parseQemuDevice('-device intel-iommu,caching-mode=on,aw-bits=48', 'qemu-7.2');
    expect(parseQemuDevice('caching-mode=on, aw-bits=48', 'qemu-7.2')).toEqual(a);
    expect(parseQemuDevice('intel-iommu,caching-mode=off,caching-mode=yes,aw-bits=0x30', 'qemu-7.2')).toEqual(a);
    expect(a).toMatchObject({ cachingMode: true, awBits: 48, scalableMode: false, faultRecords: 1 });
  });

  it('refuses another device, a profile that is not QEMU\'s, and options given twice', async () => {
    expect(() => parseQemuDevice('virtio-iommu,caching-mode=on', 'qemu-10.0')).toThrow(/^device: "virtio-iommu"/);
    await expect(createMachine({ device: 'intel-iommu,caching-mode=on' })).rejects.toThrow(/^profile: .*qemu-7\.2.*"default"/);
    await expect(createMachine({ profile: 'qemu-10.0', device: 'caching-mode=on', iommu: { cachingMode: true } })).rejects.toThrow(/^device: /);
    expect(() => parseQemuDevice(42 as unknown as string, 'qemu-10.0')).toThrow(/^device: /);
  });

  it('a snapshot of a machine given by a property string restores only into the same string', async () => {
    const a = await createMachine({ profile: 'qemu-7.2', device: 'caching-mode=on' });
    await expect(createMachine({ profile: 'qemu-7.2', device: 'caching-mode=off' }).then((b) => b.restore(a.snapshot()))).rejects.toThrow();
    const same = await createMachine({ profile: 'qemu-7.2', device: 'caching-mode=on' });
    same.restore(a.snapshot());
  });

  it('x-flts=on resolves to first stage only, 48-bit, fs1gp on (QEMU 10.0\'s defaults)', async () => {
    const p = createProfileFromDevice('qemu-10.0', 'x-scalable-mode=on,x-flts=on');
    expect(p.options).toMatchObject({ firstStage: true, scalableMode: true, awBits: 48, firstStage1GiB: true });
  });
});

describe('the default profile refuses what it cannot present', () => {
  it('firstStage (QEMU\'s first-stage-only x-flts) is refused, naming the option and where it exists', async () => {
    expect(() => createProfile('default', { firstStage: true })).toThrow(/^options\.firstStage: .*qemu-10\.0/);
    await expect(createMachine({ iommu: { firstStage: true } })).rejects.toThrow(/^options\.firstStage/);
    expect(createProfile('default', { firstStage: false }).options.firstStage).toBe(false);
  });

  it('QEMU-only switches away from what the model implements are refused; unknown options too', () => {
    expect(() => createProfile('default', { interruptRemapping: false })).toThrow(/^options\.interruptRemapping: .*interrupt remapping/);
    expect(createProfile('default', { interruptRemapping: true, extendedInterruptMode: true }).options.interruptRemapping).toBe(true);
    expect(() => createProfile('default', { deviceIotlb: false })).toThrow(/^options\.deviceIotlb/);
    expect(() => createProfile('default', { scalableMode: false, pasid: true })).toThrow(/^options\.pasid/);
    expect(() => createProfile('default', { bogus: true } as object)).toThrow(/^options\.bogus: not an option/);
    expect(() => createProfile('qemu-10.0', { cachingMode: 'yes' as unknown as boolean })).toThrow(/^options\.cachingMode: expected a boolean/);
  });
});
