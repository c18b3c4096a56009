/**
 * What the Linux-in-v86 test files share (issue 18): whether SeaBIOS is there
 * (the tests skip, saying so, when it is not: tools/linux-fixture/ensure-seabios.sh
 * installs Debian's package; .ci/run calls it), the boot environment, and
 * readers for a run's checks. Each mode boots once and every check of
 * `runLinuxMode` runs on that boot (DMAR unit and queued invalidation
 * reported, the IDE controller in an IOMMU group and behind the mode's
 * translation, the disk read by DMA equal to the host's bytes, a write read
 * back, a stray DMA decoded by Linux's fault handler with the mode's reason,
 * unbind/bind of ata_piix, a domain-type switch, no model log line). Timing is
 * not asserted in tests (`viommu linux` reports it). The modes are split over
 * two files so the runner boots two guests at once.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadCoreModule, loadLinuxFixture, loadV86, seabiosDir } from '../../src/v86/linux/fixture-node.js';
import type { LinuxEnv, LinuxRun } from '../../src/v86/linux/run.js';

/** SeaBIOS is installed: the boots can run. */
export const haveBios = existsSync(join(seabiosDir(), 'bios.bin'));
if (!haveBios) console.warn(`v86 Linux tests: SKIPPED, no ${seabiosDir()}/bios.bin (run tools/linux-fixture/ensure-seabios.sh)`);

/** Per boot and its checks (a loaded 2-core machine stretches the ~15 s of CPU a mode takes). */
export const BOOT_TIMEOUT = 300_000;

/** The boot environment: v86, the fixture, the core; one timed read per guest (timing is not asserted). */
export async function linuxEnv(): Promise<LinuxEnv> {
  return {
    V86: await loadV86(), fixture: await loadLinuxFixture(), core: await loadCoreModule(), reads: 1,
    md5: (b) => createHash('md5').update(b).digest('hex'),
  };
}

/** The checks that failed, as `name: detail`. */
export function failures(r: LinuxRun): string[] {
  return r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
}

/** The detail of check `name`. */
export function detail(r: LinuxRun, name: string): string {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`check ${name}: not in the run (${r.checks.map((x) => x.name).join(', ')})`);
  return c.detail;
}
