/**
 * Structure-aware steps for the SMMUv3 fuzzer: what a guest driver writes
 * (IHI 0070) and what a hostile one might. Register writes per register
 * (CR0 enables, GBPA, STRTAB_BASE / _CFG, queue bases and indexes, GERRORN
 * acknowledgements, IRQ configuration, any offset of the frame); stream
 * table entries (§5.2) and context descriptors (§5.4) built from the spec
 * layer's field positions (host/src/smmu/spec) with plausible and wild
 * values; AArch64 4 KiB page-table chains for an address; commands (§4)
 * written at the queue's PROD slot followed by the PROD write: every
 * opcode with its fields, CMD_SYNC with MSI completion, the full
 * invalidation a driver does (CFGI_ALL, TLBI_NSNH_ALL, CMD_SYNC), garbage
 * and illegal opcodes; DMA with and without SubstreamID near the addresses
 * the input uses; noise words on the pages it uses.
 *
 * `scan` reads an input's addresses (stream table, queues, PROD, table
 * pages, DMA addresses) so generated steps land where the SMMU looks.
 */
import { ARM_RAM_BASE } from '../../host/src/arm-machine.js';
import type { Step } from '../../host/src/scenario/parse.js';
import { put, type BitField } from '../../host/src/smmu/spec/bits.js';
import { CD } from '../../host/src/smmu/spec/cd.js';
import { CMD, OP } from '../../host/src/smmu/spec/commands.js';
import { SMMU_FRAME, SMMU_REG as R } from '../../host/src/smmu/spec/registers.js';
import { STE } from '../../host/src/smmu/spec/ste.js';
import { parseBdf } from '../../host/src/types.js';
import { CAPS } from '../pri-steps.js';
import type { Rng } from '../rng.js';
import { reproducesReference, type SmmuInput, type SmmuMachine } from './input.js';

/** What an input has set up, as far as its steps tell. */
export interface SmmuContext {
  readonly strtab: bigint;
  readonly cmdqBase: bigint;
  readonly cmdqLog2: number;
  /** The last PROD value written (where the next command goes). */
  readonly prod: number;
  /** Pages the input writes (tables, descriptors, queues). */
  readonly pages: readonly bigint[];
  /** Addresses its DMA uses. */
  readonly iovas: readonly bigint[];
  readonly sids: readonly number[];
  /** Devices whose PASID capability the input enabled (last PASID Control write with Enable set). */
  readonly pasidOn: readonly string[];
}

/** Default places for structures an input has not set up (inside the smallest RAM the fuzzer gives: 32 MiB). */
const AREA = { strtab: ARM_RAM_BASE + 0x10_0000n, cmdq: ARM_RAM_BASE + 0x11_0000n, evtq: ARM_RAM_BASE + 0x12_0000n, cd: ARM_RAM_BASE + 0x30_0000n, pt: ARM_RAM_BASE + 0x40_0000n, data: ARM_RAM_BASE + 0x80_0000n };

/** The addresses `input` uses (the last value written to each base register wins). */
export function scan(input: SmmuInput): SmmuContext {
  let strtab = AREA.strtab;
  let cmdqBase = AREA.cmdq;
  let cmdqLog2 = 8;
  let prod = 0;
  // Pages in first-use order, told apart by page number (a Set of numbers: no BigInt hashing per step).
  const pages: bigint[] = [];
  const pageSeen = new Set<number>();
  const iovas = new Set<bigint>();
  const pasidOn = new Set<string>();
  for (const s of input.steps) {
    if (s.op === 'mmio.write' && s.offset === R.STRTAB_BASE) strtab = s.value & 0x000f_ffff_ffff_ffc0n;
    else if (s.op === 'mmio.write' && s.offset === R.CMDQ_BASE) { cmdqBase = s.value & 0x000f_ffff_ffff_ffe0n; cmdqLog2 = Math.min(Number(s.value & 0x1fn), 10); prod = 0; }
    else if (s.op === 'mmio.write' && s.offset === R.CMDQ_PROD) prod = Number(s.value & 0xf_ffffn);
    else if (s.op === 'mem.write' || s.op === 'mem.fill') {
      const p = Number(s.gpa >> 12n); // exact: gpa is a u64
      if (!pageSeen.has(p)) { pageSeen.add(p); pages.push(s.gpa & ~0xfffn); }
    }
    else if (s.op === 'dma.read' || s.op === 'dma.write') iovas.add(s.iova);
    else if (s.op === 'pci.cfg.write' && s.offset === PASID_CONTROL) (s.value & 1n ? pasidOn.add(s.bdf) : pasidOn.delete(s.bdf));
  }
  return { strtab, cmdqBase, cmdqLog2, prod, pages, iovas: [...iovas], sids: input.machine.devices.map((d) => parseBdf(d.bdf)), pasidOn: [...pasidOn] };
}

const w = (gpa: bigint, u64: bigint[]): Step => ({ op: 'mem.write', gpa, u64 });
const mmio = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value });
/** Sets address field `fd` to `addr` (its low bits dropped). */
const putAddr = (words: bigint[], fd: BitField, addr: bigint): void => put(words, fd, (addr & ((1n << BigInt(fd.hi + 1)) - 1n)) >> BigInt(fd.lo));

/** A RAM page the input uses, or one of the default areas. */
function page(ctx: SmmuContext, r: Rng): bigint {
  return ctx.pages.length && r.chance(0.7) ? r.pick(ctx.pages) : r.pick(Object.values(AREA)) + BigInt(r.below(16) * 0x1000);
}

/** One register write: a plausible value for a register the driver programs, or any offset and value. */
export function registerStep(ctx: SmmuContext, r: Rng, m: SmmuMachine): Step {
  const ramTop = ARM_RAM_BASE + BigInt(m.ram_mib) * 0x10_0000n;
  const addr = (): bigint => (r.chance(0.85) ? page(ctx, r) : r.chance(0.5) ? ramTop - 0x1000n : r.u64() & 0x000f_ffff_ffff_f000n);
  switch (r.below(12)) {
    case 0: return mmio(R.CR0, 4, BigInt(r.chance(0.7) ? 0xd : r.below(32)));
    case 1: return mmio(R.GBPA, 4, BigInt(((r.chance(0.8) ? 0x8000_0000 : 0) | (r.chance(0.5) ? 1 << 20 : 0)) >>> 0));
    case 2: return mmio(R.STRTAB_BASE, 8, addr() | (r.chance(0.5) ? 1n << 62n : 0n));
    case 3: return mmio(R.STRTAB_BASE_CFG, 4, BigInt(r.pick([5, 6, 8, 16, r.below(64)]) | (r.chance(0.2) ? (1 << 16) | (r.pick([6, 8, 10]) << 6) : 0)));
    case 4: return mmio(R.CMDQ_BASE, 8, addr() | BigInt(r.pick([0, 1, 3, 8, r.below(32)])));
    case 5: return mmio(R.EVENTQ_BASE, 8, addr() | BigInt(r.pick([0, 1, 3, 8, r.below(32)])));
    case 6: return mmio(R.CMDQ_PROD, 4, BigInt(r.chance(0.7) ? (ctx.prod + r.between(-2, 4)) & 0x7ff : r.u32()));
    case 7: return mmio(r.pick([R.EVENTQ_CONS, R.EVENTQ_PROD, R.CMDQ_CONS]), 4, BigInt(r.chance(0.7) ? r.below(64) : r.u32()));
    case 8: return mmio(R.GERRORN, 4, BigInt(r.chance(0.6) ? 1 : r.below(0x200)));
    case 9: return mmio(R.IRQ_CTRL, 4, BigInt(r.below(8)));
    case 10: return mmio(r.pick([R.EVENTQ_IRQ_CFG0, R.GERROR_IRQ_CFG0]), 8, r.chance(0.7) ? addr() : r.u64());
    default: {
      const size = r.pick([4, 8] as const);
      return mmio(r.below(SMMU_FRAME / size) * size, size, r.chance(0.5) ? r.u64() & 0xffff_ffffn : r.u64() & (size === 4 ? 0xffff_ffffn : (1n << 64n) - 1n));
    }
  }
}

/** A stream table entry (§5.2) for one of the devices: stage 1 mostly, bypass, abort, reserved configs, CD tables. */
export function steStep(ctx: SmmuContext, r: Rng): Step {
  const sid = ctx.sids.length && r.chance(0.9) ? r.pick(ctx.sids) : r.below(256);
  const words = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  put(words, STE.V, r.chance(0.92) ? 1 : 0);
  put(words, STE.Config, r.pick([0b101, 0b101, 0b101, 0b100, 0b000, 0b110, 0b111, r.below(8)]));
  const cdMax = r.chance(0.7) ? 0 : r.below(6);
  put(words, STE.S1CDMax, cdMax);
  put(words, STE.S1Fmt, r.chance(0.85) ? 0 : r.below(4));
  putAddr(words, STE.S1ContextPtr, r.chance(0.8) ? AREA.cd + BigInt(r.below(4) * 0x1000) : page(ctx, r) + BigInt(r.below(64) * 64));
  put(words, STE.S1DSS, r.below(4));
  if (r.chance(0.3)) put(words, STE.EATS, r.below(4));
  if (r.chance(0.2)) put(words, STE.STRW, r.below(4));
  if (r.chance(0.15)) words[2] = r.u64();
  if (r.chance(0.15)) words[3] = r.u64() & 0x000f_ffff_ffff_fff0n;
  return w(ctx.strtab + BigInt(sid) * 64n, words);
}

/** A context descriptor (§5.4) at a CD slot: a valid 4 KiB-granule AArch64 CD mostly, with wild fields sometimes. */
export function cdStep(ctx: SmmuContext, r: Rng): Step {
  const words = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  put(words, CD.T0SZ, r.pick([16, 16, 25, 39, r.below(64)]));
  put(words, CD.TG0, r.chance(0.9) ? 0 : r.below(4));
  put(words, CD.EPD0, r.chance(0.08) ? 1 : 0);
  put(words, CD.EPD1, r.chance(0.8) ? 1 : 0);
  put(words, CD.V, r.chance(0.92) ? 1 : 0);
  put(words, CD.IPS, r.chance(0.8) ? 5 : r.below(8));
  put(words, CD.AFFD, r.chance(0.2) ? 1 : 0);
  put(words, CD.HA, r.chance(0.2) ? 1 : 0);
  put(words, CD.HD, r.chance(0.2) ? 1 : 0);
  put(words, CD.AA64, r.chance(0.95) ? 1 : 0);
  put(words, CD.R, r.chance(0.85) ? 1 : 0);
  put(words, CD.A, 1);
  put(words, CD.ASID, r.below(8));
  putAddr(words, CD.TTB0, AREA.pt + BigInt(r.below(4) * 0x1000));
  if (r.chance(0.1)) words[0] = r.u64();
  const at = AREA.cd + BigInt(r.below(4) * 0x1000) + BigInt(r.chance(0.6) ? 0 : r.below(8) * 64);
  return w(at, words);
}

/**
 * A 4 KiB-granule AArch64 chain for `iova` under the root at AREA.pt
 * (4 levels, T0SZ 16): table descriptors (APTable sometimes) down to a
 * page or block with random AF, AP[2:1], DBM, XN, towards a data page.
 */
export function tableChain(ctx: SmmuContext, r: Rng): Step[] {
  const iova = ctx.iovas.length && r.chance(0.7) ? r.pick(ctx.iovas) & ~0xfffn : BigInt(r.below(1 << 20)) << 12n;
  const root = AREA.pt + BigInt(r.below(4) * 0x1000);
  const out: Step[] = [];
  let table = root;
  const leafLevel = r.chance(0.8) ? 3 : r.pick([1, 2]);
  for (let level = 0; level <= leafLevel; level++) {
    const at = table + ((iova >> BigInt(12 + 9 * (3 - level))) & 0x1ffn) * 8n;
    if (level < leafLevel) {
      const next = AREA.pt + BigInt((4 + r.below(60)) * 0x1000);
      out.push(w(at, [next | 3n | (r.chance(0.1) ? 1n << 62n : 0n)]));
      table = next;
    } else {
      const size = 1n << BigInt(12 + 9 * (3 - level));
      const target = (AREA.data + BigInt(r.below(64)) * size) & ~(size - 1n);
      const attrs = 1n | (level === 3 ? 2n : 0n) | (r.chance(0.85) ? 1n << 10n : 0n) | (BigInt(r.below(4)) << 6n) | (r.chance(0.2) ? 1n << 51n : 0n) | (r.chance(0.1) ? 1n << 54n : 0n);
      out.push(w(at, [target | attrs]));
    }
  }
  return out;
}

/** Commands of every opcode with their fields (`ctx` for StreamIDs and addresses); `[w0, w1]`. */
function command(ctx: SmmuContext, r: Rng): bigint[] {
  const words = [0n, 0n];
  const sid = ctx.sids.length && r.chance(0.8) ? r.pick(ctx.sids) : r.below(1 << 16);
  const kind = r.below(8);
  if (kind === 0) return [r.u64(), r.u64()]; // garbage
  if (kind === 1) return [BigInt(r.pick([0x00, 0x08, 0x47, 0x7f, 0xff, r.below(256)])) | (r.u64() & ~0xffn), r.u64()]; // illegal / odd opcodes
  const op = r.pick(Object.values(OP));
  put(words, CMD.opcode, op);
  put(words, CMD.SID, sid);
  if (r.chance(0.3)) { put(words, CMD.SSV, 1); put(words, CMD.SSID, r.below(8)); }
  put(words, CMD.ASID, r.below(8));
  if (op === OP.CFGI_STE_RANGE) put(words, CMD.Range, r.chance(0.5) ? 31 : r.below(32));
  else if (op === OP.CMD_SYNC) { // odd ones (syncCommand makes the usual)
    put(words, CMD.CS, r.below(4));
    if (r.chance(0.5)) putAddr(words, CMD.MSIAddress, r.u64());
  } else if (op >= OP.TLBI_NH_ALL && op <= OP.TLBI_S2_IPA) {
    putAddr(words, CMD.Address, ctx.iovas.length && r.chance(0.7) ? r.pick(ctx.iovas) : r.u64());
    put(words, CMD.TTL, r.below(4));
    put(words, CMD.TG, r.below(4));
    if (r.chance(0.3)) { put(words, CMD.NUM, r.below(32)); put(words, CMD.SCALE, r.below(32)); }
    put(words, CMD.Leaf, r.below(2));
  } else if (op === OP.ATC_INV) put(words, CMD.ATC_Size, r.below(64));
  else if (op === OP.PRI_RESP) { put(words, CMD.PRGI, r.below(512)); put(words, CMD.Resp, r.below(4)); }
  else put(words, CMD.Leaf, r.below(2));
  return words;
}

/** `cmds` written at the queue's PROD slots and the PROD write that hands them over. */
function enqueue(ctx: SmmuContext, cmds: readonly bigint[][]): Step[] {
  const mask = (2 << ctx.cmdqLog2) - 1;
  const out: Step[] = [];
  let p = ctx.prod & mask;
  for (const c of cmds) {
    out.push(w(ctx.cmdqBase + BigInt((p & ((1 << ctx.cmdqLog2) - 1)) * 16), c));
    p = (p + 1) & mask;
  }
  out.push(mmio(R.CMDQ_PROD, 4, BigInt(p)));
  return out;
}

/** A CMD_SYNC (§4.7.3) completing by MSI (CS = SIG_IRQ, an address the input uses) mostly, else by SEV or nothing. */
function syncCommand(ctx: SmmuContext, r: Rng): bigint[] {
  const sync = [0n, 0n];
  put(sync, CMD.opcode, OP.CMD_SYNC);
  put(sync, CMD.CS, r.pick([1, 1, 1, 0, 2]));
  put(sync, CMD.MSIData, r.u32());
  if (r.chance(0.9)) putAddr(sync, CMD.MSIAddress, page(ctx, r) + BigInt(r.below(1024) * 4));
  return sync;
}

/**
 * 1-4 commands (any opcode, garbage), followed by a CMD_SYNC half the time
 * as a driver does, and the doorbell; or the driver's full invalidation
 * (CFGI_ALL, TLBI_NSNH_ALL, CMD_SYNC).
 */
export function commandSteps(ctx: SmmuContext, r: Rng): Step[] {
  if (r.chance(0.25)) {
    const all = [0n, 0n];
    put(all, CMD.opcode, OP.CFGI_STE_RANGE);
    put(all, CMD.Range, 31);
    return enqueue(ctx, [all, [BigInt(OP.TLBI_NSNH_ALL), 0n], syncCommand(ctx, r)]);
  }
  const cmds = Array.from({ length: 1 + r.below(4) }, () => command(ctx, r));
  return enqueue(ctx, r.chance(0.5) ? [...cmds, syncCommand(ctx, r)] : cmds);
}

/** A SubstreamID: mostly small ones (the CD tables the fuzzer writes cover them), sometimes any 20-bit value. */
export function ssidValue(r: Rng): number {
  return r.chance(0.8) ? r.below(8) : r.below(1 << 20);
}

/**
 * A DMA from a device: near the addresses the input uses, with a
 * SubstreamID (the device's PASID) sometimes where the profile takes the
 * `pasid` extension.
 */
export function dmaStep(ctx: SmmuContext, r: Rng, m: SmmuMachine): Step | undefined {
  if (m.devices.length === 0) return undefined;
  const base = ctx.iovas.length && r.chance(0.7) ? r.pick(ctx.iovas) : r.chance(0.5) ? BigInt(r.below(1 << 20)) << 12n : r.u64();
  const iova = (base + BigInt(r.pick([0, 0, 8, 0xff8, 0x1000, -0x1000]))) & ((1n << 64n) - 1n);
  const len = r.pick([8, 8, 4, 1, 64, 4095, 1 + r.below(4095)]); // the scenario format's DMA lengths: 1..4095
  const pasid = !reproducesReference(m.profile) && r.chance(0.3) ? ssidValue(r) : undefined;
  return { op: r.chance(0.5) ? 'dma.read' : 'dma.write', bdf: r.pick(m.devices).bdf, iova, len, ...(pasid === undefined ? {} : { pasid }) };
}

/** Configuration-space offset of the dma-test device's PASID Control register (PCIe §7.8.8.3). */
const PASID_CONTROL = CAPS.pasid + 6;

/**
 * A write to a device's PASID Control (through the Arm machine's ECAM, a
 * viommu extension): Enable with Execute and Privileged Mode Enable most of
 * the time (always with `enable`), else any value, clearing Enable too.
 */
export function pasidControlStep(r: Rng, m: SmmuMachine, bdf = m.devices.length ? r.pick(m.devices).bdf : '00:03.0', enable = false): Step {
  const value = enable || r.chance(0.7) ? 7n : BigInt(r.below(0x10000));
  return { op: 'pci.cfg.write', bdf, offset: PASID_CONTROL, size: 2, value };
}

/** A random, all-ones or pointer-like word on a page the input uses. */
export function noiseStep(ctx: SmmuContext, r: Rng): Step {
  const value = r.pick([r.u64(), (1n << 64n) - 1n, 0n, page(ctx, r) | BigInt(r.below(4096))]);
  return w(page(ctx, r) + BigInt(r.below(512) * 8), [value]);
}
