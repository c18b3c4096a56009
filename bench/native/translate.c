/*
 * Native C baseline of the translation hot path (see translate.h for the
 * contract). Cache structures copy the wasm core's (asm/assembly/cache/):
 * - IOTLB: 2^sets_lg2 sets x ways, 48-byte entries, LRU by a use tick, set
 *   index = hash(page number, page size, (DID, PASID) bucket); tags DID,
 *   PASID, page number, size;
 * - one direct-mapped paging-structure cache of 4096 entries for every level
 *   and both formats (tag: format, DID, PASID, level, iova prefix);
 * - context cache indexed by source id; PASID cache of 4096 direct-mapped
 *   entries keyed by (sid, PASID);
 * - validity by generation counters (global, per DID, per (DID, PASID)
 *   bucket) per cache, so domain/PASID invalidation is O(1).
 * One difference: context and PASID cache entries hold the decoded fields
 * the walk needs (the core caches the raw entries and, in front of them, the
 * decoded setup per (sid, PASID, request class): asm/assembly/cache/setup-cache.ts).
 */
#include <stdlib.h>
#include <string.h>
#include "translate.h"

#define ADDR_MASK 0x000FFFFFFFFFF000ull
#define HAW 48
#define HAW_RSVD (0x000FFFFFFFFFFFFFull & ~((1ull << HAW) - 1))
#define BUCKET_LG2 12
#define PSC_LG2 12
#define PC_LG2 12
#define FS_FLAG 0x80000000u
#define INTR_START 0xFEE00000ull
#define INTR_LAST 0xFEEFFFFFull
enum { SPACE_IOTLB, SPACE_PSC, SPACE_CTX, SPACE_PASID, SPACES };

static uint8_t *ram;
static size_t ram_len;
static uint64_t root_table;
static xlate_stats stats;
static xlate_geometry geo;

/* ---- generations (the core's cache/gen.ts) ---- */
static uint32_t gen_global[SPACES];
static uint32_t gen_did[SPACES][65536];
static uint32_t gen_bucket[SPACES][1u << BUCKET_LG2];

static inline uint32_t bucket_of(uint32_t did, uint32_t pasid) {
  return (did * 0x9e3779b1u ^ pasid * 0x85ebca6bu) >> (32 - BUCKET_LG2);
}
static inline int gens_live(int space, uint32_t g, uint32_t d, uint32_t b, uint32_t did, uint32_t pasid) {
  return g == gen_global[space] && d == gen_did[space][did] && b == gen_bucket[space][bucket_of(did, pasid)];
}

/* ---- caches ---- */
typedef struct { uint32_t did, sid, pasid_key, use; uint64_t vpn, frame; uint8_t lg2, perms, pad[2]; uint32_t gen_g, gen_d, gen_b; } tlb_entry;
typedef struct { uint32_t did, key; uint64_t prefix, table; uint32_t perms, gen_g, gen_d, gen_b; } psc_entry;
typedef struct { uint64_t dir; uint32_t rid_pasid, gen_g, gen_d; } ctx_entry;
typedef struct { uint64_t ss_root, fs_root; uint32_t sid_tag, pasid, did, pgtt, ss_levels, fs_levels, gen_g, gen_d, gen_b; } pasid_entry;

static tlb_entry *tlb;
static uint32_t tlb_tick, size_count[3];
static psc_entry psc[1u << PSC_LG2];
static ctx_entry ctxc[65536];
static pasid_entry pc[1u << PC_LG2];

uint8_t *xl_ram(void) { return ram; }
size_t xl_ram_len(void) { return ram_len; }
xlate_stats *xl_stats(void) { return &stats; }

int xl_init(const uint8_t *image, size_t image_len, size_t len, xlate_geometry g) {
  free(ram);
  free(tlb);
  if (len < image_len) len = image_len;
  ram = (uint8_t *)calloc(len, 1);
  tlb = (tlb_entry *)calloc((size_t)g.iotlb_ways << g.iotlb_sets_lg2, sizeof(tlb_entry));
  if (!ram || !tlb) return 0;
  memcpy(ram, image, image_len);
  ram_len = len;
  geo = g;
  memset(size_count, 0, sizeof size_count);
  memset(psc, 0, sizeof psc); memset(ctxc, 0, sizeof ctxc); memset(pc, 0, sizeof pc);
  memset(gen_did, 0, sizeof gen_did); memset(gen_bucket, 0, sizeof gen_bucket);
  for (int s = 0; s < SPACES; s++) gen_global[s] = 1;
  return 1;
}

/* Bounds-checked guest-physical 64-bit load (the core's mem/ port). */
static inline int ram_read64(uint64_t gpa, uint64_t *value) {
  if (gpa > ram_len - 8) return 0;
  memcpy(value, ram + gpa, 8);
  return 1;
}

/* ---- invalidation (the core's inval/inval.ts) ---- */
void xl_invalidate_all(void) { for (int s = 0; s < SPACES; s++) gen_global[s]++; }
void xl_set_root(uint64_t rtaddr) { root_table = rtaddr; xl_invalidate_all(); }
void xl_inv_global(void) { gen_global[SPACE_IOTLB]++; gen_global[SPACE_PSC]++; }
void xl_inv_domain(uint32_t did) { gen_did[SPACE_IOTLB][did & 0xffff]++; gen_did[SPACE_PSC][did & 0xffff]++; }
void xl_inv_pasid(uint32_t did, uint32_t pasid) {
  gen_bucket[SPACE_IOTLB][bucket_of(did, pasid)]++;
  gen_bucket[SPACE_PSC][bucket_of(did, pasid)]++;
}

static inline uint32_t tlb_set(uint64_t vpn, uint32_t lg2, uint32_t key) {
  uint32_t h = (uint32_t)vpn ^ (uint32_t)(vpn >> 29) ^ (lg2 * 0x2545f491u) ^ (key * 0x27d4eb2fu);
  return geo.iotlb_sets_lg2 ? (h * 0x9e3779b1u) >> (32 - geo.iotlb_sets_lg2) : 0;
}
static inline tlb_entry *tlb_at(uint32_t set, uint32_t way) { return &tlb[set * geo.iotlb_ways + way]; }
static inline int tlb_live(const tlb_entry *e) {
  return e->lg2 && gens_live(SPACE_IOTLB, e->gen_g, e->gen_d, e->gen_b, e->did, e->pasid_key & ~FS_FLAG);
}

/* Page-selective in a domain (§6.5.2.3 G=11), every PASID: the set index
 * depends on the PASID, so every entry is looked at (as the core does in
 * scalable mode); IH=0 also drops the domain's PSC entries. */
void xl_inv_page(uint32_t did, uint64_t addr, uint32_t am) {
  uint64_t start = addr & ~((1ull << (12 + am)) - 1), last = start + ((1ull << (12 + am)) - 1);
  uint32_t n = geo.iotlb_ways << geo.iotlb_sets_lg2;
  for (uint32_t i = 0; i < n; i++) {
    tlb_entry *e = &tlb[i];
    if (!e->lg2 || !tlb_live(e) || e->did != did) continue;
    uint64_t page = e->vpn << e->lg2;
    if (page <= last && start <= page + ((1ull << e->lg2) - 1)) { size_count[(e->lg2 - 12) / 9]--; e->lg2 = 0; }
  }
  gen_did[SPACE_PSC][did & 0xffff]++;
}

static inline int tlb_lookup(uint32_t did, uint32_t pasid, uint64_t iova, xlate_out *out) {
  for (uint32_t lg2 = 12; lg2 <= 30; lg2 += 9) {
    if (!size_count[(lg2 - 12) / 9]) continue;
    uint64_t vpn = iova >> lg2;
    uint32_t set = tlb_set(vpn, lg2, bucket_of(did, pasid));
    for (uint32_t w = 0; w < geo.iotlb_ways; w++) {
      tlb_entry *e = tlb_at(set, w);
      if (e->lg2 != lg2 || e->vpn != vpn || (e->pasid_key & ~FS_FLAG) != pasid || e->did != did || !tlb_live(e)) continue;
      e->use = ++tlb_tick;
      out->addr = e->frame | (iova & ((1ull << lg2) - 1));
      out->page_lg2 = lg2;
      out->perms = e->perms;
      stats.iotlb_hits++;
      return 1;
    }
  }
  stats.iotlb_misses++;
  return 0;
}

static inline void tlb_insert(uint32_t did, uint32_t sid, uint32_t pasid, int fs, uint64_t iova, uint32_t lg2, uint64_t frame, uint32_t perms) {
  uint64_t vpn = iova >> lg2;
  uint32_t set = tlb_set(vpn, lg2, bucket_of(did, pasid)), oldest = 0xffffffffu;
  tlb_entry *victim = tlb_at(set, 0);
  for (uint32_t w = 0; w < geo.iotlb_ways; w++) {
    tlb_entry *e = tlb_at(set, w);
    if (!tlb_live(e)) { victim = e; break; }
    if (e->lg2 == lg2 && e->vpn == vpn && e->did == did && (e->pasid_key & ~FS_FLAG) == pasid) { victim = e; break; }
    if (e->use < oldest) { oldest = e->use; victim = e; }
  }
  if (victim->lg2) size_count[(victim->lg2 - 12) / 9]--;
  size_count[(lg2 - 12) / 9]++;
  victim->did = did; victim->sid = sid; victim->pasid_key = pasid | (fs ? FS_FLAG : 0);
  victim->vpn = vpn; victim->frame = frame; victim->lg2 = (uint8_t)lg2; victim->perms = (uint8_t)perms;
  victim->gen_g = gen_global[SPACE_IOTLB]; victim->gen_d = gen_did[SPACE_IOTLB][did]; victim->gen_b = gen_bucket[SPACE_IOTLB][bucket_of(did, pasid)];
  victim->use = ++tlb_tick;
}

static inline psc_entry *psc_slot(uint32_t did, uint32_t key, uint64_t prefix) {
  uint32_t h = ((uint32_t)prefix ^ (uint32_t)(prefix >> 27) ^ key * 0x85ebca6bu ^ did * 0xc2b2ae35u) * 0x9e3779b1u;
  return &psc[h >> (32 - PSC_LG2)];
}

static inline int psc_lookup(uint32_t fmt, uint32_t did, uint32_t pasid, uint32_t level, uint64_t iova, uint64_t *table, uint32_t *perms) {
  uint32_t key = pasid | level << 24 | fmt << 28;
  uint64_t prefix = iova >> (12 + 9 * level);
  psc_entry *e = psc_slot(did, key, prefix);
  if (e->key == key && e->did == did && e->prefix == prefix && gens_live(SPACE_PSC, e->gen_g, e->gen_d, e->gen_b, did, pasid)) {
    *table = e->table; *perms = e->perms;
    stats.psc_hits++;
    return 1;
  }
  stats.psc_misses++;
  return 0;
}

static inline void psc_insert(uint32_t fmt, uint32_t did, uint32_t pasid, uint32_t level, uint64_t iova, uint64_t next, uint32_t perms) {
  uint32_t key = pasid | level << 24 | fmt << 28;
  uint64_t prefix = iova >> (12 + 9 * level);
  psc_entry *e = psc_slot(did, key, prefix);
  e->did = did; e->key = key; e->prefix = prefix; e->table = next; e->perms = perms;
  e->gen_g = gen_global[SPACE_PSC]; e->gen_d = gen_did[SPACE_PSC][did]; e->gen_b = gen_bucket[SPACE_PSC][bucket_of(did, pasid)];
}

/* ---- one walker for both formats (§9.7 first stage, §9.8 second stage) ---- */

#define PSC_SS 0u
#define PSC_FS 1u

typedef struct {
  uint32_t did, pasid, ss_levels, fs_levels, nested;
  uint64_t ss_root, fs_root;
} walk_env;

/* Reserved bits of a paging entry at `level` (non-leaf, or leaf of 2^(12+9*level)). */
static inline uint64_t rsvd_bits(int fs, uint32_t level, int leaf) {
  uint64_t m = HAW_RSVD | (fs ? 0 : 1ull << 62);
  if (level >= 3 && !leaf) m |= 0x80;
  if (leaf && level > 0) m |= (((1ull << (9 * level)) - 1) << 12) & ~(fs ? 0x1000ull : 0);
  return m;
}

/* Second-stage walk; on success sets out->addr (page frame), page_lg2, perms. */
static uint32_t ss_walk(const walk_env *w, uint64_t iova, xlate_out *out) {
  uint32_t top = w->ss_levels - 1, level = top, perms = 3;
  uint64_t table = w->ss_root;
  stats.walks++;
  for (uint32_t l = 1; l <= top; l++) {
    if (psc_lookup(PSC_SS, w->did, 0, l, iova, &table, &perms)) { level = l - 1; break; }
  }
  for (;;) {
    uint64_t e;
    stats.pte_reads++;
    if (!ram_read64(table + ((iova >> (12 + 9 * level)) & 511) * 8, &e)) return FR_BAD_ADDR;
    uint32_t ep = (uint32_t)(e & 3);
    if (!ep) return FR_SS_NOT_PRESENT;
    int leaf = level == 0 || (level <= 2 && (e & 0x80)); /* PS at level >= 3 is reserved */
    if (e & rsvd_bits(0, level, leaf)) return FR_SS_RSVD;
    perms &= ep;
    if (leaf) {
      out->page_lg2 = 12 + 9 * level;
      out->addr = e & ADDR_MASK & ~((1ull << out->page_lg2) - 1);
      out->perms = perms;
      return FR_NONE;
    }
    table = e & ADDR_MASK;
    psc_insert(PSC_SS, w->did, 0, level, iova, table, perms);
    level--;
  }
}

/* Nested: a first-stage table address through the second stage. */
static inline uint32_t nest_table(const walk_env *w, uint64_t gpa, uint64_t *hpa) {
  xlate_out o;
  uint32_t fr = ss_walk(w, gpa, &o);
  if (fr) return fr;
  *hpa = o.addr | (gpa & ((1ull << o.page_lg2) - 1));
  return FR_NONE;
}

/* First-stage walk (through the second stage when nested); out->addr = GPA page frame. */
static uint32_t fs_walk(const walk_env *w, uint64_t iova, xlate_out *out) {
  uint32_t top = w->fs_levels - 1, level = top, perms = 3;
  uint64_t table = w->fs_root;
  int found = 0;
  stats.walks++;
  for (uint32_t l = 1; l <= top; l++) {
    if (psc_lookup(PSC_FS, w->did, w->pasid, l, iova, &table, &perms)) { level = l - 1; found = 1; break; }
  }
  if (!found && w->nested) {
    uint32_t fr = nest_table(w, table, &table);
    if (fr) return fr;
  }
  for (;;) {
    uint64_t e;
    stats.pte_reads++;
    if (!ram_read64(table + ((iova >> (12 + 9 * level)) & 511) * 8, &e)) return FR_BAD_ADDR;
    if (!(e & 1)) return FR_FS_NOT_PRESENT;
    int leaf = level == 0 || (level <= 2 && (e & 0x80)); /* PS at level >= 3 is reserved */
    if (e & rsvd_bits(1, level, leaf)) return FR_FS_RSVD;
    if (!(e & 4)) return FR_FS_PERM; /* user request: U/S at every level */
    if (!(e & 2)) perms &= ~2u;
    /* A/D: the bench's tables have them set, so (like the core) nothing is written back. */
    if (leaf) {
      out->page_lg2 = 12 + 9 * level;
      out->addr = e & ADDR_MASK & ~((1ull << out->page_lg2) - 1);
      out->perms = perms;
      return FR_NONE;
    }
    table = e & ADDR_MASK;
    if (w->nested) {
      uint32_t fr = nest_table(w, table, &table);
      if (fr) return fr;
    }
    psc_insert(PSC_FS, w->did, w->pasid, level, iova, table, perms);
    level--;
  }
}

/* ---- context and PASID caches (§9.2, §9.4, §9.5, §9.6) ---- */

static inline uint32_t ctx_lookup(uint32_t sid, const ctx_entry **out) {
  ctx_entry *c = &ctxc[sid & 0xffff];
  if (c->gen_g == gen_global[SPACE_CTX] && c->gen_d == gen_did[SPACE_CTX][0]) { stats.ctx_hits++; *out = c; return FR_NONE; }
  stats.ctx_misses++;
  uint64_t rlo, rhi, c0, c1;
  uint32_t bus = sid >> 8, devfn = sid & 0xff;
  if (!ram_read64(root_table + bus * 16, &rlo) || !ram_read64(root_table + bus * 16 + 8, &rhi)) return FR_BAD_ADDR;
  uint64_t r = devfn < 0x80 ? rlo : rhi;
  if (!(r & 1)) return FR_ROOT_NOT_PRESENT;
  uint64_t slot = (r & ADDR_MASK) + (devfn & 0x7f) * 32;
  if (!ram_read64(slot, &c0) || !ram_read64(slot + 8, &c1)) return FR_BAD_ADDR;
  if (!(c0 & 1)) return FR_CTX_NOT_PRESENT;
  c->dir = c0 & ADDR_MASK; c->rid_pasid = (uint32_t)(c1 & 0xfffff);
  c->gen_g = gen_global[SPACE_CTX]; c->gen_d = gen_did[SPACE_CTX][0];
  *out = c;
  return FR_NONE;
}

static inline pasid_entry *pasid_lookup(uint32_t sid, uint32_t pasid, uint64_t dir) {
  pasid_entry *p = &pc[((sid * 0x85ebca6bu ^ pasid * 0x9e3779b1u) * 0xc2b2ae35u) >> (32 - PC_LG2)];
  if (p->sid_tag == (sid | 0x10000) && p->pasid == pasid && gens_live(SPACE_PASID, p->gen_g, p->gen_d, p->gen_b, p->did, pasid)) { stats.pasid_hits++; return p; }
  stats.pasid_misses++;
  uint64_t d, q0, q1, q2;
  if (!ram_read64(dir + (pasid >> 6) * 8, &d) || !(d & 1)) return NULL;
  uint64_t slot = (d & ADDR_MASK) + (pasid & 63) * 64;
  if (!ram_read64(slot, &q0) || !ram_read64(slot + 8, &q1) || !ram_read64(slot + 16, &q2) || !(q0 & 1)) return NULL;
  p->sid_tag = sid | 0x10000; p->pasid = pasid;
  p->pgtt = (uint32_t)(q0 >> 6) & 7; p->did = (uint32_t)q1 & 0xffff;
  p->ss_root = q0 & ADDR_MASK; p->ss_levels = ((uint32_t)(q0 >> 2) & 7) + 2;
  p->fs_root = q2 & ADDR_MASK; p->fs_levels = ((q2 >> 2) & 3) == 1 ? 5 : 4;
  p->gen_g = gen_global[SPACE_PASID]; p->gen_d = gen_did[SPACE_PASID][p->did]; p->gen_b = gen_bucket[SPACE_PASID][bucket_of(p->did, pasid)];
  return p;
}

/* ---- translate ---- */

static inline uint32_t translate_inline(uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *out) {
  const ctx_entry *c;
  uint32_t fr = ctx_lookup(sid & 0xffff, &c);
  if (fr) return out->status = fr;
  uint32_t p = (access & ACC_PASID) ? pasid & 0xfffff : c->rid_pasid;
  const pasid_entry *pe = pasid_lookup(sid & 0xffff, p, c->dir);
  if (!pe) return out->status = FR_PASID_NOT_PRESENT;
  walk_env w = { pe->did, p, pe->ss_levels, pe->fs_levels, pe->pgtt == 3, pe->ss_root, pe->fs_root };
  int fs = pe->pgtt != 2;
  if (fs ? (w.fs_levels == 4 && (iova >> 47) != 0 && (iova >> 47) != 0x1ffff) : (iova >> (12 + 9 * w.ss_levels)) != 0)
    return out->status = fs ? 0x80 : FR_BAD_ADDR; /* non-canonical / beyond the second-stage width */
  if (!tlb_lookup(w.did, p, iova, out)) {
    fr = fs ? fs_walk(&w, iova, out) : ss_walk(&w, iova, out);
    if (fr) return out->status = fr;
    if (w.nested) { /* the first-stage output through the second stage */
      uint32_t fs_lg2 = out->page_lg2, fs_perms = out->perms;
      uint64_t gpa = out->addr | (iova & ((1ull << fs_lg2) - 1));
      fr = ss_walk(&w, gpa, out);
      if (fr) return out->status = fr;
      uint64_t hpa = out->addr | (gpa & ((1ull << out->page_lg2) - 1));
      if (fs_lg2 < out->page_lg2) out->page_lg2 = fs_lg2;
      out->addr = hpa & ~((1ull << out->page_lg2) - 1);
      out->perms &= fs_perms;
    }
    tlb_insert(w.did, sid, p, fs, iova, out->page_lg2, out->addr, out->perms);
    out->addr |= iova & ((1ull << out->page_lg2) - 1);
  }
  if (access & ~out->perms & 3) return out->status = fs ? FR_FS_PERM : FR_SS_PERM;
  if (out->addr >= INTR_START && out->addr <= INTR_LAST) return out->status = 0x87; /* §3.15: interrupt address range */
  return out->status = FR_NONE;
}

__attribute__((noinline)) uint32_t xl_translate_noinline(uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *out) {
  return translate_inline(sid, pasid, iova, access, out);
}

/* Translates n request records (BREQ layout) into outs[i % 1024]; returns how many succeeded. */
uint32_t xl_batch(const uint32_t *w, uint32_t n, xlate_out *outs) {
  uint32_t ok = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t *r = w + i * 8;
    ok += translate_inline(r[0], r[1], (uint64_t)r[3] << 32 | r[2], r[4], &outs[i & 1023]) == 0;
  }
  return ok;
}
