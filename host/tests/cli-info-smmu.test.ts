// `viommu info --smmu`: an SMMUv3 profile's ID registers, switches and register table.
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../src/cli/main.js';

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => { io.stdout += t; }, err: (t: string) => { io.stderr += t; } };
  return io;
}

describe('viommu info --smmu', () => {
  it('decodes the qemu-7.2 SMMUv3 profile: IDRs as recorded, its switches, page-0 queue indexes', async () => {
    const io = capture();
    expect(await main(['node', 'viommu', 'info', '--smmu', '--profile', 'qemu-7.2'], io)).toBe(0);
    expect(io.stdout).toMatch(/IDR0 0x0d40101a/);
    expect(io.stdout).toMatch(/IDR5 0x00000074/);
    expect(io.stdout).toMatch(/SSIDSIZE 0/);
    expect(io.stdout).toMatch(/walkOutputCheck=none/);
    expect(io.stdout).not.toMatch(/PRIQS|PRIQ_BASE/); // no PRI
    expect(io.stdout).toMatch(/0x000a8 {2}EVENTQ_PROD/);
    expect(io.stdout).not.toMatch(/GBPA/);
  });
  it('the default profile offers full ATS (IDR0 ATS with NS1ATS: no split-stage); qemu-7.2 no ATS', async () => {
    const io = capture();
    expect(await main(['node', 'viommu', 'info', '--smmu'], io)).toBe(0);
    expect(io.stdout).toMatch(/IDR0 flags S2P S1P COHACC ATS NS1ATS /);
    const q = capture();
    expect(await main(['node', 'viommu', 'info', '--smmu', '--profile', 'qemu-7.2'], q)).toBe(0);
    expect(q.stdout).not.toMatch(/ ATS /);
  });
  it('the default profile narrowed: no stage 2, fewer SubstreamID bits; bad options exit 2 naming them', async () => {
    const io = capture();
    expect(await main(['node', 'viommu', 'info', '--smmu', '--no-stage2', '--ssid-bits', '8'], io)).toBe(0);
    expect(io.stdout).toMatch(/IDR0 flags S1P /);
    expect(io.stdout).toMatch(/SSIDSIZE 8/);
    expect(io.stdout).toMatch(/IDR0 flags .*\bPRI\b/);
    expect(io.stdout).toMatch(/PRIQS 19 \(PRI queue, STE.PPAR decides auto-response PASIDs\)/);
    expect(io.stdout).toMatch(/0x100c8 {2}PRIQ_PROD/);
    expect(io.stdout).toMatch(/switches away from the spec \(docs\/SMMU-PROFILES.md\): none/);
    const bad = capture();
    expect(await main(['node', 'viommu', 'info', '--smmu', '--ssid-bits', '21'], bad)).toBe(2);
    expect(bad.stderr).toMatch(/--ssid-bits/);
    const stage = capture();
    expect(await main(['node', 'viommu', 'info', '--smmu', '--profile', 'qemu-7.2', '--no-stage1'], stage)).toBe(2);
    expect(stage.stderr).toMatch(/stage 1 or stage 2/);
  });
  it('--json; VT-d options with --smmu and SMMU options without it exit 2 naming the option', async () => {
    const io = capture();
    expect(await main(['node', 'viommu', 'info', '--smmu', '--profile', 'qemu-10.0', '--json'], io)).toBe(0);
    const d = JSON.parse(io.stdout);
    expect(d).toMatchObject({ unit: 'smmuv3', profile: 'qemu-10.0', idr: ['0x0d44101b', '0x02730010', '0x00000000', '0x00001414', '0x00000000', '0x00000074'] });
    expect(d.switches).toMatchObject({ nestedTableFaultReportsStage1: true, walkOutputCheck: 'leaf-last' });
    const legacy = capture();
    expect(await main(['node', 'viommu', 'info', '--smmu', '--legacy'], legacy)).toBe(2);
    expect(legacy.stderr).toMatch(/--legacy is a VT-d option/);
    const bits = capture();
    expect(await main(['node', 'viommu', 'info', '--ssid-bits', '4'], bits)).toBe(2);
    expect(bits.stderr).toMatch(/need --smmu/);
  });
});
