/*
 * Native C baselines of the core's hot path: scalable-mode context / PASID
 * lookup, a set-associative IOTLB, per-level paging-structure caches and one
 * walker for VT-d second-stage (§9.8), x86 first-stage (§9.7) and nested
 * tables. Two implementations of this contract: translate.c (the plain one)
 * and lean.c (the hit path written for speed); main.c builds with either.
 * The same algorithm, geometry and counters as the wasm core and the
 * JS baseline (bench/js-baseline/translator.ts): the bench reports the
 * PTE-read and hit counts side by side, and a test checks that C and JS
 * agree exactly.
 *
 * Only what the bench exercises is modelled: present/permission/reserved-bit
 * checks produce a non-zero fault value; nothing is recorded.
 */
#ifndef VIOMMU_NATIVE_TRANSLATE_H
#define VIOMMU_NATIVE_TRANSLATE_H

#include <stdint.h>
#include <stddef.h>

#define ACC_READ 1u
#define ACC_WRITE 2u
#define ACC_PASID 16u

/* Fault values: non-zero markers near the spec's scalable-mode reasons (§7.1.3); the bench
 * workloads never fault, so exact codes are not modelled. */
#define FR_NONE 0u
#define FR_ROOT_NOT_PRESENT 0x38u
#define FR_CTX_NOT_PRESENT 0x3Au
#define FR_PASID_NOT_PRESENT 0x59u
#define FR_SS_NOT_PRESENT 0x70u   /* SSPTE not present */
#define FR_SS_RSVD 0x78u
#define FR_SS_PERM 0x71u
#define FR_FS_NOT_PRESENT 0x80u
#define FR_FS_RSVD 0x90u
#define FR_FS_PERM 0x81u
#define FR_BAD_ADDR 0x04u

/* One translation result (mirrors the core's out-buffer words). */
typedef struct {
  uint32_t status;
  uint64_t addr;
  uint32_t page_lg2;
  uint32_t perms;
} xlate_out;

/* Counters with the core's STAT_* meaning. */
typedef struct {
  double iotlb_hits, iotlb_misses, psc_hits, psc_misses, walks, pte_reads, ctx_hits, ctx_misses, pasid_hits, pasid_misses;
} xlate_stats;

/* IOTLB geometry (the core's CFG_IOTLB_SETS_LG2 / CFG_IOTLB_WAYS); the PSC size is fixed, as in the core. */
typedef struct {
  uint32_t iotlb_sets_lg2, iotlb_ways;
} xlate_geometry;

int xl_init(const uint8_t *image, size_t image_len, size_t ram_len, xlate_geometry geo);
void xl_set_root(uint64_t rtaddr);
void xl_invalidate_all(void);
void xl_inv_global(void);
void xl_inv_domain(uint32_t did);
void xl_inv_pasid(uint32_t did, uint32_t pasid);
void xl_inv_page(uint32_t did, uint64_t addr, uint32_t am);
/* Translates n request records (the core's BREQ layout) into outs[i % 1024]; returns how many succeeded. */
uint32_t xl_batch(const uint32_t *words, uint32_t n, xlate_out *outs);
/* One translation behind a call the compiler may not inline (the per-call workloads). */
uint32_t xl_translate_noinline(uint32_t sid, uint32_t pasid, uint64_t iova, uint32_t access, xlate_out *out);
uint8_t *xl_ram(void);
size_t xl_ram_len(void);
xlate_stats *xl_stats(void);

#endif
