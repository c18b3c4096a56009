/**
 * Plain-JavaScript baseline of the translation hot path: the same algorithm,
 * cache structures, hashes and counters as the native C baseline
 * (bench/native/translate.c), which copies the wasm core's
 * (asm/assembly/cache/): LRU set-associative IOTLB, one direct-mapped
 * paging-structure cache, context cache by sid, PASID cache by (sid, PASID),
 * generation counters. Entries are records of u32 words in one typed array
 * per cache. 64-bit values travel as (hi, lo) u32 pairs, as they do across the
 * wasm core's ABI. A test checks that this and the C version count the same
 * IOTLB hits and PTE reads.
 */

const FS_FLAG = 0x80000000 | 0;
const BUCKET_LG2 = 12;
const PSC_LG2 = 12;
const PC_LG2 = 12;
const SPACE_IOTLB = 0, SPACE_PSC = 1, SPACE_CTX = 2, SPACE_PASID = 3, SPACES = 4;
const PSC_SS = 0, PSC_FS = 1;
const ACC_PASID = 16;
const TWO_32 = 4294967296;
const HAW_RSVD_HI = 0x000f0000; // §9.7/§9.8: address bits 51:48 reserved with HAW 48
const SS_RSVD_HI = 0x40000000; // §9.8: bit 62

// IOTLB entry words
const T_DID = 0, T_SID = 1, T_PASID = 2, T_USE = 3, T_VPN_LO = 4, T_VPN_HI = 5, T_FRAME_LO = 6, T_FRAME_HI = 7, T_LG2 = 8, T_PERMS = 9, T_GEN_G = 10, T_GEN_D = 11, T_GEN_B = 12, T_WORDS = 13;
// PSC entry words
const P_DID = 0, P_KEY = 1, P_PRE_LO = 2, P_PRE_HI = 3, P_TAB_LO = 4, P_TAB_HI = 5, P_PERMS = 6, P_GEN_G = 7, P_GEN_D = 8, P_GEN_B = 9, P_WORDS = 10;
// PASID-cache entry words (decoded fields)
const C_SID = 0, C_PASID = 1, C_DID = 2, C_PGTT = 3, C_SS_LEVELS = 4, C_FS_LEVELS = 5, C_SS_ROOT_LO = 6, C_SS_ROOT_HI = 7, C_FS_ROOT_LO = 8, C_FS_ROOT_HI = 9, C_GEN_G = 10, C_GEN_D = 11, C_GEN_B = 12, C_WORDS = 13;

/** Fault values, as in translate.h (non-zero markers; bench workloads never fault). */
export const JS_FR = { BAD_ADDR: 0x04, ROOT_NP: 0x38, CTX_NP: 0x3a, PASID_NP: 0x59, SS_NP: 0x70, SS_PERM: 0x71, SS_RSVD: 0x78, FS_NP: 0x80, FS_PERM: 0x81, FS_RSVD: 0x90, NON_CANONICAL: 0x80, INTR: 0x87 } as const;

/** Counter indices of `JsTranslator.stats`. */
export const JS_STAT = { IOTLB_HITS: 0, IOTLB_MISSES: 1, PSC_HITS: 2, PSC_MISSES: 3, WALKS: 4, PTE_READS: 5, CTX_HITS: 6, CTX_MISSES: 7, PASID_HITS: 8, PASID_MISSES: 9 } as const;

/** IOTLB geometry (the PSC size is fixed, as in the core). */
export interface Geometry {
  iotlbSetsLg2: number;
  iotlbWays: number;
}

const bucketOf = (did: number, pasid: number): number => (Math.imul(did, 0x9e3779b1) ^ Math.imul(pasid, 0x85ebca6b)) >>> (32 - BUCKET_LG2);
/** Low 32 bits of (hi:lo) >> s, for 0 < s < 64. */
const shrLo = (hi: number, lo: number, s: number): number => (s < 32 ? ((lo >>> s) | (hi << (32 - s))) >>> 0 : hi >>> (s - 32));
/** High 32 bits of (hi:lo) >> s. */
const shrHi = (hi: number, s: number): number => (s < 32 ? hi >>> s : 0);

/** Result of the last translation (the core's out-buffer words, in JS). */
export class JsOut {
  status = 0; addrHi = 0; addrLo = 0; pageLg2 = 0; perms = 0;
}

/** The JS translator: load an image, set the root table, translate. */
export class JsTranslator {
  /** Counters, indices in `JS_STAT`. */
  readonly stats = new Float64Array(10);
  readonly out = new JsOut();
  /** Guest RAM (GPA 0 = byte 0). */
  readonly ram: Uint8Array;
  private readonly ram32: Uint32Array;
  private rootTable = 0;
  private readonly genGlobal = new Uint32Array(SPACES).fill(1);
  private readonly genDid = new Uint32Array(SPACES * 65536);
  private readonly genBucket = new Uint32Array(SPACES << BUCKET_LG2);
  private readonly setsLg2: number;
  private readonly ways: number;
  private readonly tlb: Uint32Array;
  private tick = 0;
  private readonly sizeCount = new Int32Array(3);
  private readonly psc = new Uint32Array(P_WORDS << PSC_LG2);
  private readonly ctx = new Float64Array(65536 * 4); // dir, ridPasid, genG, genD
  private readonly pc = new Uint32Array(C_WORDS << PC_LG2);

  /** `ramSize` bytes of RAM (>= image length, multiple of 8) holding `image` at GPA 0. */
  constructor(image: Uint8Array, ramSize: number, geo: Geometry) {
    if (ramSize < image.length || ramSize % 8 !== 0) throw new Error(`ramSize must be >= image length and a multiple of 8, got ${ramSize}`);
    this.ram = new Uint8Array(ramSize);
    this.ram.set(image);
    this.ram32 = new Uint32Array(this.ram.buffer);
    this.setsLg2 = geo.iotlbSetsLg2;
    this.ways = geo.iotlbWays;
    this.tlb = new Uint32Array((geo.iotlbWays << geo.iotlbSetsLg2) * T_WORDS);
  }

  /** SRTP: latch the SM root table and invalidate everything. */
  setRoot(rtaddr: number): void {
    this.rootTable = rtaddr;
    this.invalidateAll();
  }

  /** Every cache (context, PASID, IOTLB, PSC): global generations. */
  invalidateAll(): void {
    for (let s = 0; s < SPACES; s++) this.genGlobal[s]++;
  }

  /** Global IOTLB + PSC invalidation (O(1)). */
  invGlobal(): void {
    this.genGlobal[SPACE_IOTLB]++;
    this.genGlobal[SPACE_PSC]++;
  }

  /** Domain-selective IOTLB + PSC (O(1)). */
  invDomain(did: number): void {
    this.genDid[(SPACE_IOTLB << 16) + (did & 0xffff)]++;
    this.genDid[(SPACE_PSC << 16) + (did & 0xffff)]++;
  }

  /** PASID-selective within a domain, IOTLB + PSC (O(1)). */
  invPasid(did: number, pasid: number): void {
    this.genBucket[(SPACE_IOTLB << BUCKET_LG2) + bucketOf(did, pasid)]++;
    this.genBucket[(SPACE_PSC << BUCKET_LG2) + bucketOf(did, pasid)]++;
  }

  /** Page-selective in a domain (all PASIDs) for one 4 KiB page (am = 0), IH = 0: the set index
   *  depends on the PASID, so every entry is looked at (as the core does in scalable mode). */
  invPage(did: number, addrHi: number, addrLo: number): void {
    const t = this.tlb, n = this.ways << this.setsLg2;
    for (let i = 0; i < n; i++) {
      const e = i * T_WORDS, lg2 = t[e + T_LG2]!;
      if (lg2 === 0 || t[e + T_DID] !== did || !this.tlbLive(e)) continue;
      if (t[e + T_VPN_LO] === shrLo(addrHi, addrLo, lg2) && t[e + T_VPN_HI] === shrHi(addrHi, lg2)) {
        this.sizeCount[(lg2 - 12) / 9]!--;
        t[e + T_LG2] = 0;
      }
    }
    this.genDid[(SPACE_PSC << 16) + (did & 0xffff)]++;
  }

  private live(space: number, g: number, d: number, b: number, did: number, pasid: number): boolean {
    return g === this.genGlobal[space] && d === this.genDid[(space << 16) + did] && b === this.genBucket[(space << BUCKET_LG2) + bucketOf(did, pasid)];
  }

  /** Set index: hash of the page number, its size and the (DID, PASID) bucket. */
  private tlbSet(vLo: number, vHi: number, lg2: number, key: number): number {
    const h = vLo ^ ((vLo >>> 29) | (vHi << 3)) ^ Math.imul(lg2, 0x2545f491) ^ Math.imul(key, 0x27d4eb2f);
    return this.setsLg2 ? Math.imul(h, 0x9e3779b1) >>> (32 - this.setsLg2) : 0;
  }

  private tlbLive(e: number): boolean {
    const t = this.tlb;
    return t[e + T_LG2] !== 0 && this.live(SPACE_IOTLB, t[e + T_GEN_G]!, t[e + T_GEN_D]!, t[e + T_GEN_B]!, t[e + T_DID]!, t[e + T_PASID]! & ~FS_FLAG);
  }

  private tlbLookup(did: number, pasid: number, iHi: number, iLo: number): boolean {
    const t = this.tlb;
    for (let s = 0; s < 3; s++) {
      if (this.sizeCount[s] === 0) continue;
      const lg2 = 12 + 9 * s, vLo = shrLo(iHi, iLo, lg2), vHi = shrHi(iHi, lg2);
      const base = this.tlbSet(vLo, vHi, lg2, bucketOf(did, pasid)) * this.ways;
      for (let w = 0; w < this.ways; w++) {
        const e = (base + w) * T_WORDS;
        if (t[e + T_LG2] !== lg2 || t[e + T_VPN_LO] !== vLo || t[e + T_VPN_HI] !== vHi || (t[e + T_PASID]! & ~FS_FLAG) !== pasid || t[e + T_DID] !== did || !this.tlbLive(e)) continue;
        t[e + T_USE] = ++this.tick;
        const o = this.out; // pages are at most 1 GiB: the offset lives in the low word
        o.addrHi = t[e + T_FRAME_HI]!; o.addrLo = (t[e + T_FRAME_LO]! | (iLo & ((1 << lg2) - 1))) >>> 0; o.pageLg2 = lg2; o.perms = t[e + T_PERMS]!;
        this.stats[JS_STAT.IOTLB_HITS]++;
        return true;
      }
    }
    this.stats[JS_STAT.IOTLB_MISSES]++;
    return false;
  }

  private tlbInsert(did: number, sid: number, pasid: number, fs: boolean, iHi: number, iLo: number): void {
    const o = this.out, lg2 = o.pageLg2, t = this.tlb;
    const vLo = shrLo(iHi, iLo, lg2), vHi = shrHi(iHi, lg2), base = this.tlbSet(vLo, vHi, lg2, bucketOf(did, pasid)) * this.ways;
    let victim = base * T_WORDS, oldest = 0xffffffff;
    for (let w = 0; w < this.ways; w++) {
      const e = (base + w) * T_WORDS;
      if (!this.tlbLive(e)) { victim = e; break; }
      if (t[e + T_LG2] === lg2 && t[e + T_VPN_LO] === vLo && t[e + T_VPN_HI] === vHi && t[e + T_DID] === did && (t[e + T_PASID]! & ~FS_FLAG) === pasid) { victim = e; break; }
      if (t[e + T_USE]! < oldest) { oldest = t[e + T_USE]!; victim = e; }
    }
    if (t[victim + T_LG2]) this.sizeCount[(t[victim + T_LG2]! - 12) / 9]!--;
    this.sizeCount[(lg2 - 12) / 9]!++;
    t[victim + T_DID] = did; t[victim + T_SID] = sid; t[victim + T_PASID] = fs ? pasid | FS_FLAG : pasid;
    t[victim + T_VPN_LO] = vLo; t[victim + T_VPN_HI] = vHi; t[victim + T_LG2] = lg2; t[victim + T_PERMS] = o.perms;
    t[victim + T_FRAME_LO] = (o.addrLo & ~((1 << lg2) - 1)) >>> 0; t[victim + T_FRAME_HI] = o.addrHi; // lg2 <= 30
    t[victim + T_GEN_G] = this.genGlobal[SPACE_IOTLB]!; t[victim + T_GEN_D] = this.genDid[(SPACE_IOTLB << 16) + did]!;
    t[victim + T_GEN_B] = this.genBucket[(SPACE_IOTLB << BUCKET_LG2) + bucketOf(did, pasid)]!;
    t[victim + T_USE] = ++this.tick;
  }

  // PSC lookup results
  private pTable = 0;
  private pPerms = 0;

  private pscSlot(did: number, key: number, pLo: number, pHi: number): number {
    const h = Math.imul(pLo ^ ((pLo >>> 27) | (pHi << 5)) ^ Math.imul(key, 0x85ebca6b) ^ Math.imul(did, 0xc2b2ae35), 0x9e3779b1);
    return (h >>> (32 - PSC_LG2)) * P_WORDS;
  }

  private pscLookup(fmt: number, did: number, pasid: number, level: number, iHi: number, iLo: number): boolean {
    const key = (pasid | (level << 24) | (fmt << 28)) >>> 0, s = 12 + 9 * level;
    const pLo = shrLo(iHi, iLo, s), pHi = shrHi(iHi, s), e = this.pscSlot(did, key, pLo, pHi), p = this.psc;
    if (p[e + P_KEY] === key && p[e + P_DID] === did && p[e + P_PRE_LO] === pLo && p[e + P_PRE_HI] === pHi &&
        this.live(SPACE_PSC, p[e + P_GEN_G]!, p[e + P_GEN_D]!, p[e + P_GEN_B]!, did, pasid)) {
      this.pTable = p[e + P_TAB_HI]! * TWO_32 + p[e + P_TAB_LO]!;
      this.pPerms = p[e + P_PERMS]!;
      this.stats[JS_STAT.PSC_HITS]++;
      return true;
    }
    this.stats[JS_STAT.PSC_MISSES]++;
    return false;
  }

  private pscInsert(fmt: number, did: number, pasid: number, level: number, iHi: number, iLo: number, next: number, perms: number): void {
    const key = (pasid | (level << 24) | (fmt << 28)) >>> 0, s = 12 + 9 * level;
    const pLo = shrLo(iHi, iLo, s), pHi = shrHi(iHi, s), e = this.pscSlot(did, key, pLo, pHi), p = this.psc;
    p[e + P_DID] = did; p[e + P_KEY] = key; p[e + P_PRE_LO] = pLo; p[e + P_PRE_HI] = pHi;
    p[e + P_TAB_LO] = next >>> 0; p[e + P_TAB_HI] = Math.floor(next / TWO_32); p[e + P_PERMS] = perms;
    p[e + P_GEN_G] = this.genGlobal[SPACE_PSC]!; p[e + P_GEN_D] = this.genDid[(SPACE_PSC << 16) + did]!;
    p[e + P_GEN_B] = this.genBucket[(SPACE_PSC << BUCKET_LG2) + bucketOf(did, pasid)]!;
  }

  // 64-bit entry read result
  private rHi = 0;
  private rLo = 0;

  /** Bounds-checked 64-bit read at `gpa` (8-aligned: every structure entry is). */
  private read64(gpa: number): boolean {
    if (gpa > this.ram.length - 8) return false;
    this.rLo = this.ram32[gpa / 4]!;
    this.rHi = this.ram32[gpa / 4 + 1]!;
    return true;
  }

  /** Reserved bits of an entry at `level` (§9.7 / §9.8). */
  private reserved(fs: boolean, level: number, leaf: boolean, hi: number, lo: number): boolean {
    const mHi = HAW_RSVD_HI | (fs ? 0 : SS_RSVD_HI);
    let mLo = level >= 3 && !leaf ? 0x80 : 0;
    if (leaf && level > 0) mLo |= (((1 << (9 * level)) - 1) << 12) & ~(fs ? 0x1000 : 0); // level <= 2 here: bits 29:12 at most
    return ((hi & mHi) | (lo & mLo)) !== 0;
  }

  // walk results: page frame, size, permissions
  private wFrame = 0;
  private wLg2 = 0;
  private wPerms = 0;

  /** Second-stage walk; result in wFrame / wLg2 / wPerms; returns 0 or a fault. */
  private ssWalk(did: number, levels: number, root: number, iHi: number, iLo: number): number {
    const top = levels - 1, st = this.stats;
    let level = top, table = root, perms = 3;
    st[JS_STAT.WALKS]++;
    for (let l = 1; l <= top; l++) {
      if (this.pscLookup(PSC_SS, did, 0, l, iHi, iLo)) { table = this.pTable; perms = this.pPerms; level = l - 1; break; }
    }
    for (;;) {
      const s = 12 + 9 * level;
      st[JS_STAT.PTE_READS]++;
      if (!this.read64(table + (shrLo(iHi, iLo, s) & 511) * 8)) return JS_FR.BAD_ADDR;
      const hi = this.rHi, lo = this.rLo;
      if (!(lo & 3)) return JS_FR.SS_NP;
      const leaf = level === 0 || (level <= 2 && (lo & 0x80) !== 0);
      if (this.reserved(false, level, leaf, hi, lo)) return JS_FR.SS_RSVD;
      perms &= lo & 3;
      if (leaf) return this.leaf(s, hi, lo, perms);
      table = (hi & 0xfffff) * TWO_32 + ((lo & 0xfffff000) >>> 0);
      this.pscInsert(PSC_SS, did, 0, level, iHi, iLo, table, perms);
      level--;
    }
  }

  private leaf(lg2: number, hi: number, lo: number, perms: number): number {
    this.wLg2 = lg2;
    this.wFrame = (hi & 0xfffff) * TWO_32 + ((lo & ~((1 << lg2) - 1) & 0xfffff000) >>> 0); // lg2 <= 30
    this.wPerms = perms;
    return 0;
  }

  /** Nested: a first-stage table address through the second stage; result in wFrame (host address). */
  private nestTable(did: number, ssLevels: number, ssRoot: number, gpa: number): number {
    const fr = this.ssWalk(did, ssLevels, ssRoot, Math.floor(gpa / TWO_32), gpa >>> 0);
    if (fr) return fr;
    this.wFrame += gpa % 2 ** this.wLg2;
    return 0;
  }

  /** First-stage walk (nested when ssLevels > 0); result in wFrame (GPA page) / wLg2 / wPerms. */
  private fsWalk(did: number, pasid: number, levels: number, root: number, ssLevels: number, ssRoot: number, iHi: number, iLo: number): number {
    const top = levels - 1, st = this.stats;
    let level = top, table = root, perms = 3, found = false;
    st[JS_STAT.WALKS]++;
    for (let l = 1; l <= top; l++) {
      if (this.pscLookup(PSC_FS, did, pasid, l, iHi, iLo)) { table = this.pTable; perms = this.pPerms; level = l - 1; found = true; break; }
    }
    if (!found && ssLevels) {
      const fr = this.nestTable(did, ssLevels, ssRoot, table);
      if (fr) return fr;
      table = this.wFrame;
    }
    for (;;) {
      const s = 12 + 9 * level;
      st[JS_STAT.PTE_READS]++;
      if (!this.read64(table + (shrLo(iHi, iLo, s) & 511) * 8)) return JS_FR.BAD_ADDR;
      const hi = this.rHi, lo = this.rLo;
      if (!(lo & 1)) return JS_FR.FS_NP;
      const leaf = level === 0 || (level <= 2 && (lo & 0x80) !== 0);
      if (this.reserved(true, level, leaf, hi, lo)) return JS_FR.FS_RSVD;
      if (!(lo & 4)) return JS_FR.FS_PERM; // user request: U/S at every level
      if (!(lo & 2)) perms &= ~2;
      // A/D: the bench's tables have them set, so (like the core) nothing is written back.
      if (leaf) return this.leaf(s, hi, lo, perms);
      table = (hi & 0xfffff) * TWO_32 + ((lo & 0xfffff000) >>> 0);
      if (ssLevels) {
        const fr = this.nestTable(did, ssLevels, ssRoot, table);
        if (fr) return fr;
        table = this.wFrame;
      }
      this.pscInsert(PSC_FS, did, pasid, level, iHi, iLo, table, perms);
      level--;
    }
  }

  // context lookup results
  private cDir = 0;
  private cRidPasid = 0;

  /** Context cache (by sid), else the SM root and context entries (§9.2, §9.4). */
  private ctxLookup(sid: number): number {
    const c = this.ctx, i = sid * 4;
    if (c[i + 2] === this.genGlobal[SPACE_CTX] && c[i + 3] === this.genDid[SPACE_CTX << 16]) {
      this.stats[JS_STAT.CTX_HITS]++;
      this.cDir = c[i]!;
      this.cRidPasid = c[i + 1]!;
      return 0;
    }
    this.stats[JS_STAT.CTX_MISSES]++;
    const bus = sid >>> 8, devfn = sid & 0xff;
    if (!this.read64(this.rootTable + bus * 16 + (devfn < 0x80 ? 0 : 8))) return JS_FR.BAD_ADDR;
    if (!(this.rLo & 1)) return JS_FR.ROOT_NP;
    const slot = (this.rHi & 0xfffff) * TWO_32 + ((this.rLo & 0xfffff000) >>> 0) + (devfn & 0x7f) * 32;
    if (!this.read64(slot)) return JS_FR.BAD_ADDR;
    const c0Hi = this.rHi, c0Lo = this.rLo;
    if (!this.read64(slot + 8)) return JS_FR.BAD_ADDR;
    if (!(c0Lo & 1)) return JS_FR.CTX_NP;
    c[i] = this.cDir = (c0Hi & 0xfffff) * TWO_32 + ((c0Lo & 0xfffff000) >>> 0);
    c[i + 1] = this.cRidPasid = this.rLo & 0xfffff;
    c[i + 2] = this.genGlobal[SPACE_CTX]!;
    c[i + 3] = this.genDid[SPACE_CTX << 16]!;
    return 0;
  }

  /** PASID cache (by sid, pasid), else the PASID directory and table entries (§9.5, §9.6); -1 = fault. */
  private pasidLookup(sid: number, pasid: number, dir: number): number {
    const p = this.pc, e = (Math.imul(Math.imul(sid, 0x85ebca6b) ^ Math.imul(pasid, 0x9e3779b1), 0xc2b2ae35) >>> (32 - PC_LG2)) * C_WORDS;
    if (p[e + C_SID] === (sid | 0x10000) && p[e + C_PASID] === pasid && this.live(SPACE_PASID, p[e + C_GEN_G]!, p[e + C_GEN_D]!, p[e + C_GEN_B]!, p[e + C_DID]!, pasid)) {
      this.stats[JS_STAT.PASID_HITS]++;
      return e;
    }
    this.stats[JS_STAT.PASID_MISSES]++;
    if (!this.read64(dir + (pasid >>> 6) * 8) || !(this.rLo & 1)) return -1;
    const slot = (this.rHi & 0xfffff) * TWO_32 + ((this.rLo & 0xfffff000) >>> 0) + (pasid & 63) * 64;
    if (!this.read64(slot) || !(this.rLo & 1)) return -1;
    const q0Hi = this.rHi, q0Lo = this.rLo;
    if (!this.read64(slot + 8)) return -1;
    const did = this.rLo & 0xffff;
    if (!this.read64(slot + 16)) return -1;
    p[e + C_SID] = sid | 0x10000; p[e + C_PASID] = pasid; p[e + C_DID] = did; p[e + C_PGTT] = (q0Lo >>> 6) & 7;
    p[e + C_SS_LEVELS] = ((q0Lo >>> 2) & 7) + 2; p[e + C_SS_ROOT_LO] = (q0Lo & 0xfffff000) >>> 0; p[e + C_SS_ROOT_HI] = q0Hi & 0xfffff;
    p[e + C_FS_LEVELS] = ((this.rLo >>> 2) & 3) === 1 ? 5 : 4; p[e + C_FS_ROOT_LO] = (this.rLo & 0xfffff000) >>> 0; p[e + C_FS_ROOT_HI] = this.rHi & 0xfffff;
    p[e + C_GEN_G] = this.genGlobal[SPACE_PASID]!; p[e + C_GEN_D] = this.genDid[(SPACE_PASID << 16) + did]!;
    p[e + C_GEN_B] = this.genBucket[(SPACE_PASID << BUCKET_LG2) + bucketOf(did, pasid)]!;
    return e;
  }

  /** Translates one request; the result is in `out`; returns 0 or a fault value. */
  translate(sid: number, pasid: number, iHi: number, iLo: number, access: number): number {
    const o = this.out;
    sid &= 0xffff;
    let fr = this.ctxLookup(sid);
    if (fr) return (o.status = fr);
    const p = access & ACC_PASID ? pasid & 0xfffff : this.cRidPasid;
    const e = this.pasidLookup(sid, p, this.cDir);
    if (e < 0) return (o.status = JS_FR.PASID_NP);
    const c = this.pc, did = c[e + C_DID]!, pgtt = c[e + C_PGTT]!, fs = pgtt !== 2;
    const ssLevels = c[e + C_SS_LEVELS]!, ssRoot = c[e + C_SS_ROOT_HI]! * TWO_32 + c[e + C_SS_ROOT_LO]!;
    if (fs ? c[e + C_FS_LEVELS] === 4 && (iHi >>> 15) !== 0 && (iHi >>> 15) !== 0x1ffff : shrLo(iHi, iLo, 12 + 9 * ssLevels) !== 0) {
      return (o.status = fs ? JS_FR.NON_CANONICAL : JS_FR.BAD_ADDR);
    }
    if (!this.tlbLookup(did, p, iHi, iLo)) {
      fr = fs
        ? this.fsWalk(did, p, c[e + C_FS_LEVELS]!, c[e + C_FS_ROOT_HI]! * TWO_32 + c[e + C_FS_ROOT_LO]!, pgtt === 3 ? ssLevels : 0, ssRoot, iHi, iLo)
        : this.ssWalk(did, ssLevels, ssRoot, iHi, iLo);
      if (fr) return (o.status = fr);
      if (pgtt === 3 && (fr = this.nestOutput(did, ssLevels, ssRoot, iLo))) return (o.status = fr);
      const size = 2 ** this.wLg2, frame = this.wFrame - (this.wFrame % size);
      o.addrHi = Math.floor(frame / TWO_32); o.addrLo = frame >>> 0; o.pageLg2 = this.wLg2; o.perms = this.wPerms;
      this.tlbInsert(did, sid, p, fs, iHi, iLo);
      o.addrLo = (o.addrLo | (iLo & (size - 1))) >>> 0;
    }
    if (access & ~o.perms & 3) return (o.status = fs ? JS_FR.FS_PERM : JS_FR.SS_PERM);
    if (o.addrHi === 0 && o.addrLo >= 0xfee00000 && o.addrLo <= 0xfeefffff) return (o.status = JS_FR.INTR); // §3.15
    return (o.status = 0);
  }

  /** Nested: the first-stage output (wFrame, a GPA page) through the second stage; result in wFrame/wLg2/wPerms. */
  private nestOutput(did: number, ssLevels: number, ssRoot: number, iLo: number): number {
    const fsLg2 = this.wLg2, fsPerms = this.wPerms;
    const gpa = this.wFrame + ((iLo & ((1 << fsLg2) - 1)) >>> 0);
    const fr = this.ssWalk(did, ssLevels, ssRoot, Math.floor(gpa / TWO_32), gpa >>> 0);
    if (fr) return fr;
    this.wFrame += gpa % 2 ** this.wLg2;
    if (fsLg2 < this.wLg2) this.wLg2 = fsLg2;
    this.wPerms &= fsPerms;
    return 0;
  }
}
