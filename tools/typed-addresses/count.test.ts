/**
 * Keeps issue 22's count true: the public signatures (count.ts) take
 * addresses and ids as the types of host/src/types.ts, not as raw
 * `bigint`/`number`. A new exported function or method with a parameter
 * named like an address or id (`*iova`, `*gpa`, `*addr`, `*did`, `*sid`,
 * `*pasid`, ...) typed as raw `bigint`/`number` fails here; type it
 * (`Iova`, `Gpa<number>`, `Sid`, ...) or, if it is neither, rename it.
 */
import { describe, expect, it } from 'vitest';
import { addressParams, kindOfName, rawCounts } from './count.js';

/** Parameters that stay raw on purpose, with the reason (none today). */
const ALLOWED_RAW: readonly string[] = [];

describe('typed addresses at the public boundaries', () => {
  it('names addresses and ids by their last word, not by a substring', () => {
    expect(['iova', 'srcIova', 'rootGpa', 'hpa', 'addr', 'rtaddr', 'faultAddr', 'address'].map(kindOfName)).toEqual(Array(8).fill('address'));
    expect(['sid', 'rid', 'vrid', 'did', 'pasid', 'gpasid', 'ssid', 'streamId', 'parentDid'].map(kindOfName)).toEqual(Array(9).fill('id'));
    expect(['ioasId', 'asid', 'vmid', 'iovaLo', 'addrHi', 'len', 'hwptId', 'consider'].map(kindOfName)).toEqual(Array(8).fill(undefined));
  });

  it('reads the public signatures (entries, guest library, table builders, VMM, host IOMMU, devices)', () => {
    const params = addressParams();
    const where = params.map((p) => p.where);
    for (const owner of ['Machine.mmioRead32(addr)', 'DmaPort.dma(iova)', 'GuestMemory.getUint32(gpa)', 'HostIommu.ioasUnmap(iova)',
      'VtdDriver.iotlbInvalidatePage(did)', 'PageTableBuilder.map(gpa)', 'VirtualMachine.deviceOfPrid(prid)', 'Core.translate(sid)']) {
      expect(where.some((w) => w.endsWith(owner)), owner).toBe(true);
    }
    expect(params.length).toBeGreaterThan(350);
  }, 60_000);

  it('no public signature takes an address or id as raw bigint/number', () => {
    const { raw } = rawCounts();
    expect(raw.map((p) => `${p.where}: ${p.type}`).filter((w) => !ALLOWED_RAW.some((a) => w.startsWith(a)))).toEqual([]);
  }, 60_000);
});
