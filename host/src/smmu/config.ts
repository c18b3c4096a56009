/**
 * Configuration lookup of the SMMUv3 front end: the stream table (IHI 0070
 * §3.3.2 linear and 2-level, SMMU_STRTAB_BASE_CFG) -> STE (§5.2) -> CD
 * table (§3.3.3 linear and 2-level, STE.S1Fmt/S1CDMax) -> CD (§5.4), with the
 * spec's configuration errors as event values (C_BAD_STREAMID, F_STE_FETCH,
 * C_BAD_STE, C_BAD_SUBSTREAMID, F_CD_FETCH, C_BAD_CD, F_STREAM_DISABLED) and
 * the decoded result as a walk setup for the core (core-abi.ts). For a
 * nested STE, S1ContextPtr and L1CD.L2Ptr are IPAs: CD fetches go through
 * stage 2 in the core, and their faults are CLASS CD events.
 */
import type { GuestMemory } from '../core/guest-memory.js';
import * as K from '../core/constants.js';
import { bits, get, getAddr } from './spec/bits.js';
import { CD, CD_BYTES, L1CD, TG0_GRANULE, TG1_GRANULE, TSZ_4K, S2TG_GRANULE } from './spec/cd.js';
import { EVT, EVT_CLASS } from './spec/events.js';
import { oasBits, STRTAB_BASE_ADDR_MASK, STRTAB_CFG } from './spec/registers.js';
import { CD_SPLIT, EATS, L1STD, L1STD_BYTES, L1STD_SPAN_MAX, S1DSS, S1FMT, STE, STE_BYTES, STE_CONFIG } from './spec/ste.js';
import { FF_ARM_CLASS_SHIFT, FF_ARM_S2, SUF_AFFD, SUF_BLOCKS_ANY_LEVEL, SUF_OA_LEAF_LAST, SUF_OA_NONE, SUF_EPD0, SUF_EPD1, SUF_HAD0, SUF_HAD1, SUF_S2AFFD, SUF_TBI0, SUF_TBI1, SUF_PAN, SUF_WXN, type WalkSetup } from './core-abi.js';
import type { SmmuEvent } from './event.js';
import type { SmmuCaps, SmmuSwitches } from './profiles.js';
import type { Iova, Pasid, Sid } from '../types.js';

/** A decoded STE (the parts translation needs). */
export interface DecodedSte {
  readonly config: number;
  readonly words: readonly bigint[];
  /** Stage-2 part of the walk setup (when Config[1]). */
  readonly s2: Pick<WalkSetup, 's2t0sz' | 's2Start' | 's2OBits' | 's2TgLg2' | 's2ttb'> & { readonly affd: boolean };
  readonly vmid: number;
  /** Record stage-2 faults (STE.S2R). */
  readonly s2r: boolean;
  /** Effective STE.S1CDMax (0 when substreams are unsupported). */
  readonly cdMax: number;
  /** STE.EATS as it acts (`decodeEats`): 0 no ATS, 1 full ATS, 2 split-stage (before SMMU_CR0.ATSCHK). */
  readonly eats: number;
}

/** What a (stream, substream) resolves to. */
export type StreamConfig =
  | { readonly kind: 'abort' }
  | { readonly kind: 'bypass' }
  | { readonly kind: 'translate'; readonly setup: WalkSetup; readonly recordS1: boolean; readonly recordS2: boolean; readonly vmid: number; readonly asid: number }
  | { readonly kind: 'fault'; readonly event: SmmuEvent };

/** What the lookup reads: registers, memory, capabilities. */
export interface ConfigSource {
  readonly mem: GuestMemory;
  readonly caps: SmmuCaps;
  readonly switches: SmmuSwitches;
  readonly strtabBase: () => bigint;
  readonly strtabCfg: () => number;
  /** Stage 2 of a nested STE for a CD fetch: the physical address, or the core's fault. */
  readonly s2Fetch: (ste: DecodedSte, ipa: bigint) => { pa: bigint } | { evt: number; ipa: bigint };
}

const fault = (event: SmmuEvent): StreamConfig => ({ kind: 'fault', event });

/** Reads `n` u64 words at `addr`, or undefined outside RAM. */
function readWords(mem: GuestMemory, addr: bigint, n: number): bigint[] | undefined {
  if (!mem.contains(addr, n * 8)) return undefined;
  const at = Number(addr); // inside RAM: below 2^53
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) out[i] = (BigInt(mem.getUint32(at + 8 * i + 4)) << 32n) | BigInt(mem.getUint32(at + 8 * i));
  return out;
}

/** The STE of `sid` (§3.3.2), decoded and checked; or the event. */
export function lookupSte(src: ConfigSource, sid: Sid): DecodedSte | SmmuEvent {
  const w = readSte(src, sid);
  return 'type' in w ? w : decodeSte(src, sid, w.words);
}

/** The raw doublewords of `sid`'s STE and where they are (linear or 2-level table, §3.3.2); or the event. */
export function readSte(src: ConfigSource, sid: Sid): { words: bigint[]; addr: bigint } | SmmuEvent {
  const cfg = src.strtabCfg();
  const log2 = Math.min(cfg & STRTAB_CFG.LOG2SIZE_MASK, src.caps.sidBits);
  if (sid >= 2 ** log2) return { type: EVT.C_BAD_STREAMID, sid };
  const base = src.strtabBase() & STRTAB_BASE_ADDR_MASK;
  let addr: bigint;
  if (((cfg >>> STRTAB_CFG.FMT_SHIFT) & 3) === STRTAB_CFG.FMT_2LVL && src.caps.st2l) {
    const split = (cfg >>> STRTAB_CFG.SPLIT_SHIFT) & STRTAB_CFG.SPLIT_MASK;
    const l1 = base + BigInt(sid >>> split) * BigInt(L1STD_BYTES);
    const d = readWords(src.mem, l1, 1);
    if (!d) return { type: EVT.F_STE_FETCH, sid, fetchAddr: l1 };
    const span = get(d, L1STD.Span);
    const index = sid & ((1 << split) - 1);
    if (span === 0) return { type: EVT.C_BAD_STREAMID, sid };
    if (src.switches.l2SpanQuirk) {
      if (index > 2 ** span - 1) return { type: EVT.C_BAD_STE, sid };
    } else if (span > L1STD_SPAN_MAX || index >= 2 ** (span - 1)) return { type: EVT.C_BAD_STREAMID, sid };
    addr = getAddr(d, L1STD.L2Ptr) + BigInt(index) * BigInt(STE_BYTES);
  } else {
    addr = base + BigInt(sid) * BigInt(STE_BYTES);
  }
  const words = readWords(src.mem, addr, 8);
  return words ? { words, addr } : { type: EVT.F_STE_FETCH, sid, fetchAddr: addr };
}

/**
 * §5.2 STE validity ("an STE is ILLEGAL if ..."): C_BAD_STE. Config
 * 0b001-0b011 is reserved and behaves as 0b000 (abort, no event); S1Fmt
 * 0b11 behaves as 0b00; S1CDMax is IGNORED without substreams (IDR1.SSIDSIZE
 * = 0), like S1Fmt and S1DSS.
 */
function decodeSte(src: ConfigSource, sid: number, w: bigint[]): DecodedSte | SmmuEvent {
  const bad: SmmuEvent = { type: EVT.C_BAD_STE, sid };
  const { caps } = src;
  if (get(w, STE.V) === 0) return bad;
  let config = get(w, STE.Config);
  if ((config & 4) === 0) config = STE_CONFIG.ABORT;
  const s1 = (config & 4) !== 0 && (config & 1) !== 0;
  const s2 = (config & 4) !== 0 && (config & 2) !== 0;
  if ((s1 && !caps.s1) || (s2 && !caps.s2)) return bad;
  let cdMax = 0;
  if (s1) {
    cdMax = get(w, STE.S1CDMax);
    if (caps.ssidBits === 0 && !src.switches.cdMaxIllegalWithoutSubstreams) cdMax = 0;
    if (cdMax > caps.ssidBits) return bad;
    if (cdMax !== 0 && get(w, STE.S1Fmt) !== S1FMT.LINEAR && !caps.cd2l) return bad;
    if (caps.stallModel !== 0 && get(w, STE.S1STALLD) !== 0) return bad;
  }
  let s2cfg: DecodedSte['s2'] = { s2t0sz: 0, s2Start: 0, s2OBits: 48, s2TgLg2: 12, s2ttb: 0n, affd: false };
  if (s2) {
    const gran = S2TG_GRANULE[get(w, STE.S2TG)];
    if (gran === undefined || !caps.granules.includes(gran)) return bad;
    if (get(w, STE.S2AA64) === 0 || get(w, STE.S2ENDI) !== 0 || (caps.stallModel !== 0 && get(w, STE.S2S) !== 0)) return bad;
    if (!src.switches.s2HttuIgnored && ((get(w, STE.S2HA) !== 0 && caps.httu === 0) || (get(w, STE.S2HD) !== 0 && caps.httu < 2))) return bad;
    const obits = oasBits(get(w, STE.S2PS), caps.oas);
    const t0sz = get(w, STE.S2T0SZ);
    // IAS = OAS (no AArch32): the input range is at most the OAS (QEMU: the effective S2PS).
    const inBits = src.switches.s2InputBoundByS2ps ? obits : oasBits(caps.oas, caps.oas);
    if (t0sz < Math.max(gran === 16 ? 12 : TSZ_4K.min, 64 - inBits) || t0sz > TSZ_4K.max) return bad;
    const sl0 = get(w, STE.S2SL0);
    // D8.2: start level from SL0 (4K: 0 -> L2, 1 -> L1, 2 -> L0; 16K/64K: 0 -> L3, 1 -> L2, 2 -> L1).
    const start = gran === 12 ? 2 - sl0 : 3 - sl0;
    const stride = gran - 3;
    const ibits = 64 - t0sz;
    const topBits = ibits - (gran + stride * (3 - start));
    if (sl0 === 3 || start < 0 || topBits < 1 || topBits > stride + 4) return bad; // at most 16 concatenated tables
    // S2TTB beyond the effective S2PS is ILLEGAL; its bits below the start table's alignment are taken as zero.
    const ttb = getAddr(w, STE.S2TTB);
    if ((ttb >> BigInt(obits)) !== 0n) return bad;
    s2cfg = { s2t0sz: t0sz, s2Start: start, s2OBits: obits, s2TgLg2: gran, s2ttb: alignDown(ttb, topBits + 3), affd: get(w, STE.S2AFFD) !== 0 };
  }
  const vmid = s2 || caps.s2 ? get(w, STE.S2VMID) : 0;
  if (!caps.vmid16 && caps.s2 && (s1 || s2) && (vmid >>> 8) !== 0) return bad; // S2VMID[15:8] without VMID16
  const eats = decodeEats(caps, config, w);
  if (eats === undefined) return bad;
  return { config, words: w, s2: s2cfg, vmid, s2r: get(w, STE.S2R) !== 0, cdMax, eats };
}

/**
 * §5.2 STE.EATS as it acts, or undefined when ILLEGAL. IGNORED (acting as
 * 0b00) without ATS (SMMU_IDR0.ATS = 0) and when no stage translates
 * (Config 0b000 and 0b100). 0b10, split-stage, is ILLEGAL unless Config is
 * 0b111 with S2S = 0 and the SMMU offers it (SMMU_IDR0.NS1ATS = 0); 0b01
 * and 0b11 are ILLEGAL with stage 2 and S2S = 1; 0b11 (full ATS with DPT
 * checks) acts as 0b00 without DPT (SMMU_IDR3.DPT = 0, none here).
 */
function decodeEats(caps: SmmuCaps, config: number, w: readonly bigint[]): number | undefined {
  if (!caps.ats || (config & 3) === 0) return EATS.ABORT;
  const eats = get(w, STE.EATS);
  const s2s = get(w, STE.S2S) !== 0;
  if (eats === EATS.S1CHK) return config === STE_CONFIG.NESTED && !s2s && caps.splitStageAts ? eats : undefined;
  if ((config & 2) !== 0 && s2s && eats !== EATS.ABORT) return undefined;
  return eats === EATS.TRANS ? eats : EATS.ABORT;
}

/** The whole lookup for (sid, ssid): STE, then (stage 1) the CD. */
export function resolveStream(src: ConfigSource, ste: DecodedSte, sid: Sid, ssid: Pasid | undefined): StreamConfig {
  const config = ste.config;
  if (config === STE_CONFIG.ABORT) return { kind: 'abort' };
  const s1 = (config & 1) !== 0;
  const s2 = (config & 2) !== 0;
  // The walk setup without stage 1 (made only on the way to a translation: a faulting stream is resolved again on each access).
  const base = (): WalkSetup => ({ s1: false, s2, vmid: ste.vmid, asid: 0, flags: walkFlags(src.switches) | (ste.s2.affd ? SUF_S2AFFD : 0), t0sz: 0, t1sz: 0, s1OBits: 48, tg0Lg2: 12, tg1Lg2: 12, ttb0: 0n, ttb1: 0n, ...ste.s2 });
  const cdMax = s1 ? ste.cdMax : 0;
  if (ssid !== undefined && (!s1 || cdMax === 0 || ssid >= 2 ** cdMax)) return fault({ type: EVT.C_BAD_SUBSTREAMID, sid, ssid });
  if (!s1) return s2 ? { kind: 'translate', setup: base(), recordS1: false, recordS2: ste.s2r, vmid: ste.vmid, asid: 0 } : { kind: 'bypass' };
  // S1DSS (0b11 reserved, behaves as 0b00): a transaction without a substream
  // terminates, bypasses stage 1, or takes substream 0 (which SSID 0 then loses).
  const dss = cdMax !== 0 ? get(ste.words, STE.S1DSS) : S1DSS.TERMINATE;
  if (ssid === 0 && dss === S1DSS.SSID0) return fault({ type: EVT.F_STREAM_DISABLED, sid, ssid });
  if (ssid === undefined && cdMax !== 0) {
    if (dss === S1DSS.BYPASS) return s2 ? { kind: 'translate', setup: base(), recordS1: false, recordS2: ste.s2r, vmid: ste.vmid, asid: 0 } : { kind: 'bypass' };
    if (dss !== S1DSS.SSID0) return fault({ type: EVT.F_STREAM_DISABLED, sid });
  }
  const index = ssid ?? 0;
  const cd = fetchCd(src, ste, sid, ssid, index, cdMax);
  if ('type' in cd) return fault(cd);
  return decodeCd(src, ste, sid, ssid, cd, base);
}

// The CD at `index` of the STE's CD table (§3.3.3), through stage 2 when nested.
function fetchCd(src: ConfigSource, ste: DecodedSte, sid: number, ssid: number | undefined, index: number, cdMax: number): bigint[] | SmmuEvent {
  const nested = (ste.config & 2) !== 0;
  const read = (ipa: bigint, n: number): bigint[] | SmmuEvent => {
    let pa = ipa;
    if (nested) {
      const r = src.s2Fetch(ste, ipa);
      if ('evt' in r) {
        return { type: r.evt, sid, ssid, s2: true, cls: EVT_CLASS.CD, ipa: r.ipa, addr: ipa, read: true, ...(r.evt === EVT.F_WALK_EABT ? { fetchAddr: r.ipa } : {}) };
      }
      pa = r.pa;
    }
    return readWords(src.mem, pa, n) ?? { type: EVT.F_CD_FETCH, sid, ssid, ...(src.switches.cdFetchAddrInInputAddr ? { addr: pa } : { fetchAddr: pa }) };
  };
  const ptr = getAddr(ste.words, STE.S1ContextPtr);
  const fmt = get(ste.words, STE.S1Fmt);
  if (fmt === S1FMT.LINEAR || fmt === 3 || cdMax === 0) return read(ptr + BigInt(index) * BigInt(CD_BYTES), 8);
  const split = CD_SPLIT[fmt]!;
  const l1 = read(ptr + BigInt(index >>> split) * 8n, 1);
  if (!Array.isArray(l1)) return l1;
  if (get(l1, L1CD.V) === 0) return { type: EVT.C_BAD_SUBSTREAMID, sid, ssid };
  return read(getAddr(l1, L1CD.L2Ptr) + BigInt(index & ((1 << split) - 1)) * BigInt(CD_BYTES), 8);
}

/** The CD's two translation table halves (TTB0 and TTB1): their fields, granule encodings and the setup flag of a disabled half. */
const CD_HALVES = [
  { epd: CD.EPD0, tsz: CD.T0SZ, tg: CD.TG0, map: TG0_GRANULE, ttb: CD.TTB0, flag: SUF_EPD0 },
  { epd: CD.EPD1, tsz: CD.T1SZ, tg: CD.TG1, map: TG1_GRANULE, ttb: CD.TTB1, flag: SUF_EPD1 },
] as const;

// §5.4 CD validity ("a CD is ILLEGAL if ...") and the stage-1 part of the setup.
function decodeCd(src: ConfigSource, ste: DecodedSte, sid: number, ssid: number | undefined, w: bigint[], baseOf: () => WalkSetup): StreamConfig {
  const bad = (): StreamConfig => fault({ type: EVT.C_BAD_CD, sid, ssid });
  const { caps, switches } = src;
  if (get(w, CD.V) === 0 || get(w, CD.AA64) === 0 || get(w, CD.ENDI) !== 0) return bad();
  if ((caps.termModel && get(w, CD.A) === 0) || (caps.stallModel !== 0 && get(w, CD.S) !== 0)) return bad();
  if ((get(w, CD.HA) !== 0 && caps.httu === 0) || (get(w, CD.HD) !== 0 && caps.httu < 2)) return bad();
  if (!caps.asid16 && (get(w, CD.ASID) >>> 8) !== 0) return bad();
  const base = baseOf();
  const obits = oasBits(get(w, CD.IPS), caps.oas);
  let flags = base.flags | (get(w, CD.AFFD) || switches.accessFlagIgnored ? SUF_AFFD : 0) | (get(w, CD.HAD0) ? SUF_HAD0 : 0) | (get(w, CD.HAD1) ? SUF_HAD1 : 0);
  if (!switches.s1ChecksWriteOnly) flags |= (get(w, CD.PAN) ? SUF_PAN : 0) | (get(w, CD.WXN) ? SUF_WXN : 0);
  const tbi = get(w, CD.TBI);
  flags |= (tbi & 1 ? SUF_TBI0 : 0) | (tbi & 2 ? SUF_TBI1 : 0);
  const out: { tsz: number; gran: number; ttb: bigint }[] = [];
  for (const h of CD_HALVES) {
    if (get(w, h.epd) !== 0) { flags |= h.flag; out.push({ tsz: 0, gran: 12, ttb: 0n }); continue; }
    const tsz = get(w, h.tsz);
    const gran = h.map[get(w, h.tg)];
    if (tsz < TSZ_4K.min || tsz > TSZ_4K.max || gran === undefined || !src.caps.granules.includes(gran)) return bad();
    const ttb = getAddr(w, h.ttb);
    if ((ttb >> BigInt(obits)) !== 0n) return bad(); // beyond the effective IPS: ILLEGAL (§5.4 TTB0)
    // Bits below the start table's alignment (its size) are taken as zero.
    const stride = gran - 3;
    const topBits = 64 - tsz - gran - stride * (Math.ceil((64 - tsz - gran) / stride) - 1);
    out.push({ tsz, gran, ttb: alignDown(ttb, topBits + 3) });
  }
  const asid = get(w, CD.ASID);
  const setup: WalkSetup = {
    ...base, s1: true, asid, flags, s1OBits: obits,
    t0sz: out[0]!.tsz, tg0Lg2: out[0]!.gran, ttb0: out[0]!.ttb, t1sz: out[1]!.tsz, tg1Lg2: out[1]!.gran, ttb1: out[1]!.ttb,
  };
  return { kind: 'translate', setup, recordS1: get(w, CD.R) !== 0, recordS2: ste.s2r, vmid: ste.vmid, asid };
}

const alignDown = (a: bigint, lg2: number): bigint => a & ~((1n << BigInt(lg2)) - 1n);

/** The walker's setup flags for a profile's walk switches (SmmuSwitches.walkBlocksAnyLevel, walkOutputCheck). */
export function walkFlags(sw: SmmuSwitches): number {
  const oa = sw.walkOutputCheck === 'leaf-last' ? SUF_OA_LEAF_LAST : sw.walkOutputCheck === 'none' ? SUF_OA_NONE : 0;
  return (sw.walkBlocksAnyLevel ? SUF_BLOCKS_ANY_LEVEL : 0) | oa;
}

/** The event of a core fault (out-buffer `out` after armTranslate/armDmaCopy). */
export function coreFaultEvent(out: Uint32Array, evt: number, sid: Sid, ssid: Pasid | undefined, addr: Iova, write: boolean, priv: boolean, exec: boolean): SmmuEvent {
  const flags = out[K.OUT_FAULT_FLAGS]!;
  const faddr = (BigInt(out[K.OUT_FAULT_ADDR_HI]!) << 32n) | BigInt(out[K.OUT_FAULT_ADDR_LO]!);
  const s2 = (flags & FF_ARM_S2) !== 0;
  const cls = Number(bits(BigInt(flags), FF_ARM_CLASS_SHIFT + 1, FF_ARM_CLASS_SHIFT));
  return {
    type: evt, sid, ssid, addr, read: !write, priv, exec, s2, cls,
    ...(s2 ? { ipa: faddr } : {}), ...(evt === EVT.F_WALK_EABT ? { fetchAddr: faddr } : {}),
  };
}
