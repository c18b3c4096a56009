import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { missingTargets } from '../src/cli/bench.js';
import { COMMANDS, main, type CliIo } from '../src/cli/main.js';
import type { BenchResult } from '../../bench/report/schema.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden');
const tmp = mkdtempSync(join(tmpdir(), 'viommu-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => { io.stdout += t; }, err: (t: string) => { io.stderr += t; } };
  return io;
}

/** Runs `viommu ...args`; returns the exit code and what was printed. */
async function viommu(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = capture();
  const code = await main(['node', 'viommu', ...args], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('viommu CLI conventions', () => {
  it('every command answers --help on stdout and exits 0', async () => {
    for (const c of COMMANDS) {
      const r = await viommu(c.name, '--help');
      expect(r.code, c.name).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: viommu ${c.name}`));
      expect(r.stderr).toBe('');
    }
    expect((await viommu('--help')).stdout).toMatch(/Commands:[\s\S]*replay[\s\S]*fuzz/);
    expect((await viommu('help', 'bench')).stdout).toMatch(/--no-native/);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await viommu('--version')).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('bad usage exits 2 with an error naming the option or argument', async () => {
    const cases: [string[], RegExp][] = [
      [['info', '--aw', 'banana'], /option '--aw <bits>' argument 'banana' is invalid/],
      [['info', '--profile', 'qemu-6'], /option '--profile <name>' argument 'qemu-6' is invalid/],
      [['info', '--fault-records', '0'], /'--fault-records <n>' argument '0' is invalid. expected an integer in 1..14/],
      [['info', '--legacy', '--scalable'], /'--legacy' cannot be used with option '--scalable'/],
      [['fuzz', '--time', '-3'], /'--time <sec>' argument '-3' is invalid/],
      [['fuzz', '--workers', 'many'], /'--workers <k>'/],
      [['fuzz', '--check', 'a.json', '--time', '5'], /'--check <file...>' cannot be used with option '--time <sec>'/],
      [['demo', 'nope'], /value 'nope' is invalid for argument 'flow'/],
      [['replay'], /missing required argument 'scenario.json'/],
      [['replay', 'a.json', 'b.json'], /too many arguments/],
      [['bench', '--fast'], /unknown option '--fast'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const r = await viommu(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^viommu: error: /);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect((await viommu()).code).toBe(2);
  });
});

describe('viommu replay', () => {
  it('prints the viommu-replay/1 document of a scenario', async () => {
    const file = join(GOLDEN, 'legacy-4k-roundtrip.scenario.json');
    const r = await viommu('replay', file);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(file.replace('.scenario.', '.expected.'), 'utf8')));
  });

  it('a missing file or a bad scenario exits 1 naming the file', async () => {
    const r = await viommu('replay', join(GOLDEN, 'nope.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^viommu: error: .*nope\.json/);
  });
});

describe('viommu info', () => {
  it('decodes a profile', async () => {
    const r = await viommu('info', '--profile', 'qemu-7.2', '--legacy', '--aw', '39');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/CAP 0x00d2008c22260206/);
    expect(r.stdout).toMatch(/FRCD0_HI/);
  });

  it('takes a QEMU -device property string and prints JSON', async () => {
    const r = await viommu('info', '--profile', 'qemu-10.0', '--device', '-device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on', '--json');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(d).toMatchObject({ profile: 'qemu-10.0', cap: '0x01d2008c222f0686', ecap: '0x0000880000f00f4a' });
    expect(d['ecapFlags']).toEqual(['QI', 'IR', 'PT', 'SMTS', 'FSTS']);
    expect((d['registers'] as { name: string }[]).map((x) => x.name)).toContain('FRCD0_HI');
  });

  it('refuses what the profile cannot present: --first-stage on the default profile, unknown QEMU properties', async () => {
    const fs = await viommu('info', '--first-stage');
    expect(fs.code).toBe(2);
    expect(fs.stderr).toMatch(/firstStage.*qemu-10\.0/);
    const prop = await viommu('info', '--profile', 'qemu-7.2', '--device', 'intel-iommu,x-flts=on');
    expect(prop.code).toBe(2);
    expect(prop.stderr).toMatch(/QEMU 7\.2's intel-iommu has no property "x-flts"/);
    expect((await viommu('info', '--device', 'caching-mode=on')).stderr).toMatch(/needs profile "qemu-7\.2" or "qemu-10\.0"/);
  });
});

describe('viommu demo', () => {
  it('runs end to end', async () => {
    const r = await viommu('demo');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fault record 0/);
    expect(r.stdout).toMatch(/cache statistics/);
  });

  it('--json prints each flow\'s narration, checks and time', async () => {
    const r = await viommu('demo', 'basics', '--json');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as { flows: { name: string; ok: boolean; narration: string[] }[]; ok: number; failed: string[] };
    expect(d).toMatchObject({ ok: 1, failed: [] });
    expect(d.flows[0]).toMatchObject({ name: 'basics', ok: true });
    expect(d.flows[0]!.narration.join('\n')).toMatch(/fault record 0/);
  });
});

describe('viommu fuzz --check', () => {
  it('names a file that is not JSON (exit 2) and still checks the others', async () => {
    const bad = join(tmp, 'bad.scenario.json');
    writeFileSync(bad, '{ not json');
    const good = join(GOLDEN, 'legacy-4k-roundtrip.scenario.json');
    const r = await viommu('fuzz', '--check', bad, good);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`viommu: error: ${bad}: `);
    expect(r.stdout).toContain(`${good}: ok`);
    const j = await viommu('fuzz', '--check', bad, good, '--json');
    expect(JSON.parse(j.stdout)).toMatchObject({ results: [{ file: bad, ok: false }, { file: good, ok: true }] });
  });
});

describe('viommu fuzz --unit smmuv3', () => {
  it('fuzzes the SMMUv3 unit from its recordings and prints the summary as JSON', async () => {
    const r = await viommu('fuzz', '--unit', 'smmuv3', '--runs', '40', '--time', '60', '--seed', '3', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { execs: number; seedsRun: number; coreProbes: number; findings: string[] };
    expect(s.execs).toBeGreaterThan(0);
    expect(s.seedsRun).toBeGreaterThan(0);
    expect(s.findings).toEqual([]);
  }, 120_000);
  it('refuses a unit it does not know', async () => {
    const r = await viommu('fuzz', '--unit', 'amd-vi');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/'--unit <unit>' argument 'amd-vi' is invalid/);
  });
});

describe('viommu bench', () => {
  it('refuses an output path it cannot write before running anything', async () => {
    for (const flag of ['--json', '--svg', '--report']) {
      const started = performance.now();
      const r = await viommu('bench', flag, join(tmp, 'no-such-dir', 'out'));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`option '${flag}': cannot write .*no-such-dir.*does not exist`));
      expect(performance.now() - started).toBeLessThan(5000);
    }
    expect((await viommu('bench', '--json', tmp)).stderr).toMatch(/is a directory/);
  });

  it('a target that could not be measured is named with the reason and what to do', () => {
    const result = {
      meta: { native: 'skipped: no C compiler (cc): spawnSync cc ENOENT', coreMissing: 'build/viommu.wasm not found' },
      targets: [], probes: { raw: {}, lines: [] },
    } as unknown as BenchResult;
    const missing = missingTargets(result, true);
    expect(missing).toHaveLength(2);
    const probeFailed = { ...result, targets: [{ id: 'ram-u64', measured: null, note: 'not measured: no machine' }] } as unknown as BenchResult;
    expect(missingTargets(probeFailed, true)[2]).toBe('ram-u64: not measured: no machine');
    expect(missing[0]).toMatch(/^wasm core: build\/viommu\.wasm not found/);
    expect(missing[1]).toMatch(/"native" column is empty\): no C compiler \(cc\).*install a C compiler.*--no-native/);
    expect(missingTargets({ ...result, meta: { native: 'skipped: disabled (--no-native)' } } as unknown as BenchResult, false)).toEqual([]);
  });
});
