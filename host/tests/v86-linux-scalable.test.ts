/**
 * Linux's intel-iommu driver over the model in v86, scalable-mode modes
 * (issue 18; what each boot checks: v86-linux/env.ts): first-stage tables
 * with PASID-based invalidations (fault 0x71), and iommu=pt (pass-through
 * PASID entry, DMA reaches RAM untranslated).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { linuxMode } from '../src/v86/linux/modes.js';
import { runLinuxMode, type LinuxEnv } from '../src/v86/linux/run.js';
import { BOOT_TIMEOUT, detail, failures, haveBios, linuxEnv } from './v86-linux/env.js';

describe.skipIf(!haveBios)('Linux intel-iommu driver over the model in v86: scalable mode', () => {
  let env: LinuxEnv;
  beforeAll(async () => { env = await linuxEnv(); });

  it('scalable mode: first-stage tables, PASID-based invalidations, fault 0x71', async () => {
    const r = await runLinuxMode(linuxMode('scalable'), env);
    expect(failures(r)).toEqual([]);
    expect(r.dmarLines).toContain('DMAR: dmar0: Using Queued invalidation');
    expect(detail(r, 'translation')).toMatch(/programmed first-stage/);
    expect(detail(r, 'invalidations')).toMatch(/pasidIotlb/);
    expect(detail(r, 'stray-dma')).toMatch(/\[fault reason 0x71\] SM: Present bit in first-level paging entry is clear/);
  }, BOOT_TIMEOUT);

  it('iommu=pt: pass-through for the device, DMA reaches RAM untranslated', async () => {
    const r = await runLinuxMode(linuxMode('passthrough'), env);
    expect(failures(r)).toEqual([]);
    expect(detail(r, 'translation')).toMatch(/programmed pass-through/);
    expect(r.stats.core.faults).toBe(0);
  }, BOOT_TIMEOUT);
});
