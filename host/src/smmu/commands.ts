/**
 * The command queue's commands (IHI 0070 chapter 4) as a table of rows:
 * opcode, name, whether the unit supports it, and a handler that applies
 * it and returns a CERROR (§4.7.3; 0 = done). The dispatcher in the unit
 * stops the queue at the first error (SMMU_CMDQ_CONS.ERR, GERROR.CMDQ_ERR).
 * Handlers work on numbers: fields of the command's u32 halves, addresses
 * as (hi, lo) u32 halves or, below 2^53, as a double.
 */
import { get32 as get, getAddr } from './spec/bits.js';
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
  /**
   * The core's invalidation primitives (docs/ABI.md), with the SMMU's tags:
   * VMID = domain, ASID = PASID; addresses as u32 halves `hi`:`lo`, 2^am
   * pages of 4 KiB; `ih` / `leaf` 1 keeps the walk caches.
   */
  readonly inv: {
    invIotlbGlobal(): void;
    invIotlbDomain(did: number): void;
    invIotlbPage(did: number, hi: number, lo: number, am: number, ih: number): void;
    invPasidIotlb(did: number, pasid: number): void;
    invPasidIotlbPage(did: number, pasid: number, hi: number, lo: number, am: number, ih: number): void;
    /** Stage-1 entries of `did` for 2^am pages from `hi:lo`, every ASID (TLBI_NH_VAA). */
    invAnyAsidPage(did: number, hi: number, lo: number, am: number, leaf: number): void;
  };
  /** CMD_SYNC completion: MSI write (CS=IRQ with an address below 2^52), interrupt, or SEV. */
  sync(cs: number, msiAddr: Gpa<number>, msiData: number): void;
  /** At a CMD_SYNC: whether an ATC invalidation since the last one did not complete (§3.9.1.4; reported once). */
  atcSyncFailed(): boolean;
  /** An ATS Invalidate Request to the device `sid` of 2^sizeLg2 bytes at `addr` (aligned); its outcome is the next CMD_SYNC's. */
  atcInvalidate(sid: Sid, ssid: Pasid | undefined, addr: Iova, sizeLg2: number, global: boolean): void;
  /** The PRG Response of CMD_PRI_RESP to the device `sid` (priq.ts); false for the ILLEGAL Resp 0b11. */
  priResponse(sid: Sid, ssid: Pasid | undefined, prgi: number, resp: number): boolean;
}

/** One command row. */
export interface CommandRow {
  readonly op: number;
  readonly name: string;
  /** Whether the unit implements it (else CERROR_ILL, or ignored under the QEMU switch). */
  readonly supported: (c: SmmuCaps) => boolean;
  readonly run: (t: CommandTarget, w: Uint32Array, c: SmmuCaps) => number;
}

const always = (): boolean => true;
const s2 = (c: SmmuCaps): boolean => c.s2;
const vmidOf = (w: Uint32Array, c: SmmuCaps): number => c.s2 ? get(w, CMD.VMID) : 0;

/** Most blocks one range command is split into before it becomes a whole-space invalidation. */
const MAX_BLOCKS = 64;
const TWO_20 = 2 ** 20;

/**
 * The 2^am-page blocks (pages of 4 KiB) of a TLBI address range, each
 * handed to `each` as the block's address in u32 halves and its am (§4.4.1:
 * without TG, or without SMMU_IDR3.RIL, one page; with TG and RIL, (NUM+1)
 * * 2^SCALE translation granules from the address aligned down to the
 * granule). Counted in pages (the address / 2^12 is below 2^52: exact in a
 * double), no BigInt; a range ends at 2^64 (no wrap to address 0), and
 * one of more than 64 aligned blocks becomes one invalidation of the whole
 * space (over-invalidation is allowed).
 */
export function tlbiBlocks(w: Uint32Array, c: SmmuCaps, each: (hi: number, lo: number, am: number) => void): void {
  const page = get(w, CMD.AddrHi) * TWO_20 + get(w, CMD.AddrLo);
  const tg = get(w, CMD.TG);
  if (tg === 0 || !c.ril) { emitBlock(page, 0, each); return; }
  const g = 2 * (tg - 1); // log2 of 4 KiB pages per granule: 4K 0, 16K 2, 64K 4
  const maxLg = 40 - g; // blocks up to 2^52 bytes
  let left = (get(w, CMD.NUM) + 1) * 2 ** get(w, CMD.SCALE);
  let a = Math.floor(page / 2 ** g); // in granules
  const end = 2 ** (52 - g); // granules in the 64-bit space: a range runs out there (addresses do not wrap)
  const blocks: number[] = [];
  while (left > 0 && a < end && blocks.length < 2 * MAX_BLOCKS) {
    // The largest aligned power-of-two block at `a` inside what is left.
    let lg = 0;
    while (lg < maxLg && 2 ** (lg + 1) <= left && a % 2 ** (lg + 1) === 0) lg++;
    blocks.push(a * 2 ** g, lg + g);
    a += 2 ** lg;
    left -= 2 ** lg;
  }
  if (left > 0 && a < end) { emitBlock(0, 52, each); return; } // too many pieces: the whole space
  for (let i = 0; i < blocks.length; i += 2) emitBlock(blocks[i]!, blocks[i + 1]!, each);
}

/** One block at 4 KiB page number `page` (below 2^52) as u32 address halves. */
function emitBlock(page: number, am: number, each: (hi: number, lo: number, am: number) => void): void {
  each(Math.floor(page / TWO_20), ((page % TWO_20) * 0x1000) >>> 0, am);
}

const ssidOf = (w: Uint32Array): number | undefined => get(w, CMD.SSV) ? get(w, CMD.SSID) : undefined;

/** CMD_ATC_INV Size of a 2^64-byte span: invalidate everything (§4.5.1). */
export const ATC_SIZE_ALL = 52;

/**
 * CMD_ATC_INV (§4.5.1): 4 KiB * 2^Size bytes at Address, aligned down to the
 * span; Size above 52 is CERROR_ILL (the spec allows it). Global only with
 * SSV = 1. Without substreams (SMMU_IDR1.SSIDSIZE = 0) SSV = 1 acts as SSV
 * = 0 (one of the CONSTRAINED UNPREDICTABLE choices).
 */
function atcInv(t: CommandTarget, w: Uint32Array, c: SmmuCaps): number {
  const size = get(w, CMD.ATC_Size);
  if (size > ATC_SIZE_ALL) return CERROR.ILL;
  const lg2 = size + 12;
  const addr = getAddr(w, CMD.Address) & ~((1n << BigInt(lg2)) - 1n);
  const ssid = c.ssidBits === 0 ? undefined : ssidOf(w);
  t.atcInvalidate(get(w, CMD.SID), ssid, addr, lg2, ssid !== undefined && get(w, CMD.ATC_G) !== 0);
  return CERROR.NONE;
}

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
      const vmid = vmidOf(w, c);
      const asid = get(w, CMD.ASID);
      const leaf = get(w, CMD.Leaf);
      tlbiBlocks(w, c, (hi, lo, am) => t.inv.invPasidIotlbPage(vmid, asid, hi, lo, am, leaf));
      return CERROR.NONE;
    },
  },
  {
    op: OP.TLBI_NH_VAA, name: 'TLBI_NH_VAA', supported: always,
    run: (t, w, c) => {
      const vmid = vmidOf(w, c);
      const leaf = get(w, CMD.Leaf);
      tlbiBlocks(w, c, (hi, lo, am) => t.inv.invAnyAsidPage(vmid, hi, lo, am, leaf));
      return CERROR.NONE;
    },
  },
  { op: OP.TLBI_S12_VMALL, name: 'TLBI_S12_VMALL', supported: s2, run: (t, w, c) => { t.inv.invIotlbDomain(vmidOf(w, c)); return CERROR.NONE; } },
  {
    // Stage-2-only entries of the IPA range (§4.4, as the Arm ARM's TLBI IPAS2*): Leaf = 0 also drops the walk
    // caches of the range (the stage-2 translations of stage-1 table IPAs included); TTL is a hint, not needed
    // when every level is dropped. Entries combining stage 1 and stage 2 need not go: software follows with
    // TLBI_NH_ALL of the VMID (Linux does) or TLBI_S12_VMALL (firmware-tests/cases/smmu/tlbi-stage2.test.ts).
    op: OP.TLBI_S2_IPA, name: 'TLBI_S2_IPA', supported: s2,
    run: (t, w, c) => {
      const vmid = vmidOf(w, c);
      const leaf = get(w, CMD.Leaf);
      tlbiBlocks(w, c, (hi, lo, am) => t.inv.invIotlbPage(vmid, hi, lo, am, leaf));
      return CERROR.NONE;
    },
  },
  { op: OP.TLBI_NSNH_ALL, name: 'TLBI_NSNH_ALL', supported: always, run: (t) => { t.inv.invIotlbGlobal(); return CERROR.NONE; } },
  { op: OP.ATC_INV, name: 'ATC_INV', supported: (c) => c.ats, run: atcInv },
  {
    op: OP.PRI_RESP, name: 'PRI_RESP', supported: (c) => c.pri,
    run: (t, w) => t.priResponse(get(w, CMD.SID), ssidOf(w), get(w, CMD.PRGI), get(w, CMD.Resp)) ? CERROR.NONE : CERROR.ILL,
  },
  {
    op: OP.CMD_SYNC, name: 'CMD_SYNC', supported: always,
    run: (t, w) => {
      const cs = get(w, CMD.CS);
      if (cs === 3) return CERROR.ILL;
      // §3.9.1.4: a failed ATC invalidation before it stops the queue here, and the CMD_SYNC does not complete.
      if (t.atcSyncFailed()) return CERROR.ATC_INV_SYNC;
      t.sync(cs, get(w, CMD.MSIAddress) * 4, get(w, CMD.MSIData));
      return CERROR.NONE;
    },
  },
  ...([['TLBI_EL3_ALL', OP.TLBI_EL3_ALL], ['TLBI_EL3_VA', OP.TLBI_EL3_VA], ['TLBI_EL2_ALL', OP.TLBI_EL2_ALL], ['TLBI_EL2_ASID', OP.TLBI_EL2_ASID],
    ['TLBI_EL2_VA', OP.TLBI_EL2_VA], ['TLBI_EL2_VAA', OP.TLBI_EL2_VAA], ['RESUME', OP.RESUME], ['STALL_TERM', OP.STALL_TERM]] as const)
    .map(([name, op]): CommandRow => ({ op, name, supported: () => false, run: () => CERROR.ILL })),
];

/** Command rows by opcode (an array of 256: no hashing per command). */
export const COMMAND_BY_OP: readonly (CommandRow | undefined)[] = Array.from({ length: 256 }, (_, op) => COMMANDS.find((r) => r.op === op));
