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
 * One seed: two devices in scalable mode, a 256-bit queue, device 0 switching
 * between identity and DMA domains Linux's way, device 1 as a bystander whose
 * domain changes less often. `fs`: DMA domains use first-stage tables (QEMU
 * 10.0 `x-flts=on`; recorded on 10.0 only), else second-stage ones.
 */
function domainSwitch(seed: number, fs: boolean): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = fs ? 48 : rng.pick([39, 48] as const);
  const cm = rng.chance(0.5);
  const n = 2;
  smRoot(b);
  const devs = Array.from({ length: n }, (_, i) => smDevice(b, i));
  const t = new PageTree(b, GPA.TABLES, fs ? 4 : awField(aw).levels);
  const bits = fs ? FS_BITS : SS.RW;
  const iova = BigInt(0x1000 * (0x300 + rng.int(0x100))); // gpa == iova: identity shows this page's pattern
  t.map(iova, GPA.DATA, bits, 0, bits); // tables and leaves take the same bits
  for (let i = 0; i < n; i++) t.map(GPA.SINK + BigInt(i) * 0x1000n, GPA.SINK + BigInt(i) * 0x1000n, bits, 0, bits);
  pattern(b, GPA.DATA, 0x11);
  pattern(b, GPA.DATA + 0x1000n, 0x33);
  pattern(b, iova, 0x22);
  const leaf = t.entryAt.get(`${iova}:0`)!;
  const identityDid = 1;
  const dids = [2 + rng.int(2), 2 + rng.int(3)];
  const entry = (mode: Mode, did: number): bigint[] => mode === 'identity'
    ? pasidEntry({ slpt: 0n, aw: awField(aw).field, did: identityDid, pgtt: PGTT.PASS_THROUGH })
    : fs
      ? pasidEntry({ slpt: 0n, aw: awField(48).field, did, pgtt: PGTT.FIRST_STAGE, fsptptr: t.top })
      : pasidEntry({ slpt: t.top, aw: awField(aw).field, did, pgtt: PGTT.SECOND_STAGE });
  const modes: Mode[] = [rng.chance(0.7) ? 'identity' : 'dma', rng.pick(['identity', 'dma'] as const)];
  const didOf = (i: number) => (modes[i] === 'identity' ? identityDid : dids[i]!);
  devs.forEach((d, i) => b.memWrite(pasidEntryAt(d, 0), entry(modes[i]!, didOf(i))));
  b.setRootTable(GPA.ROOT | TTM_SCALABLE);
  const q = new Queue(b, true).enable();
  q.submit([ccDesc(CC.G_GLOBAL), pasidCacheDesc(PC_DESC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck();
  b.enableTranslation(GCMD.QIE);

  // Linux's flush of one PASID entry: PASID cache (PASID-selective), then
  // the PASID's IOTLB entries (pass-through and first stage) or the
  // domain's (second stage), each submission ending with a wait.
  const flushEntry = (did: number, pgttWas: Mode) => {
    q.submit([pasidCacheDesc(PC_DESC.G_PASID, did, 0)]).waitAndCheck();
    if (pgttWas === 'identity' || fs) q.submit([pasidIotlbDesc(PIOTLB.G_PASID, did, 0)]).waitAndCheck();
    else q.submit([iotlbDesc(IOTLB_DESC.G_DOMAIN, did)]).waitAndCheck();
  };
  const linuxSwitch = (i: number) => {
    const d = devs[i]!;
    const was = modes[i]!;
    const oldDid = didOf(i);
    // intel_pasid_tear_down_entry: clear the entry (pasid_clear_entry, or
    // only FPD when faults are to be ignored), flush.
    if (rng.chance(0.3)) b.memWrite(pasidEntryAt(d, 0), [FPD_ONLY]);
    else b.memWrite(pasidEntryAt(d, 0), Array.from({ length: 8 }, () => 0n));
    flushEntry(oldDid, was);
    if (rng.chance(0.3)) probe(b, d.bdf, iova);
    // intel_pasid_setup_*: the new entry, then pasid_flush_caches (only
    // with caching mode; else a write-buffer flush, which QEMU lacks).
    modes[i] = was === 'identity' ? 'dma' : 'identity';
    if (modes[i] === 'dma') dids[i] = rng.chance(0.7) ? dids[i]! : 2 + rng.int(3);
    b.memWrite(pasidEntryAt(d, 0), entry(modes[i]!, didOf(i)));
    if (cm || rng.chance(0.3)) flushEntry(didOf(i), modes[i]!);
  };
  const repairs: (() => void)[] = [
    () => q.submit([ccDesc(CC.G_DEVICE, didOf(0), devfn(devs[rng.int(n)]!.bdf), rng.int(4))]).waitAndCheck(),
    () => q.submit([ccDesc(rng.pick([CC.G_GLOBAL, CC.G_DOMAIN]), didOf(rng.int(n)))]).waitAndCheck(),
    () => b.mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4).mmioWrite(REG.GCMD, 4, GCMD.TE | GCMD.QIE).mmioRead(REG.GSTS, 4),
    () => q.submit([pasidCacheDesc(rng.pick([PC_DESC.G_DOMAIN, PC_DESC.G_GLOBAL]), didOf(rng.int(n)))]).waitAndCheck(),
  ];
  let alt = false;
  const others: (() => void)[] = [
    () => { alt = !alt; b.memWrite(leaf, [(alt ? GPA.DATA + 0x1000n : GPA.DATA) | bits]); },
    () => q.submit([iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck(),
    () => q.submit([pasidIotlbDesc(PIOTLB.G_PASID, didOf(rng.int(n)), 0)]).waitAndCheck(),
  ];
  const probeAll = () => { for (let i = 0; i < n; i++) if (i === 0 || rng.chance(0.6)) probe(b, devs[i]!.bdf, iova, rng.chance(0.5)); };
  probeAll();
  for (let r = 0; r < 10; r++) {
    const roll = rng.next();
    if (roll < 0.45) linuxSwitch(rng.chance(0.8) ? 0 : 1);
    else if (roll < 0.7) rng.pick(repairs)();
    else rng.pick(others)();
    probeAll();
  }
  b.readFaultState();
  const name = fs ? `gen-domain-switch-fs-${seed}` : `gen-domain-switch-${seed}`;
  return b.build(name, 'Linux 6.1 domain switches in scalable mode: RID_PASID entry torn down and rewritten with PASID-cache and PASID-IOTLB invalidations, no context-cache invalidation',
    machineBlock(fs, aw, cm, n, devs));
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
