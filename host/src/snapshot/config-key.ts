/**
 * The part of a machine config a snapshot must agree with, normalized so
 * that configs building the same machine compare equal: defaults filled in
 * (profile, every VT-d option as the unit's profile resolved it from
 * `iommu` or a QEMU property string, RAM size, device options), BDFs in one
 * spelling, devices in requester-id order, object keys sorted. Hooks, logs,
 * RMRRs (they only shape the ACPI table) and the core are not part of it.
 */
import type { ArmMachine } from '../arm-machine.js';
import { DEVICE_KINDS } from '../devices/registry.js';
import type { DeviceConfig, Machine } from '../machine.js';
import { parseBdf, formatBdf } from '../types.js';

/** JSON of `v` with every object's keys sorted (arrays keep their order). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Devices in requester-id order, one BDF spelling, every option as the kind resolves it. */
function devicesKey(list: readonly DeviceConfig[] | undefined): unknown[] {
  return (list ?? [])
    .map((d) => ({ sid: parseBdf(d.bdf), kind: d.kind, ...DEVICE_KINDS[d.kind].options(d) }))
    .sort((a, b) => a.sid - b.sid)
    .map(({ sid, ...rest }) => ({ bdf: formatBdf(sid), ...rest }));
}

/**
 * Keys computed, by machine: a machine's profile and devices are fixed when
 * it is built, and every snapshot and restore needs its key (the fuzzer's
 * snapshot steps spent more on normalizing the config than on the unit).
 */
const keys = new WeakMap<Machine, string>();

/** The normalized config key of machine `m` (canonical JSON; computed once per machine, from its config as built). */
export function configKey(m: Machine): string {
  let key = keys.get(m);
  if (key === undefined) keys.set(m, (key = computeConfigKey(m)));
  return key;
}

/** `configKey` without the per-machine memo (what it memoizes; compared with it by the snapshot tests). */
export function computeConfigKey(m: Machine): string {
  const c = m.config;
  return canonical({ profile: m.vtd.profile.name, iommu: m.vtd.profile.options, ramMib: c.ramMib ?? 256, devices: devicesKey(c.devices) });
}

/** The normalized config key of Arm machine `m`: the SMMU's profile and what its options narrowed (stages, SubstreamID bits), RAM, devices. */
export function armConfigKey(m: ArmMachine): string {
  const { s1, s2, ssidBits } = m.smmu.caps;
  return canonical({ smmu: m.smmu.profile.name, stage1: s1, stage2: s2, ssidBits, ramMib: m.config.ramMib ?? 256, devices: devicesKey(m.config.devices) });
}

/** Throws unless `stored` (a snapshot's CONF text) is the config key `want` of the target machine. */
export function checkConfigKey(stored: string, want: string): void {
  if (stored === want) return; // `want` is canonical JSON, and canonical(JSON.parse(x)) is x for such text
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    throw new Error('snapshot: section "CONF" is not JSON');
  }
  if (canonical(parsed) !== want) throw new Error(`snapshot: machine config differs (snapshot ${canonical(parsed)}, machine ${want})`);
}
