/**
 * Plain-JavaScript baseline of the translation hot path: the same algorithm,
 * cache geometry, hashes and counters as the native C baseline
 * (bench/native/translate.c), transliterated line by line onto typed arrays.
 * 64-bit values travel as (hi, lo) u32 pairs, as they do across the wasm
 * core's ABI. The bench checks that this and the C version count the same
 * IOTLB hits and PTE reads on every workload.
 */

const VALID = 0x80000000;
const ADDR_LO_MASK = 0xfffff000;
const HAW_RSVD_HI = 0x000f0000; // §9.7/§9.8: address bits 51:48 reserved with HAW 48 (hi word bits 19:16)
const NESTED_SS_TAG = 0x100000;
const GEN_PASID_LG2 = 12;
const CTX_ENTRIES = 256;
const MAX_LEVELS = 5;
const ACC_PASID = 16;

/** Fault values, as in translate.h. */
export const JS_FR = { BAD_ADDR: 0x04, ROOT_NP: 0x30, CTX_NP: 0x32, PASID_NP: 0x59, SS_NP: 0x70, SS_PERM: 0x71, SS_RSVD: 0x78, FS_NP: 0x80, FS_PERM: 0x81, FS_RSVD: 0x90 } as const;

/** Counter indices of `JsTranslator.stats`. */
export const JS_STAT = { IOTLB_HITS: 0, IOTLB_MISSES: 1, PSC_HITS: 2, PSC_MISSES: 3, WALKS: 4, PTE_READS: 5, CTX_HITS: 6, CTX_MISSES: 7, PASID_HITS: 8, PASID_MISSES: 9 } as const;

/** IOTLB and paging-structure-cache geometry. */
export interface Geometry {
  iotlbSetsLg2: number;
  iotlbWays: number;
  pscEntriesLg2: number;
}

const pasidBucket = (did: number, pasid: number): number => (Math.imul(did, 0x9e3779b1) ^ Math.imul(pasid, 0x85ebca6b)) >>> (32 - GEN_PASID_LG2);

/** Low 32 bits of (hi:lo) >> s, for 0 < s < 64. */
const shrLo = (hi: number, lo: number, s: number): number => (s < 32 ? ((lo >>> s) | (hi << (32 - s))) >>> 0 : hi >>> (s - 32));
/** High 32 bits of (hi:lo) >> s. */
const shrHi = (hi: number, s: number): number => (s < 32 ? hi >>> s : 0);

/** One paging-structure-cache level (structure of arrays, like the C version). */
class PscLevel {
  readonly keyLo: Uint32Array; readonly keyHi: Uint32Array; readonly did: Uint32Array; readonly pasid: Uint32Array;
  readonly genDid: Uint32Array; readonly genPasid: Uint32Array; readonly pscGen: Uint32Array;
  readonly nextLo: Uint32Array; readonly nextHi: Uint32Array; readonly perms: Uint32Array;
  constructor(n: number) {
    this.keyLo = new Uint32Array(n); this.keyHi = new Uint32Array(n); this.did = new Uint32Array(n); this.pasid = new Uint32Array(n);
    this.genDid = new Uint32Array(n); this.genPasid = new Uint32Array(n); this.pscGen = new Uint32Array(n);
    this.nextLo = new Uint32Array(n); this.nextHi = new Uint32Array(n); this.perms = new Uint32Array(n);
  }
}

/** Result words of the last translation (the core's out-buffer, in JS). */
export class JsOut {
  status = 0; addrHi = 0; addrLo = 0; pageLg2 = 0; perms = 0;
}

/** The JS translator: load an image, set the root table, translate. */
export class JsTranslator {
  /** Counters, indices in `JS_STAT`. */
  readonly stats = new Float64Array(10);
  readonly out = new JsOut();
  private readonly ram32: Uint32Array;
  private readonly ramBytes: number;
  private rootTable = 0;
  private readonly genDid = new Uint32Array(65536);
  private readonly genPasid = new Uint32Array(1 << GEN_PASID_LG2);
  private readonly pscGenDid = new Uint32Array(65536);
  private readonly ways: number;
  private readonly setMask: number;
  private readonly tVpnLo: Uint32Array; private readonly tVpnHi: Uint32Array; private readonly tDidLg2: Uint32Array; private readonly tPasid: Uint32Array;
  private readonly tGenDid: Uint32Array; private readonly tGenPasid: Uint32Array; private readonly tOutLo: Uint32Array; private readonly tOutHi: Uint32Array;
  private readonly tPerms: Uint32Array; private readonly tVictim: Uint32Array;
  private readonly sizeCount = new Uint32Array(3);
  private readonly psc: PscLevel[] = [];
  private readonly pscMask: number;
  private readonly ctxTag = new Uint32Array(CTX_ENTRIES); private readonly ctxDirLo = new Uint32Array(CTX_ENTRIES);
  private readonly ctxDirHi = new Uint32Array(CTX_ENTRIES); private readonly ctxRidPasid = new Uint32Array(CTX_ENTRIES);
  private readonly pcSid = new Uint32Array(1024); private readonly pcPasid = new Uint32Array(1024); private readonly pcPgtt = new Uint32Array(1024);
  private readonly pcDid = new Uint32Array(1024); private readonly pcSsLevels = new Uint32Array(1024); private readonly pcFsLevels = new Uint32Array(1024);
  private readonly pcSsRoot = new Float64Array(1024); private readonly pcFsRoot = new Float64Array(1024);

  /** `ramSize` bytes of RAM (>= image length, multiple of 8) holding `image` at GPA 0. */
  constructor(image: Uint8Array, ramSize: number, geo: Geometry) {
    if (ramSize < image.length || ramSize % 8 !== 0) throw new Error(`ramSize must be >= image length and a multiple of 8, got ${ramSize}`);
    const bytes = new Uint8Array(ramSize);
    bytes.set(image);
    this.ram = bytes;
    this.ram32 = new Uint32Array(bytes.buffer);
    this.ramBytes = ramSize;
    this.ways = geo.iotlbWays;
    this.setMask = (1 << geo.iotlbSetsLg2) - 1;
    const n = geo.iotlbWays << geo.iotlbSetsLg2;
    this.tVpnLo = new Uint32Array(n); this.tVpnHi = new Uint32Array(n); this.tDidLg2 = new Uint32Array(n); this.tPasid = new Uint32Array(n);
    this.tGenDid = new Uint32Array(n); this.tGenPasid = new Uint32Array(n); this.tOutLo = new Uint32Array(n); this.tOutHi = new Uint32Array(n);
    this.tPerms = new Uint32Array(n); this.tVictim = new Uint32Array(1 << geo.iotlbSetsLg2);
    this.pscMask = (1 << geo.pscEntriesLg2) - 1;
    for (let l = 0; l < MAX_LEVELS; l++) this.psc.push(new PscLevel(1 << geo.pscEntriesLg2));
  }

  /** RAM as bytes (for DMA copies). */
  readonly ram: Uint8Array;

  /** SRTP: latch the SM root table and invalidate everything. */
  setRoot(rtaddr: number): void {
    this.rootTable = rtaddr;
    this.invalidateAll();
  }

  /** Every cache (context, PASID, IOTLB, PSC). */
  invalidateAll(): void {
    this.invGlobal();
    this.ctxTag.fill(0);
    this.pcSid.fill(0);
  }

  /** Global IOTLB + PSC invalidation: clears the arrays (O(size)). */
  invGlobal(): void {
    this.tPasid.fill(0);
    for (const p of this.psc) p.pasid.fill(0);
    this.sizeCount.fill(0);
  }

  /** Domain-selective: O(1) generation bump. */
  invDomain(did: number): void {
    this.genDid[did & 0xffff]++;
  }

  /** PASID-selective within a domain: O(1) generation bump. */
  invPasid(did: number, pasid: number): void {
    this.genPasid[pasidBucket(did, pasid)]++;
  }

  /** Page-selective in a domain (all PASIDs), IH = 0. */
  invPage(did: number, addrHi: number, addrLo: number, am: number): void {
    const count = 2 ** am;
    const firstPage = Math.floor((addrHi * 4294967296 + addrLo) / 4096 / count) * count;
    for (let p = firstPage; p < firstPage + count; p++) {
      for (let s = 0; s < 3; s++) {
        if (this.sizeCount[s] === 0) continue;
        const lg2 = 12 + 9 * s;
        const vpn = Math.floor(p / 2 ** (lg2 - 12));
        const vLo = vpn >>> 0, vHi = Math.floor(vpn / 4294967296) >>> 0;
        const base = this.tlbSet(vLo, vHi, did) * this.ways;
        for (let w = 0; w < this.ways; w++) {
          const i = base + w;
          if (this.tVpnLo[i] === vLo && this.tVpnHi[i] === vHi && this.tDidLg2[i] === ((did << 8) | lg2)) this.tPasid[i] = 0;
        }
      }
    }
    this.pscGenDid[did & 0xffff]++;
  }

  private tlbSet(vLo: number, vHi: number, did: number): number {
    return (vLo ^ ((vLo >>> 16) | (vHi << 16)) ^ (did << 3)) & this.setMask;
  }

  private pscSlot(kLo: number, kHi: number, did: number, pasid: number): number {
    return (kLo ^ ((kLo >>> 16) | (kHi << 16)) ^ (did << 5) ^ pasid) & this.pscMask;
  }

  /** Reads the 64-bit entry at `gpa` into (hi, lo); false when outside RAM. */
  private readHi = 0;
  private readLo = 0;
  private read64(gpa: number): boolean {
    if (gpa > this.ramBytes - 8) return false;
    const i = gpa / 4;
    this.readLo = this.ram32[i]!;
    this.readHi = this.ram32[i + 1]!;
    return true;
  }

  private pscLookup(level: number, kHi: number, kLo: number, did: number, pasid: number): boolean {
    const p = this.psc[level]!;
    const i = this.pscSlot(kLo, kHi, did, pasid);
    if (p.pasid[i] !== ((pasid | VALID) >>> 0) || p.keyLo[i] !== kLo || p.keyHi[i] !== kHi || p.did[i] !== did) return false;
    if (p.genDid[i] !== this.genDid[did] || p.genPasid[i] !== this.genPasid[pasidBucket(did, pasid)] || p.pscGen[i] !== this.pscGenDid[did]) return false;
    this.wTable = p.nextHi[i]! * 4294967296 + p.nextLo[i]!;
    this.wPerms = p.perms[i]!;
    return true;
  }

  private pscInsert(level: number, kHi: number, kLo: number, did: number, pasid: number, next: number, perms: number): void {
    const p = this.psc[level]!;
    const i = this.pscSlot(kLo, kHi, did, pasid);
    p.keyLo[i] = kLo; p.keyHi[i] = kHi; p.did[i] = did; p.pasid[i] = (pasid | VALID) >>> 0;
    p.genDid[i] = this.genDid[did]!; p.genPasid[i] = this.genPasid[pasidBucket(did, pasid)]!; p.pscGen[i] = this.pscGenDid[did]!;
    p.nextLo[i] = next >>> 0; p.nextHi[i] = Math.floor(next / 4294967296); p.perms[i] = perms;
  }

  // walk results (no allocation per walk)
  private wTable = 0;
  private wPerms = 0;
  private wAddr = 0;
  private wLg2 = 0;

  /** Reserved bits of an entry at `level` as (hi mask, lo mask), §9.7 / §9.8. */
  private rsvdHit(fs: number, level: number, leaf: boolean, hi: number, lo: number): boolean {
    let mHi = HAW_RSVD_HI | (fs ? 0 : 0x40000000); // SS bit 62 reserved
    let mLo = level >= 3 && !leaf ? 0x80 : 0;
    if (leaf && level > 0) {
      const bits = 9 * level; // address bits 12 .. 12+bits-1 of a large leaf are reserved (FS: from bit 13, bit 12 is PAT)
      const m = bits + 12 >= 32 ? ~0 << 12 : ((1 << bits) - 1) << 12;
      mLo |= (m & ~(fs ? 0x1000 : 0)) >>> 0;
      if (bits + 12 > 32) mHi |= (1 << (bits + 12 - 32)) - 1;
    }
    return ((hi & mHi) | (lo & mLo)) !== 0;
  }

  /** Second-stage translation of a GPA under nesting: result in wAddr / wPerms / wLg2. */
  private nestedGpa(did: number, ssLevels: number, ssRoot: number, gpa: number): number {
    return this.walk(did, NESTED_SS_TAG, ssLevels, 0, ssRoot, 0, 0, Math.floor(gpa / 4294967296), gpa >>> 0);
  }

  /** One walker for both formats; result in wAddr / wPerms / wLg2; returns 0 or a fault. */
  private walk(did: number, pasid: number, levels: number, fs: number, root: number, nLevels: number, nRoot: number, iHi: number, iLo: number): number {
    let perms = 3, level = levels - 1, table = root, fromPsc = false;
    const st = this.stats;
    st[JS_STAT.WALKS]++;
    for (let l = 1; l < levels; l++) {
      const s = 12 + 9 * l;
      if (this.pscLookup(l, shrHi(iHi, s), shrLo(iHi, iLo, s), did, pasid)) { table = this.wTable; perms = this.wPerms; level = l - 1; fromPsc = true; break; }
    }
    st[fromPsc ? JS_STAT.PSC_HITS : JS_STAT.PSC_MISSES]++;
    if (!fromPsc && nLevels) {
      const fr = this.nestedGpa(did, nLevels, nRoot, table);
      if (fr) return fr;
      table = this.wAddr;
    }
    for (;;) {
      const s = 12 + 9 * level;
      st[JS_STAT.PTE_READS]++;
      if (!this.read64(table + (shrLo(iHi, iLo, s) & 511) * 8)) return JS_FR.BAD_ADDR;
      const hi = this.readHi, lo = this.readLo;
      if (fs ? !(lo & 1) : !(lo & 3)) return fs ? JS_FR.FS_NP : JS_FR.SS_NP;
      const leaf = level === 0 || (lo & 0x80) !== 0;
      if (this.rsvdHit(fs, level, leaf, hi, lo)) return fs ? JS_FR.FS_RSVD : JS_FR.SS_RSVD;
      if (fs) { if (!(lo & 4)) return JS_FR.FS_PERM; perms &= 1 | (lo & 2); } else perms &= lo & 3;
      let next = (hi & 0xfffff) * 4294967296 + ((lo & ADDR_LO_MASK) >>> 0);
      if (leaf) {
        const size = 2 ** s;
        const offset = (iLo >>> 0) % size + (s > 32 ? (iHi % 2 ** (s - 32)) * 4294967296 : 0);
        this.wAddr = next - (next % size) + offset;
        this.wLg2 = s;
        this.wPerms = perms;
        if (nLevels) {
          const lg2 = this.wLg2, p = this.wPerms;
          const fr = this.nestedGpa(did, nLevels, nRoot, this.wAddr);
          if (fr) return fr;
          this.wPerms &= p;
          if (lg2 < this.wLg2) this.wLg2 = lg2;
        }
        return 0;
      }
      if (nLevels) {
        const fr = this.nestedGpa(did, nLevels, nRoot, next);
        if (fr) return fr;
        next = this.wAddr;
      }
      this.pscInsert(level, shrHi(iHi, s), shrLo(iHi, iLo, s), did, pasid, next, perms);
      table = next;
      level--;
    }
  }

  // context / PASID lookup results
  private cDir = 0;
  private cRidPasid = 0;

  /** Context cache (by sid), else the SM root and context entries (§9.2, §9.4). */
  private ctxLookup(sid: number): number {
    const i = (sid ^ (sid >>> 8)) & (CTX_ENTRIES - 1);
    if (this.ctxTag[i] === ((sid | VALID) >>> 0)) {
      this.stats[JS_STAT.CTX_HITS]++;
      this.cDir = this.ctxDirHi[i]! * 4294967296 + this.ctxDirLo[i]!;
      this.cRidPasid = this.ctxRidPasid[i]!;
      return 0;
    }
    this.stats[JS_STAT.CTX_MISSES]++;
    const bus = sid >>> 8, devfn = sid & 0xff;
    if (!this.read64(this.rootTable + bus * 16 + (devfn < 0x80 ? 0 : 8))) return JS_FR.BAD_ADDR;
    if (!(this.readLo & 1)) return JS_FR.ROOT_NP;
    const slot = (this.readHi & 0xfffff) * 4294967296 + ((this.readLo & ADDR_LO_MASK) >>> 0) + (devfn & 0x7f) * 32;
    if (!this.read64(slot)) return JS_FR.BAD_ADDR;
    const c0Hi = this.readHi, c0Lo = this.readLo;
    if (!this.read64(slot + 8)) return JS_FR.BAD_ADDR;
    if (!(c0Lo & 1)) return JS_FR.CTX_NP;
    this.ctxTag[i] = (sid | VALID) >>> 0;
    this.ctxDirLo[i] = (c0Lo & ADDR_LO_MASK) >>> 0;
    this.ctxDirHi[i] = c0Hi & 0xfffff;
    this.ctxRidPasid[i] = this.readLo & 0xfffff;
    this.cDir = this.ctxDirHi[i]! * 4294967296 + this.ctxDirLo[i]!;
    this.cRidPasid = this.ctxRidPasid[i]!;
    return 0;
  }

  /** PASID cache (by sid, pasid), else the PASID directory and table entries (§9.5, §9.6); -1 = fault. */
  private pasidLookup(sid: number, pasid: number, dir: number): number {
    const i = (Math.imul(sid, 0x9e3779b1) ^ Math.imul(pasid, 0x85ebca6b)) >>> 22;
    if (this.pcSid[i] === ((sid | VALID) >>> 0) && this.pcPasid[i] === pasid) { this.stats[JS_STAT.PASID_HITS]++; return i; }
    this.stats[JS_STAT.PASID_MISSES]++;
    if (!this.read64(dir + (pasid >>> 6) * 8) || !(this.readLo & 1)) return -1;
    const slot = (this.readHi & 0xfffff) * 4294967296 + ((this.readLo & ADDR_LO_MASK) >>> 0) + (pasid & 63) * 64;
    if (!this.read64(slot)) return -1;
    const q0Hi = this.readHi, q0Lo = this.readLo;
    if (!(q0Lo & 1) || !this.read64(slot + 8)) return -1;
    const did = this.readLo & 0xffff;
    if (!this.read64(slot + 16)) return -1;
    this.pcSid[i] = (sid | VALID) >>> 0; this.pcPasid[i] = pasid;
    this.pcPgtt[i] = (q0Lo >>> 6) & 7; this.pcDid[i] = did;
    this.pcSsRoot[i] = (q0Hi & 0xfffff) * 4294967296 + ((q0Lo & ADDR_LO_MASK) >>> 0); this.pcSsLevels[i] = ((q0Lo >>> 2) & 7) + 2;
    this.pcFsRoot[i] = (this.readHi & 0xfffff) * 4294967296 + ((this.readLo & ADDR_LO_MASK) >>> 0); this.pcFsLevels[i] = ((this.readLo >>> 2) & 3) === 1 ? 5 : 4;
    return i;
  }

  private tlbLookup(did: number, pasid: number, iHi: number, iLo: number): boolean {
    const gd = this.genDid[did], gp = this.genPasid[pasidBucket(did, pasid)];
    const tag = (pasid | VALID) >>> 0;
    for (let s = 0; s < 3; s++) {
      if (this.sizeCount[s] === 0) continue;
      const lg2 = 12 + 9 * s;
      const vLo = shrLo(iHi, iLo, lg2), vHi = shrHi(iHi, lg2);
      const base = this.tlbSet(vLo, vHi, did) * this.ways;
      for (let w = 0; w < this.ways; w++) {
        const i = base + w;
        if (this.tVpnLo[i] === vLo && this.tPasid[i] === tag && this.tDidLg2[i] === ((did << 8) | lg2) && this.tVpnHi[i] === vHi &&
            this.tGenDid[i] === gd && this.tGenPasid[i] === gp) {
          const o = this.out;
          const offMask = 2 ** lg2 - 1;
          const page = this.tOutHi[i]! * 4294967296 + this.tOutLo[i]!;
          const addr = page + (lg2 <= 30 ? (iLo & offMask) >>> 0 : 0);
          o.addrHi = Math.floor(addr / 4294967296); o.addrLo = addr >>> 0; o.pageLg2 = lg2; o.perms = this.tPerms[i]!;
          return true;
        }
      }
    }
    return false;
  }

  private tlbInsert(did: number, pasid: number, iHi: number, iLo: number): void {
    const o = this.out, lg2 = o.pageLg2, s = (lg2 - 12) / 9;
    const vLo = shrLo(iHi, iLo, lg2), vHi = shrHi(iHi, lg2);
    const set = this.tlbSet(vLo, vHi, did), base = set * this.ways;
    let way = this.ways;
    for (let w = 0; w < this.ways; w++) if (!(this.tPasid[base + w]! & VALID)) { way = w; break; }
    if (way === this.ways) { way = this.tVictim[set]!; this.tVictim[set] = (way + 1) % this.ways; }
    const i = base + way;
    const addr = o.addrHi * 4294967296 + o.addrLo, page = addr - (addr % 2 ** lg2);
    this.tVpnLo[i] = vLo; this.tVpnHi[i] = vHi; this.tDidLg2[i] = (did << 8) | lg2; this.tPasid[i] = (pasid | VALID) >>> 0;
    this.tGenDid[i] = this.genDid[did]!; this.tGenPasid[i] = this.genPasid[pasidBucket(did, pasid)]!;
    this.tOutLo[i] = page >>> 0; this.tOutHi[i] = Math.floor(page / 4294967296); this.tPerms[i] = o.perms;
    this.sizeCount[s]++;
  }

  /** Translates one request; the result is in `out`; returns 0 or a fault value. */
  translate(sid: number, pasid: number, iHi: number, iLo: number, access: number): number {
    const o = this.out;
    let fr = this.ctxLookup(sid);
    if (fr) return (o.status = fr);
    const p = access & ACC_PASID ? pasid : this.cRidPasid;
    const pc = this.pasidLookup(sid, p, this.cDir);
    if (pc < 0) return (o.status = JS_FR.PASID_NP);
    const did = this.pcDid[pc]!, pgtt = this.pcPgtt[pc]!;
    if (this.tlbLookup(did, p, iHi, iLo)) {
      this.stats[JS_STAT.IOTLB_HITS]++;
    } else {
      this.stats[JS_STAT.IOTLB_MISSES]++;
      const fs = pgtt !== 2 ? 1 : 0;
      const levels = fs ? this.pcFsLevels[pc]! : this.pcSsLevels[pc]!;
      if (fs && levels === 4 && (iHi >>> 15) !== 0 && (iHi >>> 15) !== 0x1ffff) return (o.status = 0x80); // non-canonical
      if (!fs && (12 + 9 * levels < 64 && shrLo(iHi, iLo, 12 + 9 * levels) !== 0)) return (o.status = JS_FR.BAD_ADDR);
      fr = this.walk(did, p, levels, fs, fs ? this.pcFsRoot[pc]! : this.pcSsRoot[pc]!, pgtt === 3 ? this.pcSsLevels[pc]! : 0, this.pcSsRoot[pc]!, iHi, iLo);
      if (fr) return (o.status = fr);
      o.addrHi = Math.floor(this.wAddr / 4294967296); o.addrLo = this.wAddr >>> 0; o.pageLg2 = this.wLg2; o.perms = this.wPerms;
      this.tlbInsert(did, p, iHi, iLo);
    }
    if (access & ~o.perms & 3) return (o.status = pgtt === 2 ? JS_FR.SS_PERM : JS_FR.FS_PERM);
    return (o.status = 0);
  }
}
