/**
 * An SMMUv3 as the physical IOMMU under the host object model: the host's
 * driver of a real SMMU register frame (IHI 0070; the way Linux's
 * arm-smmu-v3 programs one), with its 2-level stream table, command queue
 * and event queue in host table memory. A paging domain becomes a stage-2
 * STE (VMID = the domain's DID, S2TTB = its VMSAv8-64 stage-2 table, the
 * `tableFormat` HwptPaging builds); an SMMUv3 nested domain (arm-nested.ts)
 * becomes a nested STE — the guest's stage-1 fields (Config, S1ContextPtr
 * as an IPA, S1Fmt, S1CDMax, S1DSS, ...) over the parent's stage 2 with the
 * vIOMMU's VMID. Invalidations go out as commands with a CMD_SYNC; events
 * the SMMU logs are drained on its event interrupt and the stage-1 ones of
 * nested streams go to the domain's `report` (its vIOMMU's vEVENTQ).
 *
 * Streams only: a PASID attach is EOPNOTSUPP (under nesting the
 * SubstreamIDs are the guest's, in the guest's CD table).
 */
import { fail } from './errors.js';
import { PAGE, type HostPages } from './host-pages.js';
import { RID_PASID, type DomainProgram, type PhysicalIommu, type SmmuNestedProgram } from './backend.js';
import { coveringBlock } from './table-iommu.js';
import { ARM_S2_FORMAT } from './arm-s2-format.js';
import type { SsFormat } from './ss-table.js';
import { get, put } from '../smmu/spec/bits.js';
import { CMD_BYTES, OP, SYNC_CS } from '../smmu/spec/commands.js';
import { EVT, EVT_BYTES, EVT_FIELD } from '../smmu/spec/events.js';
import { CR0, IRQ_CTRL, SMMU_REG as R } from '../smmu/spec/registers.js';
import { L1STD, STE, STE_BYTES, STE_CONFIG } from '../smmu/spec/ste.js';
import type { Did, Iova, Pasid, Sid } from '../types.js';

/** The SMMU's register frame as the driver reaches it (an SmmuUnit's). */
export interface SmmuMmio {
  /** A 4- or 8-byte read at `offset` in the frame. */
  mmioRead(offset: number, size: number): bigint;
  /** A 4- or 8-byte write at `offset` in the frame. */
  mmioWrite(offset: number, size: number, value: bigint): void;
}

/** StreamID bits and the 2-level split of the host's stream table. */
const SID_BITS = 16;
const SPLIT = 8;
/** Pages of one level-2 stream table (2^SPLIT STEs of 64 bytes). */
const L2_PAGES = (STE_BYTES << SPLIT) / Number(PAGE);
/** Queue sizes (log2 entries): one page each. */
const CMDQ_LOG2 = 8;
const EVTQ_LOG2 = 7;
/** Events Linux forwards to a vIOMMU (arm_smmu_handle_evt): stage-1 configuration and translation faults. */
const GUEST_EVENTS: ReadonlySet<number> = new Set([
  EVT.C_BAD_STE, EVT.F_STREAM_DISABLED, EVT.C_BAD_SUBSTREAMID, EVT.C_BAD_CD,
  EVT.F_TRANSLATION, EVT.F_ADDR_SIZE, EVT.F_ACCESS, EVT.F_PERMISSION,
]);
/** Largest page-selective TLBI_S2_IPA run before a whole-VMID invalidation. */
const MAX_IPA_PAGES = 64;

/** A stream installed: its VMID and where its events go. */
interface Installed { readonly vmid: number; readonly did: number; readonly report?: SmmuNestedProgram['report'] }

/** The host driver of one SMMUv3. */
export class PhysicalSmmu implements PhysicalIommu {
  readonly ssLevels = 4 as const;
  readonly maxLeafLg2 = 30 as const;
  readonly tableFormat: SsFormat = ARM_S2_FORMAT;
  private readonly strtab: bigint;
  private readonly cmdq: bigint;
  private readonly evtq: bigint;
  private cmdProd = 0;
  private evtCons = 0;
  private readonly l2 = new Map<number, bigint>();
  private readonly streams = new Map<number, Installed>();

  /**
   * Takes over the SMMU at `unit`: stream table, queues, event interrupt, SMMUEN.
   * @param pages Host memory for its stream table, queues and the domains' tables.
   */
  constructor(readonly pages: HostPages, private readonly unit: SmmuMmio) {
    this.strtab = pages.alloc('SMMU level-1 stream table');
    this.cmdq = pages.alloc('SMMU command queue');
    this.evtq = pages.alloc('SMMU event queue');
    const w32 = (off: number, v: number) => unit.mmioWrite(off, 4, BigInt(v >>> 0));
    unit.mmioWrite(R.STRTAB_BASE, 8, this.strtab);
    w32(R.STRTAB_BASE_CFG, (1 << 16) | (SPLIT << 6) | SID_BITS);
    unit.mmioWrite(R.CMDQ_BASE, 8, this.cmdq | BigInt(CMDQ_LOG2));
    unit.mmioWrite(R.EVENTQ_BASE, 8, this.evtq | BigInt(EVTQ_LOG2));
    w32(R.IRQ_CTRL, IRQ_CTRL.EVENTQ_IRQEN);
    w32(R.CR0, CR0.CMDQEN | CR0.EVENTQEN);
    this.issue([cmd(OP.CFGI_STE_RANGE, 0, [31n]), cmd(OP.TLBI_NSNH_ALL, 0)]);
    w32(R.CR0, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
  }

  install(sid: Sid, pasid: Pasid, program: DomainProgram): void {
    if (pasid !== RID_PASID) fail('EOPNOTSUPP', `pasid: ${pasid}: the SMMUv3 attaches whole streams (the guest owns the SubstreamIDs)`);
    if (program.kind === 'nested') fail('EOPNOTSUPP', 'program: a VT-d first stage does not fit an SMMUv3 STE');
    const at = this.steAddr(sid);
    const words = program.kind === 'paging' ? s2Ste(program.did, program.ssptptr, program.levels) : nestedSte(program);
    for (let i = words.length - 1; i >= 0; i--) this.pages.mem.writeU64(at + BigInt(8 * i), words[i]!); // doubleword 0 (V) last
    this.issue([cmd(OP.CFGI_STE, sid, [1n])]);
    const vmid = program.kind === 'paging' ? program.did : program.vmid;
    this.streams.set(sid, { vmid, did: program.did, report: program.kind === 'smmu-nested' ? program.report : undefined });
  }

  /** Blocks the stream: an abort STE (its level-2 table stays, as Linux keeps them; a missing one would be C_BAD_STREAMID). */
  remove(sid: Sid, pasid: Pasid): void {
    if (pasid !== RID_PASID || !this.streams.delete(sid)) return;
    const at = this.l2.get(sid >>> SPLIT)! + BigInt((sid & ((1 << SPLIT) - 1)) * STE_BYTES);
    this.pages.mem.fill(at, STE_BYTES, 0);
    this.pages.mem.writeU64(at, abortSte());
    this.issue([cmd(OP.CFGI_STE, sid, [1n])]);
  }

  /** Stage-2 mappings of domain `did` changed: TLBI_S2_IPA over the range, or the VMID's combined entries (a nested domain's DID). */
  flushSecondStage(did: Did, iova: Iova, len: bigint): void {
    const nested = [...this.streams.values()].find((s) => s.did === did && s.vmid !== did);
    if (nested) {
      this.issue([cmd(OP.TLBI_S12_VMALL, 0, [0n], nested.vmid)]);
      return;
    }
    const block = coveringBlock(iova, len);
    if (block === undefined || block.am > Math.log2(MAX_IPA_PAGES)) {
      this.issue([cmd(OP.TLBI_S12_VMALL, 0, [0n], did)]);
      return;
    }
    const cmds: bigint[][] = [];
    for (let i = 0n; i < 1n << BigInt(block.am); i++) cmds.push(cmd(OP.TLBI_S2_IPA, 0, [block.base + i * PAGE], did));
    this.issue(cmds);
  }

  /** Stage-1 invalidations of nested SMMUv3 domains arrive as guest commands through the vIOMMU (arm-viommu.ts), not here. */
  flushFirstStage(): void {}

  /** No PRI: nothing is ever in flight. */
  drainPageRequests(): void {}

  /** Writes `cmds` and a CMD_SYNC to the command queue and rings it; throws (a host bug) if the SMMU stops at one. */
  issue(cmds: readonly bigint[][]): void {
    for (const c of [...cmds, cmd(OP.CMD_SYNC, 0, [0n], 0, SYNC_CS.NONE)]) {
      const at = this.cmdq + BigInt((this.cmdProd & ((1 << CMDQ_LOG2) - 1)) * CMD_BYTES);
      this.pages.mem.writeU64(at, c[0]!);
      this.pages.mem.writeU64(at + 8n, c[1]!);
      this.cmdProd = (this.cmdProd + 1) & ((2 << CMDQ_LOG2) - 1);
    }
    this.unit.mmioWrite(R.CMDQ_PROD, 4, BigInt(this.cmdProd));
    const cons = Number(this.unit.mmioRead(R.CMDQ_CONS, 4));
    if ((cons >>> 24) & 0x7f) throw new Error(`smmu backend: command at index ${cons & 0xfffff} stopped the queue (CERROR ${(cons >>> 24) & 0x7f})`);
  }

  /** The SMMU's event interrupt: drains the event queue and hands stage-1 events of nested streams to their domain. */
  onEventInterrupt(): void {
    const mask = (2 << EVTQ_LOG2) - 1;
    const prod = Number(this.unit.mmioRead(R.EVENTQ_PROD, 4)) & mask;
    while (this.evtCons !== prod) {
      const at = this.evtq + BigInt((this.evtCons & ((1 << EVTQ_LOG2) - 1)) * EVT_BYTES);
      const record = [0, 1, 2, 3].map((i) => this.pages.mem.readU64(at + BigInt(8 * i)));
      this.evtCons = (this.evtCons + 1) & mask;
      const sid = get(record, EVT_FIELD.SID);
      if (GUEST_EVENTS.has(get(record, EVT_FIELD.type)) && get(record, EVT_FIELD.S2) === 0) this.streams.get(sid)?.report?.(sid, record);
    }
    this.unit.mmioWrite(R.EVENTQ_CONS, 4, BigInt(this.evtCons));
  }

  /** The STE slot of `sid`, its level-2 table made on first use (all-or-nothing). */
  private steAddr(sid: number): bigint {
    if (!Number.isInteger(sid) || sid < 0 || sid >= 1 << SID_BITS) fail('EINVAL', `sid: ${sid} is beyond the ${SID_BITS}-bit stream table`);
    const l1 = sid >>> SPLIT;
    let l2 = this.l2.get(l1);
    if (l2 === undefined) {
      l2 = this.pages.allocRun(L2_PAGES, 'SMMU level-2 stream table');
      this.l2.set(l1, l2);
      // Every STE of a new level-2 table aborts until installed (V = 1, Config abort).
      for (let i = 0; i < 1 << SPLIT; i++) this.pages.mem.writeU64(l2 + BigInt(i * STE_BYTES), abortSte());
      const d = [0n];
      put(d, L1STD.L2Ptr, l2 >> 6n);
      put(d, L1STD.Span, SPLIT + 1);
      this.pages.mem.writeU64(this.strtab + BigInt(l1) * 8n, d[0]!);
      this.issue([cmd(OP.CFGI_STE_RANGE, l1 << SPLIT, [BigInt(SPLIT - 1)])]);
    }
    return l2 + BigInt((sid & ((1 << SPLIT) - 1)) * STE_BYTES);
  }
}

/** A command: opcode, StreamID (doubleword 0 bits 63:32), doubleword 1, VMID, CMD_SYNC's CS. */
function cmd(op: number, sid: number, w1: bigint[] = [0n], vmid?: number, cs?: number): bigint[] {
  const w = [BigInt(op) | (BigInt(sid) << 32n), w1[0] ?? 0n];
  if (vmid !== undefined) w[0] = BigInt(op) | (BigInt(vmid) << 32n);
  if (cs !== undefined) w[0] |= BigInt(cs) << 12n;
  return w;
}

/** A valid abort STE (a blocked stream). */
function abortSte(): bigint {
  return 1n | (BigInt(STE_CONFIG.ABORT) << 1n);
}

/** The stage-2 fields of a host domain (4 KiB granule, 48-bit IPA from `levels`, VMID, S2TTB, faults recorded). */
function putStage2(w: bigint[], vmid: number, s2ttb: bigint, levels: 3 | 4 | 5): void {
  const ipaBits = 12 + 9 * Math.min(levels, 4);
  put(w, STE.S2VMID, vmid);
  put(w, STE.S2T0SZ, 64 - ipaBits);
  put(w, STE.S2SL0, ipaBits === 48 ? 2 : 1); // 4 KiB granule: SL0 2 starts at level 0, 1 at level 1
  put(w, STE.S2PS, 5);
  put(w, STE.S2AA64, 1);
  put(w, STE.S2R, 1);
  put(w, STE.S2TTB, s2ttb >> 4n);
}

/** A stage-2-only STE. */
function s2Ste(vmid: number, s2ttb: bigint, levels: 3 | 4 | 5): bigint[] {
  const w = new Array<bigint>(8).fill(0n);
  put(w, STE.V, 1);
  put(w, STE.Config, STE_CONFIG.S2);
  putStage2(w, vmid, s2ttb, levels);
  return w;
}

/** The physical STE of a guest STE: abort stays abort, bypass becomes stage 2 only, stage 1 becomes nested. */
function nestedSte(p: SmmuNestedProgram): bigint[] {
  const guest = get(p.ste, STE.V) === 0 ? STE_CONFIG.ABORT : get(p.ste, STE.Config);
  if (guest === STE_CONFIG.ABORT) return [abortSte(), 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  if (guest === STE_CONFIG.BYPASS) return s2Ste(p.vmid, p.ssptptr, p.levels);
  const w = [p.ste[0], p.ste[1], 0n, 0n, 0n, 0n, 0n, 0n];
  put(w, STE.Config, STE_CONFIG.NESTED);
  putStage2(w, p.vmid, p.ssptptr, p.levels);
  return w;
}
