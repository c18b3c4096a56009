/**
 * Whole-machine snapshot of an Arm machine (arm-machine.ts), in the same
 * versioned, checksummed format as the VT-d machine's (format.ts): the
 * config key (config-key.ts `armConfigKey`), guest RAM, the SMMUv3's state
 * (SMMU: every register's raw value by name and the lost-event count;
 * caches are not saved, SmmuUnit.loadState starts them empty), the ECAM
 * latch and every device; the shared sections are machine-snapshot.ts's.
 *
 * Restore is all or nothing, as for VT-d: checksum first, then every
 * section read and checked against the machine without changing anything
 * (config, RAM layout, SMMU registers against the profile, every device's
 * state); only then is anything applied. VMM-backed machines are refused.
 */
import type { ArmMachine } from '../arm-machine.js';
import type { SmmuUnitState } from '../smmu/smmu-unit.js';
import { armConfigKey, checkConfigKey } from './config-key.js';
import { writeSnapshot, type ByteReader, type ByteWriter } from './format.js';
import { openSnapshot, prepareDevices, prepareRam, refuseBacked, writeDevices, writeRam } from './machine-snapshot.js';

/** The sections an Arm snapshot has, in order. */
const SECTIONS = ['CONF', 'RAM ', 'SMMU', 'PCI ', 'DEVS'] as const;

/** Serialises the whole Arm machine. */
export function snapshotArmMachine(m: ArmMachine): Uint8Array {
  refuseBacked(m, 'snapshotted');
  return writeSnapshot([
    ['CONF', (w) => w.text(armConfigKey(m))],
    ['RAM ', (w) => writeRam(w, m)],
    ['SMMU', (w) => writeSmmuState(w, m.smmu.saveState())],
    ['PCI ', (w) => w.u32(m.configAccess.latch())],
    ['DEVS', (w) => writeDevices(w, m)],
  ]);
}

/** Restores `bytes` into `m` (built from an equal config); throws an Error naming what does not fit, having changed nothing. */
export function restoreArmMachine(m: ArmMachine, bytes: Uint8Array): void {
  refuseBacked(m, 'restored');
  const { read } = openSnapshot(bytes, SECTIONS);
  read('CONF', (r) => checkConfigKey(r.text(), armConfigKey(m)));
  const ram = read('RAM ', (r) => prepareRam(m, r));
  const smmu = read('SMMU', readSmmuState);
  const latch = read('PCI ', (r) => r.u32());
  const devices = read('DEVS', (r) => prepareDevices(m, r));
  try {
    m.smmu.loadState(smmu); // checks all of the unit's state before changing any of it
  } catch (e) {
    throw new Error(`snapshot: SMMU ${(e as Error).message}`);
  }
  ram();
  m.configAccess.setLatch(latch);
  for (const apply of devices) apply();
}

/** The SMMU section: register count, then name and raw value of each; the lost-event count. */
function writeSmmuState(w: ByteWriter, s: SmmuUnitState): void {
  const regs = Object.entries(s.registers);
  w.u32(regs.length);
  for (const [name, v] of regs) w.text(name).u64(v);
  w.u64(BigInt(s.eventsLost));
}

/** Reads what `writeSmmuState` wrote (checked when it is loaded). */
function readSmmuState(r: ByteReader): SmmuUnitState {
  const registers: Record<string, bigint> = {};
  for (let n = r.u32(), i = 0; i < n; i++) {
    const name = r.text();
    if (Object.hasOwn(registers, name)) throw new Error(`snapshot: SMMU register ${name} appears twice`);
    registers[name] = r.u64();
  }
  const lost = r.u64();
  if (lost > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`snapshot: SMMU lost-event count ${lost} is not a count`);
  return { registers, eventsLost: Number(lost) };
}
