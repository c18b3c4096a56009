/**
 * Legacy-mode lookups whose order and caching QEMU does its own way, each a
 * self-contained round on two devices in two domains (restored, invalidated
 * and faults cleared after it), recorded on both QEMUs:
 * - `cached-context`: a translation is cached, the context entry is made not
 *   present or moved to another table and domain, with a context-cache
 *   invalidation only (§6.2.1, §6.5.1): the IOTLB before the context entry?
 * - `cached-perm`: a read caches a read-only leaf, then a write (§7.1.1:
 *   fault 5 on the spec's side; QEMU fails it without a record?);
 * - `intr-overlap`: a 2 MiB leaf whose page holds the interrupt range, read
 *   outside the range (§3.15);
 * - `ctx-reserved-fpd`: a context entry with FPD and a reserved bit (§9.3,
 *   §7.1.3: 0xB is qualified);
 * - `psc-ih`: a non-leaf entry changed, then a page-selective IOTLB
 *   invalidation with IH=1, which keeps paging-structure caches (§6.5.2.3);
 * - `stale-context`: a context entry moved to another table with an IOTLB
 *   invalidation only: is the context entry cached (§6.2.1)?
 * - `cc-domain` (queue only): another domain's context entry changed, then a
 *   domain-selective context-cache descriptor for the first domain (§6.5.2.1).
 * The queue, when used, may be placed with IQA bits above the address width.
 */
import { CC, IOTLB_DESC, ccDesc, iotlbDesc } from '../../host/src/vtd/spec/descriptors.js';
import { ccmdCommand, GRAN, iotlbCommand, ivaValue } from '../../host/src/vtd/spec/registers.js';
import { DEVICES, GPA, Queue, awField, devfn, legacyContext, legacyRoot, mapSinks, pattern, probe, ssTree } from './guest.js';
import { SS, type PageTree } from './page-tree.js';
import { GCMD, REG, Rng, ScenarioBuilder } from './scenario-builder.js';

const ROUNDS = ['cached-context', 'cached-perm', 'intr-overlap', 'ctx-reserved-fpd', 'psc-ih', 'stale-context', 'cc-domain'] as const;
/** IOVA of the 2 MiB leaf over the interrupt range (2 MiB aligned, inside the DMA mask). */
const INTR_IOVA = 0x4000000n;
/** The 2 MiB page holding the interrupt range 0xFEE00000-0xFEEFFFFF (§3.15). */
const INTR_PAGE = 0xfee00000n;

/** One seed's guest: two devices on their own tables and domains, and the invalidations it issues. */
interface Rig {
  readonly rng: Rng;
  readonly b: ScenarioBuilder;
  readonly field: bigint;
  readonly iova: bigint;
  readonly trees: PageTree[];
  readonly ctxAt: bigint[];
  readonly q?: Queue;
  data(i: number): bigint;
  /** Writes device `i`'s context entry (its own table and domain unless told otherwise). */
  ctx(i: number, o?: { tree?: number; did?: number }): bigint;
  ccGlobal(): void;
  ccDevice(i: number): void;
  iotlbGlobal(): void;
  iotlbPageIh(did: number, at: bigint): void;
}

function rig(rng: Rng, b: ScenarioBuilder): Rig & { aw: 39 | 48 } {
  const aw = rng.pick([39, 48] as const);
  const field = awField(aw).field;
  const iova = BigInt(0x1000 * (0x10 + rng.int(0x200)));
  const trees: PageTree[] = [0, 1].map((i) => ssTree(b, GPA.TABLES + BigInt(i) * 0x20000n, aw));
  const data = (i: number) => GPA.DATA + BigInt(i) * 0x1000n;
  trees.forEach((t, i) => {
    t.map(iova, data(i), SS.RW);
    mapSinks(t, 2);
    pattern(b, data(i), 0x40 + i);
  });
  trees[0]!.map(INTR_IOVA, INTR_PAGE, SS.RW, 1);
  legacyRoot(b);
  const ctx = (i: number, o: { tree?: number; did?: number } = {}) =>
    legacyContext(b, DEVICES[i]!, { slpt: trees[o.tree ?? i]!.top, aw: field, did: o.did ?? 1 + i });
  const ctxAt = [ctx(0), ctx(1)];
  b.setRootTable(GPA.ROOT);
  const q = rng.chance(0.5) ? new Queue(b, false) : undefined;
  if (q) {
    if (rng.chance(0.3)) {
      // IQA with a bit above the address width (a guest mistake on purpose): where does the queue live?
      b.page(GPA.QUEUE).page(GPA.STATUS);
      b.mmioWrite(REG.IQA, 8, GPA.QUEUE | (1n << BigInt(aw + rng.int(52 - aw)))).mmioWrite(REG.IQT, 8, 0).mmioWrite(REG.GCMD, 4, GCMD.QIE).mmioRead(REG.GSTS, 4).mmioRead(REG.IQA, 8);
    } else q.enable();
    q.submit([ccDesc(CC.G_GLOBAL), iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck();
  } else {
    b.globalInvalidateRegs();
  }
  b.enableTranslation(q ? GCMD.QIE : 0n);
  const sid = (i: number) => devfn(DEVICES[i]!);
  return {
    rng, b, aw, field, iova, trees, ctxAt, q, data, ctx,
    ccGlobal: () => { if (q) q.submit([ccDesc(CC.G_GLOBAL)]); else b.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.GLOBAL)); },
    ccDevice: (i) => { if (q) q.submit([ccDesc(CC.G_DEVICE, 1 + i, sid(i))]); else b.mmioWrite(REG.CCMD, 8, ccmdCommand(GRAN.DEVICE_OR_PAGE, 1 + i, sid(i))); },
    iotlbGlobal: () => { if (q) q.submit([iotlbDesc(IOTLB_DESC.G_GLOBAL)]); else b.mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.GLOBAL)); },
    iotlbPageIh: (did, at) => {
      if (q) q.submit([iotlbDesc(IOTLB_DESC.G_PAGE, did, at, 0, true)]);
      else b.mmioWrite(REG.IVA, 8, ivaValue(at, 0, true)).mmioWrite(REG.IOTLB, 8, iotlbCommand(GRAN.DEVICE_OR_PAGE, did));
    },
  };
}

/** Each round's guest program for device `i` (both devices' translations are cached when it starts). */
const ROUND_BODIES: Record<(typeof ROUNDS)[number], (g: Rig, i: number) => void> = {
  'cached-context': (g, i) => {
    if (g.rng.chance(0.5)) g.b.memWrite(g.ctxAt[i]!, [0n, 0n]);
    else g.ctx(i, { tree: 1 - i, did: 3 });
    if (g.rng.chance(0.5)) g.ccGlobal(); else g.ccDevice(i);
    probe(g.b, DEVICES[i]!, g.iova);
  },
  'cached-perm': (g, i) => {
    g.b.memWrite(g.trees[i]!.entryAt.get(`${g.iova}:0`)!, [g.data(i) | SS.R]);
    g.iotlbGlobal();
    probe(g.b, DEVICES[i]!, g.iova, false);
    g.b.dmaWrite(DEVICES[i]!, g.iova, 16).readFaultState().memRead(g.data(i), 16);
  },
  'intr-overlap': (g) => {
    g.b.dmaRead(DEVICES[0], INTR_IOVA + BigInt(0x100000 + g.rng.int(0x100) * 0x1000), 16).readFaultState();
    g.b.dmaRead(DEVICES[0], INTR_IOVA + BigInt(g.rng.int(0x100) * 0x1000), 16).readFaultState();
  },
  'ctx-reserved-fpd': (g, i) => {
    // The encoder's entry with FPD, plus one reserved bit of qword 1 (63:24) on purpose.
    const at = legacyContext(g.b, DEVICES[i]!, { slpt: g.trees[i]!.top, aw: g.field, did: 1 + i, fpd: true });
    g.b.memWrite(at + 8n, [BigInt(1 + i) << 8n | g.field | (1n << BigInt(24 + g.rng.int(40)))]);
    g.ccGlobal();
    g.iotlbGlobal();
    probe(g.b, DEVICES[i]!, g.iova);
  },
  'psc-ih': (g, i) => {
    const other = g.trees[1 - i]!;
    const leafTable = other.written.get(other.entryAt.get(`${g.iova}:1`)!)! & ~0xfffn;
    g.b.memWrite(g.trees[i]!.entryAt.get(`${g.iova}:1`)!, [leafTable | SS.RW]);
    g.iotlbPageIh(1 + i, g.iova);
    probe(g.b, DEVICES[i]!, g.iova);
  },
  'stale-context': (g, i) => {
    g.ctx(i, { tree: 1 - i, did: 1 + i });
    g.iotlbGlobal();
    probe(g.b, DEVICES[i]!, g.iova);
  },
  'cc-domain': (g) => {
    g.ctx(1, { tree: 0, did: 2 });
    g.iotlbGlobal();
    g.q!.submit([ccDesc(CC.G_DOMAIN, 1)]);
    probe(g.b, DEVICES[1], g.iova);
  },
};

export function legacyChecks(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const g = rig(rng, b);
  for (let r = 0; r < 5; r++) {
    const kind = rng.pick(g.q ? ROUNDS : ROUNDS.slice(0, 6));
    const i = rng.int(2);
    probe(b, DEVICES[0], g.iova, false); // both contexts (and translations) cached
    probe(b, DEVICES[1], g.iova, false);
    ROUND_BODIES[kind](g, i);
    // Back to the start: tables, context entries, caches, faults.
    g.trees.forEach((t) => t.restore());
    g.ctx(0); g.ctx(1);
    g.ccGlobal();
    g.iotlbGlobal();
    b.readFaultState().clearFaults();
  }
  return b.build(`gen-legacy-checks-${seed}`, 'legacy lookups QEMU orders or caches its own way: cached context, cached permission, interrupt-range page, reserved context bits under FPD, IH=1 and paging-structure caches, domain context-cache invalidation',
    {
      profile: 'qemu-7.2', ram_mib: 256, iommu: { scalable_mode: false, caching_mode: false, aw_bits: g.aw },
      devices: DEVICES.slice(0, 2).map((bdf) => ({ bdf, kind: 'dma-test' })),
    });
}

/** The family by name (recorded on both QEMUs). */
export const LEGACY_CHECK_FAMILIES: Record<string, (seed: number) => object> = { 'legacy-checks': legacyChecks };
