// Batch translation: the host writes N request records (BREQ_*) into a ring
// in linear memory and makes one call; each record's first four words are
// overwritten with its result (BRES_*). A fast-path hit (fast.ts) goes
// straight to the record, without the out-buffer.

import {
  BATCH_CAPACITY, BREQ_ACCESS, BREQ_BUF, BREQ_IOVA_HI, BREQ_IOVA_LO, BREQ_LEN, BREQ_PASID, BREQ_SID, BREQ_WORDS,
  BRES_ADDR_HI, BRES_ADDR_LO, BRES_PAGE, BRES_STATUS, OUT_ADDR_HI, OUT_ADDR_LO, OUT_PAGE_LG2, OUT_PERMS, STAT_TRANSLATIONS,
} from './abi/layout';
import { outGet } from './out';
import { translateFull } from './translate';
import { commitFast, FAST_MISS, fastAddr, fastPerms, NOT_FAST, tryFast } from './fast';
import { entryLg2 } from './cache/iotlb';
import { bump } from './stats';
import { dmaCopy } from './dma';

/** Base of the request ring (BATCH_CAPACITY records of BREQ_WORDS u32). */
export const BATCH = memory.data(<i32>(BATCH_CAPACITY * BREQ_WORDS * 4), 16);

/** Handle records 0..n-1 (n clamped to the capacity); with copy != 0 each is
 *  a dmaCopy. Returns the number that succeeded. */
export function translateBatch(n: u32, copy: u32): u32 {
  if (n > BATCH_CAPACITY) n = BATCH_CAPACITY;
  let ok: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const r = BATCH + <usize>(i * BREQ_WORDS * 4);
    const sid = load<u32>(r + (BREQ_SID << 2));
    const pasid = load<u32>(r + (BREQ_PASID << 2));
    const iova = (<u64>load<u32>(r + (BREQ_IOVA_HI << 2)) << 32) | load<u32>(r + (BREQ_IOVA_LO << 2));
    const access = load<u32>(r + (BREQ_ACCESS << 2));
    let status: u32;
    if (copy != 0) {
      status = dmaCopy(sid, pasid, iova, load<u32>(r + (BREQ_LEN << 2)), access, load<u32>(r + (BREQ_BUF << 2)));
    } else {
      // translate(), with the fast path's answer written straight to the record.
      bump(STAT_TRANSLATIONS);
      const e = tryFast(sid & 0xffff, pasid, iova, access);
      if (e > NOT_FAST) {
        commitFast(e);
        const addr = fastAddr(e, iova);
        store<u32>(r + (BRES_STATUS << 2), 0);
        store<u32>(r + (BRES_ADDR_LO << 2), <u32>addr);
        store<u32>(r + (BRES_ADDR_HI << 2), <u32>(addr >> 32));
        store<u32>(r + (BRES_PAGE << 2), entryLg2(e) | (fastPerms(e) << 8));
        ok++;
        continue;
      }
      status = translateFull(sid & 0xffff, pasid, iova, access, e == FAST_MISS);
    }
    store<u32>(r + (BRES_STATUS << 2), status);
    if (status == 0) {
      ok++;
      store<u32>(r + (BRES_ADDR_LO << 2), outGet(OUT_ADDR_LO));
      store<u32>(r + (BRES_ADDR_HI << 2), outGet(OUT_ADDR_HI));
      store<u32>(r + (BRES_PAGE << 2), outGet(OUT_PAGE_LG2) | (outGet(OUT_PERMS) << 8));
    } else {
      store<u32>(r + (BRES_ADDR_LO << 2), 0);
      store<u32>(r + (BRES_ADDR_HI << 2), 0);
      store<u32>(r + (BRES_PAGE << 2), 0);
    }
  }
  return ok;
}
