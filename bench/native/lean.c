/*
 * Lean native baseline: the hit path with the full semantics (source id ->
 * context/PASID setup -> IOTLB tag -> permissions -> output) written the way
 * a careful C programmer would, so that the wasm core is compared with a
 * strong baseline, not a weak one (bench/native/translate.c is the earlier,
 * plainer baseline; the bench reports both). Same contract as translate.h,
 * same cache geometry, hashes and replacement as the core and translate.c,
 * so the IOTLB hit and PTE-read counts are equal. What makes it lean:
 * - the batch loop (xl_batch) inlines the translation and keeps the IOTLB
 *   geometry in registers (`tlb_geo`, passed by value), not reloaded per probe;
 * - one decoded-setup cache per (source id, PASID, request class) stands for
 *   the context and PASID caches (the core keeps both and a decoded-setup
 *   cache in front: asm/assembly/cache/setup-cache.ts); it is emptied by any
 *   context- or PASID-cache invalidation;
 * - entries record the generation epoch they were filled at: an entry of the
 *   current epoch is live without loading its domain and bucket generations,
 *   so neither a hit nor a fill rechecks every way's generations;
 * - reserved-bit masks come from a table per format, level and leafness.
 */
#include <stdlib.h>
#include <string.h>
#include "translate.h"

#define ADDR_MASK 0x000FFFFFFFFFF000ull
#define HAW_RSVD 0x000F000000000000ull /* bits 51:48 with HAW 48 */
#define BUCKET_LG2 12
#define PSC_LG2 12
#define SC_LG2 12
#define FS_FLAG 0x80000000u
#define P_NEAR_INTR 0x10u /* perms flag: the page overlaps the interrupt range */
#define INTR_START 0xFEE00000ull
#define INTR_LAST 0xFEEFFFFFull
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
enum { SPACE_IOTLB, SPACE_PSC, SPACE_SETUP, SPACES };
enum { FMT_SS, FMT_FS };

static uint8_t *ram;
static size_t ram_len;
static uint64_t root_table;
static xlate_stats stats;

/* ---- generations: global, per DID, per (DID, PASID) bucket, and an epoch that moves with every bump ---- */
static uint32_t gen_global[SPACES], gen_epoch[SPACES];
static uint32_t gen_did[SPACES][65536], gen_bucket[SPACES][1u << BUCKET_LG2];

static inline uint32_t bucket_of(uint32_t did, uint32_t pasid) {
  return (did * 0x9e3779b1u ^ pasid * 0x85ebca6bu) >> (32 - BUCKET_LG2);
}
static inline int live_at(int space, uint32_t g, uint32_t epoch, uint32_t d, uint32_t b, uint32_t did, uint32_t bucket) {
  return g == gen_global[space] && (epoch == gen_epoch[space] || (d == gen_did[space][did] && b == gen_bucket[space][bucket]));
}

/* ---- IOTLB: 48-byte entries, LRU by a use tick ---- */
typedef struct {
  uint64_t tag;   /* did | (PASID key | FS_FLAG) << 32 */
  uint64_t vpn, frame;
  uint32_t epoch, use;
  uint8_t lg2, perms;
  uint16_t sid;
  uint32_t gen_g, gen_d, gen_b;
} tlb_entry;

/* The IOTLB's geometry, copied into registers once per batch. */
typedef struct { tlb_entry *base; uint32_t ways, sets_lg2; } tlb_geo;

static tlb_geo geo;
static uint32_t tlb_tick, size_count[3];

static inline uint32_t tlb_set(tlb_geo g, uint64_t vpn, uint32_t lg2, uint32_t key) {
  uint32_t h = (uint32_t)vpn ^ (uint32_t)(vpn >> 29) ^ (lg2 * 0x2545f491u) ^ (key * 0x27d4eb2fu);
  return (uint32_t)((uint64_t)(h * 0x9e3779b1u) >> (32 - g.sets_lg2));
}

/* The live entry with this tag holding iova, or NULL. */
static inline tlb_entry *tlb_probe(tlb_geo g, uint32_t did, uint32_t pasid, uint32_t bucket, uint64_t iova) {
  const uint64_t tag = (uint64_t)pasid << 32 | did, mask = ~((uint64_t)FS_FLAG << 32);
  const uint32_t gg = gen_global[SPACE_IOTLB], ep = gen_epoch[SPACE_IOTLB];
  for (uint32_t slot = 0; slot < 3; slot++) {
    if (!size_count[slot]) continue;
    const uint32_t lg2 = 12 + 9 * slot;
    const uint64_t vpn = iova >> lg2;
    tlb_entry *e = g.base + (size_t)tlb_set(g, vpn, lg2, bucket) * g.ways;
    for (uint32_t w = 0; w < g.ways; w++, e++) {
      if (e->vpn == vpn && e->lg2 == lg2 && (e->tag & mask) == tag && e->gen_g == gg &&
          (e->epoch == ep || (e->gen_d == gen_did[SPACE_IOTLB][did] && e->gen_b == gen_bucket[SPACE_IOTLB][bucket]))) return e;
    }
  }
  return NULL;
}

/* Fill after a probe missed (so no live way has the tag): the first dead way, else the least recently used. */
static inline void tlb_fill(tlb_geo g, uint32_t did, uint32_t sid, uint32_t pasid, uint32_t bucket, int fs, uint64_t iova, uint32_t lg2, uint64_t frame, uint32_t perms) {
  const uint64_t vpn = iova >> lg2;
  const uint32_t ep = gen_epoch[SPACE_IOTLB];
  tlb_entry *e = g.base + (size_t)tlb_set(g, vpn, lg2, bucket) * g.ways, *victim = e;
  uint32_t oldest = 0xffffffffu;
  for (uint32_t w = 0; w < g.ways; w++, e++) {
    if (e->epoch != ep) { /* filled at an older epoch: look at its generations */
      uint32_t ed = (uint32_t)e->tag, eb = bucket_of(ed, (uint32_t)(e->tag >> 32) & ~FS_FLAG);
      if (!e->lg2 || !live_at(SPACE_IOTLB, e->gen_g, e->epoch, e->gen_d, e->gen_b, ed, eb)) { victim = e; break; }
    }
    if (e->use < oldest) { oldest = e->use; victim = e; }
  }
  if (victim->lg2) size_count[(victim->lg2 - 12) / 9]--;
  size_count[(lg2 - 12) / 9]++;
  victim->tag = (uint64_t)(pasid | (fs ? FS_FLAG : 0)) << 32 | did;
  victim->vpn = vpn; victim->frame = frame; victim->lg2 = (uint8_t)lg2; victim->perms = (uint8_t)perms; victim->sid = (uint16_t)sid;
  victim->epoch = ep; victim->use = ++tlb_tick;
  victim->gen_g = gen_global[SPACE_IOTLB]; victim->gen_d = gen_did[SPACE_IOTLB][did]; victim->gen_b = gen_bucket[SPACE_IOTLB][bucket];
}

/* ---- paging-structure cache: direct-mapped, tags compared in full ---- */
typedef struct { uint32_t did, key; uint64_t prefix, table; uint32_t perms, epoch, gen_g, gen_d, gen_b; } psc_entry;
static psc_entry psc[1u << PSC_LG2];

static inline psc_entry *psc_slot(uint32_t did, uint32_t key, uint64_t prefix) {
  uint32_t h = ((uint32_t)prefix ^ (uint32_t)(prefix >> 27) ^ key * 0x85ebca6bu ^ did * 0xc2b2ae35u) * 0x9e3779b1u;
  return &psc[h >> (32 - PSC_LG2)];
}

/* ---- decoded setup per (source id, PASID, request class): the context + PASID lookup's result ---- */
typedef struct {
  uint32_t key, pasid, epoch, fs;  /* key: sid | class << 16 | valid */
  uint32_t did, tag, bucket, width;
  uint64_t ss_root, fs_root;
  uint32_t ss_levels, fs_levels, nested, pad;
} setup;
static setup sc[1u << SC_LG2];
static uint32_t sc_epoch = 1;

static inline setup *sc_slot(uint32_t sid, uint32_t pasid) {
  return &sc[((sid * 0x9e3779b1u ^ pasid * 0x85ebca6bu) * 0xc2b2ae35u) >> (32 - SC_LG2)];
}
static inline uint32_t sc_key(uint32_t sid, uint32_t access) { return sid | (access & ACC_PASID) << 14 | 0x80000000u; }

static void rsvd_init(void);

uint8_t *xl_ram(void) { return ram; }
size_t xl_ram_len(void) { return ram_len; }
xlate_stats *xl_stats(void) { return &stats; }

int xl_init(const uint8_t *image, size_t image_len, size_t len, xlate_geometry g) {
  free(ram);
  free(geo.base);
  if (len < image_len) len = image_len;
  ram = (uint8_t *)calloc(len, 1);
  geo.base = (tlb_entry *)calloc((size_t)g.iotlb_ways << g.iotlb_sets_lg2, sizeof(tlb_entry));
  if (!ram || !geo.base) return 0;
  memcpy(ram, image, image_len);
  ram_len = len;
  geo.ways = g.iotlb_ways; geo.sets_lg2 = g.iotlb_sets_lg2;
  memset(size_count, 0, sizeof size_count);
  memset(psc, 0, sizeof psc); memset(sc, 0, sizeof sc);
  memset(gen_did, 0, sizeof gen_did); memset(gen_bucket, 0, sizeof gen_bucket);
  for (int s = 0; s < SPACES; s++) { gen_global[s] = 1; gen_epoch[s] = 1; }
  rsvd_init();
  return 1;
}

/* ---- invalidation ---- */
static void bump_global(int s) { gen_global[s]++; gen_epoch[s]++; }
void xl_invalidate_all(void) { for (int s = 0; s < SPACES; s++) bump_global(s); sc_epoch++; }
void xl_set_root(uint64_t rtaddr) { root_table = rtaddr; xl_invalidate_all(); }
void xl_inv_global(void) { bump_global(SPACE_IOTLB); bump_global(SPACE_PSC); }
void xl_inv_domain(uint32_t did) {
  for (int s = SPACE_IOTLB; s <= SPACE_PSC; s++) { gen_did[s][did & 0xffff]++; gen_epoch[s]++; }
}
void xl_inv_pasid(uint32_t did, uint32_t pasid) {
  for (int s = SPACE_IOTLB; s <= SPACE_PSC; s++) { gen_bucket[s][bucket_of(did, pasid)]++; gen_epoch[s]++; }
}
/* Page-selective in a domain, every PASID (the set index depends on the PASID: every entry is looked at). */
void xl_inv_page(uint32_t did, uint64_t addr, uint32_t am) {
  uint64_t start = addr & ~((1ull << (12 + am)) - 1), last = start + ((1ull << (12 + am)) - 1);
  tlb_entry *e = geo.base, *end = geo.base + ((size_t)geo.ways << geo.sets_lg2);
  for (; e < end; e++) {
    uint32_t ed = (uint32_t)e->tag;
    if (!e->lg2 || ed != did || !live_at(SPACE_IOTLB, e->gen_g, e->epoch, e->gen_d, e->gen_b, ed, bucket_of(ed, (uint32_t)(e->tag >> 32) & ~FS_FLAG))) continue;
    uint64_t page = e->vpn << e->lg2;
    if (page <= last && start <= page + ((1ull << e->lg2) - 1)) { size_count[(e->lg2 - 12) / 9]--; e->lg2 = 0; e->epoch = 0; }
  }
  gen_did[SPACE_PSC][did & 0xffff]++;
  gen_epoch[SPACE_PSC]++;
}

/* ---- the walker: both formats, one loop (§9.7 first stage, §9.8 second stage) ---- */

/* Reserved bits by [format][leaf][level]: HAW bits, SS bit 62, PS above level 2, low address bits of a large leaf. */
static uint64_t rsvd[2][2][5];
static void rsvd_init(void) {
  for (int f = 0; f < 2; f++)
    for (int leaf = 0; leaf < 2; leaf++)
      for (int level = 0; level < 5; level++) {
        uint64_t m = HAW_RSVD | (f == FMT_FS ? 0 : 1ull << 62);
        if (level >= 3 && !leaf) m |= 0x80;
        if (leaf && level > 0) m |= (((1ull << (9 * level)) - 1) << 12) & ~(f == FMT_FS ? 0x1000ull : 0);
        rsvd[f][leaf][level] = m;
      }
}

static inline int ram_load(uint64_t gpa, uint64_t *v) {
  if (UNLIKELY(gpa > ram_len - 8)) return 0;
  memcpy(v, ram + gpa, 8);
  return 1;
}

static uint32_t walk(int fmt, const setup *s, uint64_t iova, xlate_out *o);

/* A first-stage table address through the second stage (nested). */
static uint32_t nest(const setup *s, uint64_t gpa, uint64_t *hpa) {
  xlate_out t;
  uint32_t fr = walk(FMT_SS, s, gpa, &t);
  *hpa = t.addr | (gpa & ((1ull << t.page_lg2) - 1));
  return fr;
}

/* Walks iova; on success o->addr is the page frame, o->page_lg2 and o->perms set. */
static uint32_t walk(int fmt, const setup *s, uint64_t iova, xlate_out *o) {
  const int fs = fmt == FMT_FS;
  const uint32_t top = (fs ? s->fs_levels : s->ss_levels) - 1, pkey = fs ? s->tag : 0, gg = gen_global[SPACE_PSC];
  const uint32_t gd = gen_did[SPACE_PSC][s->did], gb = gen_bucket[SPACE_PSC][bucket_of(s->did, pkey)], ep = gen_epoch[SPACE_PSC];
  uint64_t table = fs ? s->fs_root : s->ss_root;
  uint32_t level = top, perms = 3, cached = 0;
  stats.walks++;
  for (uint32_t l = 1; l <= top; l++) {
    uint32_t key = pkey | l << 24 | (uint32_t)fmt << 28;
    uint64_t prefix = iova >> (12 + 9 * l);
    psc_entry *p = psc_slot(s->did, key, prefix);
    if (p->key == key && p->did == s->did && p->prefix == prefix && p->gen_g == gg && (p->epoch == ep || (p->gen_d == gd && p->gen_b == gb))) {
      table = p->table; perms = p->perms; level = l - 1; cached = 1;
      stats.psc_hits++;
      break;
    }
    stats.psc_misses++;
  }
  if (fs && !cached && s->nested && nest(s, table, &table)) return FR_BAD_ADDR;
  for (;;) {
    uint64_t e;
    stats.pte_reads++;
    if (!ram_load(table + ((iova >> (12 + 9 * level)) & 511) * 8, &e)) return FR_BAD_ADDR;
    if (!(e & (fs ? 1 : 3))) return fs ? FR_FS_NOT_PRESENT : FR_SS_NOT_PRESENT;
    const int leaf = level == 0 || (level <= 2 && (e & 0x80));
    if (e & rsvd[fmt][leaf][level]) return fs ? FR_FS_RSVD : FR_SS_RSVD;
    if (fs) {
      if (!(e & 4)) return FR_FS_PERM; /* user request: U/S at every level */
      if (!(e & 2)) perms &= ~2u;
    } else {
      perms &= (uint32_t)e & 3;
    }
    if (leaf) {
      o->page_lg2 = 12 + 9 * level;
      o->addr = e & ADDR_MASK & ~((1ull << o->page_lg2) - 1);
      o->perms = perms;
      return FR_NONE;
    }
    table = e & ADDR_MASK;
    if (fs && s->nested && nest(s, table, &table)) return FR_BAD_ADDR;
    psc_entry *p = psc_slot(s->did, pkey | level << 24 | (uint32_t)fmt << 28, iova >> (12 + 9 * level));
    *p = (psc_entry){ s->did, pkey | level << 24 | (uint32_t)fmt << 28, iova >> (12 + 9 * level), table, perms, ep, gg, gd, gb };
    level--;
  }
}

/* ---- setup miss: root, scalable context (§9.4), PASID directory and entry (§9.5, §9.6) from RAM ---- */
static setup *setup_fetch(uint32_t sid, uint32_t pasid, uint32_t access, uint32_t *fault) {
  uint64_t r, c0, c1, d, q0, q1, q2;
  uint32_t devfn = sid & 0xff;
  if (!ram_load(root_table + (sid >> 8) * 16 + (devfn < 0x80 ? 0 : 8), &r)) { *fault = FR_BAD_ADDR; return NULL; }
  if (!(r & 1)) { *fault = FR_ROOT_NOT_PRESENT; return NULL; }
  uint64_t slot = (r & ADDR_MASK) + (devfn & 0x7f) * 32;
  if (!ram_load(slot, &c0) || !ram_load(slot + 8, &c1)) { *fault = FR_BAD_ADDR; return NULL; }
  if (!(c0 & 1)) { *fault = FR_CTX_NOT_PRESENT; return NULL; }
  uint32_t p = (access & ACC_PASID) ? pasid & 0xfffff : (uint32_t)(c1 & 0xfffff);
  if (!ram_load((c0 & ADDR_MASK) + (p >> 6) * 8, &d) || !(d & 1)) { *fault = FR_PASID_NOT_PRESENT; return NULL; }
  slot = (d & ADDR_MASK) + (p & 63) * 64;
  if (!ram_load(slot, &q0) || !ram_load(slot + 8, &q1) || !ram_load(slot + 16, &q2) || !(q0 & 1)) { *fault = FR_PASID_NOT_PRESENT; return NULL; }
  uint32_t pgtt = (uint32_t)(q0 >> 6) & 7;
  setup *s = sc_slot(sid, (access & ACC_PASID) ? pasid : 0);
  s->key = sc_key(sid, access); s->pasid = (access & ACC_PASID) ? pasid : 0; s->epoch = sc_epoch;
  s->did = (uint32_t)q1 & 0xffff; s->tag = p; s->bucket = bucket_of(s->did, p);
  s->fs = pgtt != 2; s->nested = pgtt == 3;
  s->ss_root = q0 & ADDR_MASK; s->ss_levels = ((uint32_t)(q0 >> 2) & 7) + 2;
  s->fs_root = q2 & ADDR_MASK; s->fs_levels = ((q2 >> 2) & 3) == 1 ? 5 : 4;
  s->width = s->fs ? (s->fs_levels == 5 ? 57 : 48) : 12 + 9 * s->ss_levels;
  return s;
}

static inline const setup *setup_find(uint32_t sid, uint32_t pasid, uint32_t access, uint32_t *fault) {
  const uint32_t p = (access & ACC_PASID) ? pasid : 0;
  setup *s = sc_slot(sid, p);
  if (LIKELY(s->key == sc_key(sid, access) && s->pasid == p && s->epoch == sc_epoch)) {
    stats.ctx_hits++;
    stats.pasid_hits++;
    return s;
  }
  stats.ctx_misses++;
  stats.pasid_misses++;
  return setup_fetch(sid, pasid, access, fault);
}

/* Input width: canonical (first stage) or below the second stage's width. */
static inline int width_ok(const setup *s, uint64_t iova) {
  if (s->fs) return (uint64_t)((int64_t)(iova << (64 - s->width)) >> (64 - s->width)) == iova;
  return (iova >> s->width) == 0;
}

/* The miss path: walk (the first-stage output through the second stage when nested), fill. */
static uint32_t miss(tlb_geo g, const setup *s, uint32_t sid, uint64_t iova, xlate_out *o) {
  uint32_t fr = walk(s->fs ? FMT_FS : FMT_SS, s, iova, o);
  if (fr) return fr;
  if (s->nested) {
    uint32_t fs_lg2 = o->page_lg2, fs_perms = o->perms;
    uint64_t gpa = o->addr | (iova & ((1ull << fs_lg2) - 1));
    if ((fr = walk(FMT_SS, s, gpa, o))) return fr;
    uint64_t hpa = o->addr | (gpa & ((1ull << o->page_lg2) - 1));
    if (fs_lg2 < o->page_lg2) o->page_lg2 = fs_lg2;
    o->addr = hpa & ~((1ull << o->page_lg2) - 1);
    o->perms &= fs_perms;
  }
  const uint64_t frame = o->addr, last = frame + ((1ull << o->page_lg2) - 1);
  if (frame <= INTR_LAST && INTR_START <= last) o->perms |= P_NEAR_INTR;
  tlb_fill(g, s->did, sid, s->tag, s->bucket, s->fs, iova, o->page_lg2, frame, o->perms);
  return FR_NONE;
}

/* One translation with the geometry in registers. */
static inline __attribute__((always_inline)) uint32_t translate_lean(tlb_geo g, uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *o) {
  uint32_t fr = 0;
  const setup *s = setup_find(sid & 0xffff, pasid, access, &fr);
  if (UNLIKELY(!s)) return o->status = fr;
  if (UNLIKELY(!width_ok(s, iova))) return o->status = s->fs ? 0x80 : FR_BAD_ADDR;
  tlb_entry *e = tlb_probe(g, s->did, s->tag, s->bucket, iova);
  if (LIKELY(e != NULL)) {
    e->use = ++tlb_tick;
    stats.iotlb_hits++;
    o->page_lg2 = e->lg2;
    o->perms = e->perms;
    o->addr = e->frame;
  } else {
    stats.iotlb_misses++;
    if ((fr = miss(g, s, sid, iova, o))) return o->status = fr;
  }
  o->addr |= iova & ((1ull << o->page_lg2) - 1);
  if (UNLIKELY(access & ~o->perms & 3)) return o->status = s->fs ? FR_FS_PERM : FR_SS_PERM;
  if (UNLIKELY(o->perms & P_NEAR_INTR) && o->addr >= INTR_START && o->addr <= INTR_LAST) return o->status = 0x87; /* §3.15 */
  o->perms &= 7;
  return o->status = FR_NONE;
}

/* One translation (copy mode and cache fills of the driver). */
static inline uint32_t translate_inline(uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *out) {
  return translate_lean(geo, sid, pasid, iova, access, out);
}

__attribute__((noinline)) uint32_t xl_translate_noinline(uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *out) {
  return translate_lean(geo, sid, pasid, iova, access, out);
}

/* Translates n request records (BREQ layout) into outs[i % 1024]; returns how many succeeded. */
uint32_t xl_batch(const uint32_t *w, uint32_t n, xlate_out *outs) {
  const tlb_geo g = geo;
  uint32_t ok = 0;
  for (uint32_t i = 0; i < n; i++, w += 8) ok += translate_lean(g, w[0], w[1], (uint64_t)w[3] << 32 | w[2], w[4], &outs[i & 1023]) == 0;
  return ok;
}
