/**
 * `viommu info --smmu`: an SMMUv3 profile's ID registers decoded into the
 * spec's field names (IHI 0070 §6.3.1-§6.3.6), its switches away from the
 * spec (docs/SMMU-PROFILES.md) and its register table, as text or `--json`.
 * `--no-stage1`, `--no-stage2` and `--ssid-bits N` narrow the profile
 * (SmmuOptions).
 */
import { buildSmmuRegisters } from '../smmu/registers.js';
import { capsOf, createSmmuProfile, SPEC_SWITCHES, type SmmuOptions, type SmmuProfile } from '../smmu/profiles.js';
import { IDR0 } from '../smmu/spec/registers.js';
import { UsageError, type CliIo } from './command.js';

const hex = (v: bigint | number, pad = 0): string => `0x${v.toString(16).padStart(pad, '0')}`;

/** IDR0 flags worth showing (§6.3.1). */
const IDR0_FLAGS: [string, number][] = [
  ['S2P', IDR0.S2P], ['S1P', IDR0.S1P], ['COHACC', IDR0.COHACC], ['BTM', IDR0.BTM], ['HYP', IDR0.HYP], ['ATS', IDR0.ATS], ['NS1ATS', IDR0.NS1ATS],
  ['ASID16', IDR0.ASID16], ['MSI', IDR0.MSI], ['SEV', IDR0.SEV], ['ATOS', IDR0.ATOS], ['PRI', IDR0.PRI], ['VMID16', IDR0.VMID16],
  ['CD2L', IDR0.CD2L], ['TERM_MODEL', IDR0.TERM_MODEL],
];

/** The VT-d-only options `--smmu` refuses, by their commander names. */
export const VTD_ONLY_OPTIONS = ['legacy', 'scalable', 'aw', 'cm', 'firstStage', 'faultRecords', 'device'];

/** Everything `info --smmu` shows, as plain data (`--json` prints it as is). */
export function describeSmmuProfile(p: SmmuProfile): Record<string, unknown> {
  const c = capsOf(p);
  const departs = (Object.keys(SPEC_SWITCHES) as (keyof typeof SPEC_SWITCHES)[]).filter((k) => p.switches[k] !== SPEC_SWITCHES[k]);
  return {
    unit: 'smmuv3', profile: p.name, aidr: hex(p.aidr), iidr: hex(p.iidr), idr: p.idr.map((v) => hex(v >>> 0, 8)),
    idr0Flags: IDR0_FLAGS.filter(([, m]) => (p.idr[0] & m) !== 0).map(([n]) => n),
    streamTable: c.st2l ? 'linear and 2-level' : 'linear', sidBits: c.sidBits, ssidBits: c.ssidBits, cmdqLog2: c.cmdqLog2, evtqLog2: c.evtqLog2,
    ...(c.pri ? { priqLog2: c.priqLog2, pps: c.pps } : {}),
    oasBits: [32, 36, 40, 42, 44, 48, 52][c.oas], granules: c.granules.map((g) => `${1 << (g - 10)}K`), ril: c.ril,
    switches: Object.fromEntries(departs.map((k) => [k, p.switches[k]])),
    registers: buildSmmuRegisters(p).map((r) => ({ offset: hex(r.offset, 5), name: r.name, bits: r.width * 8, reset: hex(r.reset, 16), writable: hex(r.writable, 16) })),
  };
}

function printText(d: ReturnType<typeof describeSmmuProfile>, io: CliIo): void {
  io.out(`SMMUv3 profile ${String(d['profile'])}  AIDR ${String(d['aidr'])}  IIDR ${String(d['iidr'])}\n`);
  (d['idr'] as string[]).forEach((v, i) => io.out(`  IDR${i} ${v}\n`));
  io.out(`\nIDR0 flags ${(d['idr0Flags'] as string[]).join(' ')}\n`);
  const priq = d['priqLog2'] === undefined ? '' : `, PRIQS ${String(d['priqLog2'])} (PRI queue, STE.PPAR ${d['pps'] ? 'ignored: IDR3.PPS' : 'decides auto-response PASIDs'})`;
  io.out(`  stream table ${String(d['streamTable'])}, SIDSIZE ${String(d['sidBits'])}, SSIDSIZE ${String(d['ssidBits'])}, CMDQS ${String(d['cmdqLog2'])}, EVENTQS ${String(d['evtqLog2'])}${priq}\n`);
  io.out(`  OAS ${String(d['oasBits'])} bits, granules ${(d['granules'] as string[]).join(' ')}, RIL ${Number(d['ril'])}\n`);
  const sw = Object.entries(d['switches'] as object).map(([k, v]) => `${k}${typeof v === 'string' ? `=${v}` : ''}`);
  io.out(`switches away from the spec (docs/SMMU-PROFILES.md): ${sw.join(' ') || 'none'}\n\n`);
  io.out('registers\n  offset   name              width reset              writable\n');
  for (const r of d['registers'] as Record<string, string>[]) {
    io.out(`  ${r['offset']}  ${r['name']!.padEnd(17)} ${String(r['bits']).padEnd(5)} ${r['reset']} ${r['writable']}\n`);
  }
}

/** Runs `viommu info --smmu` with the parsed options; a bad combination is a UsageError naming the option. */
export function runSmmuInfo(opts: Record<string, unknown>, io: CliIo): number {
  const vtd = VTD_ONLY_OPTIONS.find((k) => opts[k] !== undefined);
  if (vtd) throw new UsageError(`--${vtd.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is a VT-d option; --smmu takes --profile, --no-stage1, --no-stage2, --ssid-bits`);
  const o: { -readonly [K in keyof SmmuOptions]?: SmmuOptions[K] } = {};
  if (opts['stage1'] === false) o.stage1 = false;
  if (opts['stage2'] === false) o.stage2 = false;
  if (opts['ssidBits'] !== undefined) o.ssidBits = opts['ssidBits'] as number;
  let p: SmmuProfile;
  try {
    p = createSmmuProfile(opts['profile'] as string, o);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const d = describeSmmuProfile(p);
  if (opts['json']) io.out(`${JSON.stringify(d, null, 2)}\n`);
  else printText(d, io);
  return 0;
}
