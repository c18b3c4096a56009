/**
 * The address and id flavors of host/src/types.ts at the public boundaries
 * (issue 22, STYLE.md #3). The `@ts-expect-error` lines are the type-level
 * test: tsconfig.tests.json type-checks this file (asm/tests/core-build.test.ts),
 * so each line must stay a compile error (passing one flavor where another
 * is expected), and a plain literal must stay accepted. The run-time half
 * checks the checking constructors, `rangeEnd`, and the host entry points
 * that now check through them (each case passed silently or threw an
 * unnamed TypeError before).
 */
import { describe, expect, it } from 'vitest';
import {
  ADDRESS_SPACE_END, did, gpa, hpa, iova, pasid, rangeEnd, rangeFits64, sid,
  type Did, type Gpa, type Hpa, type Iova, type Pasid, type Sid,
} from '../src/types.js';
import type { Machine } from '../src/machine.js';
import type { Core } from '../src/core/core.js';
import type { DmaPort } from '../src/pci/dma-port.js';
import type { GuestMemory } from '../src/core/guest-memory.js';
import type { HostIommu } from '../src/hostiommu/host-iommu.js';
import { ContextTableBuilder, PageTableBuilder, PasidTableBuilder } from '../src/tables/table-builders.js';
import { createMachine, VTD_BASE } from '../src/machine.js';
import { createArmMachine } from '../src/arm-machine.js';
import { FakeDmaPort } from '../src/devices/common/testing.js';
import { ArrayGuestMemory } from '../src/tables/guest-ram.js';
import { PageAllocator } from '../src/tables/page-allocator.js';
import { VtdDriver } from '../src/guest/vtd-driver.js';
import type { AtsDevice } from '../src/devices/ats/device.js';

const bad = (v: unknown) => v as never;

/**
 * Never called: compiled only, so the type checker sees each call. The
 * values are typed by what they are, as a caller's would be.
 */
function typeLevel(m: Machine, core: Core, port: DmaPort, mem: GuestMemory, host: HostIommu, drv: VtdDriver, pt: PageTableBuilder,
  g: Gpa, h: Hpa, v: Iova, s: Sid, d: Did, p: Pasid, gn: Gpa<number>, vn: Iova<number>): void {
  // Plain literals and computed values are accepted everywhere.
  m.mmioRead(0xfed9_0000n, 4);
  m.mmioRead32(0xfed9_0000);
  core.invPasidCache(2, 1, 5);
  port.dma(0x1000, 64, 0);
  mem.readU64(0x2000n);
  pt.map(0x1000n, 0x2000n, 12, 3n);
  // The same flavor is accepted.
  m.mmioRead(g, 4);
  m.mmioRead32(gn);
  core.translate(s, p, v, 1);
  core.invContextDevice(d, s, 0);
  port.dma(vn, 64, 0, 0, p);
  mem.readU64(g);
  host.ioasUnmap(1, v, 4096n);
  drv.iotlbInvalidatePage(d, v, 0);
  pt.map(v, g, 12, 3n);
  // An Hpa is not a Gpa, nor an Iova a Gpa.
  // @ts-expect-error Hpa where a Gpa is expected
  m.mmioRead(h, 4);
  // @ts-expect-error Hpa where a Gpa is expected (guest RAM)
  mem.readU64(h);
  // @ts-expect-error Iova where a Gpa is expected
  mem.writeU64(v, 0n);
  // @ts-expect-error Gpa where an Iova is expected (the arguments of map swapped)
  pt.map(g, v, 12, 3n);
  // @ts-expect-error Gpa where an Iova is expected (number API)
  port.dma(gn, 64, 0);
  // @ts-expect-error Iova where a Gpa is expected (number API)
  m.mmioRead32(vn);
  // @ts-expect-error Hpa where an Iova is expected
  host.ioasUnmap(1, h, 4096n);
  // Ids of one kind are not ids of another.
  // @ts-expect-error Did where a Pasid is expected (the ids swapped)
  core.invPasidCache(2, p, d);
  // @ts-expect-error Did where a Pasid is expected
  core.translate(s, d, v, 1);
  // @ts-expect-error Sid where a Did is expected
  core.invContextDevice(s, s, 0);
  // @ts-expect-error Pasid where a Sid is expected
  core.translate(p, p, v, 1);
  // @ts-expect-error Did where a Pasid is expected (DMA port)
  port.dma(vn, 64, 0, 0, d);
  // @ts-expect-error Sid where a Did is expected (guest driver)
  drv.iotlbInvalidatePage(s, v, 0);
  // @ts-expect-error a bigint address where the number API takes a number
  m.mmioRead32(g);
}

describe('address and id types', () => {
  it('the type-level cases compile only as written (see the @ts-expect-error lines above)', () => {
    expect(typeof typeLevel).toBe('function');
  });

  it('the checking constructors pass good values through unchanged', () => {
    expect([iova(0n), gpa(0xffff_ffff_ffff_ffffn), hpa(0x1000n)]).toEqual([0n, 0xffff_ffff_ffff_ffffn, 0x1000n]);
    expect([sid(0xffff), did(0), pasid(0xfffff)]).toEqual([0xffff, 0, 0xfffff]);
  });

  it.each([
    ['iova', () => iova(-1n, 'srcIova'), 'srcIova: -1'],
    ['gpa', () => gpa(1n << 64n, 'rootGpa'), 'rootGpa: 18446744073709551616'],
    ['hpa', () => hpa(5 as unknown as bigint, 'hpa'), 'hpa: 5'],
    ['sid', () => sid(0x1_0000, 'rid'), 'rid: 65536'],
    ['did', () => did(1.5, 'did'), 'did: 1.5'],
    ['pasid', () => pasid(1 << 20, 'pasid'), 'pasid: 1048576'],
  ])('%s rejects an out-of-range value with an Error naming the argument', (_, f, what) => {
    expect(f).toThrow(what);
  });

  it('rangeEnd is the one overflow check: the end of a range, or undefined when it wraps past 2^64', () => {
    expect(rangeEnd(0x1000n, 0x1000)).toBe(0x2000n);
    expect(rangeEnd(ADDRESS_SPACE_END - 0x1000n, 0x1000n)).toBe(ADDRESS_SPACE_END);
    expect(rangeEnd(ADDRESS_SPACE_END - 0x1000n, 0x1001n)).toBeUndefined();
    expect(rangeFits64(0xffff_ffff, 0xffff_f000, 0x1000)).toBe(true);
    expect(rangeFits64(0xffff_ffff, 0xffff_f000, 0x1001)).toBe(false);
  });
});

describe('host entry points check addresses and ids with the checking constructors', () => {
  it('the VT-d unit: interrupt requests name a bad sid or address', async () => {
    const m = await createMachine({ ramMib: 16 });
    expect(() => m.vtd.interruptRequest(bad(-1), 0xfee0_0000n, 0)).toThrow(/^sid: /);
    expect(() => m.vtd.interruptRequest(0x18, bad(0xfee0_0000), 0)).toThrow(/^address: /);
    expect(() => m.vtd.interruptRequest(0x18, 1n << 64n, 0)).toThrow(/^address: /);
  });

  it('a DMA port checks its requester id; its BigInt layer the IOVA and the translated address', async () => {
    expect(() => new FakeDmaPort(1 << 16, 0x1_0000)).toThrow(/^sid: /);
    expect(() => new FakeDmaPort(1 << 16, bad('00:03.0'))).toThrow(/^sid: /);
    const m = await createMachine({ ramMib: 16, devices: [{ bdf: '00:04.0', kind: 'ats' }] });
    const port = m.vtd.portFor(0x28);
    expect(() => port.dmaBig(-1n, 4, false, 0)).toThrow(/^iova: /);
    expect(() => port.translationRequestBig(bad(5), false)).toThrow(/^iova: /);
    expect(() => port.translatedBig(1n << 64n, 4, false, 0)).toThrow(/^addr: /);
    const ats = m.device('00:04.0') as AtsDevice;
    expect(() => ats.read(-1n, 4)).toThrow(/^iova: /);
    expect(() => ats.write(bad('0x1000'), 4)).toThrow(/^iova: /);
  });

  it('the SMMUv3 unit checks StreamID and SubstreamID of CD invalidation and STE reads', async () => {
    const m = await createArmMachine();
    expect(() => m.smmu.invalidateCd(bad(-1), undefined)).toThrow(/^sid: /);
    expect(() => m.smmu.invalidateCd(0x18, 1 << 20)).toThrow(/^ssid: /);
    expect(() => m.smmu.guestSte(bad(1.5))).toThrow(/^sid: /);
  });

  it('the table builders and the guest driver refuse what they would otherwise encode wrongly', async () => {
    const mem = new ArrayGuestMemory(0x10_0000n, 0x10_0000);
    const alloc = new PageAllocator(mem, 0x10_0000n, 0x20_0000n);
    const pt = new PageTableBuilder(mem, alloc, { stage: 'ss', levels: 4 });
    expect(() => pt.map(1n << 64n, 0n, 12, 3n)).toThrow(/^iova: /); // used to be truncated into the entry of IOVA 0
    expect(() => pt.map(0n, -0x1000n, 12, 3n)).toThrow(/^gpa: /);
    expect(() => pt.unmap(bad(0x1000), 12)).toThrow(/^iova: /);
    expect(() => new ContextTableBuilder(mem, alloc, 'legacy').setContext(0x1_0000, [0n, 0n])).toThrow(/^sid: /);
    expect(() => new PasidTableBuilder(mem, alloc).setPasid(1 << 20, Array(8).fill(0n))).toThrow(/^pasid: /);
    const m = await createMachine({ ramMib: 16 });
    const drv = new VtdDriver(m, VTD_BASE);
    expect(() => drv.iotlbInvalidatePage(0x1_0000, 0n)).toThrow(/^did: /);
    expect(() => drv.iotlbInvalidatePage(1, -0x1000n)).toThrow(/^addr: /);
    expect(() => drv.contextInvalidateDevice(1, -1)).toThrow(/^sid: /);
    expect(() => drv.contextInvalidateDomain(bad(1.5))).toThrow(/^did: /);
    expect(m.vtd.regs.get('CCMD') & (1n << 63n)).toBe(0n); // nothing reached the unit
  });
});
