/**
 * An independent, deliberately partial reading of what an SMMUv3 must do
 * with one request (IHI 0070): the stream table entry (§5.2), the context
 * descriptor (§5.4) and an AArch64 stage-1 walk with the 4 KiB granule
 * (Arm ARM D8, as §3.4 / §5.4 use it), read straight from guest RAM with
 * its own bit positions (not the model's decoders or the core's walker).
 *
 * It answers only where the spec leaves no choice, and `unknown` anywhere
 * else (2-level stream tables and CD tables, stage 2 and nesting, 16K/64K
 * granules, TTB1 and top-byte-ignore addresses, output addresses above 48
 * bits, AArch32 CDs): `fault` means no implementation may complete the
 * request (it must abort or fault), `map` gives the only physical address
 * it may reach and whether a write is allowed. A reserved field the
 * reference does not check can only make the SMMU fault more, so a request
 * the SMMU completes while the reference says `fault`, or completes at
 * another address or with a write the tables withhold, is a bug.
 */
import type { GuestMemory } from '../../host/src/core/guest-memory.js';

/** What the tables allow for one 4 KiB piece of a request. */
export type RefAnswer =
  | { readonly kind: 'unknown'; readonly why: string }
  | { readonly kind: 'fault'; readonly why: string }
  | { readonly kind: 'map'; readonly pa: bigint; readonly write: boolean };

/** The SMMU state the answer depends on (register values as the guest reads them). */
export interface RefRegs {
  /** SMMU_CR0ACK. */
  readonly cr0ack: number;
  /** SMMU_GBPA. */
  readonly gbpa: number;
  /** SMMU_STRTAB_BASE, low and high dword. */
  readonly strtabBaseLo: number;
  readonly strtabBaseHi: number;
  readonly strtabCfg: number;
  /** SMMU_IDR1 (SIDSIZE 5:0). */
  readonly idr1: number;
}

/**
 * Where the profile departs from the spec in what the reference reads
 * (SmmuSwitches of host/src/smmu/profiles.ts, QEMU's behaviour on the
 * qemu-* profiles): there the reference answers as the profile allows.
 */
export interface RefQuirks {
  /** The walk ignores the Access flag (AF = 0 acts as with CD.AFFD = 1). */
  readonly accessFlagIgnored?: boolean;
  /** A block descriptor is accepted at every level above the leaf (a level-0 block is not a certain fault: answered `unknown`). */
  readonly walkBlocksAnyLevel?: boolean;
}

/**
 * A 64-bit doubleword as its u32 halves (the structures are read as dwords:
 * no BigInt per field). Bit n of the doubleword is bit n of `lo` (n < 32)
 * or bit n - 32 of `hi`.
 */
interface Dword { readonly lo: number; readonly hi: number }

const TWO_32 = 2 ** 32;
const bit = (d: Dword, n: number): boolean => ((n < 32 ? d.lo >>> n : d.hi >>> (n - 32)) & 1) === 1;
/** Bits hi:lo (both on one side of bit 32, at most 31 wide) of `d`. */
const field = (d: Dword, hi: number, lo: number): number => {
  const w = lo < 32 ? d.lo : d.hi;
  const s = lo & 31;
  return (w >>> s) & ((1 << (hi - lo + 1)) - 1);
};
/** Bits 51:0 of `d` with the low dword masked by `lowMask` (an address field), as a number (exact: below 2^52). */
const addr51 = (d: Dword, lowMask: number): number => (d.hi & 0xf_ffff) * TWO_32 + ((d.lo & lowMask) >>> 0);
const unknown = (why: string): RefAnswer => ({ kind: 'unknown', why });
const fault = (why: string): RefAnswer => ({ kind: 'fault', why });
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
/** Bits 51:48 of a doubleword, in its high dword. */
const HIGH_51_48 = 0xf_0000;
/** Bits 49:48. */
const HIGH_49_48 = 0x3_0000;

/** Where the reference's reads go: guest memory, and the addresses it read (every structure the SMMU may cache). */
interface Src { readonly mem: GuestMemory; readonly reads?: number[]; readonly quirks: RefQuirks }

/** `n` doublewords at `gpa` (noted in `src.reads`), or undefined when they are not RAM (the SMMU's fetch aborts). */
function read(src: Src, gpa: number, n: number): Dword[] | undefined {
  src.reads?.push(gpa);
  const mem = src.mem;
  if (mem.offsetAt(gpa, 8 * n) < 0) return undefined;
  const out: Dword[] = [];
  for (let i = 0; i < n; i++) out.push({ lo: mem.getUint32(gpa + 8 * i), hi: mem.getUint32(gpa + 8 * i + 4) });
  return out;
}

/**
 * The answer for a request from StreamID `sid` (SubstreamID `ssid`) at
 * `iova`; `reads` receives the address of every structure it read (STE, CD,
 * descriptors), which are the structures the SMMU reads for the request;
 * `quirks`: where the profile departs from the spec.
 */
export function referenceTranslate(mem: GuestMemory, r: RefRegs, sid: number, ssid: number | undefined, iova: bigint, reads?: number[], quirks: RefQuirks = {}): RefAnswer {
  const src: Src = { mem, reads, quirks };
  if ((r.cr0ack & 1) === 0) {
    // §6.3.14: SMMUEN = 0, GBPA.ABORT = 0 bypasses every transaction (ABORT = 1 aborts them; QEMU 7.2 has no GBPA abort: not judged).
    return (r.gbpa & (1 << 20)) === 0 ? { kind: 'map', pa: iova, write: true } : unknown('GBPA.ABORT');
  }
  if (((r.strtabCfg >>> 16) & 3) !== 0) return unknown('2-level stream table');
  const log2 = r.strtabCfg & 0x3f;
  if (log2 > (r.idr1 & 0x3f)) return unknown('LOG2SIZE above SIDSIZE');
  if (sid >= 2 ** log2) return fault(`StreamID ${hex(sid)} beyond the linear table (2^${log2} entries; C_BAD_STREAMID)`);
  const steAt = addr51({ lo: r.strtabBaseLo, hi: r.strtabBaseHi }, 0xffff_ffc0) + sid * 64;
  const ste = read(src, steAt, 4);
  if (!ste) return fault(`STE at ${hex(steAt)} is not in RAM (F_STE_FETCH)`);
  if (!bit(ste[0]!, 0)) return fault(`STE at ${hex(steAt)} has V = 0 (C_BAD_STE)`);
  const config = field(ste[0]!, 3, 1);
  if (config === 0b000) return fault('STE.Config = abort');
  if (config === 0b100) return { kind: 'map', pa: iova, write: true };
  if (config < 0b100) return fault(`STE.Config = ${config} (reserved: C_BAD_STE)`);
  if (config !== 0b101) return unknown('stage 2');
  return stage1(src, ste[0]!, ste[1]!, ssid, iova);
}

/** The CD of the request under a stage-1 STE (§5.2 S1ContextPtr, S1Fmt, S1CDMax, S1DSS), then its walk. */
function stage1(src: Src, ste0: Dword, ste1: Dword, ssid: number | undefined, iova: bigint): RefAnswer {
  const cdMax = field(ste0, 63, 59);
  const s1dss = field(ste1, 1, 0);
  let index = 0;
  if (ssid === undefined) {
    if (cdMax !== 0 && s1dss === 0) return fault('a request without SubstreamID, S1DSS = terminate');
    if (cdMax !== 0 && s1dss === 1) return { kind: 'map', pa: iova, write: true };
    if (cdMax !== 0 && s1dss !== 2) return unknown('S1DSS reserved');
  } else {
    if (cdMax === 0) return fault(`SubstreamID ${ssid} with S1CDMax = 0 (C_BAD_SUBSTREAMID)`);
    if (ssid >= 2 ** cdMax) return fault(`SubstreamID ${ssid} beyond S1CDMax ${cdMax} (C_BAD_SUBSTREAMID)`);
    if (ssid === 0 && s1dss === 2) return unknown('SubstreamID 0 with S1DSS = 0b10');
    index = ssid;
  }
  if (cdMax !== 0 && field(ste0, 5, 4) !== 0) return unknown('2-level CD table');
  if ((ste0.hi & HIGH_51_48) !== 0) return unknown('S1ContextPtr above 48 bits');
  const cdAt = addr51(ste0, 0xffff_ffc0) + index * 64;
  const cd = read(src, cdAt, 2);
  if (!cd) return fault(`CD at ${hex(cdAt)} is not in RAM (F_CD_FETCH)`);
  return walk(src, cd[0]!, cd[1]!, iova);
}

/** The AArch64 stage-1 walk of the CD (§5.4: V, AA64, T0SZ, TG0, EPD0, AFFD, HA, HD, TTB0) for a TTB0 address. */
function walk(src: Src, cd0: Dword, cd1: Dword, iova: bigint): RefAnswer {
  if (!bit(cd0, 31)) return fault('CD.V = 0 (C_BAD_CD)');
  if (!bit(cd0, 41)) return unknown('AArch32 CD');
  if (field(cd0, 7, 6) !== 0) return unknown('TG0 is not 4 KiB');
  const t0sz = field(cd0, 5, 0);
  if (t0sz < 16 || t0sz > 39) return unknown(`T0SZ ${t0sz}`);
  const inBits = 64 - t0sz;
  if (iova >> BigInt(inBits) !== 0n) return unknown('not a TTB0 address (TTB1, TBI or a translation fault)');
  const ia = Number(iova); // below 2^48: exact
  if (bit(cd0, 14)) return fault('CD.EPD0 = 1: TTB0 walks disabled (F_TRANSLATION)');
  const affd = bit(cd0, 35) || src.quirks.accessFlagIgnored === true;
  const ha = bit(cd0, 43);
  const hd = bit(cd0, 42);
  const levels = Math.ceil((inBits - 12) / 9);
  const first = 4 - levels;
  const firstEntries = 2 ** (inBits - (12 + 9 * (3 - first)));
  if ((cd1.hi & HIGH_51_48) !== 0) return unknown('TTB0 above 48 bits');
  let table = addr51(cd1, 0xffff_fff0);
  if (table % (firstEntries * 8) !== 0) return unknown('TTB0 not aligned to its table');
  let readOnly = false;
  for (let level = first; level <= 3; level++) {
    const size = 2 ** (12 + 9 * (3 - level));
    const entries = level === first ? firstEntries : 512;
    const at = table + (Math.floor(ia / size) % entries) * 8;
    const d = read(src, at, 1)?.[0];
    if (d === undefined) return fault(`descriptor at ${hex(at)} (level ${level}) is not in RAM (F_WALK_EABT)`);
    if (!bit(d, 0)) return fault(`descriptor at ${hex(at)} (level ${level}) is invalid (F_TRANSLATION)`);
    const tableDesc = level < 3 && bit(d, 1);
    // Bits 51:48 of a table descriptor, 49:48 of a leaf (51 is DBM, 50 GP), are address bits beyond 48.
    if ((d.hi & (tableDesc ? HIGH_51_48 : HIGH_49_48)) !== 0) return unknown('an address above 48 bits');
    const out = (d.hi & 0xffff) * TWO_32 + ((d.lo & 0xffff_f000) >>> 0); // bits 47:12
    if (tableDesc) {
      readOnly ||= bit(d, 62); // APTable[1]
      table = out;
      continue;
    }
    if (level === 3 && !bit(d, 1)) return fault(`level 3 descriptor at ${hex(at)} is reserved (F_TRANSLATION)`);
    if (level === 0) return src.quirks.walkBlocksAnyLevel ? unknown('a level 0 block (the profile takes it)') : fault(`level 0 block at ${hex(at)} (F_TRANSLATION)`);
    if (!bit(d, 10) && !affd && !ha) return fault(`descriptor at ${hex(at)} has AF = 0 (F_ACCESS)`);
    const pa = out - (out % size) + (ia % size);
    const writable = !readOnly && (!bit(d, 7) || (hd && bit(d, 51)));
    return { kind: 'map', pa: BigInt(pa), write: writable };
  }
  return unknown('walk ran past level 3');
}
