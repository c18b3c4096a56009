/**
 * Keeps issue 22's count true: the exported signatures of host/src
 * (count.ts) take and hold addresses and ids as the types of
 * host/src/types.ts, not as raw `bigint`/`number`. A new exported function,
 * method or field named like an address or id (`*iova`, `*gpa`, `*addr`,
 * `*did`, `*sid`, `*pasid`, ...) typed as raw `bigint`/`number` fails here;
 * type it (`Iova`, `Gpa<number>`, `Sid`, ...) or, if it is neither, rename it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { addressParams, kindOfName, rawCounts, type AddressParam } from './count.js';

describe('typed addresses at the public boundaries', () => {
  let params: AddressParam[];
  beforeAll(() => {
    params = addressParams();
  }, 60_000);

  it('names addresses and ids by their last word, not by a substring', () => {
    expect(['iova', 'srcIova', 'rootGpa', 'hpa', 'addr', 'rtaddr', 'faultAddr', 'address'].map(kindOfName)).toEqual(Array(8).fill('address'));
    expect(['sid', 'rid', 'vrid', 'did', 'pasid', 'gpasid', 'ssid', 'streamId', 'parentDid'].map(kindOfName)).toEqual(Array(9).fill('id'));
    expect(['ioasId', 'asid', 'vmid', 'iovaLo', 'addrHi', 'len', 'hwptId', 'consider'].map(kindOfName)).toEqual(Array(8).fill(undefined));
  });

  it('tells raw from typed parameters and fields in functions, interfaces, function-typed properties and classes (fixture.ts)', () => {
    const got = addressParams(['tools/typed-addresses/fixture.ts']).map((p) => `${p.where.split(':')[1]} ${p.raw ? 'raw' : 'typed'}`);
    expect(got).toEqual([
      'Port.constructor(rid) raw', 'Port.dma(iova) typed', 'Port.dma(pasid) typed',
      'rawAndTyped(gpa) typed', 'rawAndTyped(iova) raw', 'rawAndTyped(pasid) raw',
      'Target.faultAddr raw', 'Target.invalidate(did) raw', 'Target.invalidate(sid) typed', 'Target.onFault(addr) raw', 'Target.onFault(did) typed',
      'Target.pasid typed',
    ]);
  }, 60_000);

  it('reads the exported signatures (entries, guest library, table builders, VMM, host IOMMU, devices, units)', () => {
    const where = params.map((p) => p.where);
    for (const owner of ['Machine.mmioRead32(addr)', 'DmaPort.dma(iova)', 'GuestMemory.getUint32(gpa)', 'HostIommu.ioasUnmap(iova)',
      'VtdDriver.iotlbInvalidatePage(did)', 'PageTableBuilder.map(gpa)', 'VirtualMachine.deviceOfPrid(prid)', 'Core.translate(sid)']) {
      expect(where.some((w) => w.endsWith(owner)), owner).toBe(true);
    }
    expect(params.length).toBeGreaterThan(600);
    expect(where.some((w) => w.startsWith('host/src/flows/') || w.startsWith('host/src/cli/'))).toBe(false);
  });

  it('no exported signature takes or holds an address or id as raw bigint/number', () => {
    const { raw, typed } = rawCounts(params);
    expect(raw.map((p) => `${p.where}: ${p.type}`)).toEqual([]);
    expect(typed).toBeGreaterThan(600);
  });
});
