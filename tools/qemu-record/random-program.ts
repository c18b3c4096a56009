/**
 * Random but valid guest programs for the differential mode (differential.ts):
 * 1-3 devices in legacy or scalable mode (second stage, pass-through, or on
 * QEMU 10.0 with `first_stage` first stage), domains shared or not, tables of
 * the width's levels with 4 KiB and 2 MiB leaves and mixed permissions, then
 * a seeded sequence of DMA of random lengths (observed through each device's
 * sink page and guest reads), remaps without invalidation, 2 MiB promotions,
 * register and queued invalidations of every granularity, pass-through and
 * TE/SRTP switches, fault handling and guest mistakes (unmapped or read-only
 * targets, not-present or reserved structures, bad descriptors) that are
 * repaired later. Everything a step observes was written by the program.
 *
 * Structure encodings: §9.1-9.6 (root, context, PASID), §9.7/§9.8 (first-
 * and second-stage entries), §6.5.2 (descriptors), §11.4 (registers).
 */
import { TT, encodeContextEntry } from '../../host/src/vtd/spec/context-entry.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { PGTT } from '../../host/src/vtd/spec/pasid-entry.js';
import { FSTS } from '../../host/src/vtd/spec/registers.js';
import { CC, IOTLB_DESC, PC_DESC, PIOTLB, ccDesc, iotlbDesc, pasidCacheDesc, pasidIotlbDesc, waitDesc } from '../../host/src/vtd/spec/descriptors.js';
import {
  DEVICES, GPA, Queue, REGS, awField, devfn, legacyContext, legacyRoot, pasidEntry, pasidEntryAt, pasidQword, sinkOf, smDevice, smRoot,
  type SmDevice,
} from './guest.js';
import { PageTree, SS } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';

/** IOVAs of mappings: identity-safe RAM (no tables, data or sinks there), inside edu's 28-bit DMA mask. */
const IOVA_BASE = 0x3000000n;
const IOVA_SPAN = 0x1000000n;
/** Data pages mappings point to (4 KiB pages, then 2 MiB-aligned regions). */
const DATA_BASE = 0x4000000n;
const BIG_BASE = 0x6000000n;
/** End of the programs' 256 MiB of RAM: targets past it are a guest mistake the program never touches itself. */
const RAM_END = 0x10000000n;

/** A leaf the program maps and remaps. */
interface Mapping {
  readonly dom: number;
  readonly iova: bigint;
  readonly big: boolean;
  /** Current target and every earlier one (writes are looked for there). */
  targets: bigint[];
  perms: bigint;
}

/** One translation domain: its DID, table tree and context AW field (§9.3: 1 = 3 levels, 2 = 4). */
interface Domain { readonly did: number; readonly tree: PageTree; readonly aw: bigint }

/** Leaf permission bits of the format: read-only, read-write, and a mistake (not present / not user). */
interface Format { readonly ro: bigint; readonly rw: bigint; readonly bad: bigint; readonly upper: bigint }
const SS_FORMAT: Format = { ro: SS.R, rw: SS.RW, bad: SS.W, upper: SS.RW };
const FS_FORMAT: Format = {
  ro: encodeFsPte({ P: true, US: true }), rw: encodeFsPte({ P: true, RW: true, US: true }),
  bad: encodeFsPte({ P: true, RW: true }), upper: encodeFsPte({ P: true, RW: true, US: true }),
};

/** Builds one random program; `profile` picks the reference, the rest comes from `seed`. */
export function randomProgram(seed: number, profile: 'qemu-7.2' | 'qemu-10.0'): object {
  return new Program(new Rng(seed), profile).build(seed);
}

class Program {
  private readonly b = new ScenarioBuilder();
  private readonly scalable: boolean;
  private readonly firstStage: boolean;
  private readonly aw: 39 | 48;
  private readonly n: number;
  private readonly fmt: Format;
  private readonly domains: Domain[] = [];
  private readonly devDomain: number[] = [];
  private readonly pt: boolean[] = [];
  private readonly maps: Mapping[] = [];
  private readonly sm: SmDevice[] = [];
  private queue?: Queue;
  private keep = 0n;
  private nextData = DATA_BASE;
  private nextBig = BIG_BASE;
  private fill = 1;

  constructor(private readonly rng: Rng, private readonly profile: 'qemu-7.2' | 'qemu-10.0') {
    this.firstStage = profile === 'qemu-10.0' && rng.chance(0.25);
    this.scalable = this.firstStage || rng.chance(0.45);
    this.aw = this.firstStage ? 48 : rng.pick([39, 48] as const);
    this.n = 1 + rng.int(3);
    this.fmt = this.firstStage ? FS_FORMAT : SS_FORMAT;
  }

  build(seed: number): object {
    this.setup();
    const steps = 20 + this.rng.int(25);
    for (let i = 0; i < steps; i++) this.step();
    this.b.readFaultState();
    const name = `rand-${this.profile === 'qemu-10.0' ? '10-' : ''}${seed}`;
    return this.b.build(name, 'random guest program (tools/qemu-record/random-program.ts)', {
      profile: this.profile, ram_mib: 256,
      iommu: { scalable_mode: this.scalable, caching_mode: this.rng.chance(0.15), aw_bits: this.aw, ...(this.firstStage ? { first_stage: true } : {}) },
      devices: DEVICES.slice(0, this.n).map((bdf) => ({ bdf, kind: 'dma-test' })),
    });
  }

  // ---- setup ----------------------------------------------------------------

  private setup(): void {
    const { b, rng } = this;
    const domainCount = 1 + rng.int(this.n);
    for (let d = 0; d < domainCount; d++) {
      // A 48-bit unit also walks 3-level (39-bit) tables when the context entry says so (SAGAW has both).
      const levels = this.firstStage ? 4 : this.aw === 48 && rng.chance(0.3) ? 3 : awField(this.aw).levels;
      const tree = new PageTree(b, GPA.TABLES + BigInt(d) * 0x40000n, levels);
      this.domains.push({ did: 1 + d + rng.int(2) * 3, tree, aw: BigInt(levels - 2) });
      if (levels === 4 && rng.chance(0.1)) {
        tree.map(0n, 0n, this.fmt.rw, 2, this.fmt.upper); // one 1 GiB leaf: IOVA = GPA below 1 GiB
        continue;
      }
      for (let i = 0; i < this.n; i++) tree.map(sinkOf(DEVICES[i]!), sinkOf(DEVICES[i]!), this.fmt.rw, 0, this.fmt.upper);
      const count = 3 + rng.int(6);
      for (let k = 0; k < count; k++) this.addMapping(d);
    }
    if (this.scalable) smRoot(b); else legacyRoot(b);
    for (let i = 0; i < this.n; i++) {
      this.devDomain.push(rng.int(domainCount));
      this.pt.push(rng.chance(0.1));
      if (this.scalable) this.sm.push(smDevice(b, i));
      this.writeDevice(i);
    }
    b.setRootTable(GPA.ROOT | (this.scalable ? TTM_SCALABLE : 0n));
    if (this.firstStage || rng.chance(0.5)) {
      this.queue = new Queue(b, this.scalable && (this.firstStage || rng.chance(0.6))).enable();
      this.keep = GCMD.QIE;
      this.queue.submit([ccDesc(CC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck();
    } else b.globalInvalidateRegs();
    b.enableTranslation(this.keep);
  }

  private addMapping(dom: number): void {
    const { rng } = this;
    const big = rng.chance(0.15);
    const used = (iova: bigint) => this.maps.some((m) => m.dom === dom && (m.iova >> 21n) === (iova >> 21n) && (m.big || big));
    let iova = 0n;
    for (let tries = 0; tries < 8; tries++) {
      iova = big ? IOVA_BASE + BigInt(rng.int(Number(IOVA_SPAN >> 21n))) * 0x200000n : IOVA_BASE + BigInt(rng.int(Number(IOVA_SPAN >> 12n))) * 0x1000n;
      if (!used(iova) && !this.maps.some((m) => m.dom === dom && m.iova === iova)) break;
      if (tries === 7) return;
    }
    const target = big ? this.bigPage() : this.dataPage();
    const perms = rng.pick([this.fmt.rw, this.fmt.rw, this.fmt.ro]);
    this.domains[dom]!.tree.map(iova, target, perms, big ? 1 : 0, this.fmt.upper);
    this.maps.push({ dom, iova, big, targets: [target], perms });
  }

  private dataPage(): bigint {
    const p = this.nextData;
    this.nextData += 0x1000n;
    this.b.memFill(p, 4096, this.fill++ & 0xff);
    return p;
  }

  private bigPage(): bigint {
    const p = this.nextBig;
    this.nextBig += 0x200000n;
    return p;
  }

  /** Writes device `i`'s context (and PASID) entry for its domain or pass-through. */
  private writeDevice(i: number, mistake = false): void {
    const dom = this.domains[this.devDomain[i]!]!;
    const field = dom.aw;
    if (!this.scalable) {
      const at = legacyContext(this.b, DEVICES[i]!, { slpt: dom.tree.top, aw: field, did: dom.did, tt: this.pt[i] ? TT.PASS_THROUGH : TT.UNTRANSLATED });
      // Mistakes: an AW not in SAGAW, a not-present qw0, reserved bit 11 set.
      if (mistake && this.rng.chance(0.3)) this.b.memWrite(at + 8n, [encodeContextEntry({ AW: this.rng.pick([0, 3, 4]), DID: dom.did })[1]!]);
      else if (mistake) this.b.memWrite(at, [this.rng.pick([0n, encodeContextEntry({ P: true, SSPTPTR: dom.tree.top })[0]! | (1n << 11n)])]);
      return;
    }
    const at = pasidEntryAt(this.sm[i]!, 0);
    const pgtt = this.pt[i] ? PGTT.PASS_THROUGH : this.firstStage ? PGTT.FIRST_STAGE : PGTT.SECOND_STAGE;
    const fsptptr = this.firstStage && !this.pt[i] ? dom.tree.top : 0n;
    const e = pasidEntry({ slpt: this.firstStage ? 0n : dom.tree.top, aw: field, did: dom.did, pgtt, fsptptr });
    // Mistakes: not present, PGTT 5 (reserved), all zero, reserved bit 10 set.
    if (mistake) e[0] = this.rng.pick([pasidQword(e, 0, { P: false }), pasidQword(e, 0, { PGTT: 5 }), 0n, e[0]! | (1n << 10n)]);
    this.b.memWrite(at, e);
  }

  // ---- the random steps -------------------------------------------------------

  private step(): void {
    const r = this.rng.next();
    if (r < 0.28) this.dmaRead();
    else if (r < 0.46) this.dmaWrite();
    else if (r < 0.56) this.remap();
    else if (r < 0.60) this.promote();
    else if (r < 0.74) this.invalidate();
    else if (r < 0.79) this.switchDevice();
    else if (r < 0.83) this.modeEvent();
    else if (r < 0.89) this.handleFaults();
    else if (r < 0.95) this.mistake();
    else if (r < 0.97) this.repair();
    else this.b.mmioRead(this.rng.pick([REG.GSTS, REG.FSTS, REG.FECTL]), 4);
  }

  /** A DMA target: a mapping of the device's domain at a random offset, or (a guest mistake) an unmapped IOVA. */
  private target(dev: number): { iova: bigint; m?: Mapping } {
    const { rng } = this;
    const mine = this.maps.filter((m) => m.dom === this.devDomain[dev]);
    if (mine.length === 0 || rng.chance(0.08)) return { iova: IOVA_BASE + BigInt(rng.int(Number(IOVA_SPAN >> 3n))) * 8n };
    const m = rng.pick(mine);
    const span = m.big ? 0x1fe000 : 0x1000;
    return { iova: m.iova + BigInt(rng.int(span) & ~3), m };
  }

  private length(iova: bigint): number {
    const len = this.rng.pick([8, 8, 64, 1 + this.rng.int(256), 1 + this.rng.int(4095), 0x1000 - Number(iova & 0xfffn) + 1 + this.rng.int(64)]);
    return Math.max(1, Math.min(4095, len));
  }

  /** Fresh bytes in every page the DMA at `iova` could reach: identity and each target of `m`. */
  private freshen(iova: bigint, len: number, m?: Mapping): void {
    const pages = new Set<bigint>();
    const add = (base: bigint) => { for (let p = base & ~0xfffn; p < base + BigInt(len); p += 0x1000n) pages.add(p); };
    add(iova);
    for (const t of m?.targets ?? []) add(t + (iova - m!.iova));
    for (const p of pages) if (p < RAM_END) this.b.memFill(p, 4096, this.fill++ & 0xff);
  }

  /** A device, a target, a length; every page the DMA could reach gets fresh bytes. */
  private dmaSetup(): { bdf: string; iova: bigint; m?: Mapping; len: number; sink: bigint } {
    const dev = this.rng.int(this.n);
    const { iova, m } = this.target(dev);
    const len = this.length(iova);
    this.freshen(iova, len, m);
    return { bdf: DEVICES[dev]!, iova, m, len, sink: sinkOf(DEVICES[dev]!) };
  }

  private dmaRead(): void {
    const { bdf, iova, len, sink } = this.dmaSetup();
    this.b.memFill(sink, 4096, 0).dmaRead(bdf, iova, len).dmaWrite(bdf, sink, len);
    this.b.memRead(sink, Math.min(len, 64));
    const second = 0x1000 - Number(iova & 0xfffn);
    if (second < len) this.b.memRead(sink + BigInt(second), Math.min(32, len - second));
  }

  private dmaWrite(): void {
    const { bdf, iova, m, len, sink } = this.dmaSetup();
    this.b.memFill(sink, 4096, this.fill++ & 0xff).dmaRead(bdf, sink, len).dmaWrite(bdf, iova, len);
    const bases = [iova, ...(m?.targets ?? []).map((t) => t + (iova - m!.iova))].filter((a) => a < RAM_END);
    for (const base of bases) {
      this.b.memRead(base, Math.min(len, 16));
      const second = 0x1000n - (base & 0xfffn);
      if (second < BigInt(len)) this.b.memRead(base + second, 16);
    }
  }

  /** A mapping gets another target and/or permission, without invalidation. */
  private remap(): void {
    if (this.maps.length === 0) return;
    const m = this.rng.pick(this.maps);
    if (!m.big && this.rng.chance(0.05)) m.targets.unshift(RAM_END + BigInt(this.rng.int(0x1000)) * 0x1000n); // outside RAM
    else if (this.rng.chance(0.7)) m.targets.unshift(m.big ? this.bigPage() : this.dataPage());
    if (m.targets.length > 3) m.targets.pop();
    m.perms = this.rng.pick([this.fmt.rw, this.fmt.ro, this.fmt.rw, this.fmt.bad]);
    this.domains[m.dom]!.tree.map(m.iova, m.targets[0]!, m.perms, m.big ? 1 : 0, this.fmt.upper);
  }

  /** The 2 MiB region of a 4 KiB mapping becomes one 2 MiB leaf (or goes back to its table). */
  private promote(): void {
    const small = this.maps.filter((m) => !m.big);
    if (small.length === 0) return;
    const m = this.rng.pick(small);
    const tree = this.domains[m.dom]!.tree;
    const pde = tree.entryAt.get(`${m.iova}:1`)!;
    if (this.rng.chance(0.7)) this.b.memWrite(pde, [this.bigPage() | SS.PS | this.fmt.rw]);
    else this.b.memWrite(pde, [tree.written.get(pde)!]);
  }

  private invalidate(): void {
    const { rng } = this;
    const did = this.domains[rng.int(this.domains.length)]!.did;
    const sid = (devfnOf(rng.int(this.n)));
    const page = this.maps.length ? rng.pick(this.maps).iova : IOVA_BASE;
    const am = rng.pick([0, 0, 1, 3, 9]);
    if (!this.queue || rng.chance(0.08)) { // with a queue enabled: a guest mistake
      const r = REG_INV[rng.int(REG_INV.length)]!;
      r(this.b, did, sid, page, am);
      return;
    }
    const kinds: (() => bigint[])[] = [
      () => ccDesc(CC.G_GLOBAL), () => ccDesc(CC.G_DOMAIN, did), () => ccDesc(CC.G_DEVICE, did, sid, rng.int(4)),
      () => iotlbDesc(IOTLB_DESC.G_GLOBAL), () => iotlbDesc(IOTLB_DESC.G_DOMAIN, did), () => iotlbDesc(IOTLB_DESC.G_PAGE, did, page & ~((1n << BigInt(12 + am)) - 1n), am),
    ];
    if (this.queue.wide) {
      kinds.push(() => pasidIotlbDesc(PIOTLB.G_PASID, did, 0), () => pasidIotlbDesc(PIOTLB.G_PAGE, did, 0, page), () => pasidCacheDesc(PC_DESC.G_GLOBAL));
    }
    this.queue.submit(Array.from({ length: 1 + rng.int(2) }, () => rng.pick(kinds)()));
    if (rng.chance(0.4)) this.queue.waitAndCheck();
  }

  /** A device turns pass-through, back, or moves to another domain (memory only). */
  private switchDevice(): void {
    const i = this.rng.int(this.n);
    if (this.rng.chance(0.5)) this.pt[i] = !this.pt[i];
    else this.devDomain[i] = this.rng.int(this.domains.length);
    this.writeDevice(i);
  }

  private modeEvent(): void {
    const { b, keep } = this;
    if (this.rng.chance(0.5)) {
      b.mmioWrite(REG.GCMD, 4, GCMD.SRTP | GCMD.TE | keep).mmioRead(REG.GSTS, 4);
    } else {
      b.mmioWrite(REG.GCMD, 4, keep).mmioRead(REG.GSTS, 4);
      if (this.rng.chance(0.5)) this.dmaRead();
      b.mmioWrite(REG.GCMD, 4, GCMD.TE | keep).mmioRead(REG.GSTS, 4);
    }
  }

  private handleFaults(): void {
    this.b.readFaultState();
    if (this.rng.chance(0.7)) this.b.clearFaults();
  }

  /** A guest mistake: a broken context/PASID entry, a reserved bit in a leaf, a bad descriptor. */
  private mistake(): void {
    const { rng } = this;
    const kind = rng.int(3);
    if (kind === 0) this.writeDevice(rng.int(this.n), true);
    else if (kind === 1 && this.maps.length) {
      const m = rng.pick(this.maps);
      const leaf = this.domains[m.dom]!.tree.entryAt.get(`${m.iova}:${m.big ? 1 : 0}`)!;
      this.b.memWrite(leaf, [m.targets[0]! | (m.big ? SS.PS : 0n) | m.perms | (1n << BigInt(rng.pick([this.aw, 51, 52, 62])))]); // a reserved bit
    } else if (this.queue) {
      const from = this.queue.tailBytes;
      // A bad descriptor written raw: type 0, type 15, IOTLB with reserved bit 8, wait with reserved bit 12.
      this.queue.submit([[rng.pick([0n, 0xfn, 0x12n | (1n << 8n), 0x25n | (1n << 12n)]), GPA.STATUS]]);
      this.b.mmioWrite(REG.FSTS, 4, FSTS.IQE);
      this.b.memWrite(GPA.QUEUE + from, [...waitDesc({ sw: true, addr: GPA.STATUS }), 0n, 0n].slice(0, this.queue.wide ? 4 : 2));
      this.b.mmioWrite(REG.IQT, 8, this.queue.tailBytes).mmioRead(REG.IQH, 8);
    }
  }

  /** Every structure rewritten as the program means it, then global invalidation. */
  private repair(): void {
    for (const d of this.domains) d.tree.restore();
    for (let i = 0; i < this.n; i++) this.writeDevice(i);
    if (this.queue) this.queue.submit([ccDesc(CC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL)]);
    else this.b.globalInvalidateRegs(false);
  }
}

const devfnOf = (i: number): number => devfn(DEVICES[i]!);

/** Register-based invalidations (§11.4.6, §11.4.8) by granularity. */
const REG_INV: ((b: ScenarioBuilder, did: number, sid: number, page: bigint, am: number) => void)[] = [
  (b) => REGS.ccGlobal(b),
  (b, did) => REGS.ccDomain(b, did),
  (b, did, sid) => REGS.ccDevice(b, did, sid, 0),
  (b) => REGS.iotlbGlobal(b),
  (b, did) => REGS.iotlbDomain(b, did),
  (b, did, _s, page, am) => REGS.iotlbPage(b, did, page & ~((1n << BigInt(12 + am)) - 1n), am),
];
