import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../src/cli/main.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '../../firmware-tests/golden');

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => { io.stdout += t; }, err: (t: string) => { io.stderr += t; } };
  return io;
}

describe('viommu CLI', () => {
  it('replay prints the viommu-replay/1 document of a scenario', async () => {
    const io = capture();
    const file = join(GOLDEN, 'legacy-4k-roundtrip.scenario.json');
    expect(await main(['node', 'viommu', 'replay', file], io)).toBe(0);
    const expected = JSON.parse(readFileSync(file.replace('.scenario.', '.expected.'), 'utf8'));
    expect(JSON.parse(io.stdout)).toEqual(expected);
  });

  it('replay of a missing file or a bad scenario exits non-zero with the reason', async () => {
    const io = capture();
    expect(await main(['node', 'viommu', 'replay', join(GOLDEN, 'nope.json')], io)).not.toBe(0);
    expect(io.stderr).toMatch(/nope\.json/);
  });

  it('info decodes a profile', async () => {
    const io = capture();
    expect(await main(['node', 'viommu', 'info', '--profile', 'qemu-7.2', '--legacy', '--aw', '39'], io)).toBe(0);
    expect(io.stdout).toMatch(/CAP 0x00d2008c22260206/);
    expect(io.stdout).toMatch(/FRCD0_HI/);
  });

  it('unknown commands and no command print usage and exit 2', async () => {
    const io = capture();
    expect(await main(['node', 'viommu', 'frobnicate'], io)).toBe(2);
    expect(io.stderr).toMatch(/unknown command/);
    expect(await main(['node', 'viommu'], capture())).toBe(2);
  });

  it('demo runs end to end', async () => {
    const io = capture();
    expect(await main(['node', 'viommu', 'demo'], io)).toBe(0);
    expect(io.stdout).toMatch(/fault record 0/);
    expect(io.stdout).toMatch(/cache statistics/);
  });
});
