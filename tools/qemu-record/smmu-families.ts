/**
 * Seeded SMMUv3 scenario families recorded on QEMU's `-machine
 * virt,iommu=smmuv3` (smmu-recorder.ts), each for a part of IHI 0070 a
 * guest driver touches: the register frame, stream table entries (linear
 * and 2-level, Span), context descriptors and their ILLEGAL checks, the
 * AArch64 stage-1 walk of every granule with its faults as event records,
 * the command queue (invalidation scopes, CMD_SYNC, errors), and stage 2
 * with nesting where the reference has it. A family is `(profile, seed) =>
 * scenario`; `SMMU_FAMILIES` lists them with the profiles they run on.
 */
import { C, CONFIG } from '../../host/src/guest/smmu/structures.js';
import { Rng, ScenarioBuilder } from './scenario-builder.js';
import {
  ArmTree, cd, CR0, DESC, pattern, S1_RW, S2_RW, s1Ste, SDEVICES, SGPA, smmuMachine, SmmuGuest, SR, streamOf,
} from './smmu-guest.js';

/** A family: builds the scenario of `seed` for `profile`. */
export type SmmuFamily = (profile: string, seed: number) => object;

const DEV = SDEVICES[0];
/** An address no memory or device answers at on virt (between RAM and the high GIC / ECAM): fetches there abort. */
const UNMAPPED = 0x10_0000_0000n;
const SID = streamOf(DEV);
const tag = (profile: string): string => profile.replace('qemu-', '').replace('.', '');

/** Every ID register, the reset values, then random writes and reads over the frame's registers. */
export function smmuRegisters(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const ids = [0x0, 0x4, 0x8, 0xc, 0x10, 0x14, 0x18, 0x1c, 0xfd0, 0xfd4, 0xfd8, 0xfdc, 0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc];
  for (const off of ids) b.mmioRead(off, 4);
  const regs: [number, 4 | 8][] = [
    [SR.CR0, 4], [SR.CR0ACK, 4], [SR.CR1, 4], [SR.CR2, 4], [SR.STATUSR, 4], [SR.GBPA, 4], [SR.AGBPA, 4], [SR.IRQ_CTRL, 4],
    [SR.IRQ_CTRLACK, 4], [SR.GERROR, 4], [SR.GERRORN, 4], [SR.GERROR_IRQ_CFG0, 8], [0x70, 4], [0x74, 4], [SR.STRTAB_BASE, 8],
    [SR.STRTAB_BASE_CFG, 4], [SR.CMDQ_BASE, 8], [SR.CMDQ_PROD, 4], [SR.CMDQ_CONS, 4], [SR.EVENTQ_BASE, 8], [SR.EVENTQ_IRQ_CFG0, 8],
    [0xb8, 4], [0xbc, 4], [SR.EVENTQ_PROD, 4], [SR.EVENTQ_CONS, 4],
  ];
  for (const [off, w] of regs) b.mmioRead(off, w);
  for (let i = 0; i < 24; i++) {
    const [off, w] = rng.pick(regs.filter(([o]) => o !== SR.CR0 && o !== SR.CMDQ_PROD && o !== SR.GBPA));
    const v = w === 8 ? (BigInt(rng.int(0x10000)) << 48n) | (BigInt(rng.int(0x10000)) << 32n) | BigInt(rng.int(0x7fffffff) * 2) : BigInt(rng.int(0x7fffffff)) * 2n + BigInt(rng.int(2));
    b.mmioWrite(off, w, rng.chance(0.2) ? (w === 8 ? 0xffff_ffff_ffff_ffffn : 0xffff_ffffn) : v);
    b.mmioRead(off, w);
  }
  // Page 1 and the 32-bit halves of the 64-bit registers.
  b.mmioRead(0x100a8 - 0x10000, 4).mmioRead(0x10000, 4).mmioRead(SR.STRTAB_BASE + 4, 4).mmioRead(SR.CMDQ_BASE + 4, 4);
  b.mmioWrite(SR.IRQ_CTRL, 4, 5).mmioRead(SR.IRQ_CTRLACK, 4);
  return b.build(`smmu-registers-${tag(profile)}-${seed}`, 'SMMUv3 ID registers, reset values, register writes and read-backs', smmuMachine(profile));
}

/** Disabled SMMU (GBPA), then bypass, abort and invalid STEs, a StreamID beyond the table, the events they leave. */
export function smmuSte(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  pattern(b, SGPA.DATA, seed);
  b.memFill(SGPA.SINK, 64, 0);
  g.init({ noEnable: true, sidBits: 5 }); // StreamIDs 0..31: 00:03.0 (24) inside, 00:04.0 (32) beyond
  b.dmaRead(DEV, SGPA.DATA, 16).dmaWrite(DEV, SGPA.SINK, 16).memRead(SGPA.SINK, 16);
  b.mmioWrite(SR.GBPA, 4, 0x8010_0000).mmioRead(SR.GBPA, 4);
  b.dmaWrite(DEV, SGPA.SINK + 0x20n, 8).memRead(SGPA.SINK + 0x20n, 8);
  b.mmioWrite(SR.GBPA, 4, 0x8000_0000).mmioRead(SR.GBPA, 4);
  b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN).mmioRead(SR.CR0ACK, 4);
  const kinds = ['bypass', 'abort', 'invalid', 'reserved', 'far'] as const;
  for (let i = 0; i < 5; i++) {
    const k = rng.pick(kinds);
    b.memFill(SGPA.SINK, 64, 0xee);
    if (k === 'far') {
      b.dmaWrite(SDEVICES[1], SGPA.SINK, 8);
    } else {
      g.setSte(SID, k === 'bypass' ? { V: true, Config: CONFIG.BYPASS } : k === 'abort' ? { V: true, Config: CONFIG.ABORT }
        : k === 'invalid' ? { V: false, Config: CONFIG.BYPASS } : { V: true, Config: rng.pick([1, 2, 3]) });
      b.dmaWrite(DEV, SGPA.SINK + 8n, 8);
    }
    b.memRead(SGPA.SINK, 16);
    g.readEvents();
  }
  return b.build(`smmu-ste-${tag(profile)}-${seed}`, 'GBPA bypass/abort, bypass / abort / invalid / reserved STEs, a StreamID beyond the table, and their events', smmuMachine(profile, SDEVICES));
}

/** A random stage-1 table (4 KiB granule), DMA through it, then faults and their event records. */
export function smmuS1(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  const t0sz = rng.pick([16, 25, 33]);
  const tree = new ArmTree(b, SGPA.TABLES, 12, 64 - t0sz);
  const asid = 1 + rng.int(100);
  g.init();
  b.page(SGPA.CD);
  g.setCd(SGPA.CD, 0, cd(tree.root, asid, { T0SZ: t0sz }));
  g.setSte(SID, s1Ste(SGPA.CD));
  const va = (i: number) => BigInt(i + 1) << BigInt(Math.min(30, 64 - t0sz - 4));
  for (let i = 0; i < 4; i++) {
    const level = rng.pick([3, 3, 2]);
    const size = level === 3 ? 0x1000n : 0x20_0000n;
    const pa = SGPA.DATA + BigInt(i) * 0x20_0000n;
    const v = va(i) & ~(size - 1n);
    pattern(b, pa + 0x100n, seed * 10 + i);
    const ro = rng.chance(0.3);
    tree.map(v, pa, S1_RW | (ro ? DESC.S1_RO : 0n), level);
    b.dmaRead(DEV, v + 0x100n, 32);
    b.memFill(pa + 0x800n, 32, 0);
    b.dmaWrite(DEV, v + 0x800n, 16);
    b.memRead(pa + 0x800n, 16);
    g.readEvents(ro ? 4 : 0);
  }
  // A page without EL0 access (AP[1] = 0) and an execute-never page, used by the device's unprivileged data accesses.
  tree.map(va(6), SGPA.DATA, (S1_RW & ~DESC.S1_EL0) | (rng.chance(0.5) ? DESC.XN | DESC.PXN : 0n));
  b.dmaRead(DEV, va(6) + 0x100n, 8).memFill(SGPA.SINK, 8, 0).dmaWrite(DEV, va(6) + 0x200n, 8).memRead(SGPA.DATA + 0x200n, 8);
  g.readEvents();
  // Faults: unmapped VA, AF = 0, a next-table pointer outside RAM, a VA beyond T0SZ.
  b.dmaRead(DEV, va(9), 8);
  g.readEvents();
  tree.map(va(5), SGPA.DATA, S1_RW & ~DESC.AF);
  b.dmaRead(DEV, va(5), 8);
  g.readEvents();
  b.memWrite(tree.at.get(`${va(5)}:2`)!, [UNMAPPED | DESC.VALID | DESC.TABLE]);
  g.submit([C.tlbiNhAsid(0, asid)]);
  b.dmaRead(DEV, va(5), 8);
  g.readEvents();
  b.dmaRead(DEV, 1n << BigInt(64 - t0sz), 8);
  g.readEvents();
  return b.build(`smmu-s1-${tag(profile)}-${seed}`, 'stage-1 walk (4 KiB granule, TTB0): pages, blocks, read-only, and F_TRANSLATION / F_ACCESS / F_WALK_EABT / out-of-range faults', smmuMachine(profile));
}

/** Granules 16 KiB and 64 KiB (and 4 KiB): random TxSZ, pages and blocks, DMA across a page boundary, a hostile descriptor. */
export function smmuGranules(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  const bad = (['oa-hi', 'oa-44', 'block-high', 'unmapped-table', 'table-beyond-oas'] as const)[seed % 5]!;
  // A block at level 1 is invalid only for the 16 and 64 KiB granules (a 16 KiB granule with T0SZ 17 starts at level 1).
  const gran = bad === 'block-high' ? 14 : rng.pick([12, 14, 16] as const);
  const tg0 = gran === 12 ? 0 : gran === 16 ? 1 : 2;
  const t0sz = bad === 'block-high' ? 17 : rng.pick(gran === 12 ? [25, 32] : gran === 14 ? [17, 28, 36] : [22, 30, 34]);
  const tree = new ArmTree(b, SGPA.TABLES, gran, 64 - t0sz);
  g.init();
  b.page(SGPA.CD);
  g.setCd(SGPA.CD, 0, cd(tree.root, 5, { T0SZ: t0sz, TG0: tg0 }));
  g.setSte(SID, s1Ste(SGPA.CD));
  const page = 1n << BigInt(gran);
  const block = 1n << BigInt(gran + (gran - 3)); // one level up
  const top = 1n << BigInt(64 - t0sz);
  const useBlock = block * 4n <= top && block <= 0x400_0000n;
  for (let i = 0; i < 3; i++) {
    const va = (top / 4n) * BigInt(i + 1) & ~(block - 1n);
    const pa = SGPA.DATA + BigInt(i) * (useBlock ? block : 0x10_0000n);
    if (useBlock && i === 2) tree.map(va, pa, S1_RW, 2);
    else { tree.map(va, pa, S1_RW); tree.map(va + page, pa + page, S1_RW); }
    pattern(b, pa + page - 0x40n, seed * 10 + i);
    b.dmaRead(DEV, va + page - 0x40n, 0x80).memFill(SGPA.SINK, 0x80, 0);
    b.dmaWrite(DEV, va + page - 0x40n, 0x80).memRead(pa + page - 0x40n, 0x80);
    g.readEvents(0);
  }
  // A hostile leaf: output bits 51:48 set, or a block where the granule allows none (4K level 0, 16K/64K level 1).
  const va = top / 8n;
  tree.map(va, SGPA.DATA, S1_RW);
  const at = bad === 'block-high' ? tree.at.get(`${va}:${tree.start}`)! : bad === 'table-beyond-oas' ? tree.at.get(`${va}:2`)! : tree.at.get(`${va}:3`)!;
  const leaf = (pa: bigint) => pa | S1_RW | DESC.VALID | DESC.TABLE;
  b.memWrite(at, [bad === 'oa-hi' ? leaf((1n << 48n) | SGPA.DATA) : bad === 'oa-44' ? leaf((1n << 44n) | SGPA.DATA)
    : bad === 'block-high' ? SGPA.DATA | S1_RW | DESC.VALID : bad === 'table-beyond-oas' ? leaf(1n << 46n) : leaf(UNMAPPED)]);
  g.submit([C.tlbiNhAll(0)]);
  b.dmaWrite(DEV, va + 0x10n, 8);
  b.memRead(SGPA.DATA + 0x10n, 8);
  g.readEvents();
  return b.build(`smmu-granules-${tag(profile)}-${seed}`, `stage 1 with a ${1 << (gran - 10)} KiB granule (T0SZ ${t0sz}): pages, a block, DMA across pages, and a ${bad} descriptor`, smmuMachine(profile));
}

/** Context descriptors a guest may get wrong (§5.4 "ILLEGAL"), each installed with CFGI_CD, then a DMA and its events. */
export function smmuCdChecks(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  const tree = new ArmTree(b, SGPA.TABLES, 12, 48);
  tree.map(0x1000n, SGPA.DATA, S1_RW);
  tree.map(0x4000_0000_1000n & ((1n << 47n) - 1n), SGPA.DATA + 0x1000n, S1_RW);
  pattern(b, SGPA.DATA, seed);
  g.init();
  b.page(SGPA.CD);
  g.setSte(SID, s1Ste(SGPA.CD), false);
  const cases: [string, Partial<Parameters<typeof cd>[2]>][] = [
    ['ok', {}], ['V=0', { V: false }], ['AA64=0', { AA64: false }], ['A=0', { A: false }], ['S=1', { S: true }],
    ['HA', { HA: true }], ['HD', { HD: true }], ['ENDI', { ENDI: true }], ['T0SZ=15', { T0SZ: 15 }], ['T0SZ=40', { T0SZ: 40 }],
    ['TG0=3', { TG0: 3 }], ['EPD0', { EPD0: true }], ['IPS=0', { IPS: 0 }], ['IPS=2', { IPS: 2 }], ['R=0', { R: false }],
    ['TTB0 beyond IPS', { IPS: 0, TTB0: 0x1_0000_0000n | tree.root }], ['TBI', { TBI: 1 }], ['AFFD', { AFFD: true }],
    ['TTB1 on', { EPD1: false, T1SZ: 16, TG1: 2, TTB1: tree.root }], ['TTB1 TG1=0', { EPD1: false, T1SZ: 16, TG1: 0, TTB1: tree.root }],
  ];
  for (let i = 0; i < 7; i++) {
    const [, over] = i === 0 ? cases[0]! : rng.pick(cases);
    g.setCd(SGPA.CD, 0, cd(tree.root, 3, over));
    g.submit([C.cfgiCd(SID, 0), C.tlbiNhAll(0)]);
    b.dmaRead(DEV, rng.pick([0x1010n, 0xff00_0000_0000_1010n, 0x0f00_0000_0000_1010n, 0x4000_0000_1010n]), 8);
    g.readEvents();
  }
  return b.build(`smmu-cd-checks-${tag(profile)}-${seed}`, 'context descriptors with ILLEGAL or unusual fields (V, AA64, A, S, HA/HD, ENDI, T0SZ, TG0, EPD0, IPS, TTB0 range, TBI, TTB1), each then used by a DMA', smmuMachine(profile));
}

/** Stream table entries with unusual fields (§5.2 "ILLEGAL"), a CD table outside RAM, and STE caching until CFGI_STE. */
export function smmuSteChecks(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  const tree = new ArmTree(b, SGPA.TABLES, 12, 48);
  tree.map(0x2000n, SGPA.DATA, S1_RW);
  pattern(b, SGPA.DATA, seed);
  g.init();
  b.page(SGPA.CD);
  g.setCd(SGPA.CD, 0, cd(tree.root, 9));
  const cases: Partial<Parameters<typeof s1Ste>[1]>[] = [
    {}, { S1CDMax: 1 }, { S1STALLD: true }, { S1Fmt: 3 }, { EATS: 1 }, { STRW: 2 }, { S1DSS: 3 }, { SHCFG: 3 },
    { S1ContextPtr: UNMAPPED }, { S1ContextPtr: SGPA.CD + 0x40n }, { Config: CONFIG.S2, S2AA64: true }, { Config: CONFIG.NESTED, S2AA64: true }, { V: false },
  ];
  for (let i = 0; i < 7; i++) {
    const over = i === 0 ? {} : rng.pick(cases);
    g.setSte(SID, s1Ste(SGPA.CD, over), rng.chance(0.85));
    b.dmaRead(DEV, 0x2000n, 8);
    g.readEvents();
  }
  return b.build(`smmu-ste-checks-${tag(profile)}-${seed}`, 'stage-1 STEs with unusual fields (S1CDMax, S1STALLD, S1Fmt, EATS, STRW, S1DSS, stage 2 on a stage-1 SMMU, CD table outside RAM), some changed without CFGI_STE', smmuMachine(profile));
}

/** A 2-level stream table: SPLIT, L1 descriptors with every Span, L2 tables outside RAM, StreamIDs beyond the span. */
export function smmu2Level(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  const split = rng.pick([6, 8]);
  g.init({ sidBits: 16, split });
  pattern(b, SGPA.DATA, seed);
  // Every device's level-2 table gets a chosen Span; the device's index in it decides.
  for (const bdf of SDEVICES) {
    const sid = streamOf(bdf);
    const span = rng.pick([0, 1, 2, 3, 4, 5, split + 1, split + 2, 12]);
    const addr = g.steAddr(sid, span);
    b.memWrite(addr, [1n | (BigInt(CONFIG.BYPASS) << 1n)]);
    g.submit([C.cfgiSte(sid)]);
    b.memFill(SGPA.SINK, 16, 0);
    b.dmaWrite(bdf, SGPA.SINK, 8).memRead(SGPA.SINK, 8);
    g.readEvents();
  }
  // An L1 descriptor whose L2 table is outside RAM.
  b.memWrite(SGPA.STRTAB + BigInt(streamOf(SDEVICES[1]) >> split) * 8n, [UNMAPPED | BigInt(split + 1)]);
  g.submit([C.cfgiAll()]);
  b.dmaWrite(SDEVICES[1], SGPA.SINK, 4);
  g.readEvents();
  return b.build(`smmu-2level-${tag(profile)}-${seed}`, `2-level stream table (SPLIT ${split}): L1 descriptors with random Span, an L2 table outside RAM`, smmuMachine(profile, SDEVICES));
}

/** The command queue: configuration and TLB caching until the right invalidation, each TLBI scope, errors and recovery. */
export function smmuCommands(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  const tree = new ArmTree(b, SGPA.TABLES, 12, 48);
  const vas = [0x1000n, 0x2000n, 0x20_0000n, 0x4000_0000n];
  vas.forEach((va, i) => { tree.map(va, SGPA.DATA + BigInt(i) * 0x1000n, S1_RW); pattern(b, SGPA.DATA + BigInt(i) * 0x1000n, i); });
  pattern(b, SGPA.DATA + 0x8000n, 0x77);
  g.init();
  b.page(SGPA.CD);
  const asid = 1 + rng.int(3);
  g.setCd(SGPA.CD, 0, cd(tree.root, asid));
  g.setSte(SID, s1Ste(SGPA.CD));
  // A probe: read 8 bytes at `va`, write them to the sink (VA 0x10_0000 -> SINK) at slot k; the sink shows which page was used.
  tree.map(0x10_0000n, SGPA.SINK, S1_RW);
  const probe = (va: bigint, k: number) => b.dmaRead(DEV, va, 8).dmaWrite(DEV, 0x10_0000n + BigInt(8 * k), 8);
  vas.forEach((va, k) => probe(va, k)); // fill the TLB
  const invs: bigint[][][] = [
    [C.tlbiNhVa(0, asid, 0x1000n)], [C.tlbiNhVa(0, asid + 7, 0x1000n)], [C.tlbiNhVa(0, asid, 0x0n, true, { num: 3, scale: 0 })],
    [C.tlbiNhVa(0, asid, 0x20_0000n, false)], [C.tlbiNhVaa(0, 0x2000n)], [C.tlbiNhAsid(0, asid)], [C.tlbiNhAsid(0, asid + 1)],
    [C.tlbiNhAll(0)], [C.tlbiNsnhAll()], [C.cfgiCd(SID, 0)], [C.cfgiSte(SID)], [],
  ];
  for (let i = 0; i < 5; i++) {
    // Remap every VA to the 0x77 page, one invalidation: which VAs see the new page?
    vas.forEach((va) => tree.map(va, SGPA.DATA + 0x8000n, S1_RW));
    g.submit(rng.pick(invs));
    b.memFill(SGPA.SINK, 32, 0);
    vas.forEach((va, k) => probe(va, k));
    b.memRead(SGPA.SINK, 32);
    vas.forEach((va, k) => tree.map(va, SGPA.DATA + BigInt(k) * 0x1000n, S1_RW));
    g.submit([C.tlbiNsnhAll()]);
  }
  // STE changed without CFGI_STE: the cached configuration stays; CFGI_STE_RANGE / CFGI_ALL drop it.
  b.memWrite(g.steAddr(SID), [1n]); // V=1 Config=abort
  b.memFill(SGPA.SINK, 16, 0xaa).dmaWrite(DEV, 0x1000n, 8).memRead(SGPA.DATA, 8);
  g.submit([rng.chance(0.5) ? C.cfgiSteRange(SID, rng.int(4)) : C.cfgiAll()]);
  b.dmaWrite(DEV, 0x1000n, 8).memRead(SGPA.DATA, 8);
  g.readEvents();
  // An illegal opcode stops the queue: CMDQ_CONS.ERR, GERROR.CMDQ_ERR; recovery skips it.
  const bad = g.nextCommand;
  // Undefined opcodes, a Secure CFGI, and commands this SMMU lacks (EL2/EL3 TLBIs, ATC_INV, PRI_RESP, RESUME).
  g.submit([[BigInt(rng.pick([0x00, 0x0f, 0x47, 0xff, 0x03 | 0x400, 0x20, 0x18, 0x40, 0x41, 0x44])), 0n]]);
  b.mmioRead(SR.GERROR, 4).mmioRead(SR.CMDQ_CONS, 4);
  g.recoverCommandError(bad, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
  g.submit([C.cfgiAll()]);
  b.mmioRead(SR.CMDQ_CONS, 4).mmioRead(SR.GERROR, 4).mmioRead(SR.GERRORN, 4);
  return b.build(`smmu-commands-${tag(profile)}-${seed}`, 'TLB and configuration caching until CFGI_* / TLBI_* of each scope, an illegal command and the recovery', smmuMachine(profile));
}

/** Event queue: overflow of a 2-entry queue, events while EVENTQEN = 0, and a queue outside RAM (GERROR.EVENTQ_ABT_ERR). */
export function smmuEventQueue(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  g.init();
  g.setSte(SID, { V: false });
  b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.SMMUEN).mmioRead(SR.CR0ACK, 4);
  b.mmioWrite(SR.EVENTQ_BASE, 8, SGPA.EVTQ | 1n);
  b.mmioWrite(SR.EVENTQ_PROD, 4, 0).mmioWrite(SR.EVENTQ_CONS, 4, 0);
  b.dmaRead(DEV, SGPA.DATA, 4); // queue off: lost
  b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN).mmioRead(SR.CR0ACK, 4);
  for (let i = 0; i < 2 + rng.int(3); i++) b.dmaRead(DEV, SGPA.DATA, 4);
  b.mmioRead(SR.EVENTQ_PROD, 4).mmioRead(SR.EVENTQ_CONS, 4).memRead(SGPA.EVTQ, 64);
  b.mmioWrite(SR.EVENTQ_CONS, 4, 0x8000_0001).mmioRead(SR.EVENTQ_PROD, 4);
  b.dmaRead(DEV, SGPA.DATA, 4);
  b.mmioRead(SR.EVENTQ_PROD, 4).memRead(SGPA.EVTQ, 64);
  // The queue moved outside RAM.
  b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.SMMUEN).mmioRead(SR.CR0ACK, 4);
  b.mmioWrite(SR.EVENTQ_BASE, 8, UNMAPPED | 3n).mmioWrite(SR.EVENTQ_PROD, 4, 0).mmioWrite(SR.EVENTQ_CONS, 4, 0);
  b.mmioWrite(SR.CR0, 4, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN).mmioRead(SR.CR0ACK, 4);
  b.dmaRead(DEV, SGPA.DATA, 4);
  b.mmioRead(SR.EVENTQ_PROD, 4).mmioRead(SR.GERROR, 4);
  return b.build(`smmu-evtq-${tag(profile)}-${seed}`, 'event queue overflow, events while the queue is off, a queue outside RAM', smmuMachine(profile));
}

/** Stage 2 and nesting (QEMU 10.0): an S2-only STE and a nested STE whose CD and stage-1 tables are IPAs, with faults of each CLASS. */
export function smmuStage2(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  const ipaBits = rng.pick([32, 36, 40]);
  const start = ipaBits === 40 ? 1 : ipaBits === 36 ? 1 : 2;
  const s2 = new ArmTree(b, SGPA.TABLES, 12, ipaBits, start);
  // The guest's IPA space: IPA x -> PA SGPA.RAM + 0x200_0000 + x for x < 16 MiB, by 2 MiB blocks.
  const vm = SGPA.RAM + 0x200_0000n;
  for (let i = 0n; i < 8n; i++) s2.map(i << 21n, vm + (i << 21n), S2_RW, 2);
  const vmid = 1 + rng.int(200);
  const s2Fields = { S2VMID: vmid, S2T0SZ: 64 - ipaBits, S2SL0: 2 - start, S2TG: 0, S2PS: 4, S2AA64: true, S2R: true, S2TTB: s2.root };
  g.init();
  pattern(b, vm + 0x10_0000n, seed);
  g.setSte(SID, { V: true, Config: CONFIG.S2, ...s2Fields });
  b.dmaRead(DEV, 0x10_0000n, 8).memFill(vm + 0x30_0000n, 8, 0).dmaWrite(DEV, 0x30_0000n, 8).memRead(vm + 0x30_0000n, 8);
  b.dmaRead(DEV, 0x100_0000n + 0x5000n, 8); // IPA stage 2 does not map
  g.readEvents();
  b.dmaRead(DEV, 1n << BigInt(ipaBits), 4); // beyond S2T0SZ
  g.readEvents();
  // Nested: the CD at IPA 0x8000, stage-1 tables from IPA 0x4_0000 holding IPAs (PA = vm + IPA).
  const s1 = new ArmTree(b, vm + 0x4_0000n, 12, 48, undefined, -vm);
  s1.map(0x7000_1000n, 0x10_0000n, S1_RW);
  s1.map(0x7020_0000n, 0x150_0000n, S1_RW); // an output IPA stage 2 does not map: CLASS IN
  b.page(vm + 0x8000n);
  g.setCd(vm + 0x8000n, 0, cd(s1.root - vm, 4));
  g.setSte(SID, { V: true, Config: CONFIG.NESTED, S1ContextPtr: 0x8000n, ...s2Fields });
  b.dmaRead(DEV, 0x7000_1000n, 8).dmaWrite(DEV, 0x7000_1008n, 8).memRead(vm + 0x10_0000n, 16);
  b.dmaRead(DEV, 0x7020_0000n, 4);
  g.readEvents();
  // A stage-1 table pointer (CLASS TT) and then the CD pointer (CLASS CD) at IPAs stage 2 does not map.
  b.memWrite(s1.at.get(`${0x7000_1000n}:2`)!, [0x160_0000n | DESC.VALID | DESC.TABLE]);
  g.submit([C.tlbiNhAll(vmid)]);
  b.dmaRead(DEV, 0x7000_1000n, 4);
  g.readEvents();
  g.setSte(SID, { V: true, Config: CONFIG.NESTED, S1ContextPtr: rng.pick([0x180_0000n, 0x100_8000n]), ...s2Fields });
  b.dmaRead(DEV, 0x7000_1000n, 4);
  g.readEvents();
  g.submit([C.tlbiS12Vmall(vmid), C.tlbiS2Ipa(vmid, 0x10_0000n)]);
  // Stage-2 STEs with ILLEGAL or unusual fields (§5.2), each then used by a DMA (S2AA64 = 0 is left out: QEMU asserts).
  const checks: Partial<typeof s2Fields & { S2HA: boolean; S2HD: boolean; S2S: boolean; S2ENDI: boolean; S2AFFD: boolean }>[] = [
    { S2HA: true }, { S2HD: true }, { S2PS: 0 }, { S2PS: 1 }, { S2S: true }, { S2ENDI: true }, { S2TG: 3 }, { S2SL0: 3 }, { S2T0SZ: 15 }, { S2TTB: s2.root + 0x800n },
  ];
  for (const over of [checks[0]!, checks[1]!, checks[2]!, rng.pick(checks), rng.pick(checks)]) {
    g.setSte(SID, { V: true, Config: CONFIG.S2, ...s2Fields, ...over });
    b.dmaRead(DEV, 0x10_0000n, 4);
    g.readEvents();
  }
  return b.build(`smmu-stage2-${tag(profile)}-${seed}`, `stage 2 only (IPA ${ipaBits} bits, VMID ${vmid}) and nested stage 1 over it: translations and stage-2 faults of CLASS IN / TT / CD; stage-2 STEs with S2HA, S2HD, a small S2PS and other unusual fields`, smmuMachine(profile));
}

/** Every family and the profiles it is recorded on. */
export const SMMU_FAMILIES: Record<string, { family: SmmuFamily; profiles: readonly string[] }> = {
  'smmu-registers': { family: smmuRegisters, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-ste': { family: smmuSte, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-s1': { family: smmuS1, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-granules': { family: smmuGranules, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-cd-checks': { family: smmuCdChecks, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-ste-checks': { family: smmuSteChecks, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-2level': { family: smmu2Level, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-commands': { family: smmuCommands, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-evtq': { family: smmuEventQueue, profiles: ['qemu-7.2', 'qemu-10.0'] },
  'smmu-stage2': { family: smmuStage2, profiles: ['qemu-10.0'] },
  'smmu-iotlb-capacity': { family: (p, s) => smmuIotlbCapacity(p, s), profiles: ['qemu-7.2', 'qemu-10.0'] },
};

/**
 * IOTLB capacity: about 300 stage-1 4 KiB pages are filled one DMA each
 * (QEMU keeps up to 256 IOTLB entries, SMMU_IOTLB_MAX_SIZE, and empties the
 * whole IOTLB at a fill that finds 256), a few pages are remapped without
 * invalidation along the way, then probed: a probe that reads the old page
 * shows a cached entry.
 */
export function smmuIotlbCapacity(profile: string, seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = new SmmuGuest(b);
  const tree = new ArmTree(b, SGPA.TABLES, 12, 39);
  const asid = 1 + rng.int(100);
  g.init();
  b.page(SGPA.CD);
  g.setCd(SGPA.CD, 0, cd(tree.root, asid, { T0SZ: 25 }));
  g.setSte(SID, s1Ste(SGPA.CD));
  const pages = 200 + rng.int(160);
  const base = 0x100_0000n;
  const oldPa = SGPA.DATA, newPa = SGPA.DATA + 0x1000n;
  pattern(b, oldPa, 1);
  pattern(b, newPa, 2);
  for (let k = 0; k < pages; k++) tree.map(base + BigInt(k) * 0x1000n, oldPa, S1_RW);
  tree.map(SGPA.SINK, SGPA.SINK, S1_RW);
  const probes = Array.from({ length: 6 }, () => rng.int(pages));
  const remapAt = new Map(probes.map((k) => [rng.int(pages), k] as const));
  for (let k = 0; k < pages; k++) {
    b.dmaRead(DEV, base + BigInt(k) * 0x1000n + BigInt(rng.int(32) * 8), 8);
    const r = remapAt.get(k);
    if (r !== undefined) tree.map(base + BigInt(r) * 0x1000n, newPa, S1_RW);
  }
  for (const k of probes) b.dmaRead(DEV, base + BigInt(k) * 0x1000n, 16).memFill(SGPA.SINK, 16, 0).dmaWrite(DEV, SGPA.SINK, 16).memRead(SGPA.SINK, 16);
  g.readEvents();
  return b.build(`smmu-iotlb-capacity-${tag(profile)}-${seed}`, `${pages} stage-1 IOTLB fills with remapped pages: which stale entries survive QEMU's flush at 256`, smmuMachine(profile));
}
