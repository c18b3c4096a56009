/**
 * What platform firmware does to the PCI hierarchy before the OS runs:
 * places every memory BAR naturally aligned in the MMIO window, opens each
 * root port's memory window around the BARs of its secondary bus (1 MiB
 * granular), and turns on memory decoding and bus mastering.
 */
import type { PciBus, PciFunction } from './bus.js';
import { PciBridge } from './bridge.js';
import { CMD, CFG } from './config-space.js';

const MIB = 0x10_0000n;
const alignUp = (v: bigint, a: bigint): bigint => ((v + a - 1n) / a) * a;

/** Assigns BARs from `base` (below `limit`) and enables the functions; returns the first free address. */
export function enumerate(bus: PciBus, base: bigint, limit: bigint): bigint {
  const fns = bus.list();
  const endpoints = fns.filter((f) => !(f instanceof PciBridge) && f.sid >> 8 === 0);
  let next = placeBars(endpoints, base, limit);
  for (const bridge of fns.filter((f): f is PciBridge => f instanceof PciBridge)) {
    const start = alignUp(next, MIB);
    const end = placeBars([...bridge.segment.values()], start, limit);
    const size = alignUp(end === start ? start + MIB : end, MIB) - start;
    bridge.setWindow(start, size);
    enable(bridge);
    next = start + size;
  }
  return next;
}

function placeBars(fns: readonly PciFunction[], base: bigint, limit: bigint): bigint {
  let next = base;
  for (const fn of [...fns].sort((a, b) => a.sid - b.sid)) {
    fn.config.bars.forEach((b, i) => {
      const size = BigInt(b.spec.size);
      const at = alignUp(next, size > 0x1000n ? size : 0x1000n);
      if (at + size > limit) throw new Error(`limit: the MMIO window is too small for the BARs of the machine's devices`);
      fn.config.assignBar(i, at);
      next = at + size;
    });
    enable(fn);
  }
  return next;
}

function enable(fn: PciFunction): void {
  fn.config.write(CFG.COMMAND, 2, fn.config.read(CFG.COMMAND, 2) | CMD.MEMORY | CMD.BUS_MASTER);
}
