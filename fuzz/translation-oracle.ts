/**
 * Translation oracles against the slow reference model (asm/tests/reference),
 * on machines whose profile switches the reference implements:
 *
 * - DMA safety, per DMA step: when no guest-memory write has touched a page
 *   the translations since the last full flush read (so no cache can be
 *   stale, §6.5 "software must invalidate"), a DMA that succeeds must be
 *   allowed by the guest's tables for every page it touches, with the needed
 *   permission, and must have moved the bytes to/from exactly the address the
 *   tables give. A DMA the tables allow must not fault.
 * - Fast core vs reference, at the end of an input: after invalidating every
 *   cache, the core's answer for each address the input's DMA used equals
 *   the reference's (status, FPD suppression, address, page size, rights).
 */
import { ACC } from '../asm/tests/reference/constants.js';
import type { RefCaps, RefRoot } from '../asm/tests/reference/config.js';
import { readQ } from '../asm/tests/reference/paging.js';
import { refTranslate, type RefResult } from '../asm/tests/reference/translate.js';
import type { GuestMemoryLike } from '../host/src/tables/guest-ram.js';
import type { Core } from '../host/src/core/core.js';
import * as K from '../host/src/core/constants.js';
import type { Machine } from '../host/src/machine.js';
import type { InvalidationEvent } from '../host/src/vtd/cache-invalidation.js';
import { parseBdf } from '../host/src/types.js';
import { cacheFills } from './cache-scope-oracle.js';
import { answerStore, stillHolds, WalkRecorder, type Answer, type AnswerStore } from './walk-answers.js';

const PAGE_MASK = ~0xfffn;
/**
 * Profile switches that change translation results and that the reference
 * model does not implement (QEMU's first-stage check order, 7.2's PGTT=1 as
 * second stage, ignored directory FPD, 7.2's single PASID fault code). On a
 * machine with any of them the reference oracles stay silent.
 */
const UNMODELED_QUIRKS = K.QUIRK_FS_AD_IF_A_CLEAR | K.QUIRK_FS_AS_SS | K.QUIRK_NO_PDIR_FPD | K.QUIRK_PASID_FAULTS_0X58;
/** DMA address width of the scenario devices (host/src/scenario/parse.ts REFERENCE_DMA_MASK_BITS). */
const DMA_MASK = (1n << 28n) - 1n;

/** The capability values the reference needs, read from the core's configuration (docs/ABI.md). */
export function capsOf(core: Core): RefCaps {
  const g = (k: number): number => core.unsafeExports.getConfig(k);
  const b = (k: number): boolean => g(k) !== 0;
  return {
    sagaw: g(K.CFG_SAGAW), mgaw: g(K.CFG_MGAW), haw: g(K.CFG_HAW), sslps: g(K.CFG_SSLPS),
    fs1gp: b(K.CFG_FS1GP), fs5lp: b(K.CFG_FS5LP), pt: b(K.CFG_ECAP_PT), sc: b(K.CFG_ECAP_SC),
    nest: b(K.CFG_ECAP_NEST), srs: b(K.CFG_ECAP_SRS), ers: b(K.CFG_ECAP_ERS), dt: b(K.CFG_ECAP_DT),
    pasid: b(K.CFG_ECAP_PASID), smts: b(K.CFG_ECAP_SMTS), fsts: b(K.CFG_ECAP_FSTS), ssts: b(K.CFG_ECAP_SSTS),
    prs: b(K.CFG_ECAP_PRS), pasidBits: g(K.CFG_PASID_BITS), quirks: g(K.CFG_QUIRKS),
  };
}

/** One page-sized piece of a DMA. */
interface Piece {
  readonly iova: bigint;
  readonly len: number;
  readonly bufOff: number;
  readonly ref: RefResult;
}

/** True when `mem` equals `buffer` from `off` byte for byte (RAM through a view: a copy per judged piece was an allocation). */
function sameAsBuffer(mem: Uint8Array, buffer: Uint8Array, off: number): boolean {
  for (let i = 0; i < mem.length; i++) if (mem[i] !== buffer[off + i]) return false;
  return true;
}

/** A root's key in the answer store. */
const rootKey = (r: RefRoot): string => `${r.rta}/${r.ttm}/${r.enabled ? 1 : 0}`;

const show = (r: { status: number; addr: bigint }): string =>
  (r.status === 0 ? `ok 0x${r.addr.toString(16)}` : `fault 0x${r.status.toString(16)}`);

/** Watches one machine: root latches, cache flushes, memory writes; checks DMA against the tables. */
export class TranslationOracle {
  private root: RefRoot = { rta: 0n, ttm: 0, enabled: false };
  private readonly caps: RefCaps;
  /** Pages (numbers: gpa >> 12) the translations since the last flush read (table pages a cache may hold). */
  private readonly tablePages = new Set<number>();
  /**
   * The domain lookups since the last flush, with the root, context and
   * PASID words each read. The unit writes guest memory the oracle is not
   * told of: A/D bits of first-stage entries (§3.6.3). Harmless in a page
   * of first-stage entries, but a guest whose first-stage table aliases
   * these structures has the unit change an entry it may hold cached (fuzz
   * finding fs-ad-write-into-root-entry): after each DMA, a lookup whose
   * words changed means DMA is not judged until the next flush.
   */
  private readonly lookups = new Map<number, Answer<number | undefined>>();
  private stale = false;
  /**
   * Requesters of each domain id since the last flush. Caches are tagged by
   * domain, not by requester (VT-d §6.2.1): devices a guest put in one
   * domain with different tables or widths (a guest bug) may be served each
   * other's cached translations and paging-structure entries, which the
   * per-device reference cannot predict; once a domain has two requesters,
   * DMA is not judged until the next flush.
   */
  private readonly domains = new Map<number, number>();
  private sharedDomain = false;
  private readonly refMem: GuestMemoryLike;
  /** False when the machine's profile has a switch the reference lacks. */
  readonly enabled: boolean;
  /**
   * Kept walk answers (walk-answers.ts) of this machine and root, by
   * request: reference answers by `(sid * 2^28 + iova) * 2 + write`,
   * domain lookups by `-1 - sid`. Undefined with `plain` (every request
   * walks).
   */
  private answers: Map<number, Answer<unknown>> | undefined;
  private readonly store: AnswerStore | undefined;
  /** The walk being recorded. */
  private recorder: WalkRecorder | undefined;

  /** `plain`: walk for every request, no answer reused (a test compares both ways). */
  constructor(private readonly machine: Machine, plain = false) {
    this.caps = capsOf(machine.core);
    this.enabled = (this.caps.quirks & UNMODELED_QUIRKS) === 0;
    this.store = plain || !this.enabled ? undefined : answerStore(machine, JSON.stringify(this.caps));
    this.answers = this.store?.answers(rootKey(this.root));
    const ram = machine.ram;
    this.refMem = {
      readU64: (gpa) => {
        const page = Number(gpa >> 12n);
        this.tablePages.add(page);
        this.recorder?.read(gpa, page);
        return ram.readU64(gpa);
      },
      writeU64: () => { throw new Error('reference must not write (ACC_NO_AD)'); },
      fill: () => { throw new Error('reference must not write'); },
    };
  }

  /** SRTP latched `rtaddr` (every cache is emptied). */
  rootLatched(rtaddr: bigint): void {
    this.root = { ...this.root, rta: rtaddr & PAGE_MASK, ttm: Number((rtaddr >> 10n) & 3n) };
    this.answers = this.store?.answers(rootKey(this.root));
    this.flushed();
  }

  /** GCMD.TE took effect (a change empties every cache). */
  translationEnabled(on: boolean): void {
    if (on !== this.root.enabled) this.flushed();
    this.root = { ...this.root, enabled: on };
    this.answers = this.store?.answers(rootKey(this.root));
  }

  /**
   * The unit ran a cache invalidation: once the context cache, the PASID
   * cache (scalable mode) and the IOTLB with its paging-structure caches
   * have each been invalidated globally since the last table write and with
   * no cache fill in between (every fill follows a miss: the core's miss
   * counters did not move), every cache is empty, so DMA is judged against
   * the tables again (a hit after a covering invalidation that disagrees
   * with a fresh walk is a finding).
   */
  invalidated(e: InvalidationEvent): void {
    const bit = e.kind === 'contextGlobal' ? 1 : e.kind === 'iotlbGlobal' ? 2 : e.kind === 'pasidCache' && e.granularity === 3 ? 4 : 0;
    if (bit === 0) return;
    const misses = cacheFills(this.machine.core);
    if (misses !== this.globalsMisses) {
      this.globals = 0; // a fill since the earlier invalidations: they no longer cover the caches
      this.globalsMisses = misses;
    }
    this.globals |= bit;
    const need = this.root.ttm === 1 ? 7 : 3;
    if ((this.globals & need) === need) this.flushed();
  }

  /** Global invalidations seen since the last flush, with no fill in between: bit 0 context cache, 1 IOTLB, 2 PASID cache. */
  private globals = 0;
  /** The core's cache misses when `globals` started accumulating. */
  private globalsMisses = -1;

  /**
   * A step the oracle did not walk filled a cache (`cacheFills` moved): a
   * request with PASID, an ATS translation request, a command a device
   * started or retried. Neither the pages it read nor the domain it tagged
   * (another requester's, VT-d §6.2.1) are known, so DMA is not judged
   * until the next full flush.
   */
  unwalkedFill(): void {
    this.stale = true; // invalidations before the fill no longer add up to a flush: `invalidated` sees the fill counters moved
  }

  /** Every cache is empty (SRTP, TE change: docs/ABI.md `invalidateAll`). */
  private flushed(): void {
    this.tablePages.clear();
    this.lookups.clear();
    this.domains.clear();
    this.sharedDomain = false;
    this.stale = false;
    this.globals = 0;
  }

  /** Guest memory `[gpa, gpa+len)` was written (by the guest, a DMA or the unit). */
  memoryWritten(gpa: number, len: number): void {
    if (this.tablePages.size === 0 || len <= 0) return;
    this.pagesWritten(Math.floor(gpa / 4096), Math.floor((gpa + len - 1) / 4096));
  }

  /** Guest pages `first..last` (numbers) were written. */
  private pagesWritten(first: number, last: number): void {
    for (let p = first; p <= last; p++) {
      if (this.tablePages.has(p)) {
        this.stale = true;
        this.globals = 0; // invalidations before this write do not cover it
        return;
      }
    }
  }

  /**
   * Guest memory was written at an address the oracle cannot know (a DMA
   * write it does not model: a request with PASID, a command started from
   * the device's registers or retried after a page response): any cached
   * table page may be stale until the next full flush.
   */
  untrackedWrite(): void {
    if (this.tablePages.size === 0) return;
    this.stale = true;
    this.globals = 0;
  }

  /** The reference's answer for a request without PASID (`iova` below 2^28, DMA_MASK). */
  private reference(sid: number, iova: bigint, write: boolean): RefResult {
    const access = (write ? ACC.WRITE : ACC.READ) | ACC.NO_AD;
    return this.walk((sid * 0x1000_0000 + Number(iova)) * 2 + (write ? 1 : 0),
      () => refTranslate(this.refMem, this.caps, this.root, { sid, pasid: 0, iova, access }));
  }

  /**
   * `fn()`, a walk over `refMem`, or its kept answer under `key` when every
   * word it read is unchanged (walk-answers.ts); its pages count as read
   * either way.
   */
  private walk<T>(key: number, fn: () => T): T {
    return this.answers ? this.kept(this.answers, key, fn).value : fn();
  }

  /** `fn()`'s answer with the words it read: the one kept under `key` when they still read the same (its pages count as read), else a new one, kept. */
  private kept<T>(answers: Map<number, Answer<unknown>>, key: number, fn: () => T): Answer<T> {
    const kept = answers.get(key) as Answer<T> | undefined;
    if (kept && stillHolds(kept, this.machine.ram)) {
      const pages = kept.pages;
      for (let i = 0; i < pages.length; i++) this.tablePages.add(pages[i]!);
      return kept;
    }
    const answer = this.recorded(fn);
    this.store!.keep(answers, key, answer);
    return answer;
  }

  /** `fn()`, a walk over `refMem`, with the words it read. */
  private recorded<T>(fn: () => T): Answer<T> {
    const rec = new WalkRecorder(this.machine.ram);
    this.recorder = rec;
    try {
      return rec.answer(fn());
    } finally {
      this.recorder = undefined;
    }
  }

  /**
   * Notes the domain `sid`'s present context (legacy: the context entry's
   * DID; scalable: its RID_PASID PASID entry's DID) names; a device without
   * one fills no cache. Two requesters in one domain: see `domains`.
   */
  private noteDomain(sid: number): void {
    const did = this.domainOf(sid);
    if (did === undefined) return;
    const other = this.domains.get(did);
    if (other === undefined) this.domains.set(did, sid);
    else if (other !== sid) this.sharedDomain = true;
  }

  /** The DID caches would tag `sid`'s entries with (VT-d §9.1-§9.6 layouts), or undefined without a present chain. */
  private domainOf(sid: number): number | undefined {
    const read = (): number | undefined => this.readDomain(sid);
    const a = this.answers ? this.kept(this.answers, -1 - sid, read) : this.recorded(read);
    this.lookups.set(sid, a);
    return a.value;
  }

  private readDomain(sid: number): number | undefined {
    const q = (gpa: bigint): bigint | undefined => readQ(this.refMem, gpa);
    const { rta, ttm } = this.root;
    const bus = BigInt(sid >> 8);
    const devfn = sid & 0xff;
    if (ttm === 0) {
      const root = q(rta + bus * 16n);
      if (root === undefined || (root & 1n) === 0n) return undefined;
      const ctx = (root & PAGE_MASK) + BigInt(devfn * 16);
      const lo = q(ctx);
      const hi = q(ctx + 8n);
      return lo === undefined || hi === undefined || (lo & 1n) === 0n ? undefined : Number((hi >> 8n) & 0xffffn);
    }
    if (ttm !== 1) return undefined;
    const root = q(rta + bus * 16n + (devfn >= 128 ? 8n : 0n));
    if (root === undefined || (root & 1n) === 0n) return undefined;
    const ctx = (root & PAGE_MASK) + BigInt((devfn & 0x7f) * 32);
    const lo = q(ctx);
    const hi = q(ctx + 8n);
    if (lo === undefined || hi === undefined || (lo & 1n) === 0n) return undefined;
    const ridPasid = hi & 0xfffffn;
    const dir = q((lo & PAGE_MASK) + (ridPasid >> 6n) * 8n);
    if (dir === undefined || (dir & 1n) === 0n) return undefined;
    const entry = (dir & PAGE_MASK) + (ridPasid & 0x3fn) * 64n;
    const p0 = q(entry);
    const p1 = q(entry + 8n);
    return p0 === undefined || p1 === undefined || (p0 & 1n) === 0n ? undefined : Number(p1 & 0xffffn);
  }

  /**
   * The reference's answers for the pages of a DMA, computed before it runs
   * (none when the oracle is off: nothing would read them).
   */
  before(bdf: string, iova: bigint, len: number, write: boolean): Piece[] {
    if (!this.enabled) return [];
    const sid = parseBdf(bdf);
    this.noteDomain(sid);
    const start = iova & DMA_MASK;
    const pieces: Piece[] = [];
    let off = 0;
    while (off < len) {
      const at = start + BigInt(off);
      const n = Math.min(len - off, Number(0x1000n - (at & 0xfffn)));
      const ref = this.reference(sid, at, write);
      pieces.push({ iova: at, len: n, bufOff: off, ref });
      off += n;
    }
    return pieces;
  }

  /**
   * Checks a DMA that ran: `ok` is the device's result, `buffer` its buffer.
   * Returns a message for a violation. Then accounts for the memory it wrote.
   */
  after(pieces: readonly Piece[], write: boolean, ok: boolean, buffer: Uint8Array): string | undefined {
    const msg = this.stale || this.sharedDomain || !this.enabled ? undefined : this.judge(pieces, write, ok, buffer);
    if (!this.stale) {
      for (const a of this.lookups.values()) {
        if (stillHolds(a, this.machine.ram)) continue;
        this.stale = true; // the unit changed a structure word (see `lookups`)
        this.globals = 0;
        break;
      }
    }
    if (write && this.tablePages.size > 0) {
      for (const p of pieces) if (p.ref.status === 0) this.pagesWritten(Number(p.ref.addr >> 12n), Number((p.ref.addr + BigInt(p.len) - 1n) >> 12n));
    }
    return msg;
  }

  private judge(pieces: readonly Piece[], write: boolean, ok: boolean, buffer: Uint8Array): string | undefined {
    const kind = write ? 'write' : 'read';
    const denied = pieces.find((p) => p.ref.status !== 0);
    if (ok && denied) return `DMA ${kind} at iova 0x${denied.iova.toString(16)} succeeded; the tables give ${show(denied.ref)}`;
    if (!ok && !denied) return `DMA ${kind} at iova 0x${pieces[0]!.iova.toString(16)} faulted; the tables map every page (${pieces.map((p) => show(p.ref)).join(', ')})`;
    if (!ok) return undefined;
    for (const p of pieces) {
      if (!this.machine.ram.contains(p.ref.addr, p.len)) continue; // master abort outside RAM
      if (!sameAsBuffer(this.machine.ram.view(Number(p.ref.addr), p.len), buffer, p.bufOff)) {
        return `DMA ${kind} at iova 0x${p.iova.toString(16)}: bytes at gpa 0x${p.ref.addr.toString(16)} differ from the device buffer`;
      }
    }
    return undefined;
  }

  /**
   * From empty caches each, compares the core with the reference for every
   * DMA address `targets` lists (sid, iova, write). Returns a message for a
   * disagreement. Changes cache state: call at the end of an input only.
   */
  coreAgrees(targets: readonly { bdf: string; iova: bigint; write: boolean }[]): string | undefined {
    if (!this.enabled) return undefined;
    const core = this.machine.core;
    for (const t of targets) {
      core.invalidateAll(); // each from empty caches: devices sharing a domain tag share IOTLB entries (§6.2.1)
      const sid = parseBdf(t.bdf);
      const iova = t.iova & DMA_MASK;
      const access = (t.write ? K.ACC_WRITE : K.ACC_READ) | K.ACC_NO_AD;
      const got = core.translate(sid, undefined, iova, access);
      const want = this.reference(sid, iova, t.write);
      const gotSup = (got.faultFlags & K.FF_SUPPRESSED) !== 0;
      const same = got.ok
        ? want.status === 0 && got.addr === want.addr && got.pageLg2 === want.pageLg2 && got.perms === want.perms
        : got.fault === want.status && gotSup === want.suppressed;
      if (!same) {
        return `core vs reference at sid 0x${sid.toString(16)} iova 0x${iova.toString(16)} ${t.write ? 'write' : 'read'}: `
          + `core ${got.ok ? `ok 0x${got.addr.toString(16)} lg2 ${got.pageLg2} perms ${got.perms}` : `fault 0x${got.fault.toString(16)}${gotSup ? ' suppressed' : ''}`}, `
          + `reference ${want.status === 0 ? `ok 0x${want.addr.toString(16)} lg2 ${want.pageLg2} perms ${want.perms}` : `fault 0x${want.status.toString(16)}${want.suppressed ? ' suppressed' : ''}`}`;
      }
    }
    return undefined;
  }
}
