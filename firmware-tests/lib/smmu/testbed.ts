/**
 * A test machine for the SMMUv3 guest-driver suites: a core with guest RAM
 * at 0x4000_0000 (the Arm `virt` layout), an SMMUv3 unit whose 128 KiB
 * frame is at 0x0905_0000, the guest driver, a page allocator, and DMA from
 * any StreamID through the unit into a device buffer. MSIs to virt's GIC
 * frames (ARM_MSI_DOORBELLS) reach `irqs`, MSIs into RAM are memory writes.
 */
import { loadCore } from '../../../host/src/core/load-node.js';
import { GuestMemory } from '../../../host/src/core/guest-memory.js';
import * as K from '../../../host/src/core/constants.js';
import { createSmmuProfile, type SmmuOptions } from '../../../host/src/smmu/profiles.js';
import { SmmuUnit, type SmmuInterrupt } from '../../../host/src/smmu/smmu-unit.js';
import { ARM_MSI_DOORBELLS } from '../../../host/src/arm-machine.js';
import type { DmaResult } from '../../../host/src/pci/dma-port.js';
import { PageAllocator } from '../../../host/src/tables/page-allocator.js';
import { SmmuDriver } from '../../../host/src/guest/smmu/driver.js';

/** Guest-physical base of RAM (virt). */
export const RAM_BASE = 0x4000_0000n;
/** Base of the SMMU's register frame (virt's VIRT_SMMU). */
export const SMMU_BASE = 0x0905_0000n;

/** One SMMU test machine. */
export interface SmmuBed {
  readonly unit: SmmuUnit;
  readonly mem: GuestMemory;
  readonly drv: SmmuDriver;
  readonly alloc: PageAllocator;
  readonly irqs: SmmuInterrupt[];
  readonly logs: string[];
  /** A device buffer of 4 KiB. */
  readonly buf: number;
  /** DMA of `len` bytes at `iova` from StreamID `sid` (SubstreamID `ssid`); writes send `data`; `num`: through the DMA port's number path (unit.dmaNum). */
  dma(sid: number, iova: bigint, opts?: { ssid?: number; write?: Uint8Array; len?: number; priv?: boolean; exec?: boolean; num?: boolean }): DmaResult & { data?: Uint8Array };
}

/** Builds a machine with `ramMib` MiB of RAM and the named profile (narrowed by `options`). */
export async function smmuBed(profile = 'default', ramMib = 64, options?: SmmuOptions): Promise<SmmuBed> {
  const core = await loadCore();
  core.addRam(Number(RAM_BASE), ramMib << 20);
  const mem = new GuestMemory(core);
  const irqs: SmmuInterrupt[] = [];
  const logs: string[] = [];
  const unit = new SmmuUnit({ core, mem, profile: createSmmuProfile(profile, options), onInterrupt: (i) => irqs.push(i), msiDoorbells: ARM_MSI_DOORBELLS, log: (m) => logs.push(m) });
  const platform = {
    mmioRead: (a: bigint, s: 4 | 8) => unit.mmioRead(Number(a - SMMU_BASE), s),
    mmioWrite: (a: bigint, s: 4 | 8, v: bigint) => unit.mmioWrite(Number(a - SMMU_BASE), s, v),
  };
  const alloc = new PageAllocator(mem, RAM_BASE + 0x100_0000n, RAM_BASE + BigInt(ramMib << 20));
  const drv = new SmmuDriver(platform, mem, alloc, SMMU_BASE);
  const buf = core.bufAlloc(4096);
  return {
    unit, mem, drv, alloc, irqs, logs, buf,
    dma(sid, iova, o = {}) {
      const len = o.write?.length ?? o.len ?? 8;
      if (o.write) core.buffer(buf, len).set(o.write);
      const access = (o.write ? K.ACC_WRITE : K.ACC_READ) | (o.priv ? K.ACC_PRIV : 0) | (o.exec ? K.ACC_EXEC : 0);
      const r = o.num && iova < 2n ** 53n
        ? unit.dmaNum(sid, o.ssid, Number(iova), len, access, buf) ?? { ok: true as const }
        : unit.dma(sid, o.ssid, iova, len, o.write !== undefined, buf, o.priv, o.exec);
      return r.ok && !o.write ? { ...r, data: core.buffer(buf, len).slice() } : r;
    },
  };
}
