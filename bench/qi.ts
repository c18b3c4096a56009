/**
 * Queued-invalidation throughput: descriptors per second a guest driver gets
 * through the invalidation queue, programmed only through MMIO and guest
 * memory on a full machine (host/src/machine.ts). Measured when the machine
 * API is available; otherwise the result says why it is missing.
 */
import type { QiResult } from './report/schema.js';

/** Measures `descriptors` IOTLB-invalidation descriptors through the queue. */
export async function measureQueuedInvalidation(descriptors: number): Promise<QiResult> {
  void descriptors;
  return { missing: 'machine API (host/src/machine.ts createMachine) not available yet' };
}
