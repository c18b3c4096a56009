/**
 * Scenario families for the behaviours random guest programs found (issue
 * 26): multi-page DMA around a failing page, PASID-entry faults under FPD,
 * IOTLB entries of devices sharing a legacy domain, a misaligned IQT in a
 * 256-bit queue, and one translation per large page across a DMA range.
 * One family per behaviour, recorded on QEMU 7.2 and 10.0 (`-10-` names).
 */
import { TT as CTX_TT, encodeContextEntry } from '../../host/src/vtd/spec/context-entry.js';
import { waitDesc } from '../../host/src/vtd/spec/descriptors.js';
import { encodePasidDirEntry } from '../../host/src/vtd/spec/pasid-entry.js';
import {
  DEVICES, GPA, Queue, REGS, awField, legacyContext, legacyRoot, machine, mapSinks, oneDevice, ownDataTrees, pasidEntry,
  pasidEntryAt, pasidQword, pattern, probe, sinkOf, smDevice, smRoot, ssTree,
} from './guest.js';
import { SS } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';


/**
 * A DMA over two pages whose first page fails — not present, read-only for a
 * write, or an IOTLB entry without the permission (a read cached it) — while
 * the second page translates, is read-only, or fails too; an FPD context
 * suppresses some faults. Memory written, the buffer read back through a
 * good mapping, and the fault registers show what happened past the fault.
 */
export function dmaPastFault(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.4);
  const aw = rng.pick([39, 48] as const);
  const t = ssTree(b, GPA.TABLES, aw);
  oneDevice(b, scalable, aw, t, rng.chance(0.25));
  mapSinks(t, 1);
  const out = 0x7000000n; // a good 2-page mapping the buffer is written back through
  t.map(out, GPA.SINK + 0x10000n, SS.RW);
  t.map(out + 0x1000n, GPA.SINK + 0x11000n, SS.RW);
  b.setRootTable(GPA.ROOT | (scalable ? TTM_SCALABLE : 0n)).globalInvalidateRegs().enableTranslation();
  for (let r = 0; r < 4; r++) {
    const base = BigInt(0x1000 * (0x10 + r * 0x10 + rng.int(8)));
    const p0 = GPA.DATA + BigInt(r) * 0x4000n;
    b.memFill(p0, 0x1000, 0x80 + r).memFill(p0 + 0x1000n, 0x1000, 0x90 + r).memFill(p0 + 0x2000n, 0x2000, 0);
    const first = rng.pick(['absent', 'read-only', 'cached-read-only', 'ok']);
    const second = rng.pick(['ok', 'ok', 'absent', 'read-only']);
    const write = first === 'read-only' || first === 'cached-read-only' || rng.chance(0.5);
    const target = write ? p0 + 0x2000n : p0;
    if (first !== 'absent') t.map(base, target, first === 'ok' ? SS.RW : SS.R);
    if (second !== 'absent') t.map(base + 0x1000n, target + 0x1000n, second === 'ok' ? SS.RW : SS.R);
    if (first === 'cached-read-only') b.dmaRead(DEVICES[0], base, 8);
    const off = BigInt(0x800 + rng.int(0x700) & ~7);
    const len = Number(0x1000n - off) + 16 + rng.int(0x600);
    if (write) {
      b.memFill(GPA.SINK + 0x10000n, 0x2000, 0xa5).dmaRead(DEVICES[0], out, len); // buffer = known bytes
      b.dmaWrite(DEVICES[0], base + off, len).memRead(target + off, 64).memRead(target + 0x1000n, 64);
    } else {
      b.dmaRead(DEVICES[0], base + off, len).memFill(GPA.SINK + 0x10000n, 0x2000, 0);
      b.dmaWrite(DEVICES[0], out, len).memRead(GPA.SINK + 0x10000n, 32).memRead(GPA.SINK + 0x10000n + (0x1000n - off), 32);
    }
    b.readFaultState().clearFaults().mmioRead(REG.FSTS, 4);
  }
  return b.build(`gen-dma-past-fault-${seed}`, 'two-page DMA whose first page fails: what happens to the rest',
    machine('qemu-7.2', { scalable, aw }));
}

/**
 * PASID entries with FPD=1 that are not present or invalid (PGTT, AW), found
 * when the context entry is fetched (after a context-cache invalidation) or
 * with the context entry cached; FPD=0 for contrast.
 */
export function pasidFpd(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  const t = ssTree(b, GPA.TABLES, aw);
  const iova = BigInt(0x1000 * (1 + rng.int(0x400)));
  t.map(iova, GPA.DATA, SS.RW);
  mapSinks(t, 1);
  pattern(b, GPA.DATA, 0x4f);
  const at = oneDevice(b, true, aw, t);
  const good = pasidEntry({ slpt: t.top, aw: awField(aw).field, did: 1 });
  b.setRootTable(GPA.ROOT | TTM_SCALABLE).globalInvalidateRegs().enableTranslation();
  probe(b, DEVICES[0], iova);
  for (let r = 0; r < 5; r++) {
    const FPD = rng.chance(0.75);
    const bad = rng.pick([
      () => pasidQword(good, 0, { P: false, FPD }),
      () => pasidQword(good, 0, { PGTT: rng.pick([0, 3, 5, 6, 7]), FPD }),
      () => pasidQword(good, 0, { AW: rng.pick([0, 3, 4, 7]), FPD }),
    ])();
    b.memWrite(at, [bad]);
    if (rng.chance(0.7)) REGS.ccGlobal(b);
    REGS.iotlbGlobal(b);
    probe(b, DEVICES[0], iova);
    b.clearFaults().mmioRead(REG.FSTS, 4);
    b.memWrite(at, good).globalInvalidateRegs(false);
    if (rng.chance(0.4)) probe(b, DEVICES[0], iova);
  }
  return b.build(`gen-pasid-fpd-${seed}`, 'not-present or invalid PASID entries with FPD=1', machine('qemu-7.2', { scalable: true, aw }));
}

/**
 * Devices sharing a legacy-mode domain (same DID, same or different tables):
 * fills from each device, leaves changed without invalidation, and
 * domain/page/global invalidations; each device's probe shows whose IOTLB
 * entry it hits.
 */
export function legacyIotlbSid(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  const n = 2 + rng.int(2);
  legacyRoot(b);
  const shared = rng.chance(0.6);
  const iova = BigInt(0x1000 * (1 + rng.int(0x400)));
  const { trees, flip } = ownDataTrees(b, shared ? 1 : n, aw, iova, n, [0x50, 0x70]);
  const did = 1 + rng.int(4);
  for (let i = 0; i < n; i++) legacyContext(b, DEVICES[i]!, { slpt: trees[shared ? 0 : i]!.top, aw: awField(aw).field, did });
  b.setRootTable(GPA.ROOT).globalInvalidateRegs().enableTranslation();
  const actions: (() => void)[] = [
    () => flip(rng.int(trees.length)),
    () => REGS.iotlbDomain(b, rng.chance(0.7) ? did : did + 1),
    () => REGS.iotlbPage(b, did, iova, 0),
    () => REGS.iotlbGlobal(b),
    () => REGS.ccGlobal(b),
  ];
  for (let r = 0; r < 10; r++) {
    for (let k = 0; k < 1 + rng.int(3); k++) probe(b, DEVICES[rng.int(n)]!, iova, false);
    if (rng.chance(0.8)) rng.pick(actions)();
  }
  return b.build(`gen-legacy-iotlb-sid-${seed}`, 'legacy mode: devices sharing a domain, whose IOTLB entry each hits',
    machine('qemu-7.2', { aw, devices: n }));
}

/**
 * IQT writes with bit 4 set in a 256-bit queue (8- and 4-byte), between good
 * ones: IQT and IQH read back, FSTS.IQE, the waits that ran.
 */
export function iqtBit4(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  legacyRoot(b);
  b.setRootTable(GPA.ROOT);
  const q = new Queue(b, true).enable();
  for (let r = 0; r < 5; r++) {
    q.waitAndCheck();
    const bad = q.tailBytes + 16n + BigInt(rng.int(3)) * 32n;
    b.memWrite(GPA.QUEUE + q.tailBytes, [...waitDesc({ sw: true, data: 0x3300 + r, addr: GPA.STATUS + 8n }), 0n, 0n]);
    if (rng.chance(0.5)) b.mmioWrite(REG.IQT, 8, bad);
    else b.mmioWrite(REG.IQT, 4, bad);
    b.mmioRead(REG.IQT, 8).mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4).memRead(GPA.STATUS + 8n, 8);
    if (rng.chance(0.5)) b.mmioWrite(REG.FSTS, 4, 0x10);
    b.mmioWrite(REG.IQT, 8, q.tailBytes).mmioRead(REG.IQH, 8);
  }
  return b.build(`gen-iqt-bit4-${seed}`, '256-bit queue: IQT with bit 4 set', machine('qemu-7.2', { scalable: true }));
}

/**
 * One translation per large page across a DMA range: 4 KiB pages of a 2 MiB
 * region, one of them cached, the region then remapped as a 2 MiB leaf
 * without invalidation; a DMA over both pages starting in the uncached one.
 */
export function largeEntryRange(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.4);
  const aw = rng.pick([39, 48] as const);
  const t = ssTree(b, GPA.TABLES, aw);
  oneDevice(b, scalable, aw, t);
  mapSinks(t, 1);
  const big = 0x2000000n + BigInt(rng.int(8)) * 0x200000n;
  const huge = 0x4000000n; // 2 MiB-aligned data of the big leaf
  const p0 = big + BigInt(rng.int(510)) * 0x1000n;
  const out = 0x7000000n; // a good 2-page mapping the buffer is written back through
  t.map(out, GPA.SINK + 0x10000n, SS.RW);
  t.map(out + 0x1000n, GPA.SINK + 0x11000n, SS.RW);
  for (const [i, iv] of [p0, p0 + 0x1000n].entries()) {
    t.map(iv, GPA.DATA + BigInt(i) * 0x1000n, SS.RW);
    b.memFill(GPA.DATA + BigInt(i) * 0x1000n, 0x1000, 0xa0 + i).memFill(huge + (iv - big), 0x1000, 0xb0 + i);
  }
  b.setRootTable(GPA.ROOT | (scalable ? TTM_SCALABLE : 0n)).globalInvalidateRegs().enableTranslation();
  const cached = rng.chance(0.85) ? 'second' : rng.pick(['both', 'none']);
  if (cached !== 'none') b.dmaRead(DEVICES[0], p0 + 0x1000n, 8);
  if (cached === 'both') b.dmaRead(DEVICES[0], p0, 8);
  const pde = t.entryAt.get(`${p0}:1`)!;
  b.memWrite(pde, [huge | SS.PS | SS.RW]);
  const len = 0x800 + rng.int(0x700);
  const x = BigInt(8 + (rng.int(0x3f8) & ~7)); // the DMA starts in the first page
  const iv = p0 + 0x1000n - x;
  if (rng.chance(0.5)) {
    b.dmaRead(DEVICES[0], iv, len).memFill(GPA.SINK + 0x10000n, 0x2000, 0).dmaWrite(DEVICES[0], out, len);
    b.memRead(GPA.SINK + 0x10000n, 16).memRead(GPA.SINK + 0x10000n + x, 32);
  } else {
    b.memFill(sinkOf(DEVICES[0]), 64, 0x3c).dmaRead(DEVICES[0], sinkOf(DEVICES[0]), 64);
    b.dmaWrite(DEVICES[0], iv, len).memRead(huge + (p0 - big) + 0x1000n, 32).memRead(GPA.DATA + 0x1000n, 32);
  }
  probe(b, DEVICES[0], p0 + 0x1000n);
  return b.build(`gen-large-entry-range-${seed}`, '4 KiB pages promoted to a 2 MiB leaf without invalidation, one DMA across them',
    machine('qemu-7.2', { scalable, aw }));
}

/**
 * Pass-through context entries (legacy TT=10) whose AW is or is not in SAGAW,
 * read when the context entry is fetched (after context-cache invalidation,
 * SRTP) and at TE changes; the device's identity DMA or its fault shows.
 */
export function ptContextAw(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  legacyRoot(b);
  const t = ssTree(b, GPA.TABLES, aw);
  mapSinks(t, 1);
  const iova = BigInt(0x1000 * (0x300 + rng.int(0x100))); // gpa == iova: identity-visible
  pattern(b, iova, 0x6a);
  t.map(iova, GPA.DATA, SS.RW);
  pattern(b, GPA.DATA, 0x6b);
  const at = legacyContext(b, DEVICES[0], { slpt: t.top, aw: awField(aw).field, did: 1 });
  b.setRootTable(GPA.ROOT).globalInvalidateRegs().enableTranslation();
  probe(b, DEVICES[0], iova);
  for (let r = 0; r < 5; r++) {
    const AW = rng.pick([0, 1, 2, 3, 4, 7, Number(awField(aw).field)]); // AW values outside SAGAW on purpose
    const TT = rng.chance(0.8) ? CTX_TT.PASS_THROUGH : CTX_TT.UNTRANSLATED;
    b.memWrite(at, encodeContextEntry({ P: true, TT, SSPTPTR: t.top, AW, DID: 1 }));
    if (rng.chance(0.5)) REGS.ccGlobal(b);
    else b.mmioWrite(REG.GCMD, 4, 0).mmioWrite(REG.GCMD, 4, GCMD.TE);
    REGS.iotlbGlobal(b);
    probe(b, DEVICES[0], iova);
    b.clearFaults();
  }
  return b.build(`gen-pt-context-aw-${seed}`, 'pass-through context entries with AW in or out of SAGAW', machine('qemu-7.2', { aw }));
}

/**
 * Leaves whose output lies outside RAM (above the 256 MiB, not MMIO): DMA
 * reads of them, read back through the sink, and writes, which go nowhere.
 */
export function dmaOutsideRam(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = 48;
  const scalable = rng.chance(0.4);
  const t = ssTree(b, GPA.TABLES, aw);
  oneDevice(b, scalable, aw, t);
  mapSinks(t, 1);
  const inRam = 0x7000n;
  t.map(inRam, GPA.DATA, SS.RW);
  b.memFill(GPA.DATA, 4096, 0x5c);
  const outside = [0x10000000n, 0x20000000n + BigInt(rng.int(0x1000)) * 0x1000n, 0x100000000n, 0x4000000000n];
  outside.forEach((gpa, i) => t.map(0x10000n + BigInt(i) * 0x1000n, gpa, SS.RW));
  b.setRootTable(GPA.ROOT | (scalable ? TTM_SCALABLE : 0n)).globalInvalidateRegs().enableTranslation();
  for (let r = 0; r < 4; r++) {
    const i = rng.int(outside.length);
    const len = rng.pick([8, 64, 0x800 + rng.int(0x800)]);
    const from = rng.chance(0.5) ? 0x10000n + BigInt(i) * 0x1000n : inRam + 0x1000n - 0x10n; // all outside, or in RAM then outside
    if (from === inRam + 0x1000n - 0x10n) t.map(inRam + 0x1000n, outside[i]!, SS.RW);
    b.memFill(sinkOf(DEVICES[0]), 4096, 0xee).dmaRead(DEVICES[0], from, len).dmaWrite(DEVICES[0], sinkOf(DEVICES[0]), len);
    b.memRead(sinkOf(DEVICES[0]), 32).memRead(sinkOf(DEVICES[0]) + 0x20n, 32).readFaultState();
    b.dmaWrite(DEVICES[0], 0x10000n + BigInt(i) * 0x1000n, 16).mmioRead(REG.FSTS, 4);
  }
  return b.build(`gen-dma-outside-ram-${seed}`, 'leaves that point outside RAM: what a DMA read gets', machine('qemu-7.2', { scalable, aw }));
}

/**
 * PASID directory and table entries with reserved bits set (q0 11:10, q1
 * 22:16, q2 11:8, qw3-qw7, a table pointer above the address width, directory
 * bits 11:2), or not present together with an invalid PGTT or AW: which fault,
 * or whether the walk goes on.
 */
export function pasidEntryChecks(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  const t = ssTree(b, GPA.TABLES, aw);
  const iova = BigInt(0x1000 * (1 + rng.int(0x400)));
  t.map(iova, GPA.DATA, SS.RW);
  mapSinks(t, 1);
  pattern(b, GPA.DATA, 0x2e);
  smRoot(b);
  const d = smDevice(b, 0);
  const at = pasidEntryAt(d, 0);
  const good = pasidEntry({ slpt: t.top, aw: awField(aw).field, did: 1 });
  b.memWrite(at, good);
  b.setRootTable(GPA.ROOT | TTM_SCALABLE).globalInvalidateRegs().enableTranslation();
  const bit = (lo: number, n: number) => 1n << BigInt(lo + rng.int(n));
  const variants: (() => void)[] = [
    () => b.memWrite(at, [good[0]! | bit(10, 2)]),
    () => b.memWrite(at + 8n, [good[1]! | bit(16, 7)]),
    () => b.memWrite(at + 16n, [bit(8, 4)]),
    () => b.memWrite(at + BigInt(24 + 8 * rng.int(5)), [bit(0, 64)]),
    () => b.memWrite(at, [good[0]! | bit(aw, 52 - aw)]),
    () => b.memWrite(at, [0n, 0n]),
    () => b.memWrite(at, [pasidQword(good, 0, { P: false, PGTT: rng.pick([0, 3, 5, 6, 7]) })]),
    () => b.memWrite(at, [pasidQword(good, 0, { P: false, AW: rng.pick([0, 3, 4]) })]),
    () => b.memWrite(d.dir, [encodePasidDirEntry({ P: true, SMPTBLPTR: d.table })[0]! | bit(2, 10)]),
  ];
  probe(b, DEVICES[0], iova);
  for (let r = 0; r < 5; r++) {
    rng.pick(variants)();
    b.globalInvalidateRegs(false);
    probe(b, DEVICES[0], iova);
    b.clearFaults();
    b.memWrite(at, good).memWrite(d.dir, [d.table | 1n]).globalInvalidateRegs(false);
  }
  return b.build(`gen-pasid-entry-checks-${seed}`, 'PASID entries with reserved bits, or not present and invalid', machine('qemu-7.2', { scalable: true, aw }));
}

/** The issue-26 families by name. */
/**
 * 8-byte accesses at the register block's last dword (0x22c: FRCD0 bits
 * 127:96, then 4 bytes past QEMU's 0x230-byte block) with a fault recorded:
 * reads, and writes with and without the F bit, next to dword accesses and
 * 8-byte ones at 4 mod 8 inside the block (the fuzz finding
 * frcd-write-past-qemu-block: QEMU performs the dword inside the block).
 */
export function blockEdge(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  legacyRoot(b);
  b.setRootTable(GPA.ROOT).enableTranslation();
  const last = REG.FRCD_HI + 4;
  for (let r = 0; r < 4; r++) {
    b.dmaRead(DEVICES[0], 0x1000n * BigInt(1 + rng.int(16)), 8).readFaultState();
    b.mmioRead(last, rng.pick([4, 8] as const));
    const f = rng.chance(0.6) ? 0x8000_0000n : 0n;
    const value = f | BigInt(rng.int(0x8000_0000)) | (BigInt(rng.int(0x1_0000_0000)) << 32n);
    if (rng.chance(0.8)) b.mmioWrite(last, 8, value);
    else b.mmioWrite(REG.FRCD_HI, 8, (value & 0xffff_ffffn) << 32n);
    b.readFaultState().mmioRead(last, 8);
    if (rng.chance(0.5)) b.mmioWrite(REG.FEDATA, 8, BigInt(rng.int(0x1_0000_0000)) | (0xfee0_0000n << 32n)).mmioRead(REG.FEDATA, 8).mmioRead(REG.FEADDR, 4);
    b.clearFaults();
  }
  return b.build(`gen-block-edge-${seed}`, '8-byte accesses at the register block\'s last dword', machine('qemu-7.2', { devices: 1 }));
}

export const FINDINGS_FAMILIES: Record<string, (seed: number) => object> = {
  'dma-past-fault': dmaPastFault, 'pasid-fpd': pasidFpd, 'legacy-iotlb-sid': legacyIotlbSid, 'iqt-bit4': iqtBit4,
  'large-entry-range': largeEntryRange, 'pt-context-aw': ptContextAw, 'dma-outside-ram': dmaOutsideRam,
  'pasid-entry-checks': pasidEntryChecks, 'block-edge': blockEdge,
};
