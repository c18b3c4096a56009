import { describe, expect, it } from 'vitest';
import { patch } from './patch.js';
import { HwptPaging } from '../../host/src/hostiommu/hwpt.js';
import { SsPageTable } from '../../host/src/hostiommu/ss-table.js';
import { Ioas } from '../../host/src/hostiommu/ioas.js';
import { Executor, loadFuzzModule } from '../execute.js';
import type { FuzzInput, Step } from '../input.js';
import { vmMachine } from '../vmm-run.js';

// Issue 19: host page tables vs IOAS, and host vs guest after an
// invalidation, on VMM-backed machines. The oracle fires on a host side
// patched to forget an unmap (in the IOAS, or in the HWPT's table) and
// stays silent on the real one.
const { module } = loadFuzzModule();

const w = (gpa: number, u64: bigint[]): Step => ({ op: 'mem.write', gpa: BigInt(gpa), u64 });
const mmio = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value });
const dma = (iova: bigint): Step => ({ op: 'dma.read', bdf: '00:03.0', iova, len: 8 });

/**
 * A caching-mode guest (VT-d §6.1) on legacy tables: IOVA 0 and 0x1000 of
 * 00:03.0 (domain 1, 4-level) map to 0x300000 and 0x301000; root table,
 * translation and the queue on; context-cache and IOTLB global
 * invalidations (§6.5.2.1, §6.5.2.3), a DMA; then the guest clears the leaf
 * of IOVA 0 and invalidates domain 1 (IOTLB, G=10), and DMAs again.
 */
function input(vmm: 'shadow' | 'nested'): FuzzInput {
  const machine = vmMachine({ profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: true, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
  return {
    vmm,
    machine,
    steps: [
      w(0x100000, [0x101001n, 0n]),
      w(0x101180, [0x200001n, 0x102n]),
      w(0x200000, [0x201003n]), w(0x201000, [0x202003n]), w(0x202000, [0x203003n]), w(0x203000, [0x300003n, 0x301003n]),
      mmio(0x20, 8, 0x100000n), mmio(0x18, 4, 0x4000_0000n),
      mmio(0x90, 8, 0x180000n), mmio(0x18, 4, 0x8400_0000n),
      w(0x180000, [0x11n, 0n, 0x12n, 0n]), mmio(0x88, 8, 0x20n),
      dma(0n), dma(0x1000n),
      w(0x203000, [0n]),
      w(0x180020, [0x10022n, 0n]), mmio(0x88, 8, 0x30n),
      dma(0n), dma(0x1000n),
    ],
  };
}

describe('host-consistency oracle (VMM-backed machines)', () => {
  it('is silent on the real host side, shadow and nested, and the shadow really mapped and unmapped', async () => {
    const ex = new Executor(module);
    let maps = 0;
    let unmaps = 0;
    const map = Ioas.prototype.map;
    const unmap = Ioas.prototype.unmap;
    patch(Ioas.prototype, 'map', function (this: Ioas, ...a: Parameters<Ioas['map']>) { maps++; return map.apply(this, a); });
    patch(Ioas.prototype, 'unmap', function (this: Ioas, ...a: Parameters<Ioas['unmap']>) { unmaps++; return unmap.apply(this, a); });
    const shadow = await ex.run(input('shadow'));
    expect(shadow.finding).toBeUndefined();
    expect(maps).toBeGreaterThanOrEqual(2); // guest RAM for the VM, the shadow domain's page
    expect(unmaps).toBeGreaterThanOrEqual(1); // the page the guest withdrew
    expect((await ex.run(input('nested'))).finding).toBeUndefined();
  });

  it('fires when the IOAS forgets an unmap (host vs guest after the invalidation)', async () => {
    patch(Ioas.prototype, 'unmap', function (this: Ioas, _iova: bigint, len: bigint) { return len; });
    const r = await new Executor(module).run(input('shadow'));
    expect(r.finding?.kind).toBe('host-tables');
    expect(r.finding?.message).toMatch(/after the guest's iotlbDomain invalidation, guest domain 1: the host maps IOVA 0x0 -> 0x100300000/);
    expect(r.finding?.step).toBe(16); // the IQT write that ran the domain invalidation
  });

  it('fires when the HWPT table keeps leaves its IOAS unmapped (host table vs IOAS)', async () => {
    // The table forgets the unmap; the HWPT still flushes the physical IOTLB (else the physical-cache oracle fires first).
    patch(SsPageTable.prototype, 'unmap', function () { /* forgets */ });
    const r = await new Executor(module).run(input('shadow'));
    expect(r.finding?.kind).toBe('host-tables');
    // The shadow unmaps the run [0, +2 pages) to map [0x1000, +1): the table still holds both pages, so that map fails and the domain is blocked (all unmapped).
    expect(r.finding?.message).toMatch(/host table vs IOAS: HWPT \d+ \(IOAS \d+\) translates \[0x0, \+2 pages\) -> 0x100300000 perms 3 where its IOAS maps nothing/);
    expect(r.finding?.step).toBe(16);
  });
});

describe('physical-cache oracle on shadow VMs (fuzz/nested-iotlb-oracle.ts)', () => {
  it('fires when an HWPT unmap neither clears its table nor flushes the physical IOTLB', async () => {
    patch(HwptPaging.prototype, 'unmap', function () { /* forgets */ });
    const r = await new Executor(module).run(input('shadow'));
    expect(r.finding?.kind).toBe('host-tables');
    expect(r.finding?.message).toMatch(/physical caches vs guest: after the guest's iotlbDomain invalidation \(DID 1\), shadow requester 18 RID \(guest domain 1;.*the physical IOTLB keeps IOVA 0x0: the guest's tables map nothing/);
    expect(r.finding?.step).toBe(16);
  });
});
