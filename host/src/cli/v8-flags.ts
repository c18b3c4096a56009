/**
 * V8 flags a command runs better under, and the relaunch that applies them.
 * V8 reads its GC flags when a heap is set up, so they cannot be turned on
 * in a running process (`v8.setFlagsFromString('--single-threaded-gc')`
 * after start-up aborts the process in a later GC): `bin/viommu.js` starts a
 * second node with the flags instead, once, before anything else runs.
 *
 * `fuzz` (a campaign, not `--check`) runs with `--single-threaded-gc`: its
 * workers allocate per execution, and V8's concurrent GC threads ran beside
 * every worker on the same cores, so the work took 15-25% more CPU for the
 * same executions (fuzz/README.md, "Speed").
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** The V8 flags `args` (the CLI's arguments after `viommu`) wants that this process lacks; empty when none. */
export function missingV8Flags(args: readonly string[], execArgv: readonly string[] = process.execArgv): string[] {
  const wanted = args[0] === 'fuzz' && !args.includes('--check') ? ['--single-threaded-gc'] : [];
  return wanted.filter((f) => !execArgv.includes(f));
}

/**
 * Runs `script` with `args` in a child node that has `flags` too (stdio
 * shared, signals passed on); resolves to its exit code.
 */
export function relaunchWithFlags(flags: readonly string[], script: string, args: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...flags, script, ...args], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => { child.kill(signal); };
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, forward);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
