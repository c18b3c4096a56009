/**
 * Test fixture for the core unit tests (asm/tests/core-*.test.ts): a core
 * with RAM, a bump page allocator in guest RAM, and raw encoders for root,
 * context, PASID and paging entries written straight from the VT-d bit
 * layouts (independent of the core's spec/ files and of host/src/vtd/spec/).
 */
import type { Core, Translation } from '../../host/src/core/core.js';
import { loadCore } from '../../host/src/core/load-node.js';
import { GuestMemory } from '../../host/src/core/guest-memory.js';
import * as K from '../../host/src/core/constants.js';

export { K };

/** Options of a paging-entry mapping. */
export interface MapOpts {
  /** Page size log2 (12, 21, 30). */
  lg2?: number;
  /** Second stage: R/W/X bits (default R|W); first stage: R/W, U/S (default both 1). */
  r?: boolean; w?: boolean; x?: boolean; us?: boolean; xd?: boolean;
  /** Extra bits ORed into the leaf. */
  leafBits?: bigint;
  /** Extra bits ORed into every non-leaf entry on the path. */
  tableBits?: bigint;
}

/** A unit with every address width: SAGAW 39/48/57-bit, MGAW 57, 5-level first stage (CAP.FS5LP). */
export const ALL_WIDTHS: readonly [number, number][] = [[K.CFG_SAGAW, 0xe], [K.CFG_MGAW, 57], [K.CFG_FS5LP, 1]];

/** A core with RAM at GPA 0 and helpers to build translation structures. */
export class Fixture {
  readonly mem: GuestMemory;
  private nextPage: bigint;
  rootTable = 0n;
  private ctxTables = new Map<number, bigint>();

  private constructor(readonly core: Core, readonly ramBytes: number) {
    this.mem = new GuestMemory(core);
    this.nextPage = 0x10_0000n;
  }

  /** A fixture over `core`, whose RAM (at GPA 0, `ramBytes` long) is already there. */
  static over(core: Core, ramBytes: number): Fixture {
    return new Fixture(core, ramBytes);
  }

  /**
   * A fresh core with `ramMib` MiB of RAM at 0 and the given config, over
   * ALL_WIDTHS: the core's own defaults are the default profile's 48-bit
   * unit; these tests walk 3, 4 and 5 levels.
   */
  static async create(ramMib = 32, config: [number, number][] = []): Promise<Fixture> {
    const core = await loadCore();
    core.addRam(0, ramMib * 0x10_0000);
    for (const [k, v] of [...ALL_WIDTHS, ...config]) core.setConfig(k, v);
    return new Fixture(core, ramMib * 0x10_0000);
  }

  /** A zeroed 4 KiB page of guest RAM. */
  page(): bigint {
    const p = this.nextPage;
    this.nextPage += 0x1000n;
    this.mem.fill(p, 4096, 0);
    return p;
  }

  /** Writes 64-bit words at gpa. */
  put(gpa: bigint, ...words: bigint[]): void {
    words.forEach((w, i) => this.mem.writeU64(gpa + BigInt(i * 8), w));
  }

  /** Legacy mode: a root table, SRTP (TTM=00), TE on. */
  legacy(): void {
    this.rootTable = this.page();
    this.ctxTables.clear();
    this.core.setRootTable(this.rootTable, 0);
    this.core.setTranslationEnabled(true);
  }

  /** Scalable mode: a root table, SRTP (TTM=01), TE on. */
  scalable(): void {
    this.rootTable = this.page();
    this.ctxTables.clear();
    this.core.setRootTable(this.rootTable, 1);
    this.core.setTranslationEnabled(true);
  }

  /** §9.3 legacy context entry for sid; returns its address. The root entry
   *  of the bus is created (P=1) on first use. */
  context(sid: number, e: { ssptr: bigint; did?: number; aw?: number; tt?: number; fpd?: boolean; p?: boolean; lo?: bigint; hi?: bigint }): bigint {
    const ctp = this.contextTable(sid >> 8, 16);
    const addr = ctp + BigInt((sid & 0xff) * 16);
    const lo = (e.p === false ? 0n : 1n) | (e.fpd ? 2n : 0n) | (BigInt(e.tt ?? 0) << 2n) | e.ssptr | (e.lo ?? 0n);
    const hi = BigInt(e.aw ?? 1) | (BigInt(e.did ?? 1) << 8n) | (e.hi ?? 0n);
    this.put(addr, lo, hi);
    return addr;
  }

  private contextTable(bus: number, _entryBytes: number): bigint {
    let t = this.ctxTables.get(bus);
    if (t === undefined) {
      t = this.page();
      this.ctxTables.set(bus, t);
      const up = this.page();
      this.ctxTables.set(bus + 0x1000, up);
      // Legacy: qw0 = CTP|P. Scalable: qw0 = LCTP|LP, qw1 = UCTP|UP (set by smContext).
      this.put(this.rootTable + BigInt(bus * 16), t | 1n, 0n);
    }
    return t;
  }

  /** §9.4 scalable context entry for sid (+ §9.2 root entry halves). */
  smContext(sid: number, e: { pasidDir: bigint; pdts?: number; ridPasid?: number; fpd?: boolean; p?: boolean; paside?: boolean; dte?: boolean; pre?: boolean; q1?: bigint; q2?: bigint }): bigint {
    const bus = sid >> 8;
    const devfn = sid & 0xff;
    this.contextTable(bus, 32);
    const lower = this.ctxTables.get(bus)!;
    const upper = this.ctxTables.get(bus + 0x1000)!;
    this.put(this.rootTable + BigInt(bus * 16), lower | 1n, upper | 1n);
    const addr = (devfn < 0x80 ? lower : upper) + BigInt((devfn & 0x7f) * 32);
    const q0 = (e.p === false ? 0n : 1n) | (e.fpd ? 2n : 0n) | (e.dte ? 4n : 0n) | (e.paside ?? true ? 8n : 0n) |
      (e.pre ? 16n : 0n) | (BigInt(e.pdts ?? 0) << 9n) | e.pasidDir;
    this.put(addr, q0, BigInt(e.ridPasid ?? 0) | (e.q1 ?? 0n), e.q2 ?? 0n, 0n);
    return addr;
  }

  /** §9.5/§9.6: PASID directory + table entry for `pasid` under pasidDir; returns the entry address. */
  pasidEntry(pasidDir: bigint, pasid: number, e: { pgtt: number; did?: number; ssptr?: bigint; aw?: number; fsptr?: bigint; fspm?: number; sre?: boolean; ere?: boolean; wpe?: boolean; ssee?: boolean; fpd?: boolean; dirFpd?: boolean; p?: boolean }): bigint {
    const dirAddr = pasidDir + BigInt(pasid >> 6) * 8n;
    let table = this.mem.readU64(dirAddr) & ~0xfffn;
    if (table === 0n) table = this.page();
    this.put(dirAddr, table | 1n | (e.dirFpd ? 2n : 0n));
    const addr = table + BigInt((pasid & 63) * 64);
    const q0 = (e.p === false ? 0n : 1n) | (e.fpd ? 2n : 0n) | (BigInt(e.aw ?? 2) << 2n) | (e.ssee ? 0x20n : 0n) |
      (BigInt(e.pgtt) << 6n) | (e.ssptr ?? 0n);
    const q2 = (e.sre ? 1n : 0n) | (e.ere ? 2n : 0n) | (BigInt(e.fspm ?? 0) << 2n) | (e.wpe ? 0x10n : 0n) | (e.fsptr ?? 0n);
    this.put(addr, q0, BigInt(e.did ?? 1), q2, 0n, 0n, 0n, 0n, 0n);
    return addr;
  }

  /** Maps iova -> gpa in a second-stage table tree with `levels` levels; returns the leaf's address. */
  ssMap(root: bigint, levels: number, iova: bigint, gpa: bigint, o: MapOpts = {}): bigint {
    const lg2 = o.lg2 ?? 12;
    const leafLevel = (lg2 - 12) / 9;
    let table = root;
    for (let level = levels - 1; level > leafLevel; level--) {
      const at = table + ptIdx(iova, level) * 8n;
      let e = this.mem.readU64(at);
      if (e === 0n) e = this.page() | 3n | (o.tableBits ?? 0n);
      this.put(at, e);
      table = e & 0x000f_ffff_ffff_f000n;
    }
    const at = table + ptIdx(iova, leafLevel) * 8n;
    const perms = (o.r ?? true ? 1n : 0n) | (o.w ?? true ? 2n : 0n) | (o.x ? 4n : 0n);
    this.put(at, gpa | perms | (leafLevel > 0 ? 0x80n : 0n) | (o.leafBits ?? 0n));
    return at;
  }

  /** Maps va -> gpa in a first-stage (x86) tree with `levels` levels; returns the leaf's address. */
  fsMap(root: bigint, levels: number, va: bigint, gpa: bigint, o: MapOpts = {}): bigint {
    const lg2 = o.lg2 ?? 12;
    const leafLevel = (lg2 - 12) / 9;
    let table = root;
    for (let level = levels - 1; level > leafLevel; level--) {
      const at = table + ptIdx(va, level) * 8n;
      let e = this.mem.readU64(at);
      if (e === 0n) e = this.page() | 7n | (o.tableBits ?? 0n);
      this.put(at, e);
      table = e & 0x000f_ffff_ffff_f000n;
    }
    const at = table + ptIdx(va, leafLevel) * 8n;
    const bits = 1n | (o.w ?? true ? 2n : 0n) | (o.us ?? true ? 4n : 0n) | (o.xd ? 1n << 63n : 0n);
    this.put(at, gpa | bits | (leafLevel > 0 ? 0x80n : 0n) | (o.leafBits ?? 0n));
    return at;
  }

  /** Translates (pasid undefined = request without PASID). */
  tr(sid: number, iova: bigint, access: number = K.ACC_READ, pasid?: number): Translation {
    return this.core.translate(sid, pasid, iova, access);
  }
}

/** The table index of iova at level. */
export function ptIdx(iova: bigint, level: number): bigint {
  return (iova >> BigInt(12 + 9 * level)) & 0x1ffn;
}

/** A legacy fixture with sid 0x18 (00:03.0) mapped through a 3-level (aw39) table, DID 1. */
export async function legacyFixture(config: [number, number][] = [], aw = 1): Promise<{ f: Fixture; ss: bigint; sid: number }> {
  const f = await Fixture.create(32, config);
  f.legacy();
  const ss = f.page();
  const sid = 0x18;
  f.context(sid, { ssptr: ss, did: 1, aw });
  return { f, ss, sid };
}
