/**
 * The relaunch with V8 flags (host/src/cli/v8-flags.ts): which commands want
 * which flags, and that `bin/viommu.js` passes a relaunched command's
 * output, exit status and flags through.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingV8Flags } from '../src/cli/v8-flags.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('V8 flags per command', () => {
  it('a fuzz campaign wants --single-threaded-gc; --check and other commands want none', () => {
    expect(missingV8Flags(['fuzz', '--time', '5'], [])).toEqual(['--single-threaded-gc']);
    expect(missingV8Flags(['fuzz'], ['--single-threaded-gc'])).toEqual([]);
    expect(missingV8Flags(['fuzz', '--check', 'a.json'], [])).toEqual([]);
    expect(missingV8Flags(['bench'], [])).toEqual([]);
    expect(missingV8Flags([], [])).toEqual([]);
  });

  it('bin/viommu.js relaunches a campaign under the flag and passes its JSON summary and status through', () => {
    const seeds = mkdtempSync(join(tmpdir(), 'viommu-v8-flags-'));
    copyFileSync(join(ROOT, 'firmware-tests/golden/legacy-4k-roundtrip.scenario.json'), join(seeds, 'legacy-4k-roundtrip.scenario.json'));
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/viommu.js'), 'fuzz', '--runs', '20', '--workers', '0', '--time', '60', '--no-host-coverage', '--seeds', seeds, '--json'],
      { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ seedsRun: 1, findings: [] });
    const bad = spawnSync(process.execPath, [join(ROOT, 'bin/viommu.js'), 'fuzz', '--workers', 'many'], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/workers/);
  });
});
