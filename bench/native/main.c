/*
 * Driver of the native baselines: a line protocol on stdin/stdout so the
 * bench harness (bench/native/driver.ts) can interleave them with the wasm
 * core and the JS baseline in the same run. The program times its own loops
 * with CLOCK_MONOTONIC, so pipe latency never enters a measurement.
 *
 * One translation unit (the implementation is included: lean.c with
 * -DVIOMMU_LEAN, else translate.c) so the batch loop may inline the
 * translation, as the wasm core's batch loop can.
 *
 * Commands (one per line; every reply is one JSON line):
 *   init <image-file> <ram-bytes> <sets-lg2> <ways>
 *   root <rtaddr>                       set SM root table, invalidate all
 *   reqs <slot> <file>                  load requests: 8 u32 words each (the core's BREQ_* layout)
 *   run <slot> <mode> <passes>          mode: percall | batch | copy; timed passes over the list
 *   inv <kind> <slot> <fill> <reps> <did> <pasid> <addr>
 *                                       reps x (fill the caches with the first <fill> requests, time one
 *                                       invalidation); kind: page | pasid | domain | global
 *   reset                               invalidate all, zero counters
 *   quit
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef VIOMMU_LEAN
#include "lean.c"
#else
#include "translate.c"
#endif

#define SLOTS 8
static uint32_t *req_words[SLOTS];
static uint32_t req_count[SLOTS];
static uint8_t copy_buf[1 << 16];

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void print_stats(double ns, uint32_t n, uint32_t ok) {
  xlate_stats *s = xl_stats();
  printf("{\"ok\":true,\"ns\":%.0f,\"n\":%u,\"okCount\":%u,\"iotlbHits\":%.0f,\"iotlbMisses\":%.0f,\"pscHits\":%.0f,\"pscMisses\":%.0f,\"walks\":%.0f,\"pteReads\":%.0f}\n",
         ns, n, ok, s->iotlb_hits, s->iotlb_misses, s->psc_hits, s->psc_misses, s->walks, s->pte_reads);
}

/* Copies one translated range guest RAM -> device buffer, page by page (as the core's dmaCopy). */
static uint32_t copy_one(const uint32_t *r, xlate_out *o) {
  uint64_t iova = (uint64_t)r[3] << 32 | r[2];
  uint32_t len = r[5], done = 0;
  while (done < len) {
    uint32_t fr = translate_inline(r[0], r[1], iova + done, r[4], o);
    if (fr) return fr;
    uint64_t room = (1ull << o->page_lg2) - (o->addr & ((1ull << o->page_lg2) - 1));
    uint32_t chunk = len - done < room ? len - done : (uint32_t)room;
    if (o->addr > xl_ram_len() - chunk || done + chunk > sizeof copy_buf) return FR_BAD_ADDR;
    memcpy(copy_buf + done, xl_ram() + o->addr, chunk);
    done += chunk;
  }
  return FR_NONE;
}

static void cmd_run(uint32_t slot, const char *mode, uint32_t passes) {
  const uint32_t *w = req_words[slot];
  uint32_t n = req_count[slot], ok = 0;
  static xlate_out outs[1024];
  memset(xl_stats(), 0, sizeof(xlate_stats));
  double t0 = now_ns();
  for (uint32_t p = 0; p < passes; p++) {
    if (!strcmp(mode, "percall")) {
      xlate_out o;
      for (uint32_t i = 0; i < n; i++) {
        const uint32_t *r = w + i * 8;
        ok += xl_translate_noinline(r[0], r[1], (uint64_t)r[3] << 32 | r[2], r[4], &o) == 0;
      }
    } else if (!strcmp(mode, "batch")) {
      ok += xl_batch(w, n, outs);
    } else {
      xlate_out o;
      for (uint32_t i = 0; i < n; i++) ok += copy_one(w + i * 8, &o) == 0;
    }
  }
  double t1 = now_ns();
  print_stats(t1 - t0, n * passes, ok);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median cost of reading the clock twice (subtracted from single-call timings, as the JS side does). */
static double timer_overhead_ns(void) {
  double d[201];
  for (int i = 0; i < 201; i++) { double t0 = now_ns(); d[i] = now_ns() - t0; }
  qsort(d, 201, sizeof(double), cmp_double);
  return d[100];
}

static void cmd_inv(const char *kind, uint32_t slot, uint32_t fill, uint32_t reps, uint32_t did, uint32_t pasid, uint64_t addr) {
  double *samples = (double *)malloc(sizeof(double) * (reps ? reps : 1));
  const uint32_t *w = req_words[slot];
  xlate_out o;
  if (fill > req_count[slot]) fill = req_count[slot];
  for (uint32_t k = 0; k < reps; k++) {
    for (uint32_t i = 0; i < fill; i++) {
      const uint32_t *r = w + i * 8;
      translate_inline(r[0], r[1], (uint64_t)r[3] << 32 | r[2], r[4], &o);
    }
    double t0 = now_ns();
    if (!strcmp(kind, "page")) xl_inv_page(did, addr, 0);
    else if (!strcmp(kind, "pasid")) xl_inv_pasid(did, pasid);
    else if (!strcmp(kind, "domain")) xl_inv_domain(did);
    else xl_inv_global();
    samples[k] = now_ns() - t0;
  }
  qsort(samples, reps, sizeof(double), cmp_double);
  double med = reps ? samples[reps / 2] : 0.0, over = timer_overhead_ns();
  printf("{\"ok\":true,\"medianNs\":%.1f}\n", med > over ? med - over : 0.0);
  free(samples);
}

int main(void) {
  char line[4096], a[2048], b[64];
  while (fgets(line, sizeof line, stdin)) {
    unsigned long long x1, x2, x3, x4, x5, x6;
    if (sscanf(line, "init %2047s %llu %llu %llu", a, &x1, &x2, &x3) == 4) {
      size_t len;
      uint8_t *img = read_file(a, &len);
      xlate_geometry g = { (uint32_t)x2, (uint32_t)x3 };
      if (!img || !xl_init(img, len, (size_t)x1, g)) { printf("{\"ok\":false,\"error\":\"init failed\"}\n"); }
      else printf("{\"ok\":true}\n");
      free(img);
    } else if (sscanf(line, "root %llu", &x1) == 1) {
      xl_set_root(x1);
      printf("{\"ok\":true}\n");
    } else if (sscanf(line, "reqs %llu %2047s", &x1, a) == 2 && x1 < SLOTS) {
      size_t len;
      free(req_words[x1]);
      req_words[x1] = (uint32_t *)read_file(a, &len);
      req_count[x1] = req_words[x1] ? (uint32_t)(len / 32) : 0;
      printf("{\"ok\":%s}\n", req_words[x1] ? "true" : "false");
    } else if (sscanf(line, "run %llu %63s %llu", &x1, b, &x2) == 3 && x1 < SLOTS) {
      cmd_run((uint32_t)x1, b, (uint32_t)x2);
    } else if (sscanf(line, "inv %63s %llu %llu %llu %llu %llu %llu", b, &x1, &x2, &x3, &x4, &x5, &x6) == 7 && x1 < SLOTS) {
      cmd_inv(b, (uint32_t)x1, (uint32_t)x2, (uint32_t)x3, (uint32_t)x4, (uint32_t)x5, x6);
    } else if (!strncmp(line, "reset", 5)) {
      xl_invalidate_all();
      memset(xl_stats(), 0, sizeof(xlate_stats));
      printf("{\"ok\":true}\n");
    } else if (!strncmp(line, "quit", 4)) {
      break;
    } else {
      printf("{\"ok\":false,\"error\":\"bad command\"}\n");
    }
    fflush(stdout);
  }
  return 0;
}
