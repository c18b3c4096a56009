/**
 * The replay runner builds its own machine with `createMachine`. In the
 * bundle, the runner's import of ../machine.js resolves here (build.ts), so
 * the page can hand it a core made from the fetched WASM, attach its
 * interrupt and log sinks, and keep the machine to show its state.
 * Everything else is the real machine module.
 */
import { createMachine as realCreateMachine, type Machine, type MachineConfig } from '../../host/src/machine.js';
import type { Core } from '../../host/src/core/core.js';
import type { InterruptSink } from '../../host/src/vtd/interrupts.js';

export * from '../../host/src/machine.js';

/** What the page adds to every machine the runner builds. */
export interface MachineTapHooks {
  newCore(): Core;
  onInterrupt?: InterruptSink;
  log?: (msg: string) => void;
  /** Called with each machine built. */
  built?: (m: Machine) => void;
}

let hooks: MachineTapHooks | undefined;

/** Installs the page's hooks (platform.ts does this once the core is compiled). */
export function setMachineTapHooks(h: MachineTapHooks): void {
  hooks = h;
}

/** `createMachine` with the page's core, sinks and observer. */
export async function createMachine(config: MachineConfig = {}): Promise<Machine> {
  if (!hooks) throw new Error('createMachine: the page has not loaded the WASM core yet');
  const h = hooks;
  const log = (msg: string): void => {
    config.log?.(msg);
    h.log?.(msg);
  };
  const m = await realCreateMachine({ ...config, core: config.core ?? h.newCore(), onInterrupt: config.onInterrupt ?? h.onInterrupt, log });
  h.built?.(m);
  return m;
}
