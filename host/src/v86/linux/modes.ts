/**
 * The ways `viommu linux` and its tests run Linux's intel-iommu driver over
 * the model: which profile the unit presents, what the kernel is told, and
 * what a stray DMA read from the IDE controller must produce.
 */
import type { IommuOptions } from '../../vtd/profiles.js';

/** How the driver maps the IDE controller's DMA. */
export type LinuxTranslation = 'second-stage' | 'first-stage' | 'pass-through';

/** One way to run the driver. */
export interface LinuxMode {
  /** The `--mode` name. */
  readonly name: string;
  /** One line for `--help` and reports. */
  readonly describe: string;
  /** Capability profile of the unit. */
  readonly profile: string;
  /** VT-d options of the profile. */
  readonly iommu: Partial<IommuOptions>;
  /** Kernel parameters added to boot.ts BASE_CMDLINE. */
  readonly cmdline: string;
  /** What Linux builds for the device. */
  readonly translation: LinuxTranslation;
  /**
   * The fault reason Linux must decode for a read from the IDE controller at
   * an IOVA it never mapped: 0x06 (second stage, §7.1.3 "read access not
   * set"), 0x71 (first stage, present bit clear); pass-through reaches RAM.
   */
  readonly strayFaultReason: number | undefined;
}

/** The modes, by name. */
export const LINUX_MODES: readonly LinuxMode[] = [
  {
    name: 'legacy', describe: 'default profile without scalable mode: legacy context entries, second-stage tables, lazy invalidation',
    profile: 'default', iommu: { scalableMode: false }, cmdline: 'intel_iommu=on',
    translation: 'second-stage', strayFaultReason: 0x06,
  },
  {
    name: 'scalable', describe: 'default profile: scalable mode, first-stage tables, PASID-based invalidation',
    profile: 'default', iommu: {}, cmdline: 'intel_iommu=on,sm_on',
    translation: 'first-stage', strayFaultReason: 0x71,
  },
  {
    name: 'qemu-7.2', describe: "QEMU 7.2's registers and behaviour (the profile's defaults), second-stage tables, strict invalidation (one per unmap)",
    profile: 'qemu-7.2', iommu: {}, cmdline: 'intel_iommu=on iommu.strict=1',
    translation: 'second-stage', strayFaultReason: 0x06,
  },
  {
    name: 'strict', describe: 'default profile, scalable mode, strict invalidation (one PASID-based IOTLB flush per unmap)',
    profile: 'default', iommu: {}, cmdline: 'intel_iommu=on,sm_on iommu.strict=1',
    translation: 'first-stage', strayFaultReason: 0x71,
  },
  {
    name: 'passthrough', describe: 'default profile, scalable mode, iommu=pt: identity (PGTT pass-through) for every device',
    profile: 'default', iommu: {}, cmdline: 'intel_iommu=on,sm_on iommu=pt',
    translation: 'pass-through', strayFaultReason: undefined,
  },
];

/** The names `--mode` accepts. */
export const LINUX_MODE_NAMES: readonly string[] = LINUX_MODES.map((m) => m.name);

/** The mode called `name`; throws naming the argument for an unknown one. */
export function linuxMode(name: string): LinuxMode {
  const m = LINUX_MODES.find((x) => x.name === name);
  if (!m) throw new Error(`mode: unknown mode "${name}" (known: ${LINUX_MODE_NAMES.join(', ')})`);
  return m;
}
