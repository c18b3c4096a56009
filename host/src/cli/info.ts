/**
 * `viommu info`: a profile's register layout and its CAP/ECAP decoded into
 * the spec's field names (§11.4.2, §11.4.3).
 */
import { buildRegisterTable } from '../vtd/register-table.js';
import { createProfile, type IommuOptions } from '../vtd/profiles.js';
import { CAP, ECAP } from '../vtd/spec/registers.js';
import type { CliIo } from './main.js';

const hex = (v: bigint | number, pad = 0): string => `0x${v.toString(16).padStart(pad, '0')}`;

/** CAP fields worth showing, decoded. */
function capFields(cap: bigint): [string, string][] {
  return [
    ['ND (domains)', String(2 ** (4 + 2 * Number(cap & 7n)))],
    ['CM', String(Number((cap & CAP.CM) !== 0n))],
    ['SAGAW', `0b${CAP.sagaw(cap).toString(2)}`],
    ['MGAW', String(CAP.mgaw(cap))],
    ['FRO', hex(CAP.fro(cap) * 16)],
    ['SLLPS', `0b${CAP.sllps(cap).toString(2)}`],
    ['NFR+1 (fault records)', String(CAP.nfr(cap) + 1)],
    ['MAMV', String(CAP.mamv(cap))],
    ['FS1GP', String(Number((cap & CAP.FS1GP) !== 0n))],
    ['FS5LP', String(Number((cap & CAP.FS5LP) !== 0n))],
    ['ESRTPS', String(Number((cap & CAP.ESRTPS) !== 0n))],
  ];
}

const ECAP_FLAGS: [string, bigint][] = [
  ['C', ECAP.C], ['QI', ECAP.QI], ['DT', ECAP.DT], ['IR', ECAP.IR], ['EIM', ECAP.EIM], ['PT', ECAP.PT],
  ['SC', ECAP.SC], ['NEST', ECAP.NEST], ['PRS', ECAP.PRS], ['ERS', ECAP.ERS], ['SRS', ECAP.SRS],
  ['PASID', ECAP.PASID], ['PDS', ECAP.PDS], ['SMTS', ECAP.SMTS], ['SLTS', ECAP.SLTS],
  ['FLTS', ECAP.FLTS], ['SMPWCS', ECAP.SMPWCS], ['RPS', ECAP.RPS],
];

function parseOptions(args: string[]): { profile: string; options: Partial<IommuOptions> } {
  const o: { -readonly [K in keyof IommuOptions]?: IommuOptions[K] } = {};
  let profile = 'default';
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--profile') profile = args[++i] ?? '';
    else if (a === '--legacy') o.scalableMode = false;
    else if (a === '--scalable') o.scalableMode = true;
    else if (a === '--cm') o.cachingMode = true;
    else if (a === '--first-stage') o.firstStage = true;
    else if (a === '--aw') o.awBits = Number(args[++i]) as IommuOptions['awBits'];
    else throw new Error(`unknown argument "${a}"`);
  }
  return { profile, options: o };
}

/** Runs `viommu info`. */
export async function runInfo(args: string[], io: CliIo): Promise<number> {
  let p;
  try {
    const { profile, options } = parseOptions(args);
    p = createProfile(profile, options);
  } catch (err) {
    io.err(`viommu info: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  io.out(`profile ${p.name}  VER ${hex(p.ver)}  CAP ${hex(p.cap, 16)}  ECAP ${hex(p.ecap, 16)}\n`);
  io.out(`options ${JSON.stringify(p.options)}\n\nCAP\n`);
  for (const [k, v] of capFields(p.cap)) io.out(`  ${k.padEnd(24)} ${v}\n`);
  const flags = ECAP_FLAGS.filter(([, m]) => (p.ecap & m) !== 0n).map(([n]) => n);
  io.out(`ECAP\n  flags ${flags.join(' ')}\n  IRO ${hex(ECAP.iro(p.ecap) * 16)}  PSS ${ECAP.pss(p.ecap)}\n\n`);
  io.out(`registers (block ${hex(p.blockSize)} bytes)\n`);
  io.out('  offset name       width reset              writable           w1c\n');
  for (const r of buildRegisterTable(p)) {
    io.out(`  ${hex(r.offset, 3)}  ${r.name.padEnd(10)} ${String(r.width * 8).padEnd(5)} `
      + `${hex(r.reset, 16)} ${hex(r.writable, 16)} ${hex(r.w1c, 16)}\n`);
  }
  return 0;
}
