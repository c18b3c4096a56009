/**
 * Checks a machine config (machine.ts `MachineConfig`, arm-machine.ts
 * `ArmMachineConfig`) before anything is built: every field a caller can
 * get wrong is refused here with an Error naming it, so `createMachine` and
 * `createArmMachine` either build the whole machine or touch nothing (no
 * RAM region, no configuration in a core the caller passed). Returns the
 * device plan the build follows: each device's requester id and the
 * secondary buses that need a root port. The fields both configs have are
 * checked by one function.
 */
import type { ArmMachineConfig } from './arm-machine.js';
import type { DeviceConfig, MachineConfig } from './machine.js';
import { isDeviceKind } from './devices/registry.js';
import { RESERVED_SLOTS } from './pci/bus.js';
import { ROOT_PORT_SLOT, type DevicePlan, type PlannedDevice } from './pci/hierarchy.js';
import { checkDoorbells, type MsiDoorbell } from './smmu/msi.js';
import { createSmmuProfile, type SmmuProfile } from './smmu/profiles.js';
import { parseBdf, formatBdf, sidOf } from './types.js';

/**
 * Most guest RAM a machine can have, in MiB: a wasm32 memory holds 4 GiB,
 * and the core keeps its tables (~4 MiB) and the devices' buffers beside
 * guest RAM (docs/ABI.md "Memory"); 64 MiB are left for them.
 */
export const MAX_RAM_MIB = 4032;
/** Least guest RAM a machine can have, in MiB (the q35 layout's low hole sits at 640 KiB). */
export const MIN_RAM_MIB = 2;
/** Root ports bus 0 can hold (slot 1C, functions 0-7), one per secondary bus. */
export const MAX_ROOT_PORTS = 8;

/** What the build follows once the config passed. */
export interface MachinePlan extends DevicePlan {
  /** Guest RAM in MiB, checked. */
  readonly ramMib: number;
}

const isFunction = (v: unknown): boolean => typeof v === 'function';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Throws naming the first field of `config` the build could not use; returns the plan otherwise. */
export function checkMachineConfig(config: MachineConfig): MachinePlan {
  const plan = checkSharedFields(config, ['onInterrupt', 'onDeviceInterrupt', 'log', 'onInternalError']);
  checkRmrr(config.rmrr);
  return plan;
}

/** As `checkMachineConfig` for an Arm machine; also builds its SMMUv3 profile (`profile`, narrowed by `smmu`). */
export function checkArmMachineConfig(config: ArmMachineConfig): MachinePlan & { readonly profile: SmmuProfile; readonly msiDoorbells?: readonly MsiDoorbell[] } {
  const plan = checkSharedFields(config, ['onInterrupt', 'onDeviceInterrupt', 'log']);
  const name: unknown = config.profile ?? 'default';
  if (typeof name !== 'string') throw new Error(`profile: ${String(name)} is not a profile name`);
  if (config.smmu !== undefined && !isObject(config.smmu as unknown)) throw new Error(`smmu: ${String(config.smmu)} is not an object of SMMU options`);
  const msiDoorbells = config.msiDoorbells === undefined ? undefined : checkDoorbells(config.msiDoorbells, 'msiDoorbells');
  return { ...plan, profile: createSmmuProfile(name, config.smmu), msiDoorbells };
}

/** The fields both machine configs have: callbacks, core, ramMib, backing, devices. */
function checkSharedFields<C extends MachineConfig | ArmMachineConfig>(config: C, callbacks: readonly (keyof C & string)[]): MachinePlan {
  if (!isObject(config as unknown)) throw new Error(`config: ${String(config)} is not a machine config object`);
  for (const name of callbacks) {
    if (config[name] !== undefined && !isFunction(config[name])) throw new Error(`${name}: ${String(config[name])} is not a function`);
  }
  const core = config.core as unknown;
  if (core !== undefined && !(isObject(core) && isFunction(core['addRam']) && isFunction(core['ramRegions']))) {
    throw new Error('core: not a Core (load one with loadCore / loadCoreFrom)');
  }
  const ramMib = config.ramMib ?? 256;
  if (!Number.isInteger(ramMib) || ramMib < MIN_RAM_MIB || ramMib > MAX_RAM_MIB) {
    throw new Error(`ramMib: ${String(ramMib)} is not an integer in ${MIN_RAM_MIB}..${MAX_RAM_MIB} (at most ${MAX_RAM_MIB} MiB fit beside the core's state in a wasm32 memory)`);
  }
  const backing = config.backing as unknown;
  if (backing !== undefined && !(isObject(backing) && isObject(backing['ram']) && isFunction(backing['portFor']))) {
    throw new Error('backing: expected { ram: GuestMemory, portFor(sid) }');
  }
  return { ramMib, ...planDevices(config.devices) };
}

/** Kinds, requester ids (unique, not the chipset's or a root port's), options, at most MAX_ROOT_PORTS buses. */
function planDevices(list: readonly DeviceConfig[] | undefined): { devices: PlannedDevice[]; buses: number[] } {
  if (list !== undefined && !Array.isArray(list)) throw new Error('devices: not an array');
  const devices = (list ?? []).map((d, i): PlannedDevice => {
    if (!isObject(d as unknown)) throw new Error(`devices[${i}]: not an object`);
    if (!isDeviceKind(d.kind)) throw new Error(`devices[${i}].kind: unknown device kind "${String(d.kind)}"`);
    const bits = d.dmaMaskBits;
    if (bits !== undefined && (!Number.isInteger(bits) || bits < 12 || bits > 64)) throw new Error(`devices[${i}].dmaMaskBits: ${String(bits)} is not an integer in 12..64`);
    return { d, sid: parseBdf(d.bdf, `devices[${i}].bdf`) };
  });
  const buses = [...new Set(devices.map((e) => e.sid >> 8).filter((b) => b > 0))].sort((a, b) => a - b);
  if (buses.length > MAX_ROOT_PORTS) throw new Error(`devices: ${buses.length} secondary buses, at most ${MAX_ROOT_PORTS} root ports`);
  const taken = new Set<number>(buses.map((_, k) => sidOf(0, ROOT_PORT_SLOT, k)));
  devices.forEach(({ sid }, i) => {
    const where = `devices[${i}].bdf`;
    if (sid >> 8 === 0 && RESERVED_SLOTS.includes((sid >> 3) & 0x1f)) throw new Error(`${where}: slot ${formatBdf(sid)} belongs to the chipset`);
    if (taken.has(sid)) throw new Error(`${where}: ${formatBdf(sid)} is already in use`);
    taken.add(sid);
  });
  return { devices, buses };
}

/** RMRR regions: 4 KiB-aligned [base, limit] and well-formed device BDFs (acpi/dmar.ts builds them later). */
function checkRmrr(list: MachineConfig['rmrr']): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) throw new Error('rmrr: not an array');
  list.forEach((r, i) => {
    const ok = isObject(r as unknown) && typeof r.base === 'bigint' && typeof r.limit === 'bigint' && r.base >= 0n
      && r.base % 0x1000n === 0n && (r.limit + 1n) % 0x1000n === 0n && r.limit > r.base && r.limit < 1n << 64n;
    if (!ok) throw new Error(`rmrr[${i}]: not a 4 KiB-aligned region { base, limit } of 64-bit addresses`);
    if (!Array.isArray(r.devices)) throw new Error(`rmrr[${i}].devices: not an array`);
    r.devices.forEach((d: string, j: number) => parseBdf(d, `rmrr[${i}].devices[${j}]`));
  });
}
