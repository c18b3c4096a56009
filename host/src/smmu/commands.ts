/**
 * The command queue's commands (IHI 0070 chapter 4) as a table of rows:
 * opcode, name, whether the unit supports it, and a handler that applies
 * it and returns a CERROR (§4.7.3; 0 = done). The dispatcher in the unit
 * stops the queue at the first error (SMMU_CMDQ_CONS.ERR, GERROR.CMDQ_ERR).
 */
import { get, getAddr, type Words } from './spec/bits.js';
import { CMD, OP } from './spec/commands.js';
import { CERROR } from './spec/registers.js';
import type { SmmuCaps } from './profiles.js';
import type { Gpa, Iova, Pasid, Sid } from '../types.js';

/** What command handlers act on (the unit provides it). */
export interface CommandTarget {
  /** Drops cached STEs (and their CDs) of stream ids first..last. */
  invalidateSte(first: number, last: number): void;
  /** Drops the cached CD of (sid, ssid), or every CD of `sid` (ssid undefined). */
  invalidateCd(sid: Sid, ssid: Pasid | undefined): void;
  /** The core's invalidation primitives (docs/ABI.md), with the SMMU's tags: VMID = domain, ASID = PASID. */
  readonly inv: {
    invIotlbGlobal(): void;
    invIotlbDomain(did: number): void;
    invIotlbPage(did: number, addr: bigint, am: number, ih: number): void;
    invPasidIotlb(did: number, pasid: number): void;
    invPasidIotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: number): void;
    /** Stage-1 entries of `did` for 2^am pages from `addr`, every ASID (TLBI_NH_VAA). */
    invAnyAsidPage(did: number, addr: bigint, am: number, leaf: boolean): void;
  };
  /** CMD_SYNC completion: MSI write (CS=IRQ with an address), interrupt, or SEV. */
  sync(cs: number, msiAddr: Gpa, msiData: number): void;
  /** ATC invalidation to the device `sid` (ATS); false if it timed out. */
  atcInvalidate(sid: Sid, ssid: Pasid | undefined, addr: Iova, sizeLg2: number, global: boolean): boolean;
}

/** One command row. */
export interface CommandRow {
  readonly op: number;
  readonly name: string;
  /** Whether the unit implements it (else CERROR_ILL, or ignored under the QEMU switch). */
  readonly supported: (c: SmmuCaps) => boolean;
  readonly run: (t: CommandTarget, w: Words, c: SmmuCaps) => number;
}

const always = (): boolean => true;
const s2 = (c: SmmuCaps): boolean => c.s2;
const vmidOf = (w: Words, c: SmmuCaps): number => c.s2 ? get(w, CMD.VMID) : 0;

/**
 * The 2^am-page blocks of a TLBI address range (§4.4.1: without TG, one
 * page; with TG and RIL, (NUM+1) * 2^SCALE translation granules).
 */
export function tlbiBlocks(w: Words, c: SmmuCaps): { addr: bigint; am: number }[] {
  const addr = getAddr(w, CMD.Address);
  const tg = get(w, CMD.TG);
  if (tg === 0 || !c.ril) return [{ addr: addr & ~0xfffn, am: 0 }];
  const granLg2 = [0, 12, 14, 16][tg]!;
  let pages = BigInt(get(w, CMD.NUM) + 1) << BigInt(get(w, CMD.SCALE));
  let a = addr & ~((1n << BigInt(granLg2)) - 1n);
  const out: { addr: bigint; am: number }[] = [];
  while (pages > 0n && out.length < 64) {
    // The largest aligned power-of-two block at `a` inside what is left.
    let lg = 0;
    while (lg < 52 - granLg2 && (1n << BigInt(lg + 1)) <= pages && (a & ((1n << BigInt(granLg2 + lg + 1)) - 1n)) === 0n) lg++;
    out.push({ addr: a, am: lg + granLg2 - 12 });
    a += 1n << BigInt(granLg2 + lg);
    pages -= 1n << BigInt(lg);
  }
  if (pages > 0n) return [{ addr: 0n, am: 52 }]; // too many pieces: the whole space (over-invalidation)
  return out;
}

const ssidOf = (w: Words): number | undefined => get(w, CMD.SSV) ? get(w, CMD.SSID) : undefined;

/** Every command the unit knows. */
export const COMMANDS: readonly CommandRow[] = [
  { op: OP.PREFETCH_CONFIG, name: 'PREFETCH_CONFIG', supported: always, run: () => CERROR.NONE },
  { op: OP.PREFETCH_ADDR, name: 'PREFETCH_ADDR', supported: always, run: () => CERROR.NONE },
  {
    op: OP.CFGI_STE, name: 'CFGI_STE', supported: always,
    run: (t, w) => { const sid = get(w, CMD.SID); t.invalidateSte(sid, sid); return CERROR.NONE; },
  },
  {
    op: OP.CFGI_STE_RANGE, name: 'CFGI_STE_RANGE', supported: always,
    run: (t, w) => {
      const n = 2 ** (get(w, CMD.Range) + 1);
      const first = Math.floor(get(w, CMD.SID) / n) * n;
      t.invalidateSte(first, first + n - 1);
      return CERROR.NONE;
    },
  },
  { op: OP.CFGI_CD, name: 'CFGI_CD', supported: always, run: (t, w) => { t.invalidateCd(get(w, CMD.SID), get(w, CMD.SSID)); return CERROR.NONE; } },
  { op: OP.CFGI_CD_ALL, name: 'CFGI_CD_ALL', supported: always, run: (t, w) => { t.invalidateCd(get(w, CMD.SID), undefined); return CERROR.NONE; } },
  // TLB invalidation (§4.4): VMID is the core's domain tag, ASID its PASID tag.
  { op: OP.TLBI_NH_ALL, name: 'TLBI_NH_ALL', supported: always, run: (t, w, c) => { t.inv.invIotlbDomain(vmidOf(w, c)); return CERROR.NONE; } },
  { op: OP.TLBI_NH_ASID, name: 'TLBI_NH_ASID', supported: always, run: (t, w, c) => { t.inv.invPasidIotlb(vmidOf(w, c), get(w, CMD.ASID)); return CERROR.NONE; } },
  {
    op: OP.TLBI_NH_VA, name: 'TLBI_NH_VA', supported: always,
    run: (t, w, c) => {
      for (const b of tlbiBlocks(w, c)) t.inv.invPasidIotlbPage(vmidOf(w, c), get(w, CMD.ASID), b.addr, b.am, get(w, CMD.Leaf));
      return CERROR.NONE;
    },
  },
  {
    op: OP.TLBI_NH_VAA, name: 'TLBI_NH_VAA', supported: always,
    run: (t, w, c) => {
      for (const b of tlbiBlocks(w, c)) t.inv.invAnyAsidPage(vmidOf(w, c), b.addr, b.am, get(w, CMD.Leaf) !== 0);
      return CERROR.NONE;
    },
  },
  { op: OP.TLBI_S12_VMALL, name: 'TLBI_S12_VMALL', supported: s2, run: (t, w, c) => { t.inv.invIotlbDomain(vmidOf(w, c)); return CERROR.NONE; } },
  {
    // Stage-2-only entries of the IPA range (combined S1+S2 entries need TLBI_NH_* / S12_VMALL, §4.4.x).
    op: OP.TLBI_S2_IPA, name: 'TLBI_S2_IPA', supported: s2,
    run: (t, w, c) => { for (const b of tlbiBlocks(w, c)) t.inv.invIotlbPage(vmidOf(w, c), b.addr, b.am, get(w, CMD.Leaf)); return CERROR.NONE; },
  },
  { op: OP.TLBI_NSNH_ALL, name: 'TLBI_NSNH_ALL', supported: always, run: (t) => { t.inv.invIotlbGlobal(); return CERROR.NONE; } },
  {
    op: OP.ATC_INV, name: 'ATC_INV', supported: (c) => c.ats,
    run: (t, w) => t.atcInvalidate(get(w, CMD.SID), ssidOf(w), getAddr(w, CMD.Address), get(w, CMD.ATC_Size) + 12, get(w, CMD.ATC_G) !== 0)
      ? CERROR.NONE : CERROR.ATC_INV_SYNC,
  },
  { op: OP.PRI_RESP, name: 'PRI_RESP', supported: (c) => c.pri, run: () => CERROR.NONE },
  {
    op: OP.CMD_SYNC, name: 'CMD_SYNC', supported: always,
    run: (t, w) => {
      const cs = get(w, CMD.CS);
      if (cs === 3) return CERROR.ILL;
      t.sync(cs, getAddr(w, CMD.MSIAddress), get(w, CMD.MSIData));
      return CERROR.NONE;
    },
  },
  ...([['TLBI_EL3_ALL', OP.TLBI_EL3_ALL], ['TLBI_EL3_VA', OP.TLBI_EL3_VA], ['TLBI_EL2_ALL', OP.TLBI_EL2_ALL], ['TLBI_EL2_ASID', OP.TLBI_EL2_ASID],
    ['TLBI_EL2_VA', OP.TLBI_EL2_VA], ['TLBI_EL2_VAA', OP.TLBI_EL2_VAA], ['RESUME', OP.RESUME], ['STALL_TERM', OP.STALL_TERM]] as const)
    .map(([name, op]): CommandRow => ({ op, name, supported: () => false, run: () => CERROR.ILL })),
];

/** Command rows by opcode. */
export const COMMAND_BY_OP: ReadonlyMap<number, CommandRow> = new Map(COMMANDS.map((r) => [r.op, r]));
