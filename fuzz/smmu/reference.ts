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

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
const field = (v: bigint, hi: number, lo: number): number => Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
const unknown = (why: string): RefAnswer => ({ kind: 'unknown', why });
const fault = (why: string): RefAnswer => ({ kind: 'fault', why });
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
/** Bits 47:12 of a descriptor or pointer (the reference answers `unknown` when bits 51:48 are set). */
const ADDR_47_12 = 0x0000_ffff_ffff_f000n;
const HIGH_51_48 = 0x000f_0000_0000_0000n;
const HIGH_49_48 = 0x0003_0000_0000_0000n;

/** Where the reference's reads go: guest memory, and the addresses it read (every structure the SMMU may cache). */
interface Src { readonly mem: GuestMemory; readonly reads?: bigint[] }

/** `n` doublewords at `gpa` (noted in `src.reads`), or undefined when they are not RAM (the SMMU's fetch aborts). */
function read(src: Src, gpa: bigint, n: number): bigint[] | undefined {
  src.reads?.push(gpa);
  const mem = src.mem;
  if (!mem.contains(gpa, 8 * n)) return undefined;
  return Array.from({ length: n }, (_, i) => mem.readU64(gpa + BigInt(8 * i)));
}

/**
 * The answer for a request from StreamID `sid` (SubstreamID `ssid`) at
 * `iova`; `reads` receives the address of every structure it read (STE, CD,
 * descriptors), which are the structures the SMMU reads for the request.
 */
export function referenceTranslate(mem: GuestMemory, r: RefRegs, sid: number, ssid: number | undefined, iova: bigint, reads?: bigint[]): RefAnswer {
  const src: Src = { mem, reads };
  if ((r.cr0ack & 1) === 0) {
    // §6.3.14: SMMUEN = 0, GBPA.ABORT = 0 bypasses every transaction (ABORT = 1 aborts them; QEMU 7.2 has no GBPA abort: not judged).
    return (r.gbpa & (1 << 20)) === 0 ? { kind: 'map', pa: iova, write: true } : unknown('GBPA.ABORT');
  }
  if (field(BigInt(r.strtabCfg), 17, 16) !== 0) return unknown('2-level stream table');
  const log2 = field(BigInt(r.strtabCfg), 5, 0);
  if (log2 > (r.idr1 & 0x3f)) return unknown('LOG2SIZE above SIDSIZE');
  if (sid >= 2 ** log2) return fault(`StreamID ${hex(sid)} beyond the linear table (2^${log2} entries; C_BAD_STREAMID)`);
  const steAt = BigInt((r.strtabBaseHi & 0xf_ffff) * 2 ** 32 + ((r.strtabBaseLo & 0xffff_ffc0) >>> 0)) + BigInt(sid) * 64n;
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
function stage1(src: Src, ste0: bigint, ste1: bigint, ssid: number | undefined, iova: bigint): RefAnswer {
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
  const ptr = ste0 & 0x000f_ffff_ffff_ffc0n;
  if ((ptr & HIGH_51_48) !== 0n) return unknown('S1ContextPtr above 48 bits');
  const cdAt = ptr + BigInt(index) * 64n;
  const cd = read(src, cdAt, 2);
  if (!cd) return fault(`CD at ${hex(cdAt)} is not in RAM (F_CD_FETCH)`);
  return walk(src, cd[0]!, cd[1]!, iova);
}

/** The AArch64 stage-1 walk of the CD (§5.4: V, AA64, T0SZ, TG0, EPD0, AFFD, HA, HD, TTB0) for a TTB0 address. */
function walk(src: Src, cd0: bigint, cd1: bigint, iova: bigint): RefAnswer {
  if (!bit(cd0, 31)) return fault('CD.V = 0 (C_BAD_CD)');
  if (!bit(cd0, 41)) return unknown('AArch32 CD');
  if (field(cd0, 7, 6) !== 0) return unknown('TG0 is not 4 KiB');
  const t0sz = field(cd0, 5, 0);
  if (t0sz < 16 || t0sz > 39) return unknown(`T0SZ ${t0sz}`);
  const inBits = 64 - t0sz;
  if (iova >> BigInt(inBits) !== 0n) return unknown('not a TTB0 address (TTB1, TBI or a translation fault)');
  if (bit(cd0, 14)) return fault('CD.EPD0 = 1: TTB0 walks disabled (F_TRANSLATION)');
  const affd = bit(cd0, 35);
  const ha = bit(cd0, 43);
  const hd = bit(cd0, 42);
  const levels = Math.ceil((inBits - 12) / 9);
  const first = 4 - levels;
  const firstEntries = 2 ** (inBits - (12 + 9 * (3 - first)));
  let table = cd1 & 0x000f_ffff_ffff_fff0n;
  if ((table & HIGH_51_48) !== 0n) return unknown('TTB0 above 48 bits');
  if ((table & BigInt(firstEntries * 8 - 1)) !== 0n) return unknown('TTB0 not aligned to its table');
  let readOnly = false;
  for (let level = first; level <= 3; level++) {
    const shift = 12 + 9 * (3 - level);
    const entries = level === first ? firstEntries : 512;
    const at = table + BigInt(Number((iova >> BigInt(shift)) & BigInt(entries - 1)) * 8);
    const d = read(src, at, 1)?.[0];
    if (d === undefined) return fault(`descriptor at ${hex(at)} (level ${level}) is not in RAM (F_WALK_EABT)`);
    if (!bit(d, 0)) return fault(`descriptor at ${hex(at)} (level ${level}) is invalid (F_TRANSLATION)`);
    const tableDesc = level < 3 && bit(d, 1);
    // Bits 51:48 of a table descriptor, 49:48 of a leaf (51 is DBM, 50 GP), are address bits beyond 48.
    if ((d & (tableDesc ? HIGH_51_48 : HIGH_49_48)) !== 0n) return unknown('an address above 48 bits');
    if (tableDesc) {
      readOnly ||= bit(d, 62); // APTable[1]
      table = d & ADDR_47_12;
      continue;
    }
    if (level === 3 && !bit(d, 1)) return fault(`level 3 descriptor at ${hex(at)} is reserved (F_TRANSLATION)`);
    if (level === 0) return fault(`level 0 block at ${hex(at)} (F_TRANSLATION)`);
    if (!bit(d, 10) && !affd && !ha) return fault(`descriptor at ${hex(at)} has AF = 0 (F_ACCESS)`);
    const size = 1n << BigInt(shift);
    const pa = (d & ADDR_47_12 & ~(size - 1n)) + (iova & (size - 1n));
    const writable = !readOnly && (!bit(d, 7) || (hd && bit(d, 51)));
    return { kind: 'map', pa, write: writable };
  }
  return unknown('walk ran past level 3');
}
