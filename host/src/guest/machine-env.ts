/**
 * Binds the guest-driver library to a model: physical MMIO through the
 * machine's address decoder, guest RAM through its memory port, and a page
 * allocator over a RAM range reserved for the guest's tables. `guestEnvFor`
 * serves a plain `Machine`, `guestEnvForVm` a VM over a physical host
 * (vmm/virtual-machine.ts), whose guest RAM is the host's view of it.
 */
import type { Machine } from '../machine.js';
import type { VirtualMachine } from '../vmm/virtual-machine.js';
import type { GuestEnv } from './guest-iommu.js';
import { PageAllocator } from '../tables/page-allocator.js';

/** Default range the guest allocates table pages from: 16 MiB .. 64 MiB. */
export const TABLE_POOL = { start: 0x100_0000n, end: 0x400_0000n } as const;

/** The guest's MMIO: physical reads and writes through `machine`'s address decoder. */
function platformOf(machine: Machine): GuestEnv['platform'] {
  return {
    mmioRead: (addr: bigint, size: 4 | 8) => machine.mmioRead(addr, size),
    mmioWrite: (addr: bigint, size: 4 | 8, value: bigint) => machine.mmioWrite(addr, size, value),
  };
}

/** A guest environment over `machine`. */
export function guestEnvFor(machine: Machine, pool: { start: bigint; end: bigint } = TABLE_POOL): GuestEnv {
  return { platform: platformOf(machine), mem: machine.ram, alloc: new PageAllocator(machine.ram, pool.start, pool.end) };
}

/** A guest environment over VM `vm`: its machine's MMIO, its guest RAM, table pages from 16 MiB to the end of RAM. */
export function guestEnvForVm(vm: VirtualMachine): GuestEnv {
  const ram = vm.host.guestRam;
  return { platform: platformOf(vm.machine), mem: ram, alloc: new PageAllocator(ram, TABLE_POOL.start, ram.size) };
}
