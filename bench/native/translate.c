/*
 * Native C baseline of the translation hot path (see translate.h for the
 * contract). Structure-of-arrays caches with u32 fields, so the same layout
 * reads the same way in the JS baseline.
 *
 * Lookup order for a request (sid, pasid, iova):
 *   context cache (sid) -> PASID cache (sid, pasid) -> IOTLB (did, pasid, page)
 *   -> on a miss: walk from the lowest paging-structure-cache hit.
 * Domain / PASID invalidation bump generation counters (O(1)); entries whose
 * stored generation differs are stale. Global invalidation clears the arrays.
 */
#include <stdlib.h>
#include <string.h>
#include "translate.h"

#define ADDR_MASK 0x000FFFFFFFFFF000ull
#define HAW 48
#define HAW_RSVD (0x000FFFFFFFFFFFFFull & ~((1ull << HAW) - 1))
#define NESTED_SS_TAG 0x100000u /* PASID tag of second-stage entries used under a nested walk */
#define GEN_PASID_LG2 12
#define CTX_ENTRIES 256
#define PASID_CACHE_ENTRIES 1024
#define MAX_LEVELS 5

static uint8_t *ram;
static size_t ram_len;
static uint64_t root_table;
static xlate_stats stats;
static xlate_geometry geo;

/* Generations: per DID and per (DID, PASID) hash bucket; shared by IOTLB and PSC. */
static uint32_t gen_did[65536];
static uint32_t gen_pasid[1u << GEN_PASID_LG2];
static uint32_t psc_gen_did[65536]; /* page invalidation with IH=0 drops a domain's PSC entries */

/* IOTLB, structure of arrays, index = set * ways + way. */
static uint32_t *tlb_vpn_lo, *tlb_vpn_hi, *tlb_did_lg2, *tlb_pasid, *tlb_gen_did, *tlb_gen_pasid, *tlb_out_lo, *tlb_out_hi, *tlb_perms;
static uint32_t *tlb_victim; /* per set round-robin pointer */
static uint32_t tlb_set_mask;
static uint32_t size_count[3]; /* entries inserted per page size 4K / 2M / 1G since the last global flush */

/* PSC, one direct-mapped array per level 1..4 (level 0 entries are leaves, never cached here). */
typedef struct {
  uint32_t *key_lo, *key_hi, *did, *pasid, *gen_did, *gen_pasid, *psc_gen, *next_lo, *next_hi, *perms;
} psc_level;
static psc_level psc[MAX_LEVELS];
static uint32_t psc_mask;

/* Context cache (by sid) and PASID cache (by sid, pasid): decoded entries. */
static uint32_t ctx_tag[CTX_ENTRIES], ctx_rid_pasid[CTX_ENTRIES];
static uint64_t ctx_dir[CTX_ENTRIES];
static uint32_t pc_tag_sid[PASID_CACHE_ENTRIES], pc_tag_pasid[PASID_CACHE_ENTRIES], pc_pgtt[PASID_CACHE_ENTRIES], pc_did[PASID_CACHE_ENTRIES];
static uint32_t pc_ss_levels[PASID_CACHE_ENTRIES], pc_fs_levels[PASID_CACHE_ENTRIES];
static uint64_t pc_ss_root[PASID_CACHE_ENTRIES], pc_fs_root[PASID_CACHE_ENTRIES];

static uint32_t *alloc_u32(size_t n) { return (uint32_t *)calloc(n, sizeof(uint32_t)); }

/* Bounds-checked guest-physical 64-bit load (§ the core's mem/ port). */
static inline int ram_read64(uint64_t gpa, uint64_t *value) {
  if (gpa > ram_len - 8) return 0;
  memcpy(value, ram + gpa, 8);
  return 1;
}

static inline uint32_t pasid_bucket(uint32_t did, uint32_t pasid) {
  return (did * 0x9E3779B1u ^ pasid * 0x85EBCA6Bu) >> (32 - GEN_PASID_LG2);
}

static inline uint32_t tlb_set(uint64_t vpn, uint32_t did) {
  return ((uint32_t)vpn ^ (uint32_t)(vpn >> 16) ^ (did << 3)) & tlb_set_mask;
}

static inline uint32_t psc_slot(uint64_t key, uint32_t did, uint32_t pasid) {
  return ((uint32_t)key ^ (uint32_t)(key >> 16) ^ (did << 5) ^ pasid) & psc_mask;
}

uint8_t *xl_ram(void) { return ram; }
size_t xl_ram_len(void) { return ram_len; }
xlate_stats *xl_stats(void) { return &stats; }

static void xl_free(void) {
  free(ram); ram = NULL;
  uint32_t **tlb[] = { &tlb_vpn_lo, &tlb_vpn_hi, &tlb_did_lg2, &tlb_pasid, &tlb_gen_did, &tlb_gen_pasid, &tlb_out_lo, &tlb_out_hi, &tlb_perms, &tlb_victim };
  for (size_t i = 0; i < sizeof tlb / sizeof tlb[0]; i++) { free(*tlb[i]); *tlb[i] = NULL; }
  for (int l = 1; l < MAX_LEVELS; l++) {
    psc_level *p = &psc[l];
    uint32_t **f[] = { &p->key_lo, &p->key_hi, &p->did, &p->pasid, &p->gen_did, &p->gen_pasid, &p->psc_gen, &p->next_lo, &p->next_hi, &p->perms };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) { free(*f[i]); *f[i] = NULL; }
  }
}

int xl_init(const uint8_t *image, size_t image_len, size_t len, xlate_geometry g) {
  xl_free();
  if (len < image_len) len = image_len;
  ram = (uint8_t *)calloc(len, 1);
  if (!ram) return 0;
  memcpy(ram, image, image_len);
  ram_len = len;
  geo = g;
  memset(size_count, 0, sizeof size_count);
  size_t n = (size_t)g.iotlb_ways << g.iotlb_sets_lg2;
  tlb_vpn_lo = alloc_u32(n); tlb_vpn_hi = alloc_u32(n); tlb_did_lg2 = alloc_u32(n); tlb_pasid = alloc_u32(n);
  tlb_gen_did = alloc_u32(n); tlb_gen_pasid = alloc_u32(n); tlb_out_lo = alloc_u32(n); tlb_out_hi = alloc_u32(n); tlb_perms = alloc_u32(n);
  tlb_victim = alloc_u32((size_t)1 << g.iotlb_sets_lg2);
  tlb_set_mask = (1u << g.iotlb_sets_lg2) - 1;
  size_t m = (size_t)1 << g.psc_entries_lg2;
  psc_mask = (uint32_t)m - 1;
  for (int l = 1; l < MAX_LEVELS; l++) {
    psc_level *p = &psc[l];
    p->key_lo = alloc_u32(m); p->key_hi = alloc_u32(m); p->did = alloc_u32(m); p->pasid = alloc_u32(m); p->gen_did = alloc_u32(m);
    p->gen_pasid = alloc_u32(m); p->psc_gen = alloc_u32(m); p->next_lo = alloc_u32(m); p->next_hi = alloc_u32(m); p->perms = alloc_u32(m);
  }
  return 1;
}

void xl_inv_global(void) {
  size_t n = (size_t)geo.iotlb_ways << geo.iotlb_sets_lg2;
  memset(tlb_pasid, 0, n * sizeof(uint32_t));
  size_t m = (size_t)psc_mask + 1;
  for (int l = 1; l < MAX_LEVELS; l++) memset(psc[l].pasid, 0, m * sizeof(uint32_t));
  size_count[0] = size_count[1] = size_count[2] = 0;
}

void xl_invalidate_all(void) {
  xl_inv_global();
  memset(ctx_tag, 0, sizeof ctx_tag);
  memset(pc_tag_sid, 0, sizeof pc_tag_sid);
}

void xl_set_root(uint64_t rtaddr) { root_table = rtaddr; xl_invalidate_all(); }
void xl_inv_domain(uint32_t did) { gen_did[did & 0xffff]++; }
void xl_inv_pasid(uint32_t did, uint32_t pasid) { gen_pasid[pasid_bucket(did, pasid)]++; }

/* Page-selective (§6.5.2.3 G=11): 2^am pages from addr, every PASID of the domain
 * (the set index does not depend on the PASID, so one set per page size is probed);
 * IH=0 also drops the domain's paging-structure-cache entries. */
void xl_inv_page(uint32_t did, uint64_t addr, uint32_t am) {
  uint64_t first = addr >> 12 >> am << am, count = 1ull << am;
  for (uint64_t p = first; p < first + count; p++) {
    for (uint32_t s = 0; s < 3; s++) {
      if (!size_count[s]) continue;
      uint32_t lg2 = 12 + 9 * s;
      uint64_t vpn = (p << 12) >> lg2;
      uint32_t base = tlb_set(vpn, did) * geo.iotlb_ways;
      for (uint32_t w = 0; w < geo.iotlb_ways; w++) {
        uint32_t i = base + w;
        if (tlb_vpn_lo[i] == (uint32_t)vpn && tlb_vpn_hi[i] == (uint32_t)(vpn >> 32) && tlb_did_lg2[i] == ((did << 8) | lg2)) tlb_pasid[i] = 0;
      }
    }
  }
  psc_gen_did[did & 0xffff]++;
}

/* ---- paging-structure caches ---- */

#define VALID 0x80000000u

static inline int psc_lookup(uint32_t level, uint64_t key, uint32_t did, uint32_t pasid, uint64_t *next, uint32_t *perms) {
  psc_level *p = &psc[level];
  uint32_t i = psc_slot(key, did, pasid);
  if (p->pasid[i] != (pasid | VALID) || p->key_lo[i] != (uint32_t)key || p->key_hi[i] != (uint32_t)(key >> 32) || p->did[i] != did) return 0;
  if (p->gen_did[i] != gen_did[did] || p->gen_pasid[i] != gen_pasid[pasid_bucket(did, pasid)] || p->psc_gen[i] != psc_gen_did[did]) return 0;
  *next = (uint64_t)p->next_hi[i] << 32 | p->next_lo[i];
  *perms = p->perms[i];
  return 1;
}

static inline void psc_insert(uint32_t level, uint64_t key, uint32_t did, uint32_t pasid, uint64_t next, uint32_t perms) {
  psc_level *p = &psc[level];
  uint32_t i = psc_slot(key, did, pasid);
  p->key_lo[i] = (uint32_t)key; p->key_hi[i] = (uint32_t)(key >> 32); p->did[i] = did; p->pasid[i] = pasid | VALID;
  p->gen_did[i] = gen_did[did]; p->gen_pasid[i] = gen_pasid[pasid_bucket(did, pasid)]; p->psc_gen[i] = psc_gen_did[did];
  p->next_lo[i] = (uint32_t)next; p->next_hi[i] = (uint32_t)(next >> 32); p->perms[i] = perms;
}

/* ---- one walker for both formats (§9.7 first stage, §9.8 second stage) ---- */

typedef struct {
  uint32_t did, pasid, levels, fs; /* fs = 1: first-stage format */
  uint64_t root;
  uint32_t nested_ss_levels;  /* non-zero: table pointers are GPAs translated through this second stage */
  uint64_t nested_ss_root;
} walk_ctx;

static uint32_t walk(const walk_ctx *w, uint64_t iova, xlate_out *out);

/* Second-stage translation of a first-stage table pointer or output GPA under nesting. */
static inline uint32_t nested_gpa(const walk_ctx *w, uint64_t gpa, uint64_t *hpa, uint32_t *perms, uint32_t *lg2) {
  walk_ctx ss = { w->did, NESTED_SS_TAG, w->nested_ss_levels, 0, w->nested_ss_root, 0, 0 };
  xlate_out o;
  uint32_t fr = walk(&ss, gpa, &o);
  *hpa = o.addr; *perms = o.perms; *lg2 = o.page_lg2;
  return fr;
}

/* Reserved bits of a paging entry at `level` (non-leaf or leaf of size 2^(12+9*level)). */
static inline uint64_t rsvd_bits(uint32_t fs, uint32_t level, int leaf) {
  uint64_t m = HAW_RSVD | (fs ? 0 : 1ull << 62);
  if (level >= 3 && !leaf) m |= 0x80;
  if (leaf && level > 0) m |= (((1ull << (9 * level)) - 1) << 12) & ~(fs ? 0x1000ull : 0);
  return m;
}

static uint32_t walk(const walk_ctx *w, uint64_t iova, xlate_out *out) {
  uint32_t perms = 3, level = w->levels - 1;
  uint64_t table = w->root;
  int from_psc = 0;
  stats.walks++;
  for (uint32_t l = 1; l < w->levels; l++) {
    if (psc_lookup(l, iova >> (12 + 9 * l), w->did, w->pasid, &table, &perms)) { level = l - 1; from_psc = 1; break; }
  }
  if (from_psc) stats.psc_hits++; else stats.psc_misses++;
  if (!from_psc && w->nested_ss_levels) {
    uint32_t p, lg2;
    uint32_t fr = nested_gpa(w, table, &table, &p, &lg2);
    if (fr) return fr;
  }
  for (;;) {
    uint64_t e;
    stats.pte_reads++;
    if (!ram_read64(table + ((iova >> (12 + 9 * level)) & 511) * 8, &e)) return FR_BAD_ADDR;
    if (w->fs ? !(e & 1) : !(e & 3)) return w->fs ? FR_FS_NOT_PRESENT : FR_SS_NOT_PRESENT;
    int leaf = level == 0 || (e & 0x80);
    if (e & rsvd_bits(w->fs, level, leaf)) return w->fs ? FR_FS_RSVD : FR_SS_RSVD;
    if (w->fs) { if (!(e & 4)) return FR_FS_PERM; perms &= 1 | (uint32_t)(e & 2); }
    else perms &= (uint32_t)(e & 3);
    uint64_t next = e & ADDR_MASK;
    if (leaf) {
      uint32_t lg2 = 12 + 9 * level;
      uint64_t page_mask = (1ull << lg2) - 1;
      out->addr = (next & ~page_mask) | (iova & page_mask);
      out->page_lg2 = lg2;
      out->perms = perms;
      if (w->nested_ss_levels) {
        uint32_t p, sslg2;
        uint32_t fr = nested_gpa(w, out->addr, &out->addr, &p, &sslg2);
        if (fr) return fr;
        out->perms &= p;
        if (sslg2 < out->page_lg2) out->page_lg2 = sslg2;
      }
      return FR_NONE;
    }
    if (w->nested_ss_levels) {
      uint32_t p, lg2;
      uint32_t fr = nested_gpa(w, next, &next, &p, &lg2);
      if (fr) return fr;
    }
    psc_insert(level, iova >> (12 + 9 * level), w->did, w->pasid, next, perms);
    table = next;
    level--;
  }
}

/* ---- context and PASID caches (§9.2, §9.4, §9.5, §9.6) ---- */

static inline uint32_t ctx_lookup(uint32_t sid, uint64_t *dir, uint32_t *rid_pasid) {
  uint32_t i = (sid ^ (sid >> 8)) & (CTX_ENTRIES - 1);
  if (ctx_tag[i] == (sid | VALID)) { stats.ctx_hits++; *dir = ctx_dir[i]; *rid_pasid = ctx_rid_pasid[i]; return FR_NONE; }
  stats.ctx_misses++;
  uint64_t rlo, rhi, c0, c1;
  uint32_t bus = sid >> 8, devfn = sid & 0xff;
  if (!ram_read64(root_table + bus * 16, &rlo) || !ram_read64(root_table + bus * 16 + 8, &rhi)) return FR_BAD_ADDR;
  uint64_t r = devfn < 0x80 ? rlo : rhi;
  if (!(r & 1)) return FR_ROOT_NOT_PRESENT;
  uint64_t slot = (r & ADDR_MASK) + (devfn & 0x7f) * 32;
  if (!ram_read64(slot, &c0) || !ram_read64(slot + 8, &c1)) return FR_BAD_ADDR;
  if (!(c0 & 1)) return FR_CTX_NOT_PRESENT;
  ctx_tag[i] = sid | VALID; ctx_dir[i] = c0 & ADDR_MASK; ctx_rid_pasid[i] = (uint32_t)(c1 & 0xfffff);
  *dir = ctx_dir[i]; *rid_pasid = ctx_rid_pasid[i];
  return FR_NONE;
}

static inline uint32_t pasid_lookup(uint32_t sid, uint32_t pasid, uint64_t dir) {
  uint32_t i = (sid * 0x9E3779B1u ^ pasid * 0x85EBCA6Bu) >> 22; /* 1024 entries */
  if (pc_tag_sid[i] == (sid | VALID) && pc_tag_pasid[i] == pasid) { stats.pasid_hits++; return i; }
  stats.pasid_misses++;
  uint64_t d, q0, q1, q2;
  if (!ram_read64(dir + (pasid >> 6) * 8, &d)) return ~0u;
  if (!(d & 1)) return ~0u;
  uint64_t slot = (d & ADDR_MASK) + (pasid & 63) * 64;
  if (!ram_read64(slot, &q0) || !ram_read64(slot + 8, &q1) || !ram_read64(slot + 16, &q2)) return ~0u;
  if (!(q0 & 1)) return ~0u;
  pc_tag_sid[i] = sid | VALID; pc_tag_pasid[i] = pasid;
  pc_pgtt[i] = (uint32_t)(q0 >> 6) & 7; pc_did[i] = (uint32_t)q1 & 0xffff;
  pc_ss_root[i] = q0 & ADDR_MASK; pc_ss_levels[i] = ((uint32_t)(q0 >> 2) & 7) + 2;
  pc_fs_root[i] = q2 & ADDR_MASK; pc_fs_levels[i] = ((q2 >> 2) & 3) == 1 ? 5 : 4;
  return i;
}

/* ---- IOTLB ---- */

static inline int tlb_lookup(uint32_t did, uint32_t pasid, uint64_t iova, xlate_out *out) {
  uint32_t gd = gen_did[did], gp = gen_pasid[pasid_bucket(did, pasid)];
  for (uint32_t s = 0; s < 3; s++) {
    if (!size_count[s]) continue;
    uint32_t lg2 = 12 + 9 * s;
    uint64_t vpn = iova >> lg2;
    uint32_t base = tlb_set(vpn, did) * geo.iotlb_ways;
    for (uint32_t w = 0; w < geo.iotlb_ways; w++) {
      uint32_t i = base + w;
      if (tlb_vpn_lo[i] == (uint32_t)vpn && tlb_pasid[i] == (pasid | VALID) && tlb_did_lg2[i] == ((did << 8) | lg2) &&
          tlb_vpn_hi[i] == (uint32_t)(vpn >> 32) && tlb_gen_did[i] == gd && tlb_gen_pasid[i] == gp) {
        uint64_t page = (uint64_t)tlb_out_hi[i] << 32 | tlb_out_lo[i];
        out->addr = page | (iova & ((1ull << lg2) - 1));
        out->page_lg2 = lg2;
        out->perms = tlb_perms[i];
        return 1;
      }
    }
  }
  return 0;
}

static inline void tlb_insert(uint32_t did, uint32_t pasid, uint64_t iova, const xlate_out *o) {
  uint32_t lg2 = o->page_lg2, s = (lg2 - 12) / 9;
  uint64_t vpn = iova >> lg2, page = o->addr & ~((1ull << lg2) - 1);
  uint32_t set = tlb_set(vpn, did), base = set * geo.iotlb_ways, way = geo.iotlb_ways;
  for (uint32_t w = 0; w < geo.iotlb_ways; w++) {
    uint32_t i = base + w;
    if (!(tlb_pasid[i] & VALID)) { way = w; break; }
  }
  if (way == geo.iotlb_ways) { way = tlb_victim[set]; tlb_victim[set] = (way + 1) % geo.iotlb_ways; }
  uint32_t i = base + way;
  tlb_vpn_lo[i] = (uint32_t)vpn; tlb_vpn_hi[i] = (uint32_t)(vpn >> 32); tlb_did_lg2[i] = (did << 8) | lg2; tlb_pasid[i] = pasid | VALID;
  tlb_gen_did[i] = gen_did[did]; tlb_gen_pasid[i] = gen_pasid[pasid_bucket(did, pasid)];
  tlb_out_lo[i] = (uint32_t)page; tlb_out_hi[i] = (uint32_t)(page >> 32); tlb_perms[i] = o->perms;
  size_count[s]++;
}

/* ---- translate ---- */

static inline uint32_t w_perm_fault(uint32_t pgtt) { return pgtt == 2 ? FR_SS_PERM : FR_FS_PERM; }

static inline uint32_t translate_inline(uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *out) {
  uint64_t dir;
  uint32_t rid_pasid, fr = ctx_lookup(sid, &dir, &rid_pasid);
  if (fr) return out->status = fr;
  uint32_t p = (access & ACC_PASID) ? pasid : rid_pasid;
  uint32_t pc = pasid_lookup(sid, p, dir);
  if (pc == ~0u) return out->status = FR_PASID_NOT_PRESENT;
  uint32_t did = pc_did[pc];
  if (tlb_lookup(did, p, iova, out)) {
    stats.iotlb_hits++;
  } else {
    stats.iotlb_misses++;
    uint32_t pgtt = pc_pgtt[pc];
    walk_ctx w = { did, p, pgtt == 2 ? pc_ss_levels[pc] : pc_fs_levels[pc], pgtt != 2, pgtt == 2 ? pc_ss_root[pc] : pc_fs_root[pc],
                   pgtt == 3 ? pc_ss_levels[pc] : 0, pc_ss_root[pc] };
    if (w.fs && w.levels == 4 && (iova >> 47) != 0 && (iova >> 47) != 0x1ffff) return out->status = 0x80; /* non-canonical */
    if (!w.fs && (iova >> (12 + 9 * w.levels)) != 0) return out->status = FR_BAD_ADDR;
    fr = walk(&w, iova, out);
    if (fr) return out->status = fr;
    tlb_insert(did, p, iova, out);
  }
  if (access & ~out->perms & 3) return out->status = w_perm_fault(pc_pgtt[pc]);
  return out->status = FR_NONE;
}

uint32_t xl_translate(uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *out) {
  return translate_inline(sid, pasid, iova, access, out);
}

__attribute__((noinline)) uint32_t xl_translate_noinline(uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *out) {
  return translate_inline(sid, pasid, iova, access, out);
}
