/**
 * Binds the guest-driver library to a `Machine` of host/src: physical MMIO
 * through the machine's address decoder, guest RAM through its memory port,
 * and a page allocator over a RAM range reserved for the guest's tables.
 */
import type { Machine } from '../../host/src/machine.js';
import type { GuestEnv } from './guest.js';
import { PageAllocator } from './tables.js';

/** Default range the guest allocates table pages from: 16 MiB .. 64 MiB. */
export const TABLE_POOL = { start: 0x100_0000n, end: 0x400_0000n } as const;

/** A guest environment over `machine`. */
export function guestEnvFor(machine: Machine, pool: { start: bigint; end: bigint } = TABLE_POOL): GuestEnv {
  const platform = {
    mmioRead: (addr: bigint, size: 4 | 8) => machine.mmioRead(addr, size),
    mmioWrite: (addr: bigint, size: 4 | 8, value: bigint) => machine.mmioWrite(addr, size, value),
  };
  return { platform, mem: machine.ram, alloc: new PageAllocator(machine.ram, pool.start, pool.end) };
}
