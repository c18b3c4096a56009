/**
 * Linux's intel-iommu driver over the model in v86, second-stage modes
 * (issue 18; what each boot checks: v86-linux/env.ts): the default profile in
 * legacy mode (lazy domain-selective invalidations, read fault 0x06) and
 * QEMU 7.2's registers with iommu.strict=1 (one page-selective invalidation
 * per unmap).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { linuxMode } from '../src/v86/linux/modes.js';
import { runLinuxMode, STRAY_IOVA, type LinuxEnv } from '../src/v86/linux/run.js';
import { BOOT_TIMEOUT, detail, failures, haveBios, linuxEnv } from './v86-linux/env.js';

describe.skipIf(!haveBios)('Linux intel-iommu driver over the model in v86: second stage', () => {
  let env: LinuxEnv;
  beforeAll(async () => { env = await linuxEnv(); });

  it('legacy mode: second-stage tables, lazy domain invalidations, read fault 0x06', async () => {
    const r = await runLinuxMode(linuxMode('legacy'), env);
    expect(failures(r)).toEqual([]);
    expect(r.dmarLines).toContain('DMAR: dmar0: Using Queued invalidation');
    expect(r.dmarLines.some((l) => /DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap [0-9a-f]+ ecap [0-9a-f]+/.test(l))).toBe(true);
    expect(detail(r, 'stray-dma')).toContain(`[DMA Read NO_PASID] Request device [00:1e.0] fault addr 0x${STRAY_IOVA.toString(16)} [fault reason 0x06]`);
    expect(detail(r, 'invalidations')).toMatch(/iotlbDomain \d+/);
    expect(r.stats.interrupts.delivered).toBeGreaterThan(0);
  }, BOOT_TIMEOUT);

  it('qemu-7.2 profile with iommu.strict=1: one page-selective invalidation per unmap', async () => {
    const r = await runLinuxMode(linuxMode('qemu-7.2'), env);
    expect(failures(r)).toEqual([]);
    expect(r.dmarLines).toContain('iommu: DMA domain TLB invalidation policy: strict mode (set via kernel command line)');
    // What the same kernel prints on real QEMU 7.2 (qemu-system-i386 -machine q35 -device intel-iommu;
    // recorded with tools/linux-fixture/qemu-dmar.sh): the profile presents QEMU's registers to the driver.
    expect(r.dmarLines).toContain('DMAR: Host address width 39');
    expect(r.dmarLines).toContain('DMAR: dmar0: reg_base_addr fed90000 ver 1:0 cap d2008c22260206 ecap f00f4a');
    expect(detail(r, 'invalidations')).toMatch(/iotlbPage \d+/);
  }, BOOT_TIMEOUT);
});
