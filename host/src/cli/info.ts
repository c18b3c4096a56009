/**
 * `viommu info`: a profile's register layout and its CAP/ECAP decoded into
 * the spec's field names (VT-d §11.4.2, §11.4.3), as text or `--json`. The
 * unit is given by options (`--legacy`, `--aw`, ...) or, for the QEMU
 * profiles, by QEMU's own `-device intel-iommu,...` property string (`--device`).
 * With `--smmu`, an SMMUv3 profile's instead (info-smmu.ts).
 */
import { Option, type Command } from 'commander';
import { buildRegisterTable } from '../vtd/register-table.js';
import { createProfile, createProfileFromDevice, PROFILE_NAMES, type IommuOptions, type Profile } from '../vtd/profiles.js';
import { CAP, ECAP } from '../vtd/spec/registers.js';
import { UsageError, type CliCommand, type CliIo } from './command.js';
import { integerIn, oneOf } from './values.js';
import { runSmmuInfo } from './info-smmu.js';

const hex = (v: bigint | number, pad = 0): string => `0x${v.toString(16).padStart(pad, '0')}`;
const flag = (v: bigint, mask: bigint): number => Number((v & mask) !== 0n);

/** CAP fields worth showing, decoded. */
function capFields(cap: bigint): Record<string, string | number> {
  return {
    'ND (domains)': 2 ** (4 + 2 * Number(cap & 7n)), CM: flag(cap, CAP.CM), SAGAW: `0b${CAP.sagaw(cap).toString(2)}`,
    MGAW: CAP.mgaw(cap), FRO: hex(CAP.fro(cap) * 16), SSLPS: `0b${CAP.sslps(cap).toString(2)}`,
    'NFR+1 (fault records)': CAP.nfr(cap) + 1, MAMV: CAP.mamv(cap), DRD: flag(cap, CAP.DRD), DWD: flag(cap, CAP.DWD),
    FS1GP: flag(cap, CAP.FS1GP), FS5LP: flag(cap, CAP.FS5LP), ESRTPS: flag(cap, CAP.ESRTPS),
  };
}

const ECAP_FLAGS: [string, bigint][] = [
  ['C', ECAP.C], ['QI', ECAP.QI], ['DT', ECAP.DT], ['IR', ECAP.IR], ['EIM', ECAP.EIM], ['PT', ECAP.PT],
  ['SC', ECAP.SC], ['NEST', ECAP.NEST], ['PRS', ECAP.PRS], ['ERS', ECAP.ERS], ['SRS', ECAP.SRS],
  ['PASID', ECAP.PASID], ['PDS', ECAP.PDS], ['SMTS', ECAP.SMTS], ['SSTS', ECAP.SSTS],
  ['FSTS', ECAP.FSTS], ['SMPWCS', ECAP.SMPWCS], ['RPS', ECAP.RPS], ['VCS', ECAP.VCS],
];

/** Everything `info` shows, as plain data (`--json` prints it as is). */
export function describeProfile(p: Profile): Record<string, unknown> {
  return {
    profile: p.name, options: p.options, ver: hex(p.ver), cap: hex(p.cap, 16), ecap: hex(p.ecap, 16),
    capFields: capFields(p.cap),
    ecapFlags: ECAP_FLAGS.filter(([, m]) => (p.ecap & m) !== 0n).map(([n]) => n),
    iro: hex(ECAP.iro(p.ecap) * 16), pss: ECAP.pss(p.ecap), mhmv: Number((p.ecap >> ECAP.MHMV_SHIFT) & 0xfn),
    blockSize: hex(p.blockSize),
    registers: buildRegisterTable(p).map((r) => ({
      offset: hex(r.offset, 3), name: r.name, bits: r.width * 8, reset: hex(r.reset, 16), writable: hex(r.writable, 16), w1c: hex(r.w1c, 16),
    })),
  };
}

function printText(d: ReturnType<typeof describeProfile>, io: CliIo): void {
  io.out(`profile ${String(d['profile'])}  VER ${String(d['ver'])}  CAP ${String(d['cap'])}  ECAP ${String(d['ecap'])}\n`);
  io.out(`options ${JSON.stringify(d['options'])}\n\nCAP\n`);
  for (const [k, v] of Object.entries(d['capFields'] as object)) io.out(`  ${k.padEnd(24)} ${String(v)}\n`);
  io.out(`ECAP\n  flags ${(d['ecapFlags'] as string[]).join(' ')}\n  IRO ${String(d['iro'])}  PSS ${String(d['pss'])}  MHMV ${String(d['mhmv'])}\n\n`);
  io.out(`registers (block ${String(d['blockSize'])} bytes)\n`);
  io.out('  offset name       width reset              writable           w1c\n');
  for (const r of d['registers'] as Record<string, string>[]) {
    io.out(`  ${r['offset']}  ${r['name']!.padEnd(10)} ${String(r['bits']).padEnd(5)} ${r['reset']} ${r['writable']} ${r['w1c']}\n`);
  }
}

/** The options the flags ask for (only the flags given). */
function optionsOf(opts: Record<string, unknown>): Partial<IommuOptions> {
  const o: { -readonly [K in keyof IommuOptions]?: IommuOptions[K] } = {};
  if (opts['legacy']) o.scalableMode = false;
  if (opts['scalable']) o.scalableMode = true;
  if (opts['cm']) o.cachingMode = true;
  if (opts['firstStage']) o.firstStage = true;
  if (opts['aw'] !== undefined) o.awBits = opts['aw'] as IommuOptions['awBits'];
  if (opts['faultRecords'] !== undefined) o.faultRecords = opts['faultRecords'] as number;
  return o;
}

/** The `info` row of the command table. */
export const infoCommand: CliCommand = {
  name: 'info',
  summary: 'print a profile\'s registers and CAP/ECAP decoded (with --smmu: an SMMUv3 profile\'s IDRs)',
  define: (cmd: Command) => {
    const byOptions = ['legacy', 'scalable', 'aw', 'cm', 'firstStage', 'faultRecords'];
    cmd.addOption(new Option('--profile <name>', 'capability profile').argParser(oneOf(PROFILE_NAMES)).default('default'))
      .addOption(new Option('--legacy', 'no scalable mode (ECAP.SMTS clear)').conflicts('scalable'))
      .option('--scalable', 'scalable mode')
      .addOption(new Option('--aw <bits>', 'guest address width').argParser(oneOf([39, 48, 57] as const)))
      .option('--cm', 'caching mode (CAP.CM)')
      .option('--first-stage', 'first stage only (QEMU 10.0\'s x-flts; profile qemu-10.0)')
      .addOption(new Option('--fault-records <n>', 'fault recording registers (default profile)').argParser(integerIn(1, 14)))
      .addOption(new Option('--device <props>', 'the unit as QEMU\'s -device property string, e.g. intel-iommu,caching-mode=on,x-scalable-mode=on (profiles qemu-7.2, qemu-10.0)').conflicts(byOptions))
      .option('--json', 'print the description as JSON')
      .option('--smmu', 'an SMMUv3 profile instead (its IDRs, switches and registers)')
      .option('--no-stage1', 'with --smmu: no stage 1 (IDR0.S1P clear)')
      .option('--no-stage2', 'with --smmu: no stage 2 (IDR0.S2P, VMID16 clear)')
      .addOption(new Option('--ssid-bits <n>', 'with --smmu: SubstreamID bits (IDR1.SSIDSIZE)').argParser(integerIn(0, 20)));
  },
  run: async (_args, opts, io) => {
    if (opts['smmu']) return runSmmuInfo(opts, io);
    if (opts['stage1'] === false || opts['stage2'] === false || opts['ssidBits'] !== undefined) {
      throw new UsageError('--no-stage1, --no-stage2 and --ssid-bits need --smmu');
    }
    let p: Profile;
    try {
      const name = opts['profile'] as string;
      p = opts['device'] !== undefined ? createProfileFromDevice(name, opts['device'] as string) : createProfile(name, optionsOf(opts));
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const d = describeProfile(p);
    if (opts['json']) io.out(`${JSON.stringify(d, null, 2)}\n`);
    else printText(d, io);
    return 0;
  },
};
