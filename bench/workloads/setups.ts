/**
 * Translation setups for the bench: one device in scalable mode whose PASID
 * entry selects second-stage (3/4/5 levels), first-stage (4/5 levels) or
 * nested translation, with `pages` consecutive IOVA pages of 4 KiB or 2 MiB
 * mapped onto a small data area. Every implementation under test loads the
 * same image and the same request lists built from a setup.
 */
import { GuestImage } from './guest-image.js';
import { PageTableBuilder, buildScalableRoot, splitU64 } from './tables.js';
import { PGTT } from '../../host/src/vtd/spec/pasid-entry.js';

/** Translation kind of a setup's PASID entry. */
export type SetupKind = 'ss' | 'fs' | 'nested';

/** Access bits of the core's ABI (docs/ABI.md). */
export const ACC_READ = 1, ACC_WRITE = 2, ACC_PASID = 16;

/** Words per request record (the core's BREQ_* layout: sid, pasid, iovaLo, iovaHi, access, len, bufOff, reserved). */
export const REQ_WORDS = 8;

/** What to build. */
export interface SetupSpec {
  kind: SetupKind;
  /** Levels of the table the IOVA is walked through (the first stage for fs/nested). */
  levels: 3 | 4 | 5;
  pageLg2: 12 | 21;
  pages: number;
}

/** A built setup. */
export interface Setup extends SetupSpec {
  /** Short id, e.g. `ss4-4k`. */
  id: string;
  image: GuestImage;
  /** RAM size every implementation allocates (image rounded up to 2 MiB). */
  ramSize: number;
  /** SM root table GPA (RTADDR with TTM = 01). */
  rootTable: number;
  sid: number;
  pasid: number;
  did: number;
  access: number;
  /** First mapped IOVA; page i is at iovaBase + i * 2^pageLg2. */
  iovaBase: number;
  /** Page-table pages allocated for the IOVA mappings (a size measure for the report). */
  tablePages: number;
}

/** Device, domain and IOVA layout shared by all setups. */
export const BENCH_SID = 0x0010, BENCH_DID = 1, BENCH_FS_PASID = 1;
const IOVA_BASE = 2 ** 30;
const DATA_BYTES = 4 << 20; // 4 MiB data area, 2 MiB aligned: DMA targets wrap around it
const TWO_MIB = 2 ** 21;

/** Id of a setup spec, e.g. `ss4-4k`, `nested4-2m`. */
export function setupId(s: SetupSpec): string {
  return `${s.kind}${s.levels}-${s.pageLg2 === 12 ? '4k' : '2m'}`;
}

/**
 * Builds the image: data area, IOVA page table, the second stage under a
 * nested setup (an identity map of all RAM with 2 MiB pages, as a host backing
 * guest RAM with huge pages would), then root / context / PASID structures.
 */
export function buildSetup(spec: SetupSpec): Setup {
  if (!Number.isInteger(spec.pages) || spec.pages <= 0) throw new Error(`pages must be a positive integer, got ${spec.pages}`);
  if (spec.kind !== 'ss' && spec.levels === 3) throw new Error('levels: first-stage tables have 4 or 5 levels');
  const image = new GuestImage(8 << 20);
  const data = image.allocPages(DATA_BYTES / 4096, 21);
  const ioFormat = spec.kind === 'ss' ? 'ss' : 'fs';
  const io = new PageTableBuilder(image, ioFormat, spec.levels);
  const pageSize = 2 ** spec.pageLg2;
  const slots = DATA_BYTES / pageSize;
  for (let i = 0; i < spec.pages; i++) io.map(IOVA_BASE + i * pageSize, data + (i % slots) * pageSize, spec.pageLg2);
  let ssRoot = io.root, ssLevels: number = spec.levels;
  if (spec.kind === 'nested') {
    const ss = new PageTableBuilder(image, 'ss', 4);
    // Room for the identity map's own tables, which are host-physical and need no mapping.
    const end = Math.ceil((image.size + 64 * 4096) / TWO_MIB) * TWO_MIB;
    for (let gpa = 0; gpa < end; gpa += TWO_MIB) ss.map(gpa, gpa, 21);
    ssRoot = ss.root;
    ssLevels = 4;
  }
  const pasid = spec.kind === 'ss' ? 0 : BENCH_FS_PASID;
  const pgtt = spec.kind === 'ss' ? PGTT.SECOND_STAGE : spec.kind === 'fs' ? PGTT.FIRST_STAGE : PGTT.NESTED;
  const rootTable = buildScalableRoot(image, [{
    sid: BENCH_SID,
    ridPasid: 0,
    pasids: [{
      pasid, pgtt, did: BENCH_DID,
      ssRoot: spec.kind === 'fs' ? undefined : ssRoot,
      ssLevels: spec.kind === 'fs' ? undefined : ssLevels,
      fsRoot: spec.kind === 'ss' ? undefined : io.root,
      fsLevels: spec.kind === 'ss' ? undefined : spec.levels,
    }],
  }]);
  return {
    ...spec, id: setupId(spec), image, ramSize: Math.ceil(image.size / TWO_MIB) * TWO_MIB, rootTable,
    sid: BENCH_SID, pasid, did: BENCH_DID, access: ACC_READ | (pasid ? ACC_PASID : 0), iovaBase: IOVA_BASE, tablePages: io.tablePages,
  };
}

/**
 * Request records for page indices `order` of a setup (BREQ layout), each
 * `len` bytes from the page start (len = 1 for pure translation).
 */
export function requestsFor(setup: Setup, order: ArrayLike<number>, len = 1): Uint32Array {
  const words = new Uint32Array(order.length * REQ_WORDS);
  const pageSize = 2 ** setup.pageLg2;
  for (let i = 0; i < order.length; i++) {
    const [hi, lo] = splitU64(setup.iovaBase + order[i]! * pageSize);
    const r = i * REQ_WORDS;
    words[r] = setup.sid;
    words[r + 1] = setup.pasid;
    words[r + 2] = lo;
    words[r + 3] = hi;
    words[r + 4] = setup.access;
    words[r + 5] = len;
  }
  return words;
}

/** How contexts differ in a multi-context setup: one device per domain, or one device with many PASIDs of one domain. */
export type ContextKind = 'domains' | 'pasids';

/** A setup where `contexts` translation contexts map the same IOVA pages. */
export interface MultiSetup {
  /** Short id, e.g. `domains-64`. */
  id: string;
  kind: ContextKind;
  contexts: number;
  pagesPerContext: number;
  image: GuestImage;
  ramSize: number;
  rootTable: number;
  /** Request records (BREQ layout) over (context, page) pairs in `order` (index = context * pages + page); `pages` defaults to pagesPerContext. */
  requests(order: ArrayLike<number>, pages?: number): Uint32Array;
}

/** First source id of the `domains` kind: one device per domain from bus 1 on. */
const MULTI_SID_BASE = 0x100;

/**
 * `contexts` contexts all touching IOVA pages 0..pagesPerContext-1 (4 KiB;
 * the table maps `mappedPages`, so request lists of fewer contexts with more
 * pages each run on the same image,
 * one shared page table onto the data area, so only the IOTLB's tags tell
 * them apart): `domains` = devices 0x100 + i, each its own domain (DID i + 1)
 * with a 4-level second-stage table, requests without PASID; `pasids` = one
 * device with PASIDs 1..contexts of one domain (DID 1), first-stage tables,
 * requests with PASID. What a guest with many VMs' devices or many SVA
 * processes does to the IOTLB.
 */
export function buildMultiSetup(kind: ContextKind, contexts: number, pagesPerContext: number, mappedPages = pagesPerContext): MultiSetup {
  if (!Number.isInteger(contexts) || contexts < 1 || contexts > 4096) throw new Error(`contexts must be an integer in 1..4096, got ${contexts}`);
  if (!Number.isInteger(pagesPerContext) || pagesPerContext < 1) throw new Error(`pagesPerContext must be a positive integer, got ${pagesPerContext}`);
  if (!Number.isInteger(mappedPages) || mappedPages < pagesPerContext) throw new Error(`mappedPages must be an integer >= pagesPerContext, got ${mappedPages}`);
  const image = new GuestImage(8 << 20);
  const data = image.allocPages(DATA_BYTES / 4096, 21);
  const table = new PageTableBuilder(image, kind === 'domains' ? 'ss' : 'fs', 4);
  for (let k = 0; k < mappedPages; k++) table.map(IOVA_BASE + k * 4096, data + (k % (DATA_BYTES / 4096)) * 4096, 12);
  const devices = kind === 'domains'
    ? Array.from({ length: contexts }, (_, i) => ({ sid: MULTI_SID_BASE + i, ridPasid: 0, pasids: [{ pasid: 0, pgtt: PGTT.SECOND_STAGE, did: i + 1, ssRoot: table.root, ssLevels: 4 }] }))
    : [{ sid: BENCH_SID, ridPasid: 0, pasids: Array.from({ length: contexts }, (_, i) => ({ pasid: i + 1, pgtt: PGTT.FIRST_STAGE, did: BENCH_DID, fsRoot: table.root, fsLevels: 4 })) }];
  const rootTable = buildScalableRoot(image, devices);
  return {
    id: `${kind}-${contexts}`, kind, contexts, pagesPerContext, image, ramSize: Math.ceil(image.size / TWO_MIB) * TWO_MIB, rootTable,
    requests(order, pages = pagesPerContext) {
      if (!Number.isInteger(pages) || pages < 1 || pages > mappedPages) throw new Error(`pages must be an integer in 1..${mappedPages}, got ${pages}`);
      const words = new Uint32Array(order.length * REQ_WORDS);
      for (let i = 0; i < order.length; i++) {
        const c = Math.floor(order[i]! / pages), k = order[i]! % pages;
        if (c >= contexts) throw new Error(`order[${i}] = ${order[i]} is beyond ${contexts} contexts of ${pages} pages`);
        const [hi, lo] = splitU64(IOVA_BASE + k * 4096);
        const r = i * REQ_WORDS;
        words[r] = kind === 'domains' ? MULTI_SID_BASE + c : BENCH_SID;
        words[r + 1] = kind === 'domains' ? 0 : c + 1;
        words[r + 2] = lo;
        words[r + 3] = hi;
        words[r + 4] = kind === 'domains' ? ACC_READ : ACC_READ | ACC_PASID;
        words[r + 5] = 1;
      }
      return words;
    },
  };
}
