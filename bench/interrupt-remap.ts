/**
 * Interrupt-remapping cost (VT-d chapter 5): nanoseconds per device MSI
 * from the device's raise to the platform's sink, on a full machine whose
 * guest programmed everything through MMIO and guest RAM:
 *
 * - `remapped, IEC hit`: default profile, the IRTE served from the
 *   interrupt-entry cache;
 * - `remapped, table read`: qemu-10.0 (no entry cache: every MSI reads its IRTE);
 * - `IRE off`: the message passes through unchanged (the floor);
 * - `blocked`: a not-present IRTE with FPD (checked, suppressed, not delivered).
 *
 * Each case reports the fastest of `rounds` rounds of `count / rounds` MSIs
 * (the machine is shared: preemption only adds time).
 *
 * Run after `npm run build`: `node dist/bench/interrupt-remap.js [count] [rounds]`.
 */
import { pathToFileURL } from 'node:url';
import { createMachine } from '../host/src/machine.js';
import { GuestInterruptRemapping, remappableMsi } from '../host/src/guest/interrupt-remapping.js';
import { GuestQueue } from '../host/src/guest/invalidation-queue.js';
import { guestEnvFor } from '../host/src/guest/machine-env.js';
import { PciDriver } from '../host/src/guest/pci-driver.js';
import { nowNs } from './harness/target.js';

/** One measured case. */
export interface InterruptRemapResult {
  readonly name: string;
  readonly nsPerMsi: number;
  readonly delivered: number;
}

const SID = 0x18;

async function measure(name: string, profile: string, setup: 'remap' | 'off' | 'blocked', count: number, rounds: number): Promise<InterruptRemapResult> {
  let delivered = 0;
  const m = await createMachine({
    profile, iommu: { scalableMode: false, awBits: 48 }, ramMib: 32,
    devices: [{ bdf: '00:03.0', kind: 'dma-test' }], onDeviceInterrupt: () => { delivered++; },
  });
  const env = guestEnvFor(m);
  const qi = new GuestQueue(env);
  qi.enable();
  const ir = new GuestInterruptRemapping(env, qi);
  if (setup !== 'off') ir.enable();
  ir.set(0, setup === 'blocked' ? { vector: 0x41, destination: 0, present: false, fpd: true } : { vector: 0x41, destination: 1 });
  const pci = new PciDriver(m);
  pci.command(SID, 0x6, true);
  pci.enableMsi(SID, remappableMsi(0).address, 0);
  const irq = m.dmaTest('00:03.0').fn.irq;
  for (let i = 0; i < 1000; i++) irq.raise(0);
  delivered = 0;
  const per = Math.max(1, Math.floor(count / rounds));
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = nowNs();
    for (let i = 0; i < per; i++) irq.raise(0);
    best = Math.min(best, (nowNs() - t0) / per);
  }
  const expected = setup === 'blocked' ? 0 : per * rounds;
  if (delivered !== expected) throw new Error(`${name}: ${delivered} interrupts delivered, expected ${expected}`);
  return { name, nsPerMsi: best, delivered };
}

/** Every case, `count` MSIs each in `rounds` rounds. */
export async function measureInterruptRemapping(count = 200_000, rounds = 20): Promise<InterruptRemapResult[]> {
  return [
    await measure('IRE off (pass-through)', 'default', 'off', count, rounds),
    await measure('remapped, IEC hit', 'default', 'remap', count, rounds),
    await measure('remapped, table read (qemu-10.0)', 'qemu-10.0', 'remap', count, rounds),
    await measure('blocked (P=0, FPD)', 'default', 'blocked', count, rounds),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const count = Number(process.argv[2] ?? 200_000);
  const rounds = Number(process.argv[3] ?? 20);
  for (const r of await measureInterruptRemapping(count, rounds)) console.log(`${r.name.padEnd(36)} ${r.nsPerMsi.toFixed(0).padStart(6)} ns/MSI`);
}
