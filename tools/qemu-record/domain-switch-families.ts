/**
 * Scenario families for the domain switches a Linux 6.1 guest makes in
 * scalable mode (issue 18's finding): a device moves between its identity
 * (PGTT=100, pass-through) domain and a DMA domain (PGTT=010 second stage,
 * or PGTT=001 first stage on QEMU 10.0 `x-flts=on`) the way
 * `intel_pasid_tear_down_entry` and `intel_pasid_setup_*` do it: the
 * RID_PASID entry is cleared (all zero, or only FPD set), then rewritten,
 * with PASID-cache (§6.5.2.2) and PASID-based IOTLB (§6.5.2.4) or
 * domain-selective IOTLB (§6.5.2.3) invalidations and a wait, but no
 * context-cache invalidation. QEMU re-decides a device's pass-through
 * address space only at a context-cache invalidation, a TE or SRTP write, or
 * a pass-through translation, so a device that leaves the identity domain
 * keeps DMAing untranslated (QEMU 10.0 with Linux: the disk read never
 * completes). Later rounds add what repairs it (a device-selective
 * context-cache invalidation, TE off/on), remap the data page without
 * invalidation, and probe both devices: gpa == iova holds its own pattern,
 * so each probe shows identity, translation, stale translation or a fault.
 */
import { CC, IOTLB_DESC, PC_DESC, PIOTLB, ccDesc, iotlbDesc, pasidCacheDesc, pasidIotlbDesc } from '../../host/src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { PGTT } from '../../host/src/vtd/spec/pasid-entry.js';
import {
  GPA, Queue, awField, devfn, pasidEntry, pasidEntryAt, pattern, probe, smDevice, smRoot,
  type SmDevice,
} from './guest.js';
import { PageTree, SS } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';

/** What a device's RID_PASID entry says. */
type Mode = 'identity' | 'dma';

/** First-stage table and leaf bits (§9.7): present, writable, user (QEMU 10.0 treats every request as a user one). */
const FS_BITS = encodeFsPte({ P: true, RW: true, US: true });

/** qword 0 of a PASID entry torn down with faults ignored (pasid_clear_entry_with_fpd): FPD alone. */
const FPD_ONLY = pasidEntry({ slpt: 0n, aw: 0n, did: 0, pgtt: 0, fpd: true, p: false })[0]!;

/**
 * One seed's guest: two devices in scalable mode, a 256-bit queue, device 0
 * switching between identity and DMA domains Linux's way, device 1 as a
 * bystander whose domain changes less often. `fs`: DMA domains use
 * first-stage tables (QEMU 10.0 `x-flts=on`; recorded on 10.0 only), else
 * second-stage ones.
 */
class SwitchGuest {
  readonly b = new ScenarioBuilder();
  readonly aw: 39 | 48;
  readonly cm: boolean;
  readonly devs: SmDevice[];
  private readonly t: PageTree;
  private readonly bits: bigint;
  private readonly iova: bigint;
  private readonly dids: number[];
  private readonly modes: Mode[];
  private readonly q: Queue;
  private alt = false;

  constructor(private readonly rng: Rng, private readonly fs: boolean) {
    const b = this.b;
    this.aw = fs ? 48 : rng.pick([39, 48] as const);
    this.cm = rng.chance(0.5);
    smRoot(b);
    this.devs = Array.from({ length: N }, (_, i) => smDevice(b, i));
    this.t = new PageTree(b, GPA.TABLES, fs ? 4 : awField(this.aw).levels);
    this.bits = fs ? FS_BITS : SS.RW;
    this.iova = BigInt(0x1000 * (0x300 + rng.int(0x100))); // gpa == iova: identity shows this page's pattern
    this.t.map(this.iova, GPA.DATA, this.bits, 0, this.bits); // tables and leaves take the same bits
    for (let i = 0; i < N; i++) this.t.map(GPA.SINK + BigInt(i) * 0x1000n, GPA.SINK + BigInt(i) * 0x1000n, this.bits, 0, this.bits);
    pattern(b, GPA.DATA, 0x11);
    pattern(b, GPA.DATA + 0x1000n, 0x33);
    pattern(b, this.iova, 0x22);
    this.dids = [2 + rng.int(2), 2 + rng.int(3)];
    this.modes = [rng.chance(0.7) ? 'identity' : 'dma', rng.pick(['identity', 'dma'] as const)];
    this.devs.forEach((d, i) => b.memWrite(pasidEntryAt(d, 0), this.entry(this.modes[i]!, this.didOf(i))));
    b.setRootTable(GPA.ROOT | TTM_SCALABLE);
    this.q = new Queue(b, true).enable();
    this.q.submit([ccDesc(CC.G_GLOBAL), pasidCacheDesc(PC_DESC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck();
    b.enableTranslation(GCMD.QIE);
  }

  /** The RID_PASID entry of a mode: pass-through in the identity domain, else the DMA domain `did`. */
  private entry(mode: Mode, did: number): bigint[] {
    if (mode === 'identity') return pasidEntry({ slpt: 0n, aw: awField(this.aw).field, did: IDENTITY_DID, pgtt: PGTT.PASS_THROUGH });
    if (this.fs) return pasidEntry({ slpt: 0n, aw: awField(48).field, did, pgtt: PGTT.FIRST_STAGE, fsptptr: this.t.top });
    return pasidEntry({ slpt: this.t.top, aw: awField(this.aw).field, did, pgtt: PGTT.SECOND_STAGE });
  }

  private didOf(i: number): number { return this.modes[i] === 'identity' ? IDENTITY_DID : this.dids[i]!; }

  // Linux's flush of one PASID entry: PASID cache (PASID-selective), then
  // the PASID's IOTLB entries (pass-through and first stage) or the
  // domain's (second stage), each submission ending with a wait.
  private flushEntry(did: number, pgttWas: Mode): void {
    this.q.submit([pasidCacheDesc(PC_DESC.G_PASID, did, 0)]).waitAndCheck();
    if (pgttWas === 'identity' || this.fs) this.q.submit([pasidIotlbDesc(PIOTLB.G_PASID, did, 0)]).waitAndCheck();
    else this.q.submit([iotlbDesc(IOTLB_DESC.G_DOMAIN, did)]).waitAndCheck();
  }

  /** Device `i` changes domain: identity <-> DMA. */
  linuxSwitch(i: number): void {
    const { b, rng } = this;
    const d = this.devs[i]!;
    const was = this.modes[i]!;
    const oldDid = this.didOf(i);
    // intel_pasid_tear_down_entry: clear the entry (pasid_clear_entry, or
    // only FPD when faults are to be ignored), flush.
    if (rng.chance(0.3)) b.memWrite(pasidEntryAt(d, 0), [FPD_ONLY]);
    else b.memWrite(pasidEntryAt(d, 0), Array.from({ length: 8 }, () => 0n));
    this.flushEntry(oldDid, was);
    if (rng.chance(0.3)) probe(b, d.bdf, this.iova);
    // intel_pasid_setup_*: the new entry, then pasid_flush_caches (only
    // with caching mode; else a write-buffer flush, which QEMU lacks).
    this.modes[i] = was === 'identity' ? 'dma' : 'identity';
    if (this.modes[i] === 'dma') this.dids[i] = rng.chance(0.7) ? this.dids[i]! : 2 + rng.int(3);
    b.memWrite(pasidEntryAt(d, 0), this.entry(this.modes[i]!, this.didOf(i)));
    if (this.cm || rng.chance(0.3)) this.flushEntry(this.didOf(i), this.modes[i]!);
  }

  /** What re-decides QEMU's address spaces (or, for the PASID cache, does not). */
  repair(): void {
    const { b, q, rng } = this;
    const repairs: (() => void)[] = [
      () => q.submit([ccDesc(CC.G_DEVICE, this.didOf(0), devfn(this.devs[rng.int(N)]!.bdf), rng.int(4))]).waitAndCheck(),
      () => q.submit([ccDesc(rng.pick([CC.G_GLOBAL, CC.G_DOMAIN]), this.didOf(rng.int(N)))]).waitAndCheck(),
      () => b.mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4).mmioWrite(REG.GCMD, 4, GCMD.TE | GCMD.QIE).mmioRead(REG.GSTS, 4),
      () => q.submit([pasidCacheDesc(rng.pick([PC_DESC.G_DOMAIN, PC_DESC.G_GLOBAL]), this.didOf(rng.int(N)))]).waitAndCheck(),
    ];
    rng.pick(repairs)();
  }

  /** A remap without invalidation, or an IOTLB / PASID-IOTLB invalidation. */
  other(): void {
    const { b, q, rng } = this;
    const leaf = this.t.entryAt.get(`${this.iova}:0`)!;
    const others: (() => void)[] = [
      () => { this.alt = !this.alt; b.memWrite(leaf, [(this.alt ? GPA.DATA + 0x1000n : GPA.DATA) | this.bits]); },
      () => q.submit([iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck(),
      () => q.submit([pasidIotlbDesc(PIOTLB.G_PASID, this.didOf(rng.int(N)), 0)]).waitAndCheck(),
    ];
    rng.pick(others)();
  }

  /** Device 0, and device 1 sometimes, read the IOVA. */
  probeAll(): void {
    for (let i = 0; i < N; i++) if (i === 0 || this.rng.chance(0.6)) probe(this.b, this.devs[i]!.bdf, this.iova, this.rng.chance(0.5));
  }
}

/** Devices per scenario. */
const N = 2;
/** The identity domain's DID (Linux's si_domain has its own). */
const IDENTITY_DID = 1;

function domainSwitch(seed: number, fs: boolean): object {
  const rng = new Rng(seed);
  const g = new SwitchGuest(rng, fs);
  g.probeAll();
  for (let r = 0; r < 10; r++) {
    const roll = rng.next();
    if (roll < 0.45) g.linuxSwitch(rng.chance(0.8) ? 0 : 1);
    else if (roll < 0.7) g.repair();
    else g.other();
    g.probeAll();
  }
  g.b.readFaultState();
  const name = fs ? `gen-domain-switch-fs-${seed}` : `gen-domain-switch-${seed}`;
  return g.b.build(name, 'Linux 6.1 domain switches in scalable mode: RID_PASID entry torn down and rewritten with PASID-cache and PASID-IOTLB invalidations, no context-cache invalidation',
    machineBlock(fs, g.aw, g.cm, N, g.devs));
}

function machineBlock(fs: boolean, aw: 39 | 48, cm: boolean, n: number, devs: SmDevice[]): object {
  return {
    profile: fs ? 'qemu-10.0' : 'qemu-7.2', ram_mib: 256,
    iommu: { scalable_mode: true, caching_mode: cm, aw_bits: aw, ...(fs ? { first_stage: true } : {}) },
    devices: devs.slice(0, n).map((d) => ({ bdf: d.bdf, kind: 'dma-test' })),
  };
}

/** Families recorded on both QEMUs (second-stage DMA domains). */
export const DOMAIN_SWITCH_FAMILIES: Record<string, (seed: number) => object> = {
  'domain-switch': (seed) => domainSwitch(seed, false),
};

/** Families recorded on QEMU 10.0 only (first-stage DMA domains, `x-flts=on`). */
export const DOMAIN_SWITCH_FS_FAMILIES: Record<string, (seed: number) => object> = {
  'domain-switch-fs': (seed) => domainSwitch(seed, true),
};
