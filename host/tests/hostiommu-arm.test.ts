/**
 * The SMMUv3 nesting shape of the host object model: a vIOMMU for an SMMU,
 * nested HWPTs carrying a guest STE (validated as Linux's
 * arm_smmu_validate_vste), raw guest commands checked and converted
 * (VMID filled in, vSID -> pSID through the vDEVICE), the vEVENTQ, and the
 * physical SMMU the HWPTs are programmed into; leaks and argument errors.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasmPath } from '../src/core/load-node.js';
import { validateGuestSte } from '../src/hostiommu/arm-nested.js';
import { isHostIommuError } from '../src/hostiommu/errors.js';
import { ArmPhysicalHost } from '../src/vmm/arm-host.js';
import { get } from '../src/smmu/spec/bits.js';
import { STE } from '../src/smmu/spec/ste.js';

const errno = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    if (isHostIommuError(e)) return e.errno;
    throw e;
  }
  return undefined;
};

/** A guest STE: V, Config S1, S1ContextPtr, S1CDMax. */
const S1 = (ctx: bigint, cdMax = 2): [bigint, bigint] => [1n | (5n << 1n) | ctx | (BigInt(cdMax) << 59n), 0n];

describe('validateGuestSte (arm_smmu_validate_vste)', () => {
  it('keeps the guest-owned fields, makes V = 0 an abort STE, drops EATS', () => {
    expect(validateGuestSte([0n, 0xffn])).toEqual([0n, 0n]);
    expect(validateGuestSte(S1(0x4100_0000n))).toEqual(S1(0x4100_0000n));
    expect(validateGuestSte([S1(0x4100_0000n)[0], 1n << 28n])).toEqual([S1(0x4100_0000n)[0], 0n]);
  });
  it('EIO for fields a guest may not own and for stage 2 / reserved Config / EATS split', () => {
    expect(errno(() => validateGuestSte([S1(0n)[0] | (1n << 52n), 0n]))).toBe('EIO'); // beyond S1ContextPtr
    expect(errno(() => validateGuestSte([S1(0n)[0], 1n << 40n]))).toBe('EIO'); // doubleword-1 field
    expect(errno(() => validateGuestSte([1n | (7n << 1n), 0n]))).toBe('EIO'); // nested Config
    expect(errno(() => validateGuestSte([1n | (2n << 1n), 0n]))).toBe('EIO'); // reserved Config
    expect(errno(() => validateGuestSte([S1(0n)[0], 2n << 28n]))).toBe('EIO'); // EATS split-stage
    expect(errno(() => validateGuestSte([1n] as unknown as [bigint, bigint]))).toBe('EINVAL');
    expect(errno(() => validateGuestSte([1n, -1n]))).toBe('EINVAL');
  });
});

describe.skipIf(!existsSync(wasmPath()))('SMMUv3 vIOMMU, nested HWPT and vEVENTQ on a physical SMMU', () => {
  async function setup() {
    const host = await ArmPhysicalHost.create({ guestRamMib: 8 });
    host.platform.addDevice(0x318, { pasidBits: 20 });
    host.platform.addDevice(0x320, { pasidBits: 20 });
    const ctx = host.platform.createContext('t');
    const ioas = ctx.ioasAlloc();
    ctx.ioasMap(ioas, { iova: 0x4000_0000n, hpa: host.guestRam.hpaBase, len: host.guestRam.size });
    const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
    const dev = ctx.bindDevice(host.platform.openDevice(0x318));
    const viommu = ctx.viommuAlloc(dev, parent, 'arm-smmuv3');
    ctx.vdeviceAlloc(viommu, dev, 0x18);
    return { host, ctx, ioas, parent, dev, viommu };
  }

  it('a paging HWPT is a stage-2 STE, a guest STE a nested one with the vIOMMU VMID; PASID attach is EOPNOTSUPP', async () => {
    const { host, ctx, parent, dev, viommu } = await setup();
    const base = host.platform.usage();
    ctx.attach(dev, parent);
    let w = (host.smmu.guestSte(0x318) as { words: bigint[] }).words;
    expect([get(w, STE.Config), get(w, STE.S2T0SZ), get(w, STE.S2SL0)]).toEqual([0b110, 16, 2]);
    const nested = ctx.hwptAllocNested(viommu, { ste: S1(0x4000_1000n) });
    ctx.replace(dev, nested);
    w = (host.smmu.guestSte(0x318) as { words: bigint[] }).words;
    expect(get(w, STE.Config)).toBe(0b111);
    expect(w[0]! & 0x000f_ffff_ffff_ffc0n).toBe(0x4000_1000n);
    expect(get(w, STE.S2VMID)).toBe(1); // the nesting parent's DID
    expect(errno(() => ctx.attach(dev, nested, 5))).toBe('EINVAL'); // not PASID-compatible
    expect(errno(() => host.backend.install(0x318, 5, { kind: 'paging', did: 1, ssptptr: 0n, levels: 4 }))).toBe('EOPNOTSUPP');
    expect(errno(() => ctx.hwptAllocNested(viommu, { ste: [1n | (6n << 1n), 0n] }))).toBe('EIO');
    expect(errno(() => ctx.hwptAllocNested(parent, { ste: S1(0n) }))).toBe('EINVAL');
    expect(errno(() => ctx.hwptInvalidate(nested, []))).toBe('EOPNOTSUPP');
    ctx.detach(dev);
    ctx.destroy(nested);
    w = (host.smmu.guestSte(0x318) as { words: bigint[] }).words;
    expect([get(w, STE.V), get(w, STE.Config)]).toEqual([1, 0]); // blocked: an abort STE
    expect(host.platform.usage().tablePages).toBe(base.tablePages + 4); // the level-2 stream table stays (as Linux keeps them)
  });

  it('guest commands: VMID filled in, NSNH_ALL narrowed to NH_ALL, vSID -> pSID; others EIO with the count issued', async () => {
    const { host, ctx, viommu } = await setup();
    const seen: bigint[][] = [];
    const unit = host.smmu;
    const was = unit.onCommand;
    unit.onCommand = (name, words) => { if (name !== 'CMD_SYNC') seen.push([...words]); };
    const cmds = [
      [0x11n | (0x7777n << 32n) | (5n << 48n), 0n], // TLBI_NH_ASID, guest VMID 0x7777
      [0x30n, 0n], // TLBI_NSNH_ALL
      [0x05n | (0x18n << 32n) | (2n << 12n), 1n], // CFGI_CD vSID 0x18 SSID 2
    ] as [bigint, bigint][];
    expect(ctx.hwptInvalidate(viommu, cmds.map((cmd) => ({ cmd })))).toBe(3);
    const parentDid = 1n; // the first DID: the nesting parent's, the vIOMMU's VMID
    expect(seen.map((w) => w[0]! & 0xffn)).toEqual([0x11n, 0x10n, 0x05n]);
    expect((seen[0]![0]! >> 32n) & 0xffffn).toBe(parentDid);
    expect((seen[1]![0]! >> 32n) & 0xffffn).toBe(parentDid);
    expect((seen[2]![0]! >> 32n) & 0xffffn).toBe(0x318n);
    let err: unknown;
    try { ctx.hwptInvalidate(viommu, [{ cmd: cmds[0]! }, { cmd: [0x03n | (0x18n << 32n), 1n] }, { cmd: cmds[1]! }]); } catch (e) { err = e; }
    expect(isHostIommuError(err, 'EIO') && err.count).toBe(1); // CFGI_STE is the host's
    expect(errno(() => ctx.hwptInvalidate(viommu, [{ cmd: [0x05n | (0x99n << 32n), 0n] }]))).toBe('EIO'); // no vDEVICE
    expect(errno(() => ctx.hwptInvalidate(viommu, [{ cmd: [1n] as unknown as [bigint, bigint] }]))).toBe('EINVAL');
    unit.onCommand = was;
  });

  it('vEVENTQ: one per vIOMMU, records with the vSID, a lost mark when full; a VT-d-style vIOMMU has none', async () => {
    const { ctx, viommu, dev, parent } = await setup();
    const q = ctx.veventqAlloc(viommu, 2);
    expect(errno(() => ctx.veventqAlloc(viommu, 2))).toBe('EEXIST');
    expect(errno(() => ctx.destroy(viommu))).toBe('EBUSY');
    const plain = ctx.viommuAlloc(dev, parent);
    expect(errno(() => ctx.veventqAlloc(plain, 4))).toBe('EOPNOTSUPP');
    expect(errno(() => ctx.veventqAlloc(viommu, 0))).toBe('EINVAL');
    expect(ctx.veventqRead(q)).toEqual([]);
    expect(errno(() => ctx.viommuAlloc(dev, parent, 'nope' as never))).toBe('EOPNOTSUPP');
    ctx.destroy(q);
    ctx.close();
  });
});
