/**
 * `viommu linux` argument handling (the boots themselves run in
 * v86-linux.test.ts): modes, `all`, reads, JSON file, and errors that name
 * the bad argument with exit code 2 before anything boots.
 */
import { describe, expect, it } from 'vitest';
import { parseLinuxArgs } from '../src/cli/linux.js';
import { main, type CliIo } from '../src/cli/main.js';
import { LINUX_MODE_NAMES } from '../src/v86/linux/modes.js';

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => { io.stdout += t; }, err: (t: string) => { io.stderr += t; } };
  return io;
}

describe('viommu linux arguments', () => {
  it('defaults to every mode and 3 reads; --mode repeats, all expands, duplicates go', () => {
    expect(parseLinuxArgs([])).toEqual({ modes: LINUX_MODE_NAMES, reads: 3, json: undefined });
    expect(parseLinuxArgs(['--mode', 'scalable', '--mode', 'legacy', '--mode', 'scalable', '--reads', '1', '--json', 'out.json']))
      .toEqual({ modes: ['scalable', 'legacy'], reads: 1, json: 'out.json' });
    expect(parseLinuxArgs(['--mode', 'all']).modes).toEqual(LINUX_MODE_NAMES);
    expect(LINUX_MODE_NAMES).toEqual(['legacy', 'scalable', 'qemu-7.2', 'strict', 'passthrough']);
  });

  it('rejects what it does not know, naming it, with exit code 2', async () => {
    expect(() => parseLinuxArgs(['--mode', 'nested'])).toThrow(/mode: unknown mode "nested"/);
    expect(() => parseLinuxArgs(['--reads', '0'])).toThrow(/--reads/);
    expect(() => parseLinuxArgs(['--json'])).toThrow(/--json: needs a value/);
    expect(() => parseLinuxArgs(['--fast'])).toThrow(/--fast: unknown option/);
    const io = capture();
    expect(await main(['node', 'viommu', 'linux', '--mode', 'nested'], io)).toBe(2);
    expect(io.stderr).toMatch(/viommu linux: mode: unknown mode/);
  });

  it('is listed in the help', async () => {
    const io = capture();
    await main(['node', 'viommu', 'help'], io);
    expect(io.stdout).toMatch(/linux \[--mode legacy\|scalable\|qemu-7\.2\|strict\|passthrough\|all\]/);
  });
});
