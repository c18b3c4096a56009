/**
 * Generators for what the first fuzzer lacked (issue 19): ATS traffic,
 * guest memory full of fuzz data where the unit or a device reads it, and
 * snapshot/restore in the middle of an input.
 *
 * - ATS (PCIe §10.5.1, VT-d §4.2): the `ats` device (a viommu extension,
 *   FORMAT.md) with ATS enabled in its configuration space sends
 *   translation requests (CMD 3, or a READ/WRITE that misses its
 *   device-TLB) and then translated requests (AT=10b) that the unit checks
 *   against the root/context entries (VT-d §4.2.5); device-TLB
 *   invalidations (queued descriptor type 3, §6.5.2.5) flush it.
 * - Noise pages: a whole run of random 64-bit words (random bits,
 *   interesting values, pointers to pages the input uses) written over a
 *   page the input points at: root, context, PASID and paging tables,
 *   invalidation and page-request queues, DMA data.
 * - `snapshot`: save and restore the machine in place (the executor checks
 *   that the restored machine snapshots to the same bytes, and later steps
 *   observe what they would have without it).
 *
 * Like pri-steps.ts, the ATS and snapshot generators expect the `default`
 * profile (mutate.ts `toDefault`).
 */
import { DeviceFunction } from '../host/src/devices/common/function.js';
import { ATS_CAPS, ATS_IDENTITY } from '../host/src/devices/ats/config.js';
import { ATS, ATS_BUFFER_SIZE, ATS_CMD } from '../host/src/devices/ats/regs.js';
import { EXT_CAP_ID } from '../host/src/pci/capabilities.js';
import { CFG, CMD } from '../host/src/pci/config-space.js';
import type { DmaPort } from '../host/src/pci/dma-port.js';
import { parseBdf } from '../host/src/types.js';
import { devTlbDesc } from '../host/src/vtd/spec/descriptors.js';
import { dmaIovas, interestingValue, pickPage, pointerPages, qiSteps } from './generate.js';
import { inRam, type FuzzInput, type RawMachine, type Step } from './input.js';
import type { Rng } from './rng.js';

/** Configuration-space offset of the ATS device's ATS capability (the same for every instance). */
const ATS_CAP = new DeviceFunction(0, ATS_IDENTITY, ATS_CAPS, {} as DmaPort).config.findExtCapability(EXT_CAP_ID.ATS);
/** ATS Control (capability + 6): Enable is bit 15, Smallest Translation Unit bits 4:0 (PCIe §10.5.1.3). */
const ATS_CTL_ENABLE = 0x8000;
/** Where a generated ATS device goes when the machine has none: the first free slot from 5 on. */
const ATS_FIRST_SLOT = 5;

const devWrite = (bdf: string, offset: number, size: 4 | 8, value: bigint): Step =>
  ({ op: 'dev.mmio.write', bdf, bar: 0, offset, size, value: BigInt.asUintN(8 * size, value) });

/** The machine's ATS device (one is added when there is none). */
function atsDevice(m: RawMachine): string {
  const have = m.devices.find((d) => d.kind === 'ats');
  if (have) return have.bdf;
  const taken = new Set(m.devices.map((d) => parseBdf(d.bdf) >> 3));
  let slot = ATS_FIRST_SLOT;
  while (taken.has(slot)) slot++;
  const bdf = `00:${slot.toString(16).padStart(2, '0')}.0`;
  m.devices = [...m.devices, { bdf, kind: 'ats' }];
  return bdf;
}

/** An IOVA the input's DMA already uses (so tables meet it), or a small page. */
function iovaFor(rng: Rng, input: FuzzInput): bigint {
  const known = dmaIovas(input);
  const base = known.length > 0 && rng.chance(0.6) ? rng.pick(known) & ~0xfffn : BigInt(rng.below(0x1_0000)) << 12n;
  return rng.chance(0.1) ? interestingValue(rng) : base + BigInt(rng.chance(0.3) ? rng.below(4096) : 0);
}

/**
 * ATS traffic from the machine's ATS device (added to `input.machine` when
 * missing): often the enable sequence (Command MEM|BME, ATS Enable), then a
 * command (translate, read, write, flush) on an IOVA the input uses, or a
 * device-TLB invalidation through the queue.
 */
export function atsSteps(rng: Rng, input: FuzzInput): Step[] {
  const bdf = atsDevice(input.machine);
  const steps: Step[] = [];
  if (rng.chance(0.5)) {
    steps.push({ op: 'pci.cfg.write', bdf, offset: CFG.COMMAND, size: 2, value: BigInt(CMD.MEMORY | CMD.BUS_MASTER) });
    steps.push({ op: 'pci.cfg.write', bdf, offset: ATS_CAP + 6, size: 2, value: BigInt(rng.chance(0.9) ? ATS_CTL_ENABLE : rng.below(0x10000)) });
  }
  if (rng.chance(0.2)) {
    const sid = parseBdf(bdf);
    return [...steps, ...qiSteps(rng, input, (r) => devTlbDesc(sid, iovaFor(r, input) & ~0xfffn, r.chance(0.3) ? 1 : 0))];
  }
  const len = rng.pick([4, 64, 4096, rng.between(1, ATS_BUFFER_SIZE)]);
  steps.push(devWrite(bdf, ATS.IOVA, 8, iovaFor(rng, input)));
  steps.push(devWrite(bdf, ATS.LEN, 4, BigInt(len)));
  steps.push(devWrite(bdf, ATS.BUF_OFF, 4, BigInt(rng.chance(0.8) ? 0 : rng.below(ATS_BUFFER_SIZE))));
  steps.push(devWrite(bdf, ATS.CMD, 4, BigInt(rng.pick([ATS_CMD.TRANSLATE, ATS_CMD.READ, ATS_CMD.WRITE, ATS_CMD.WRITE, ATS_CMD.FLUSH]))));
  steps.push({ op: 'dev.mmio.read', bdf, bar: 0, offset: ATS.STATUS, size: 4 });
  return steps;
}

/** One word of noise: random bits, an interesting value, or a pointer into a page the input uses with random low bits. */
function noiseWord(rng: Rng, input: FuzzInput, known: readonly bigint[]): bigint {
  switch (rng.below(4)) {
    case 0: return interestingValue(rng);
    case 1: return pickPage(rng, input, known) | BigInt(rng.below(0x1000));
    case 2: return BigInt(rng.u32()) | 1n; // a present bit and little else
    default: return rng.u64();
  }
}

/** A run of noise words over a page the input points at (tables, queues, DMA data): up to a whole page. */
export function noiseStep(rng: Rng, input: FuzzInput): Step | undefined {
  const known = pointerPages(input); // once: up to 512 words pick pages of one input
  const page = pickPage(rng, input, known);
  const words = rng.pick([2, 4, 32, 512, rng.between(1, 512)]);
  const first = rng.below(512 - words + 1);
  const gpa = page + BigInt(first * 8);
  if (!inRam(input.machine, gpa, 8 * words)) return undefined;
  return { op: 'mem.write', gpa, u64: Array.from({ length: words }, () => noiseWord(rng, input, known)) };
}

/** A `snapshot` step (save and restore in place). */
export const SNAPSHOT_STEP: Step = { op: 'snapshot' };
