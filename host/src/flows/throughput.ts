/**
 * The short throughput figure `viommu demo` prints after the flows: nested
 * translations (guest first stage over the host second stage, as the
 * nested-vsva flow binds them) through the physical IOMMU core's batch
 * API, IOTLB-warm, for about half a second.
 */
import {
  ACC_PASID, ACC_READ, BATCH_CAPACITY, BREQ_ACCESS, BREQ_IOVA_HI, BREQ_IOVA_LO, BREQ_PASID, BREQ_SID,
  BREQ_WORDS,
} from '../core/constants.js';
import { encodeFsPte } from '../vtd/spec/fs-pte.js';
import { bootVsva, VSVA } from './nested-vsva.js';

/** Result of the measurement. */
export interface Throughput {
  readonly perSecond: number;
  readonly translations: number;
  readonly failed: number;
}

const PAGES = 256;

/** Measures batched nested translations per second for about `ms` milliseconds. */
export async function measureThroughput(ms = 500): Promise<Throughput> {
  const g = await bootVsva();
  const { vm, host } = g;
  for (let i = 1; i < PAGES; i++) g.fs.map(VSVA.va + BigInt(i) * 0x1000n, VSVA.gpa + BigInt(i) * 0x1000n, 12, encodeFsPte({ P: true, RW: true, US: true }));
  const prid = vm.device(VSVA.bdf).prid;
  const hpasid = vm.ctx.guestPasids.hostOf(VSVA.pasid)!;
  const n = BATCH_CAPACITY;
  const ring = host.core.batch;
  for (let i = 0; i < n; i++) {
    const iova = VSVA.va + BigInt(i % PAGES) * 0x1000n + BigInt((i * 64) % 4096);
    const at = i * BREQ_WORDS;
    ring[at + BREQ_SID] = prid;
    ring[at + BREQ_PASID] = hpasid;
    ring[at + BREQ_IOVA_LO] = Number(iova & 0xffff_ffffn);
    ring[at + BREQ_IOVA_HI] = Number(iova >> 32n);
    ring[at + BREQ_ACCESS] = ACC_READ | ACC_PASID;
  }
  const requests = ring.slice(0, n * BREQ_WORDS); // results overwrite the records: refill from this copy
  let translations = 0;
  let ok = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    ring.set(requests);
    ok += host.core.translateBatch(n);
    translations += n;
    elapsed = performance.now() - start;
  }
  vm.close();
  return { perSecond: (translations * 1000) / elapsed, translations, failed: translations - ok };
}
