/**
 * What the two physical hosts under a VMM share (physical-host.ts with a
 * VT-d-shaped physical IOMMU, arm-host.ts with a physical SMMUv3): a wasm
 * core whose RAM is host memory, laid out from a list of host-physical
 * regions with the VM's RAM among them; host memory; the host object model;
 * the VM's RAM as a window of host memory. Each host adds its IOMMU.
 */
import type { Core } from '../core/core.js';
import { loadDefaultCore } from '../core/default-core.js';
import { GuestMemory } from '../core/guest-memory.js';
import type { HostPlatform } from '../hostiommu/platform.js';
import type { Gpa, Hpa } from '../types.js';

/** Most RAM a host gives its VM, in MiB. */
export const MAX_GUEST_RAM_MIB = 1024;

/** A physical host whose VM's RAM (a window of host memory) is of type `R`. */
export abstract class HostBase<R extends GuestMemory> {
  protected constructor(
    /** The physical IOMMU's core; its RAM is host memory. */
    readonly core: Core,
    /** Host-physical memory (untranslated). */
    readonly mem: GuestMemory,
    /** The host object model. */
    readonly platform: HostPlatform,
    /** The VM's RAM in host memory. */
    readonly guestRam: R,
  ) {}

  /** Host-physical address of guest-physical `gpa`. */
  abstract hpaOf(gpa: Gpa): Hpa;
}

/** What a host's build starts from. */
export interface HostStart {
  /** The core whose RAM is host memory. */
  readonly core: Core;
  /** Host-physical memory over every region. */
  readonly mem: GuestMemory;
  /** The VM's RAM in MiB (checked). */
  readonly mib: number;
}

/**
 * The host's core (`core`, or the release build loaded) with its host
 * memory: `regions(bytes)` lists [host-physical base, size] given the VM's
 * RAM size in bytes. `guestRamMib` (default 64) is checked first: an Error
 * naming it, before anything is loaded.
 */
export async function startHost(o: { readonly guestRamMib?: number; readonly core?: Core }, regions: (guestBytes: number) => readonly (readonly [bigint, number])[]): Promise<HostStart> {
  const mib = o.guestRamMib ?? 64;
  if (!Number.isInteger(mib) || mib < 2 || mib > MAX_GUEST_RAM_MIB) throw new Error(`guestRamMib: ${String(mib)} is not an integer in 2..${MAX_GUEST_RAM_MIB}`);
  const core = o.core ?? (await loadDefaultCore());
  for (const [base, size] of regions(mib * 0x10_0000)) core.addRam(base, size);
  return { core, mem: new GuestMemory(core), mib };
}
