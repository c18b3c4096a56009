/**
 * The seed corpus: the repository's QEMU-recorded scenarios
 * (firmware-tests/golden/**\/*.scenario.json), plus a resumed corpus
 * directory of an earlier run. Never reads ../shared.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../host/src/core/load-node.js';
import { fromScenarioDoc, type FuzzInput, type VmmHost } from './input.js';
import { stepValid } from './mutate.js';
import { vmMachine, vmmHostFor, VMM_MODES } from './vmm-run.js';
import type { VmMode } from '../host/src/vmm/virtual-machine.js';

/** Every `*.scenario.json` below `dir` (sorted, recursive). */
export function scenarioFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.scenario.json')) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * Loads the scenario files of `paths` (directories, searched recursively, or
 * single files) as inputs; unreadable files are reported to `skip` and left out.
 */
export function loadInputs(paths: readonly string[], skip: (file: string, why: string) => void = () => {}): FuzzInput[] {
  const out: FuzzInput[] = [];
  for (const dir of paths) {
    let files: string[];
    try {
      files = dir.endsWith('.json') ? [dir] : scenarioFiles(dir);
    } catch {
      continue; // a corpus directory that does not exist yet
    }
    for (const f of files) {
      try {
        out.push(fromScenarioDoc(JSON.parse(readFileSync(f, 'utf8'))));
      } catch (err) {
        skip(f, err instanceof Error ? err.message : String(err));
      }
    }
  }
  return out;
}

/** Host sides the VM copies of the seeds cycle through, per mode (cdev first). */
const SEED_HOSTS: Record<VmMode, readonly (VmmHost | undefined)[]> = {
  shadow: [undefined, { path: 'group' }, { path: 'vdpa' }, { subdevices: 1 }, { path: 'fallback' }, { path: 'vdpa', subdevices: 1 }, { vdpaDevices: 2 }],
  nested: [undefined, { sharedGroup: true }],
};

/**
 * `inputs` with VMM-backed variants (fuzz/vmm-run.ts) interleaved: every
 * other caching-mode input (a guest that invalidates after every table
 * change, as a VM's guest must, VT-d §6.1) is followed by itself on a
 * shadow- or nested-mode VM, alternately, so a short run meets them early;
 * the copies cycle through the host sides of SEED_HOSTS (VFIO groups, the
 * fallback to them, vhost-vdpa, subdevices, a shared group, a VFIO and a
 * vDPA device in one VM).
 */
export function withVmmVariants(inputs: readonly FuzzInput[]): FuzzInput[] {
  const out: FuzzInput[] = [];
  let k = 0;
  for (const s of inputs) {
    out.push(s);
    if (s.vmm || !s.machine.iommu.caching_mode || !s.machine.devices.some((d) => d.kind === 'dma-test')) continue;
    if (k++ % 2 !== 0) continue;
    const machine = vmMachine(s.machine);
    const vmm = VMM_MODES[(k >> 1) % VMM_MODES.length]!;
    const host = vmmHostFor(vmm, SEED_HOSTS[vmm][(k >> 2) % SEED_HOSTS[vmm].length], machine.devices.length);
    out.push({ machine, steps: s.steps.filter((x) => stepValid(machine, x) && x.op !== 'snapshot'), vmm, ...(host ? { vmmHost: host } : {}) });
  }
  return out;
}

/** The default seed directory: the golden scenarios of this package. */
export function goldenDir(): string {
  return join(packageRoot(), 'firmware-tests', 'golden');
}
