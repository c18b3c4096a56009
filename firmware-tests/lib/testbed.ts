/**
 * A test bed for guest-driver suites: a machine with DMA test devices, a
 * guest environment over it and shorthands for the usual DMA checks.
 */
import { createMachine, type Machine, type MachineConfig } from '../../host/src/machine.js';
import { sid } from '../../host/src/types.js';
import type { DmaTestDevice } from '../../host/src/devices/dma-test/device.js';
import { type GuestEnv, GuestIommu } from '../../host/src/guest/guest-iommu.js';
import { guestEnvFor } from '../../host/src/guest/machine-env.js';

/** A booted machine plus guest-side helpers. */
export interface Testbed {
  readonly m: Machine;
  readonly env: GuestEnv;
  /** A guest driver in `mode` over the machine's unit (new root table each call). */
  guest(mode: 'legacy' | 'scalable'): GuestIommu;
  /** The DMA test device in `slot` on bus 0. */
  dev(slot: number): DmaTestDevice;
  /** Fills guest memory at `gpa` with a recognisable pattern (byte i = seed + i). */
  pattern(gpa: bigint, len: number, seed: number): Uint8Array;
}

/** Requester id of bus 0 `slot`, function 0. */
export const sidOf = (slot: number): number => slot << 3;

/** Boots a machine with DMA test devices in `slots` (default 3 and 4). */
export async function bootTestbed(config: MachineConfig & { slots?: number[] } = {}): Promise<Testbed> {
  const slots = config.slots ?? [3, 4];
  const m = await createMachine({
    ramMib: 128, ...config,
    devices: slots.map((s) => ({ bdf: `00:${s.toString(16).padStart(2, '0')}.0`, kind: 'dma-test' as const })),
  });
  const env = guestEnvFor(m);
  return {
    m, env,
    guest: (mode) => new GuestIommu(env, mode),
    dev: (slot) => m.dmaTest(sid(sidOf(slot))),
    pattern: (gpa, len, seed) => {
      const bytes = Uint8Array.from({ length: len }, (_, i) => (seed + i) & 0xff);
      for (let i = 0; i < len; i += 8) {
        let q = 0n;
        for (let b = 7; b >= 0; b--) q = (q << 8n) | BigInt(bytes[i + b] ?? 0);
        env.mem.writeU64(gpa + BigInt(i), q);
      }
      return bytes;
    },
  };
}
