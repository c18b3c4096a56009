/**
 * Queued-invalidation throughput (§6.5.2): IOTLB domain-selective
 * invalidation descriptors per second that a guest driver gets through the
 * invalidation queue of a full machine, programmed only through MMIO and
 * guest memory: the ring is filled once with 128-bit descriptors, then the
 * driver moves IQT by a ring-full minus one at a time (one MMIO write per
 * batch) and the unit processes up to it. Checks that IQH caught up and no
 * queue error (FSTS.IQE) was raised.
 */
import { createMachine, VTD_BASE } from '../host/src/machine.js';
import type { QiResult } from './report/schema.js';
import { nowNs } from './harness/target.js';

/** §11.4 register offsets used here. */
const GCMD = 0x18n, GSTS = 0x1cn, FSTS = 0x34n, IQH = 0x80n, IQT = 0x88n, IQA = 0x90n;
const QIE = 1n << 26n, FSTS_IQE = 1n << 4n;
/** Ring of 256 128-bit descriptors (IQA.QS = 0, DW = 0) at this guest-physical address. */
const QUEUE_GPA = 0x20_0000n, RING = 256, DESC_BYTES = 16;
/** §6.5.2.3 IOTLB invalidate descriptor, type 2, G = 10 (domain-selective), DID 1. */
const IOTLB_DSI_QW0 = 0x2n | (0x2n << 4n) | (1n << 16n);

/** Runs at least `descriptors` descriptors through the queue and reports the rate. */
export async function measureQueuedInvalidation(descriptors: number): Promise<QiResult> {
  const m = await createMachine({ ramMib: 16 });
  const reg = (off: bigint): bigint => m.mmioRead(VTD_BASE + off, off === GSTS || off === FSTS ? 4 : 8);
  const ring = new Uint8Array(RING * DESC_BYTES);
  const view = new DataView(ring.buffer);
  for (let i = 0; i < RING; i++) view.setBigUint64(i * DESC_BYTES, IOTLB_DSI_QW0, true);
  m.ram.write(QUEUE_GPA, ring);
  m.mmioWrite(VTD_BASE + IQA, 8, QUEUE_GPA);
  m.mmioWrite(VTD_BASE + IQT, 8, 0n);
  m.mmioWrite(VTD_BASE + GCMD, 4, QIE);
  if ((reg(GSTS) & QIE) === 0n) throw new Error('GSTS.QIES did not set after GCMD.QIE');
  const batch = RING - 1;
  let tail = 0, done = 0;
  const t0 = nowNs();
  while (done < descriptors) {
    tail = (tail + batch) % RING;
    m.mmioWrite(VTD_BASE + IQT, 8, BigInt(tail * DESC_BYTES));
    done += batch;
  }
  const ns = nowNs() - t0;
  if ((reg(FSTS) & FSTS_IQE) !== 0n) throw new Error('the queue reported an invalidation queue error (FSTS.IQE)');
  if (reg(IQH) !== BigInt(tail * DESC_BYTES)) throw new Error(`IQH 0x${reg(IQH).toString(16)} did not reach IQT 0x${(tail * DESC_BYTES).toString(16)}`);
  return {
    descriptorsPerSecond: (done / ns) * 1e9, descriptors: done,
    note: `IOTLB domain-selective descriptors, ${batch} per IQT write, 128-bit ring of ${RING}`,
  };
}
