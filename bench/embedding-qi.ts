/**
 * Queued-invalidation throughput (§6.5.2): IOTLB domain-selective
 * invalidation descriptors per second that a guest driver gets through the
 * invalidation queue of a full machine, programmed only through MMIO and
 * guest memory: the ring is filled once with 128-bit descriptors, then the
 * driver moves IQT by a ring-full minus one at a time (one 32-bit MMIO
 * write per batch, number API) and the unit processes up to it. The rate is
 * the fastest of several rounds (the machine is shared: preemption only
 * ever adds time). Checks that IQH caught up and no queue error (FSTS.IQE)
 * was raised. The `qi` target (embedding.ts) is on this rate.
 */
import { createMachine, VTD_BASE } from '../host/src/machine.js';
import { iotlbDesc, IOTLB_DESC } from '../host/src/vtd/spec/descriptors.js';
import { FSTS, GCMD, REG } from '../host/src/vtd/spec/registers.js';
import type { QiResult } from './report/schema.js';
import { nowNs } from './harness/target.js';

const BASE = Number(VTD_BASE);
const { GSTS, IQH, IQT, IQA } = REG;
/** Ring of 256 128-bit descriptors (IQA.QS = 0, DW = 0) at this guest-physical address. */
const QUEUE_GPA = 0x20_0000, RING = 256, DESC_BYTES = 16;
/** §6.5.2.3 IOTLB invalidate descriptor, domain-selective, DID 1 (its qw0 fits 32 bits; qw1 is 0). */
const IOTLB_DSI_QW0 = Number(iotlbDesc(IOTLB_DESC.G_DOMAIN, 1)[0]);

/** Runs at least `descriptors` descriptors through the queue and reports the rate. */
export async function measureQueuedInvalidation(descriptors: number): Promise<QiResult> {
  const m = await createMachine({ ramMib: 16 });
  const ring = new Uint8Array(RING * DESC_BYTES);
  const view = new DataView(ring.buffer);
  for (let i = 0; i < RING; i++) view.setUint32(i * DESC_BYTES, IOTLB_DSI_QW0, true);
  m.ram.write(BigInt(QUEUE_GPA), ring);
  m.mmioWrite64(BASE + IQA, QUEUE_GPA, 0);
  m.mmioWrite64(BASE + IQT, 0, 0);
  m.mmioWrite32(BASE + REG.GCMD, GCMD.QIE);
  if ((m.mmioRead32(BASE + GSTS) & GCMD.QIE) === 0) throw new Error('GSTS.QIES did not set after GCMD.QIE');
  const batch = RING - 1;
  let tail = 0, done = 0;
  const run = (n: number): void => {
    for (let k = 0; k < n; k++) {
      tail = (tail + batch) % RING;
      m.mmioWrite32(BASE + IQT, tail * DESC_BYTES);
    }
    done += n * batch;
  };
  run(64); // warm-up
  const rounds = 8;
  const perRound = Math.max(1, Math.ceil(descriptors / batch / rounds));
  let best = Infinity;
  done = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = nowNs();
    run(perRound);
    best = Math.min(best, (nowNs() - t0) / (perRound * batch));
  }
  if (m.mmioRead32(BASE + REG.FSTS) & FSTS.IQE) throw new Error('the queue reported an invalidation queue error (FSTS.IQE)');
  if (m.mmioRead32(BASE + IQH) !== tail * DESC_BYTES) throw new Error(`IQH 0x${m.mmioRead32(BASE + IQH).toString(16)} did not reach IQT 0x${(tail * DESC_BYTES).toString(16)}`);
  return {
    descriptorsPerSecond: 1e9 / best, descriptors: done,
    note: `IOTLB domain-selective descriptors, ${batch} per IQT write (32-bit MMIO, number API), 128-bit ring of ${RING}, fastest of ${rounds} rounds`,
  };
}
