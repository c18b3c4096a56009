/**
 * `viommu linux` argument handling (the boots themselves run in
 * v86-linux-*.test.ts): bad modes, read counts and JSON paths are refused with
 * exit code 2 and a message naming the option, before anything boots; the
 * command is in the help.
 */
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../src/cli/main.js';
import { LINUX_MODE_NAMES } from '../src/v86/linux/modes.js';

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', out: (t: string) => { io.stdout += t; }, err: (t: string) => { io.stderr += t; } };
  return io;
}

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = capture();
  const code = await main(['node', 'viommu', 'linux', ...args], io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('viommu linux arguments', () => {
  it('knows the modes of the issue', () => {
    expect(LINUX_MODE_NAMES).toEqual(['legacy', 'scalable', 'qemu-7.2', 'strict', 'passthrough']);
  });

  it('refuses what it does not know, naming the option, with exit code 2', async () => {
    const mode = await run('--mode', 'nested');
    expect(mode.code).toBe(2);
    expect(mode.stderr).toMatch(/option '--mode <name>' argument 'nested' is invalid\. expected one of legacy, scalable, qemu-7\.2, strict, passthrough/);
    const reads = await run('--reads', '0');
    expect(reads.code).toBe(2);
    expect(reads.stderr).toMatch(/--reads <n>.*expected an integer in 1\.\.20/);
    const passes = await run('--passes', '21');
    expect(passes.code).toBe(2);
    expect(passes.stderr).toMatch(/--passes <n>.*expected an integer in 1\.\.20/);
    const json = await run('--mode', 'legacy', '--json', '/nonexistent-dir/out.json');
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/--json <file>.*does not exist/);
    expect((await run('--fast')).code).toBe(2);
  });

  it('answers --help with its options', async () => {
    const h = await run('--help');
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/--mode <name>/);
    expect(h.stdout).toMatch(/--reads <n>/);
    expect(h.stdout).toMatch(/--passes <n>/);
    expect(h.stdout).toMatch(/--json <file>/);
    const top = capture();
    await main(['node', 'viommu', '--help'], top);
    expect(top.stdout).toMatch(/linux .*boot Linux/);
  });
});
