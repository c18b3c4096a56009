/**
 * Scenario families for sequences and combinations (issue 20): mode switches
 * with live IOTLB entries, several devices sharing a domain, IOTLB capacity,
 * wide register writes, descriptor-type and register-width corner cases.
 * One family per behaviour; each is recorded on QEMU 7.2 and 10.0 (the
 * `-10-` names) by generate-corpus.ts. Encodings: §9.1-9.6 structures,
 * §9.8 second-stage entries, §6.5.2 descriptors, §11.4 registers.
 */
import { IQA } from '../../host/src/vtd/qi/queue-regs.js';
import { ECTL, FRCD, FSTS, ICS_IWC } from '../../host/src/vtd/spec/registers.js';
import { CC, IEC_DESC, IOTLB_DESC, PC_DESC, PIOTLB, ccDesc, iecDesc, iotlbDesc, pasidCacheDesc, pasidIotlbDesc, waitDesc } from '../../host/src/vtd/spec/descriptors.js';
import {
  DEVICES, GPA, Queue, REGS, awField, devfn, legacyContext, legacyRoot, machine,
  mapSinks, ownDataTrees, pasidEntry, pasidEntryAt, pattern, probe, smDevice, smRoot, ssTree, type SmDevice,
} from './guest.js';
import { GCMD, REG, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';
import { SS } from './page-tree.js';

/** Registers or a queue for the invalidations a family issues. */
interface Invalidator {
  ccGlobal(): void;
  ccDomain(did: number): void;
  ccDevice(did: number, sid: number, fm: number): void;
  iotlbGlobal(): void;
  iotlbDomain(did: number): void;
  iotlbPage(did: number, addr: bigint, am: number): void;
}

function registerInvalidator(b: ScenarioBuilder): Invalidator {
  return {
    ccGlobal: () => REGS.ccGlobal(b), ccDomain: (d) => REGS.ccDomain(b, d), ccDevice: (d, s, f) => REGS.ccDevice(b, d, s, f),
    iotlbGlobal: () => REGS.iotlbGlobal(b), iotlbDomain: (d) => REGS.iotlbDomain(b, d),
    iotlbPage: (d, a, am) => REGS.iotlbPage(b, d, a, am),
  };
}

function queueInvalidator(q: Queue): Invalidator {
  return {
    ccGlobal: () => q.submit([ccDesc(CC.G_GLOBAL)]), ccDomain: (d) => q.submit([ccDesc(CC.G_DOMAIN, d)]),
    ccDevice: (d, s, f) => q.submit([ccDesc(CC.G_DEVICE, d, s, f)]), iotlbGlobal: () => q.submit([iotlbDesc(IOTLB_DESC.G_GLOBAL)]),
    iotlbDomain: (d) => q.submit([iotlbDesc(IOTLB_DESC.G_DOMAIN, d)]), iotlbPage: (d, a, am) => q.submit([iotlbDesc(IOTLB_DESC.G_PAGE, d, a, am)]),
  };
}

/** How a family invalidates, and the GCMD enables every later GCMD write keeps. */
interface Started { readonly inv: Invalidator; readonly keep: bigint; readonly queue?: Queue }

/** SRTP + TE, and register or queued invalidation (the queue: enabled before TE). */
function start(b: ScenarioBuilder, rng: Rng, scalable: boolean, useQueue = rng.chance(0.5)): Started {
  b.setRootTable(GPA.ROOT | (scalable ? TTM_SCALABLE : 0n));
  if (!useQueue) {
    b.globalInvalidateRegs().enableTranslation();
    return { inv: registerInvalidator(b), keep: 0n };
  }
  const queue = new Queue(b, scalable && rng.chance(0.5)).enable();
  queue.submit([ccDesc(CC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck();
  b.enableTranslation(GCMD.QIE);
  return { inv: queueInvalidator(queue), keep: GCMD.QIE, queue };
}

/** Identity-visible IOVA: gpa == iova is RAM the family fills with its own pattern. */
function identityIova(rng: Rng): bigint {
  return BigInt(0x1000 * (0x300 + rng.int(0x100)));
}

/** Per-device translation setup in either mode, switchable between translated and pass-through. */
interface Setup {
  /** Writes device `i`'s entry: translated (through `top`, domain `did`) or pass-through. */
  set(i: number, e: { top: bigint; did: number; pt: boolean }): void;
  readonly sm: readonly SmDevice[];
}

function setupDevices(b: ScenarioBuilder, scalable: boolean, aw: 39 | 48, n: number): Setup {
  const field = awField(aw).field;
  if (!scalable) {
    legacyRoot(b);
    return { sm: [], set: (i, e) => { legacyContext(b, DEVICES[i]!, { slpt: e.top, aw: field, did: e.did, tt: e.pt ? 2 : 0 }); } };
  }
  smRoot(b);
  const sm = Array.from({ length: n }, (_, i) => smDevice(b, i));
  return {
    sm, set: (i, e) => { b.memWrite(pasidEntryAt(sm[i]!, 0), pasidEntry({ slpt: e.top, aw: field, did: e.did, pgtt: e.pt ? 4 : 2 })); },
  };
}

/**
 * Pass-through decided at events: devices switch between translated and
 * pass-through (legacy TT=2, scalable PGTT=4) in memory, with and without
 * the events QEMU re-decides at (TE change, SRTP, context-cache
 * invalidation), while stale IOTLB entries exist. gpa == iova holds its own
 * pattern, so each probe shows identity or translation.
 */
export function ptEvents(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.5);
  const aw = rng.pick([39, 48] as const);
  const n = 2;
  const dids = [1 + rng.int(2), 1 + rng.int(3)];
  const s = setupDevices(b, scalable, aw, n);
  const t = ssTree(b, GPA.TABLES, aw);
  const iova = identityIova(rng);
  t.map(iova, GPA.DATA, SS.RW);
  mapSinks(t, n);
  pattern(b, GPA.DATA, 0x11);
  pattern(b, GPA.DATA + 0x1000n, 0x33);
  pattern(b, iova, 0x22);
  const pt = [rng.chance(0.3), false];
  for (let i = 0; i < n; i++) s.set(i, { top: t.top, did: dids[i]!, pt: pt[i]! });
  const { inv, keep } = start(b, rng, scalable);
  const leaf = t.entryAt.get(`${iova}:0`)!;
  let alt = false;
  const toggle = () => { const i = rng.int(n); pt[i] = !pt[i]; s.set(i, { top: t.top, did: dids[i]!, pt: pt[i]! }); };
  const events: (() => void)[] = [
    () => inv.ccGlobal(),
    () => inv.ccDomain(dids[rng.int(n)]!),
    () => { const i = rng.int(n); inv.ccDevice(dids[i]!, devfn(DEVICES[i]!), rng.int(4)); },
    () => b.mmioWrite(REG.GCMD, 4, GCMD.SRTP | GCMD.TE | keep).mmioRead(REG.GSTS, 4),
    () => b.mmioWrite(REG.GCMD, 4, keep).mmioRead(REG.GSTS, 4).mmioWrite(REG.GCMD, 4, GCMD.TE | keep).mmioRead(REG.GSTS, 4),
  ];
  const others: (() => void)[] = [
    () => { alt = !alt; b.memWrite(leaf, [(alt ? GPA.DATA + 0x1000n : GPA.DATA) | 3n]); },
    () => inv.iotlbGlobal(),
    () => inv.iotlbDomain(dids[rng.int(n)]!),
  ];
  for (let i = 0; i < n; i++) probe(b, DEVICES[i]!, iova, false);
  for (let r = 0; r < 18; r++) {
    const roll = rng.next();
    if (roll < 0.35) toggle();
    else if (roll < 0.7) rng.pick(events)();
    else rng.pick(others)();
    if (rng.chance(0.3)) rng.pick(events)();
    probe(b, DEVICES[rng.int(n)]!, iova, rng.chance(0.3));
  }
  return b.build(`gen-pt-events-${seed}`, 'pass-through decided from memory at TE, SRTP and context-cache invalidation, with stale IOTLB entries',
    machine('qemu-7.2', { scalable, aw, devices: n }));
}

/**
 * Scalable-mode IOTLB entries per source id: two or three devices, some
 * sharing a domain id, each with its own second-stage table mapping the same
 * IOVA to its own data; devices move between domain ids, leaves change, and
 * invalidations name old or new domain ids.
 */
export function smIotlbSid(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  const n = 2 + rng.int(2);
  const s = setupDevices(b, true, aw, n);
  const iova = BigInt(0x1000 * (1 + rng.int(0x400)));
  const dids = Array.from({ length: n }, (_, i) => (i < 2 ? 1 : 1 + rng.int(3)));
  const { trees, flip } = ownDataTrees(b, n, aw, iova, n, [0x10, 0x20]);
  trees.forEach((t, i) => s.set(i, { top: t.top, did: dids[i]!, pt: false }));
  const { inv, queue } = start(b, rng, true);
  const actions: (() => void)[] = [
    () => { const i = rng.int(n); dids[i] = 1 + rng.int(3); s.set(i, { top: trees[i]!.top, did: dids[i]!, pt: false }); },
    () => flip(rng.int(n)),
    () => inv.iotlbDomain(1 + rng.int(3)),
    () => inv.iotlbPage(1 + rng.int(3), iova, 0),
    () => inv.iotlbGlobal(),
    () => inv.ccGlobal(),
    () => { if (queue?.wide) queue.submit([pasidIotlbDesc(PIOTLB.G_PASID, 1 + rng.int(3), 0)]); },
    () => { if (queue?.wide) queue.submit([pasidCacheDesc(PC_DESC.G_GLOBAL)]); },
  ];
  for (let i = 0; i < n; i++) probe(b, DEVICES[i]!, iova, false);
  for (let r = 0; r < 10; r++) {
    rng.pick(actions)();
    if (rng.chance(0.5)) rng.pick(actions)();
    for (let i = 0; i < n; i++) if (rng.chance(0.7)) probe(b, DEVICES[i]!, iova, rng.chance(0.2));
  }
  return b.build(`gen-sm-iotlb-sid-${seed}`, 'scalable mode: devices sharing and changing domain ids with their own tables, IOTLB by source id',
    machine('qemu-7.2', { scalable: true, aw, devices: n }));
}

/** IOVA base of the capacity family's fill pages (past the identity window, inside the DMA mask). */
const FILL_BASE = 0x1000000n;

/**
 * IOTLB capacity: a device fills about a thousand 4 KiB entries (one per DMA
 * page), some pages are remapped in memory without invalidation along the
 * way, invalidations remove some entries, and the remapped pages are probed
 * once more than 1024 entries were filled: which stale entries survive shows
 * the IOTLB's size and replacement policy.
 */
export function iotlbCapacity(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.3);
  const aw = rng.pick([39, 48] as const);
  const n = rng.chance(0.3) ? 2 : 1;
  const s = setupDevices(b, scalable, aw, n);
  const t = ssTree(b, GPA.TABLES, aw);
  const pages = 960 + rng.int(140);
  const fillData = GPA.DATA + 0x100000n;
  pattern(b, fillData, 0x0f);
  for (let k = 0; k < pages; k++) t.map(FILL_BASE + BigInt(k) * 0x1000n, fillData, 1n);
  mapSinks(t, n);
  const probes = Array.from({ length: 4 + rng.int(4) }, () => rng.int(pages)).filter((k, i, a) => a.indexOf(k) === i);
  probes.forEach((k, i) => {
    pattern(b, GPA.DATA + BigInt(i) * 0x2000n, 0x40 + i);
    pattern(b, GPA.DATA + BigInt(i) * 0x2000n + 0x1000n, 0x60 + i);
    t.map(FILL_BASE + BigInt(k) * 0x1000n, GPA.DATA + BigInt(i) * 0x2000n, 1n);
  });
  for (let i = 0; i < n; i++) s.set(i, { top: t.top, did: 1 + i, pt: false });
  const { inv } = start(b, rng, scalable);
  const order = Array.from({ length: pages }, (_, k) => k);
  for (let k = pages - 1; k > 0; k--) { const j = rng.int(k + 1); [order[k], order[j]] = [order[j]!, order[k]!]; }
  const remapAt = new Map(probes.map((k, i) => [rng.int(pages), i] as const));
  const domainAt = rng.chance(0.3) ? rng.int(pages) : -1;
  order.forEach((k, pos) => {
    const dev = DEVICES[rng.int(n)]!;
    b.dmaRead(dev, FILL_BASE + BigInt(k) * 0x1000n + BigInt(rng.int(64) * 8), 8);
    const i = remapAt.get(pos);
    if (i !== undefined) b.memWrite(t.entryAt.get(`${FILL_BASE + BigInt(probes[i]!) * 0x1000n}:0`)!, [(GPA.DATA + BigInt(i) * 0x2000n + 0x1000n) | 1n]);
    if (rng.chance(0.01)) inv.iotlbPage(1 + rng.int(n), FILL_BASE + BigInt(rng.int(pages)) * 0x1000n, rng.pick([0, 0, 2, 4]));
    if (pos === domainAt) inv.iotlbDomain(1 + rng.int(n));
  });
  for (const k of probes) probe(b, DEVICES[rng.int(n)]!, FILL_BASE + BigInt(k) * 0x1000n, false);
  b.readFaultState();
  return b.build(`gen-iotlb-capacity-${seed}`, 'about a thousand IOTLB fills with remapped pages and some invalidations: which stale entries survive',
    machine('qemu-7.2', { scalable, aw, devices: n }));
}

/** Posts an invalid descriptor so FSTS.IQE is set; returns the queue slot to repair. */
function raiseIqe(b: ScenarioBuilder, q: Queue): bigint {
  const at = q.tailBytes;
  q.submit([[0x0n, 0n]]);
  return at;
}

/**
 * 8-byte writes whose upper dword is a write-1-to-clear status register
 * (0x30 covering FSTS, 0x98 covering ICS) after an IQE, a PFO or a wait
 * completion set FECTL.IP / IECTL.IP with the interrupt masked; 4-byte
 * writes to the same registers for contrast; then unmasking.
 */
export function w1cPair(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  legacyRoot(b);
  const t = ssTree(b, GPA.TABLES, 39);
  mapSinks(t, 2);
  for (let i = 0; i < 2; i++) legacyContext(b, DEVICES[i]!, { slpt: t.top, aw: 1n, did: 1 });
  const { queue } = start(b, rng, false, true);
  const q = queue!;
  const fsts = (bits: number) => {
    // An 8-byte write whose high half is FSTS (the low half: the reserved dword at 0x30).
    if (rng.chance(0.7)) b.mmioWrite(REG.FSTS - 4, 8, (BigInt(bits) << 32n) | BigInt(rng.int(2) * 0xffffffff));
    else b.mmioWrite(REG.FSTS, 4, bits);
    b.mmioRead(REG.FSTS, 4).mmioRead(REG.FECTL, 4);
  };
  const ics = () => {
    // An 8-byte write whose high half is ICS (the low half: the reserved dword at 0x98).
    if (rng.chance(0.7)) b.mmioWrite(REG.ICS - 4, 8, (BigInt(ICS_IWC) << 32n) | BigInt(rng.int(2) * 0xffffffff));
    else b.mmioWrite(REG.ICS, 4, ICS_IWC);
    b.mmioRead(REG.ICS, 4).mmioRead(REG.IECTL, 4);
  };
  const unmask = (reg: number) => {
    b.mmioWrite(reg, 4, 0).mmioRead(reg, 4).mmioWrite(reg, 4, ECTL.IM).mmioRead(reg, 4);
  };
  const tests: (() => void)[] = [
    () => { // IQE with IM set
      const at = raiseIqe(b, q);
      b.mmioRead(REG.FSTS, 4).mmioRead(REG.FECTL, 4);
      fsts(FSTS.IQE);
      b.memWrite(GPA.QUEUE + at, waitDesc({ sw: true, data: 0x5a00, addr: GPA.STATUS }));
      b.mmioWrite(REG.IQT, 8, q.tailBytes).mmioRead(REG.IQH, 8);
      if (rng.chance(0.5)) unmask(REG.FECTL);
    },
    () => { // PPF, then PFO from the other device, F cleared, PFO cleared
      b.dmaRead(DEVICES[0], 0x5000n, 16).dmaRead(DEVICES[1], 0x6000n, 16).readFaultState();
      b.mmioWrite(REG.FRCD_HI + 4, 4, FRCD.F >> 32n).mmioRead(REG.FSTS, 4).mmioRead(REG.FECTL, 4);
      fsts(rng.pick([1, 1, 0x11, 0x7f]));
      if (rng.chance(0.5)) unmask(REG.FECTL);
    },
    () => { // a wait with IF while IECTL.IM is set
      q.submit([waitDesc({ if: true, data: rng.int(0x100) })]);
      b.mmioRead(REG.ICS, 4).mmioRead(REG.IECTL, 4);
      ics();
      if (rng.chance(0.5)) unmask(REG.IECTL);
    },
  ];
  for (let r = 0; r < 4; r++) rng.pick(tests)();
  return b.build(`gen-w1c-pair-${seed}`, '8-byte writes at 0x30 / 0x98 clearing FSTS / ICS bits, with IP pending',
    machine('qemu-7.2', { devices: 2 }));
}

/**
 * Descriptor types with bits 11:9 (the type's high bits, §6.5.2) set: valid
 * low types 1-7 with a high part, mixed with valid descriptors, in 128- and
 * 256-bit queues. After each batch the slots are repaired with waits.
 */
export function descTypeHigh(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.5);
  legacyRoot(b);
  const t = ssTree(b, GPA.TABLES, 39);
  mapSinks(t, 1);
  legacyContext(b, DEVICES[0], { slpt: t.top, aw: 1n, did: 1 });
  b.setRootTable(GPA.ROOT).globalInvalidateRegs();
  const q = new Queue(b, scalable && rng.chance(0.6)).enable();
  const low = (ty: number): bigint[] => {
    switch (ty) {
      case 1: return ccDesc(CC.G_GLOBAL);
      case 2: return iotlbDesc(IOTLB_DESC.G_GLOBAL);
      case 4: return iecDesc(IEC_DESC.G_GLOBAL);
      case 5: return waitDesc({ sw: true, data: 0x77, addr: GPA.STATUS + 8n });
      case 6: return pasidIotlbDesc(PIOTLB.G_PASID, 1, 0);
      default: return pasidCacheDesc(PC_DESC.G_GLOBAL);
    }
  };
  for (let r = 0; r < 5; r++) {
    const start = q.tailBytes;
    const batch = Array.from({ length: 1 + rng.int(3) }, () => {
      const d = low(rng.pick([1, 2, 4, 4, 5, 6, 6, 7, 7]));
      return rng.chance(0.6) ? [d[0]! | (BigInt(1 + rng.int(7)) << 9n), d[1]!] : d;
    });
    b.memFill(GPA.STATUS + 8n, 8, 0);
    q.submit(batch);
    b.mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4).memRead(GPA.STATUS + 8n, 8);
    b.mmioWrite(REG.FSTS, 4, 0x10);
    const size = q.wide ? 32n : 16n;
    for (let at = start; at !== q.tailBytes; at = (at + size) % 4096n) b.memWrite(GPA.QUEUE + at, waitDesc({ sw: true, addr: GPA.STATUS }));
    b.mmioWrite(REG.IQT, 8, q.tailBytes).mmioRead(REG.IQH, 8).mmioRead(REG.FSTS, 4);
  }
  return b.build(`gen-desc-type-high-${seed}`, 'queued descriptors with type bits 11:9 set over valid low types',
    machine('qemu-7.2', { scalable }));
}

/**
 * RTADDR values with bits set above the address width (and in 11:0), latched
 * by SRTP: translation through the root table they name, RTADDR read back.
 */
export function rtaddrWidth(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.4);
  const aw = rng.pick([39, 48] as const);
  const s = setupDevices(b, scalable, aw, 1);
  const t = ssTree(b, GPA.TABLES, aw);
  const iova = BigInt(0x1000 * (1 + rng.int(0x400)));
  t.map(iova, GPA.DATA, SS.RW);
  mapSinks(t, 1);
  pattern(b, GPA.DATA, 0x5e);
  s.set(0, { top: t.top, did: 1, pt: false });
  const ttm = scalable ? TTM_SCALABLE : 0n;
  b.setRootTable(GPA.ROOT | ttm).globalInvalidateRegs().enableTranslation();
  probe(b, DEVICES[0], iova);
  for (let r = 0; r < 4; r++) {
    let high = 0n;
    for (let k = 0; k < 1 + rng.int(3); k++) high |= 1n << BigInt(rng.pick([aw, aw + 1, 50, 51, 52, 56, 62, 63, aw + rng.int(64 - aw)]));
    const low = rng.chance(0.3) ? BigInt(rng.int(0x400)) & ~0xc00n : 0n;
    b.mmioWrite(REG.RTADDR, 8, GPA.ROOT | ttm | high | low).mmioWrite(REG.GCMD, 4, GCMD.SRTP | GCMD.TE).mmioRead(REG.GSTS, 4);
    b.mmioRead(REG.RTADDR, 8);
    b.globalInvalidateRegs(false);
    probe(b, DEVICES[0], iova);
    b.clearFaults();
  }
  return b.build(`gen-rtaddr-width-${seed}`, 'RTADDR bits above the address width at SRTP', machine('qemu-7.2', { scalable, aw }));
}

/**
 * IQA.DW (and QS) rewritten while QIE=1 on a scalable-mode unit: descriptors
 * written where a unit using the new width would fetch them, IQT in the new
 * units; IQH, FSTS, IQA and wait status observed.
 */
export function iqaDwLive(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  legacyRoot(b);
  b.setRootTable(GPA.ROOT);
  b.page(GPA.QUEUE).page(GPA.QUEUE + 0x1000n).page(GPA.STATUS);
  let wide = rng.chance(0.5);
  const qs = rng.int(2);
  b.mmioWrite(REG.IQA, 8, GPA.QUEUE | (wide ? IQA.DW : 0n) | BigInt(qs)).mmioWrite(REG.IQT, 8, 0);
  b.mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4).mmioRead(REG.IQA, 8);
  let head = 0n; // in descriptors, as long as every batch completes
  let waits = 0;
  for (let r = 0; r < 5; r++) {
    if (r > 0 && rng.chance(0.6)) {
      wide = !wide;
      b.mmioWrite(REG.IQA, 8, GPA.QUEUE | (wide ? IQA.DW : 0n) | BigInt(rng.chance(0.2) ? 1 - qs : qs)).mmioRead(REG.IQA, 8);
    }
    const size = wide ? 32n : 16n;
    const count = 1 + rng.int(3);
    for (let k = 0; k < count; k++) {
      const data = 0x7700 + ++waits;
      b.memWrite(GPA.QUEUE + (head + BigInt(k)) * size, [...waitDesc({ sw: true, data, addr: GPA.STATUS + BigInt(k * 8) }), 0n, 0n].slice(0, wide ? 4 : 2));
    }
    head += BigInt(count);
    b.mmioWrite(REG.IQT, 8, head * size).mmioRead(REG.IQH, 8).mmioRead(REG.IQT, 8).mmioRead(REG.FSTS, 4);
    b.memRead(GPA.STATUS, 24).memFill(GPA.STATUS, 24, 0);
    if (rng.chance(0.3)) b.mmioWrite(REG.FSTS, 4, FSTS.IQE);
  }
  return b.build(`gen-iqa-dw-live-${seed}`, 'IQA.DW changed while queued invalidation is enabled', machine('qemu-7.2', { scalable: true }));
}

/**
 * RID_PASID values beyond the PASID directory size the context entry's PDTS
 * gives (2^(PDTS+7) entries), with a directory entry where the index points.
 */
export function pdtsBound(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const aw = rng.pick([39, 48] as const);
  smRoot(b);
  const t = ssTree(b, GPA.TABLES, aw);
  const iova = BigInt(0x1000 * (1 + rng.int(0x400)));
  t.map(iova, GPA.DATA, SS.RW);
  mapSinks(t, 1);
  pattern(b, GPA.DATA, 0x3d);
  const dir = GPA.PASID;
  const table = GPA.PASID + 0x8000n;
  b.page(table);
  const ctxAt = GPA.CTX + BigInt(devfn(DEVICES[0]) & 0x7f) * 32n;
  const setRid = (pdts: number, rid: number, present: boolean) => {
    const at = dir + BigInt(rid >> 6) * 8n;
    b.memFill(at & ~0xfffn, 4096, 0);
    b.memWrite(at, [present ? table | 1n : 0n]);
    b.memWrite(table + BigInt(rid & 63) * 64n, pasidEntry({ slpt: t.top, aw: awField(aw).field, did: 1 + rng.int(2) }));
    b.memWrite(ctxAt, [dir | BigInt(pdts << 9) | 1n, BigInt(rid), 0n, 0n]);
  };
  setRid(0, 0, true);
  b.setRootTable(GPA.ROOT | TTM_SCALABLE).globalInvalidateRegs().enableTranslation();
  probe(b, DEVICES[0], iova);
  for (let r = 0; r < 4; r++) {
    const pdts = rng.int(2);
    const limit = 1 << (pdts + 7 + 6); // PASIDs the directory covers
    const rid = rng.chance(0.8) ? limit + rng.int(0x40000 - limit) : rng.int(limit);
    setRid(pdts, rid, rng.chance(0.85));
    b.globalInvalidateRegs(false);
    probe(b, DEVICES[0], iova);
    b.clearFaults();
  }
  return b.build(`gen-pdts-bound-${seed}`, 'RID_PASID beyond the PASID directory size (PDTS)', machine('qemu-7.2', { scalable: true, aw }));
}

/** The issue-20 families by name. */
export const SEQUENCE_FAMILIES: Record<string, (seed: number) => object> = {
  'pt-events': ptEvents, 'sm-iotlb-sid': smIotlbSid, 'iotlb-capacity': iotlbCapacity, 'w1c-pair': w1cPair,
  'desc-type-high': descTypeHigh, 'rtaddr-width': rtaddrWidth, 'iqa-dw-live': iqaDwLive, 'pdts-bound': pdtsBound,
};
