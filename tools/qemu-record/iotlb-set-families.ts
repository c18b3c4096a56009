/**
 * IOTLB capacity with a crowded set: QEMU's IOTLB is one hash table of up to
 * 1024 entries (VTD_IOTLB_MAX_SIZE; a fill that finds 1024 empties it), so
 * the model's set-associative IOTLB (1024 sets x 16 ways on the QEMU
 * profiles) must keep more than 16 live entries of one set too
 * (`IOTLB_FLUSH_WHEN_FULL`, docs/PROFILES.md). The family fills 17-48 pages
 * whose entries land in one set of the model, remaps some in memory without
 * invalidation, may invalidate a few and may fill enough other pages to
 * cross QEMU's flush, then probes the crowded pages: a probe that still
 * reads the old page shows a cached entry.
 *
 * Which pages share a set is the model's set index (cache/iotlb.ts: the
 * hash of the page number under the source id and PASID key, cache/gen.ts
 * bucketOf), copied here; if that hash changes, the recordings still hold
 * QEMU's truth but may no longer crowd one set.
 */
import { PASID_NONE } from '../../host/src/core/constants.js';
import { DEVICES, GPA, Queue, devfn, machine, mapSinks, oneDevice, pattern, probe, ssTree } from './guest.js';
import { SS } from './page-tree.js';
import { GCMD, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';
import { IOTLB_DESC, iotlbDesc } from '../../host/src/vtd/spec/descriptors.js';

/** The model's QEMU-profile IOTLB: 2^10 sets (host/src/vtd/profiles.ts QEMU_IOTLB). */
const SETS_LG2 = 10;

/** cache/gen.ts bucketOf: the (id, PASID) key of a set index. */
function bucketOf(id: number, pasid: number): number {
  return ((Math.imul(id, 0x9e3779b1) ^ Math.imul(pasid, 0x85ebca6b)) >>> 0) >>> (32 - 12);
}

/** cache/iotlb.ts setIndex(hashOf(vpn, 12, key)) for a 4 KiB page number below 2^29. */
export function modelSetOf4k(vpn: number, sid: number, pasid: number): number {
  const keyMix = Math.imul(bucketOf(sid, pasid), 0x27d4eb2f);
  const h = Math.imul((vpn ^ Math.imul(12, 0x2545f491) ^ keyMix) >>> 0, 0x9e3779b1) >>> 0;
  return h >>> (32 - SETS_LG2);
}

/** IOVAs of the family's pages: 16 MiB up to the 2^28 DMA limit (FORMAT.md). */
const LOW_VPN = 0x1000;
const HIGH_VPN = 0xfff0;

/**
 * One seed: legacy or scalable mode (requests without PASID: legacy entries
 * are keyed by PASID_NONE, scalable ones by RID_PASID 0), one device, one
 * crowded set.
 */
export function iotlbSetOverflow(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.4);
  const aw = rng.pick([39, 48] as const);
  const dev = DEVICES[0];
  const t = ssTree(b, GPA.TABLES, aw);
  const key = scalable ? 0 : PASID_NONE;
  const target = rng.int(1 << SETS_LG2);
  const crowd: number[] = [];
  const others: number[] = [];
  for (let vpn = LOW_VPN; vpn < HIGH_VPN; vpn++) (modelSetOf4k(vpn, devfn(dev), key) === target ? crowd : others).push(vpn);
  const count = Math.min(crowd.length, 17 + rng.int(32));
  const pages = crowd.slice(0, count);
  const fresh = GPA.DATA, stale = GPA.DATA + 0x1000n;
  pattern(b, fresh, 0x51);
  pattern(b, stale, 0x52);
  for (const vpn of pages) t.map(BigInt(vpn) << 12n, fresh, SS.R);
  const fillers = rng.chance(0.4) ? 1024 - count + rng.int(64) : rng.int(200);
  for (let k = 0; k < fillers; k++) t.map(BigInt(others[k * 7]!) << 12n, fresh, SS.R);
  mapSinks(t, 1);
  oneDevice(b, scalable, aw, t);
  b.setRootTable(GPA.ROOT | (scalable ? TTM_SCALABLE : 0n));
  const q = new Queue(b, false).enable();
  q.submit([iotlbDesc(IOTLB_DESC.G_GLOBAL)]).waitAndCheck();
  b.enableTranslation(GCMD.QIE);

  const order = [...pages];
  for (let k = order.length - 1; k > 0; k--) { const j = rng.int(k + 1); [order[k], order[j]] = [order[j]!, order[k]!]; }
  for (const vpn of order) b.dmaRead(dev, BigInt(vpn) << 12n, 8);
  // Remap about half the crowded pages without invalidation: a cached entry keeps reading `fresh`.
  for (const vpn of pages) if (rng.chance(0.5)) b.memWrite(t.entryAt.get(`${BigInt(vpn) << 12n}:0`)!, [stale | SS.R]);
  for (let k = rng.int(3); k > 0; k--) q.submit([iotlbDesc(IOTLB_DESC.G_PAGE, 1, BigInt(rng.pick(pages)) << 12n, 0)]).waitAndCheck();
  for (let k = 0; k < fillers; k++) b.dmaRead(dev, BigInt(others[k * 7]!) << 12n, 8);
  for (const vpn of rng.chance(0.5) ? pages : [...pages].reverse()) probe(b, dev, BigInt(vpn) << 12n, false);
  b.readFaultState();
  return b.build(`gen-iotlb-set-overflow-${seed}`, `${count} IOTLB entries in one set of the model, ${fillers} other fills: which crowded entries stay cached`,
    machine('qemu-7.2', { scalable, aw }));
}

/** The family by name (recorded on both QEMUs). */
export const IOTLB_SET_FAMILIES: Record<string, (seed: number) => object> = { 'iotlb-set-overflow': iotlbSetOverflow };
