/**
 * Linux's intel-iommu driver over the model, checked end to end (issue 18):
 * boots the fixture in v86 with the unit attached, then asks the guest and
 * the model whether the driver found the unit, put the IDE controller in an
 * IOMMU group and behind the mode's translation, reads the disk by DMA with
 * the right data, writes and reads back, decodes a stray DMA's fault,
 * survives an unbind/bind of ata_piix and a switch of the device's domain
 * type (identity <-> DMA), and logs no model error; and times the whole-disk
 * read against the same boot without the IOMMU.
 */
import type { InvalidationKind } from '../../vtd/cache-invalidation.js';
import type { V86Iommu } from '../attach.js';
import { bootLinux, type LinuxFixture, type LinuxSession, type V86Class } from './boot.js';
import type { GuestConsole, TimeMark } from './guest-console.js';
import type { LinuxMode } from './modes.js';

/** What every run needs. */
export interface LinuxEnv {
  /** v86's `V86` class. */
  readonly V86: V86Class;
  /** Firmware, kernel, initramfs. */
  readonly fixture: LinuxFixture;
  /** The compiled core (build/viommu.wasm). */
  readonly core: WebAssembly.Module;
  /** Hex md5 of bytes (the guest checks data with busybox md5sum). */
  readonly md5: (bytes: Uint8Array) => string;
  /** Timed whole-disk reads per boot; the fastest counts. Default 5. */
  readonly reads?: number;
  /**
   * Passes over the whole disk in each timed read (caches dropped before
   * each; their times add up). More passes make a longer window, which a
   * loaded machine disturbs less. Default 1.
   */
  readonly passes?: number;
  /** Progress lines. */
  readonly progress?: (line: string) => void;
  /**
   * CPU time this process has used, in ms (Node: from `process.cpuUsage()`):
   * boots and timed reads then also report the host CPU they took, which a
   * loaded machine disturbs far less than wall-clock time.
   */
  readonly cpuMs?: () => number;
}

/** One check of a run. */
export interface LinuxCheck {
  /** Short name (`dmar-unit`, `md5`, `stray-dma`, ...). */
  readonly name: string;
  /** Passed. */
  readonly ok: boolean;
  /** What was seen. */
  readonly detail: string;
}

/** The outcome of one mode (`viommu linux --json` writes these as `runs`). */
export interface LinuxRun {
  /** The mode's name. */
  readonly name: string;
  /** Every check passed. */
  readonly ok: boolean;
  /** Fastest whole-disk read through the IOMMU, milliseconds (a timed read's passes averaged). */
  readonly readMs: number;
  /** The same read without the IOMMU (absent when no baseline was measured). */
  readonly baselineReadMs: number | undefined;
  /**
   * Host CPU time of the cheapest whole-disk read through the IOMMU, ms (with
   * `LinuxEnv.cpuMs`; a timed read's passes averaged): from the guest's mark
   * just before each `dd` to the one just after, as the console saw them arrive.
   */
  readonly readCpuMs: number | undefined;
  /** The same without the IOMMU. */
  readonly baselineReadCpuMs: number | undefined;
  /** Boot to the guest's command loop with the IOMMU, ms. */
  readonly bootMs: number;
  /** The same without the IOMMU (absent when no baseline was measured). */
  readonly baselineBootMs: number | undefined;
  /** Host CPU time of the boot with the IOMMU, ms (with `LinuxEnv.cpuMs`). */
  readonly bootCpuMs: number | undefined;
  /** The same without the IOMMU. */
  readonly baselineBootCpuMs: number | undefined;
  /** The kernel's lines about DMAR and the IOMMU (timestamps removed). */
  readonly dmarLines: readonly string[];
  /** Each check. */
  readonly checks: readonly LinuxCheck[];
  /** The model's counters at the end. */
  readonly stats: ReturnType<V86Iommu['stats']>;
  /** Model log lines (guest programming errors the unit noticed). */
  readonly modelLog: readonly string[];
}

/** Size of the test disk. */
export const DISK_BYTES = 8 << 20;
/** An IOVA Linux never maps for the IDE controller (its allocator works down from 4 GiB). */
export const STRAY_IOVA = 0x05a5_a000;
/** Where a pass-through DMA is compared with RAM: the kernel's load address (never zero bytes). */
export const PASS_THROUGH_PROBE = 0x100_0000;
/** Sectors the write check writes, and where. */
const RW = { sector: 4096, count: 64 } as const;

/** A deterministic test disk (xorshift32 bytes). */
export function makeDisk(bytes = DISK_BYTES): Uint8Array {
  const disk = new Uint8Array(bytes);
  let x = 0x2545f491;
  for (let i = 0; i < bytes; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    disk[i] = x; disk[i + 1] = x >>> 8; disk[i + 2] = x >>> 16; disk[i + 3] = x >>> 24;
  }
  return disk;
}

/**
 * Runs every check of `mode` on one boot with the IOMMU. With `compare`, a
 * boot without the IOMMU comes first and stays up, paused while the other
 * guest boots and runs its checks: the timed whole-disk reads alternate
 * between the two guests (the fastest of each counts), each timed while the
 * other is paused, so both see the same machine load and neither the other's
 * timer ticks.
 */
export async function runLinuxMode(mode: LinuxMode, env: LinuxEnv, compare = false): Promise<LinuxRun> {
  const baseline = compare ? await bootLinux({ V86: env.V86, fixture: env.fixture, disk: makeDisk(), cmdline: '', cpuMs: env.cpuMs }) : undefined;
  if (baseline) env.progress?.(`${mode.name}: baseline (no IOMMU) booted in ${baseline.bootMs.toFixed(0)} ms`);
  try {
    await baseline?.emulator.stop();
    return await checkedRun(mode, env, baseline);
  } finally {
    await baseline?.stop();
  }
}

async function checkedRun(mode: LinuxMode, env: LinuxEnv, baseline: LinuxSession | undefined): Promise<LinuxRun> {
  const disk = makeDisk();
  const s = await bootLinux({
    V86: env.V86, fixture: env.fixture, disk, cmdline: mode.cmdline, cpuMs: env.cpuMs,
    iommu: { core: env.core, profile: mode.profile, iommu: mode.iommu },
  });
  try {
    env.progress?.(`${mode.name}: booted in ${s.bootMs.toFixed(0)} ms`);
    const vtd = s.vtd!;
    const invalidations = countInvalidations(vtd);
    const checks: LinuxCheck[] = [];
    const check = (name: string, ok: boolean, detail: string): void => {
      checks.push({ name, ok, detail });
      env.progress?.(`${mode.name}: ${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
    };
    const dmarLines = await checkDriver(s.console, check);
    await checkData(s, disk, env, check);
    const programmed = await programmedTranslation(s.console);
    check('translation', programmed === mode.translation, `the driver programmed ${programmed} for 00:1e.0, mode expects ${mode.translation}`);
    const reads = await fastestReads(env, s, baseline);
    await checkStrayDma(s, mode, check);
    await checkRebind(s, disk, env, check);
    await checkDomainSwitch(s, mode, disk, env, check);
    check('invalidations', invalidationsFit(mode, invalidations), Object.entries(invalidations).map(([k, v]) => `${k} ${v}`).join(', ') || 'none');
    const log = vtd.iommu.unit.logLines;
    check('model-log', log.length === 0 && vtd.stats().ide.aborted === 0, `${log.length} model log lines, ${vtd.stats().ide.aborted} aborted IDE transfers`);
    return {
      name: mode.name, ok: checks.every((c) => c.ok), readMs: reads.ms[0]!, baselineReadMs: reads.ms[1],
      readCpuMs: reads.cpuMs[0], baselineReadCpuMs: reads.cpuMs[1],
      bootMs: s.bootMs, baselineBootMs: baseline?.bootMs, bootCpuMs: finite(s.bootCpuMs), baselineBootCpuMs: finite(baseline?.bootCpuMs),
      dmarLines, checks, stats: vtd.stats(), modelLog: [...log],
    };
  } finally {
    await s.stop();
  }
}

type Check = (name: string, ok: boolean, detail: string) => void;

/** The kernel found the unit, enabled queued invalidation and grouped the IDE controller. */
async function checkDriver(guest: GuestConsole, check: Check): Promise<string[]> {
  const a = await guest.run('dmar');
  const lines = a.lines.filter((l) => !l.startsWith('iommu-group')).map((l) => l.replace(/^\[\s*[\d.]+\]\s*/, ''));
  const has = (re: RegExp): string | undefined => lines.find((l) => re.test(l));
  const drhd = has(/DMAR: DRHD base: 0x0*fed90000 flags: 0x1/);
  check('dmar-unit', drhd !== undefined && has(/dmar0: reg_base_addr fed90000/) !== undefined, drhd ?? 'no DRHD line');
  check('queued-invalidation', has(/dmar0: Using Queued invalidation/) !== undefined, has(/Queued invalidation|Register based invalidation/) ?? 'no invalidation line');
  const ide = a.lines.find((l) => / 0000:00:1e\.0$/.test(l));
  check('iommu-group', ide !== undefined, ide ?? 'the IDE controller is in no IOMMU group');
  return lines;
}

/** The disk read by DMA matches the host's bytes; a write reads back and reaches the disk. */
async function checkData(s: LinuxSession, disk: Uint8Array, env: LinuxEnv, check: Check): Promise<void> {
  const want = env.md5(disk);
  const got = field(await s.console.run('md5'), '@@md5');
  check('md5', got === want, `guest ${got}, host ${want}`);
  const rw = await s.console.run(`rw ${RW.sector} ${RW.count}`);
  const written = field(rw, '@@rw-written');
  const read = field(rw, '@@rw-read');
  const onDisk = env.md5(disk.subarray(RW.sector * 512, (RW.sector + RW.count) * 512));
  check('write-readback', written !== '' && written === read && read === onDisk, `written ${written}, read back ${read}, disk ${onDisk}`);
}

/** A read from the IDE controller at an IOVA Linux never mapped: Linux decodes the fault (or pass-through reaches RAM). */
async function checkStrayDma(s: LinuxSession, mode: LinuxMode, check: Check): Promise<void> {
  const vtd = s.vtd!;
  const before = vtd.stats().core.faults;
  const bm = vtd.busMaster(vtd.ideRid ?? 0xf0);
  if (mode.strayFaultReason === undefined) {
    const value = bm.read32s(PASS_THROUGH_PROBE) >>> 0;
    const ram = new DataView(s.emulator.v86.cpu.wasm_memory.buffer).getUint32(vtd.ram[1]!.offset + PASS_THROUGH_PROBE - vtd.ram[1]!.gpa, true);
    check('stray-dma', vtd.stats().core.faults === before && value === ram && ram !== 0, `pass-through read at 0x${PASS_THROUGH_PROBE.toString(16)}: 0x${value.toString(16)}, RAM holds 0x${ram.toString(16)}`);
    return;
  }
  bm.read32s(STRAY_IOVA);
  const want = `[fault reason 0x${mode.strayFaultReason.toString(16).padStart(2, '0')}]`;
  let line: string | undefined;
  for (let i = 0; i < 20 && !line; i++) {
    line = (await s.console.run('faults')).lines.find((l) => l.includes(`fault addr 0x${STRAY_IOVA.toString(16)}`));
  }
  check('stray-dma', line?.includes(want) === true && line.includes('Request device [00:1e.0]'), line?.replace(/^\[\s*[\d.]+\]\s*/, '') ?? `Linux printed no fault for 0x${STRAY_IOVA.toString(16)}`);
}

/** Unbind and bind ata_piix, then read the whole disk again. */
async function checkRebind(s: LinuxSession, disk: Uint8Array, env: LinuxEnv, check: Check): Promise<void> {
  const a = await s.console.run('rebind');
  if (a.status !== 0) return check('rebind', false, `rebind failed: ${a.lines.join(' / ')}`);
  const md5 = await s.console.run('md5');
  const got = field(md5, '@@md5');
  check('rebind', got === env.md5(disk), got !== '' ? `md5 after bind ${got}` : `md5 after bind failed: ${md5.lines.join(' / ')}`);
}

/**
 * Switch the IDE controller's IOMMU group to the other kind of default domain
 * (a translated DMA domain <-> identity) and back (unbind, sysfs `type`,
 * bind): the driver rewrites the context or PASID entry each way; the data
 * must stay right and the entry must say what the group type says.
 */
async function checkDomainSwitch(s: LinuxSession, mode: LinuxMode, disk: Uint8Array, env: LinuxEnv, check: Check): Promise<void> {
  const want = env.md5(disk);
  const identity = mode.translation === 'pass-through';
  const there = await s.console.run(`retype ${identity ? 'DMA' : 'identity'}`);
  const original = field(there, '@@type-before');
  const thereProgrammed = await programmedTranslation(s.console);
  const thereMd5 = field(await s.console.run('md5'), '@@md5');
  const back = await s.console.run(`retype ${original}`);
  const backProgrammed = await programmedTranslation(s.console);
  const backMd5 = field(await s.console.run('md5'), '@@md5');
  const ok = there.status === 0 && back.status === 0 && thereMd5 === want && backMd5 === want
    && (identity ? thereProgrammed !== 'pass-through' : thereProgrammed === 'pass-through') && backProgrammed === mode.translation;
  check('domain-switch', ok, `${original} -> ${field(there, '@@type-after')} (${thereProgrammed}, md5 ${thereMd5 === want ? 'ok' : thereMd5}) -> ${field(back, '@@type-after')} (${backProgrammed}, md5 ${backMd5 === want ? 'ok' : backMd5})`);
}

/**
 * For each guest, the fastest of `env.reads` whole-disk reads (caches dropped
 * before each) in ms of the guest's clock and, with `env.cpuMs`, the least
 * host CPU between the guest's marks around its `dd`. The guests take turns,
 * each running alone (the others paused), so both see the same machine load;
 * the first guest runs again at the end, the others stay paused.
 */
async function fastestReads(env: LinuxEnv, ...guests: (LinuxSession | undefined)[]): Promise<{ ms: (number | undefined)[]; cpuMs: (number | undefined)[] }> {
  const ms = guests.map(() => Infinity);
  const cpu = guests.map(() => Infinity);
  const alone = async (g: LinuxSession): Promise<void> => {
    for (const o of guests) if (o && o !== g) await o.emulator.stop();
    await g.emulator.run();
  };
  const passes = env.passes ?? 1;
  for (const g of guests) {
    if (!g) continue;
    await alone(g);
    await g.console.run('read'); // untimed: both guests' JIT has seen the read path
  }
  for (let i = 0; i < (env.reads ?? 5); i++) {
    for (const [k, g] of guests.entries()) {
      if (!g) continue;
      await alone(g);
      const a = await g.console.run(`read ${passes}`);
      cpu[k] = Math.min(cpu[k]!, markedCpu(a.marks, 'read-start', 'read-end', passes) / passes);
      ms[k] = Math.min(ms[k]!, Number(field(a, '@@read-us')) / 1000 / passes);
    }
  }
  await alone(guests[0]!);
  if (ms.some((b, k) => guests[k] && !Number.isFinite(b))) throw new Error('guest: the read command reported no time');
  const present = (v: number[]): (number | undefined)[] => v.map((b, k) => (guests[k] ? finite(b) : undefined));
  return { ms: present(ms), cpuMs: present(cpu) };
}

/** Host CPU ms between each `start` mark and the `end` mark after it, summed; NaN unless there are `pairs` such pairs. */
function markedCpu(marks: readonly TimeMark[], start: string, end: string, pairs: number): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i + 1 < marks.length; i++) {
    if (marks[i]!.name === start && marks[i + 1]!.name === end) {
      sum += marks[i + 1]!.cpuMs - marks[i]!.cpuMs;
      n++;
    }
  }
  return n === pairs ? sum : NaN;
}

/** `v` when it is a finite number, else undefined (a clock that was not given). */
function finite(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

/** The first word after `key` on the answer's `key` line, '' when absent. */
function field(a: { lines: string[] }, key: string): string {
  const l = a.lines.find((x) => x.startsWith(`${key} `));
  return l ? l.slice(key.length + 1).trim().split(/\s+/)[0]! : '';
}

/** Counts the guest's invalidations by kind (InvalidationEvent), from now on. */
function countInvalidations(vtd: V86Iommu): Partial<Record<InvalidationKind, number>> {
  const counts: Partial<Record<InvalidationKind, number>> = {};
  vtd.iommu.unit.onInvalidate = (e) => { counts[e.kind] = (counts[e.kind] ?? 0) + 1; };
  return counts;
}

/** Scalable modes flush with PASID-based IOTLB invalidations; legacy ones with (domain or page) IOTLB ones. */
function invalidationsFit(mode: LinuxMode, counts: Partial<Record<InvalidationKind, number>>): boolean {
  const n = (...kinds: InvalidationKind[]): number => kinds.reduce((a, k) => a + (counts[k] ?? 0), 0);
  if (mode.translation === 'pass-through') return true;
  return mode.translation === 'first-stage' ? n('pasidIotlb', 'pasidIotlbPage') > 0 : n('iotlbDomain', 'iotlbPage', 'iotlbGlobal') > 0;
}

/**
 * What the driver programmed for the IDE controller's requests without
 * PASID, from its own account (debugfs `dmar_translation_struct`: per device
 * the root, context and present PASID-table entries): the legacy context
 * entry's TT (§9.3: 00 second stage, 10 pass-through) or the RID_PASID entry's
 * PGTT (§9.6: 001 first stage, 010 second stage, 100 pass-through).
 */
async function programmedTranslation(guest: GuestConsole): Promise<string> {
  const a = await guest.run('debugfs dmar_translation_struct');
  const row = a.lines.find((l) => l.startsWith('00:1e.0'));
  if (!row) return 'unknown (no entry for 00:1e.0)';
  const [, , ctx, pasid, entry] = row.split(/\s+/);
  if (pasid === '-1') {
    const tt = Number((BigInt(ctx!.split(':')[1]!) >> 2n) & 3n);
    return ({ 0: 'second-stage', 2: 'pass-through' } as Record<number, string>)[tt] ?? `TT ${tt}`;
  }
  const pgtt = Number((BigInt(entry!.split(':')[2]!) >> 6n) & 7n);
  return ({ 1: 'first-stage', 2: 'second-stage', 4: 'pass-through' } as Record<number, string>)[pgtt] ?? `PGTT ${pgtt}`;
}
