/**
 * A virtual machine over a physical host: the guest sees a `Machine` (its
 * RAM, a VT-d unit it programs through MMIO, PCI devices at virtual RIDs);
 * the devices really DMA through the host's physical IOMMU with their
 * physical RIDs, and the VMM keeps the two consistent in one of two modes
 * (ARCHITECTURE.md "Host side"):
 *
 * - **shadow** (shadow.ts): for a host without nesting; each guest
 *   invalidation re-reads the guest tables for its scope and becomes IOAS
 *   map/unmap on a host second stage.
 * - **nested** (nested.ts): a guest first-stage PASID entry becomes a nested
 *   HWPT bound per (device, PASID); invalidations pass through; host page
 *   faults reach the guest's page-request queue with pRID -> vRID.
 *
 * In both the guest's unit advertises caching mode (CAP.CM = 1: the guest
 * invalidates after every table change, as QEMU requires for assigned
 * devices) and withholds in ECAP the translation types the mode cannot
 * serve (shadow: first stage and nested; nested: nested), so a guest using
 * one gets the spec's fault (guest-view.ts).
 *
 * The *emulated* mode is a plain `createMachine`: the guest's tables are
 * walked by the machine's own core and no host object model is involved.
 *
 * Host objects of one VM: an IOAS with guest RAM mapped GPA -> HPA, a fault
 * queue, a nesting-parent paging HWPT over the IOAS, each device bound, a
 * vIOMMU with a vDEVICE per device (pRID -> vRID) and a PASID set in the
 * global namespace. A failure while building them closes the context: no
 * object, pinned page or PASID outlives a failed `create`.
 */
import { createMachine, type Machine, type MachineConfig } from '../machine.js';
import type { DeviceKind, ModelDevice } from '../devices/registry.js';
import type { HostIommu } from '../hostiommu/host-iommu.js';
import type { IommuGroups } from '../hostiommu/groups.js';
import { parseBdf, formatBdf, sid, type Sid, type Iova, type Pasid } from '../types.js';
import { ECAP } from '../vtd/spec/registers.js';
import type { InvalidationEvent } from '../vtd/cache-invalidation.js';
import type { PageGroupResponse } from '../vtd/prq/page-request.js';
import type { PageResponseCode } from '../vtd/spec/page-request.js';
import { hostPort, type HostDmaFault } from './host-port.js';
import type { PhysicalHost } from './physical-host.js';
import { NestedMode } from './nested.js';
import { ShadowMode } from './shadow.js';
import { VcmdPasidAllocator } from './vcmd-pasids.js';

/** The vIOMMU modes a VirtualMachine runs (emulated = createMachine). */
export type VmMode = 'shadow' | 'nested';

/** ECAP translation types the guest's unit does not offer, per mode (what the VMM cannot serve, §11.4.3). */
const WITHHELD: Record<VmMode, bigint> = { shadow: ECAP.FSTS | ECAP.NEST, nested: ECAP.NEST };

/** A device of the VM: the physical device `hostSid` shown to the guest at `bdf`. */
export interface VmDeviceConfig {
  /** Where the guest sees it ("BB:DD.F"; its vRID). */
  readonly bdf: string;
  /** Its physical requester id on the host (pRID); the host must have a device there. */
  readonly hostSid: Sid;
  /** Device model. */
  readonly kind: DeviceKind;
  /**
   * The guest gets a subdevice (mediated / Scalable-IOV slice,
   * hostiommu/subdevice.ts) of `hostSid` rather than the device: the VMM
   * binds the parent once, allocates one subdevice per such VM device and
   * attaches the subdevice wherever it would attach a device; the device's
   * requests without PASID reach the host as the parent's RID tagged with
   * the subdevice's default PASID. Shadow mode on the cdev or vdpa path.
   */
  readonly subdevice?: boolean;
  /**
   * The subsystem this device comes by when it differs from the VM's
   * (`VmConfig.hostPath`): 'cdev' (a VFIO device) or 'vdpa' (a vhost-vdpa
   * device), so that one VM has both, e.g. in one guest domain and PASID;
   * each shadow domain is then followed by both subsystems
   * (shadow-spaces.ts). Shadow mode; not on the group path.
   */
  readonly hostPath?: 'cdev' | 'vdpa';
}

/** How a VM takes its devices from the host (VmConfig.hostPath). */
export type HostPath = 'cdev' | 'group' | 'vdpa';

/** What a VM is built from. */
export interface VmConfig {
  /** VM name (the host context's owner; default "vm"). */
  readonly name?: string;
  readonly mode: VmMode;
  readonly devices: readonly VmDeviceConfig[];
  /** Host PASIDs the VM may hold (its PASID set's quota; default 16). */
  readonly pasidQuota?: number;
  /**
   * How the VM gets its devices (shadow mode): 'cdev' (default) binds each
   * in the VM's iommufd context; 'group' takes them through VFIO's legacy
   * interface, a container per guest domain joined by IOMMU group
   * (shadow-spaces.ts; `groups` is the host's topology); 'vdpa' binds them
   * as 'cdev' does but they are vhost-vdpa devices: each guest domain's
   * mappings reach the host as vhost IOTLB UPDATE / INVALIDATE messages.
   * Nested mode needs 'cdev'. Not given: 'cdev', unless a device's driver
   * offers no VFIO cdev (`DeviceInfo.cdev` false) and `groups` is given in
   * shadow mode: then the VM falls back to 'group' (logged).
   */
  readonly hostPath?: HostPath;
  /** The host's IOMMU groups (hostPath 'group'). */
  readonly groups?: IommuGroups;
  /** VMM log lines (binds, forwarded faults, refused guest requests). */
  readonly log?: (msg: string) => void;
  /** Work units one guest register access may cause in the VMM (default VMM_WORK_BUDGET; vmm/work-budget.ts). */
  readonly workBudget?: number;
  /** createMachine options of the guest machine: its own core (e.g. a coverage build; default a new release core), internal-error and interrupt sinks. */
  readonly guest?: Pick<MachineConfig, 'core' | 'onInternalError' | 'onInterrupt' | 'onDeviceInterrupt'>;
}

/** One device of a VM. */
export interface VmDevice {
  readonly vrid: Sid;
  readonly prid: Sid;
  /** Host device (or subdevice) object id in the VM's context (0 on the group path: its container holds it). */
  readonly devId: number;
  /** A subdevice's default PASID (the host PASID its requests without PASID carry). */
  readonly defaultPasid?: Pasid;
  /** The subsystem it comes by (its `VmDeviceConfig.hostPath`, else the VM's). */
  readonly hostPath: HostPath;
  readonly model: ModelDevice;
}

/** Host object ids of the VM. */
export interface VmObjects {
  readonly ioas: number;
  readonly fault: number;
  readonly parent: number;
  /** The vIOMMU object (0 on the group path: no device is bound in the VM's context). */
  readonly viommu: number;
  readonly pasidSet: number;
}

/** What a mode handler does with guest invalidations and host events. */
export interface ModeHandler {
  /** A guest invalidation, as the guest's unit ran it (VtdUnit.onInvalidate). */
  onInvalidate(event: InvalidationEvent): void;
  /** A host fault-queue group became readable. */
  onFaultReady?(): void;
  /** The guest answered a page group of `vrid`. */
  onGuestResponse?(vrid: Sid, r: PageGroupResponse): void;
  /** A non-recoverable host DMA fault of a device. */
  onHostFault?(dev: VmDevice, f: HostDmaFault): void;
  /** A DMA of a device with a guest PASID that has no host PASID: the fault reason recorded for the guest, if any. */
  onUnmappedPasid?(dev: VmDevice, gpasid: Pasid, iova: Iova, write: boolean): number | undefined;
  /** The VM device of physical device `prid` whose guest PASID `gpasid` is attached on the host (a subdevice's own PASID). */
  requester?(prid: Sid, gpasid: Pasid): VmDevice | undefined;
  /** The device `vrid` was reset: forget what it had outstanding. */
  onDeviceReset?(vrid: Sid): void;
  /** Resets the host side of a device the mode placed itself (group path); undefined: the VM's context has it. */
  resetDevice?(dev: VmDevice): number | undefined;
  /** Drops every binding (VM teardown). */
  teardown?(): void;
}

/** A VM: the guest-visible machine plus its host objects and mode. */
export class VirtualMachine {
  /** Log lines of the VMM (bounded), newest last. */
  readonly logLines: string[] = [];
  private handler!: ModeHandler;
  /** The virtual-command PASID backend (nested mode). */
  private vcmd: VcmdPasidAllocator | undefined;
  private closed = false;

  private constructor(
    readonly host: PhysicalHost,
    readonly config: VmConfig,
    /** The path its devices come by: `config.hostPath`, or where it fell back to (VmConfig.hostPath). */
    readonly hostPath: HostPath,
    /** What the guest sees. */
    readonly machine: Machine,
    /** The VM's host IOMMU context. */
    readonly ctx: HostIommu,
    readonly ids: VmObjects,
    /** Devices by vRID. */
    readonly devices: ReadonlyMap<number, VmDevice>,
  ) {}

  /** Builds the guest machine and the host objects; throws (leaving nothing behind) when the host refuses. */
  static async create(host: PhysicalHost, config: VmConfig): Promise<VirtualMachine> {
    let vm: VirtualMachine | undefined;
    const wb = config.workBudget;
    if (wb !== undefined && (!Number.isSafeInteger(wb) || wb < 1)) throw new Error(`workBudget: ${String(wb)} is not a positive integer`);
    if (config.hostPath !== undefined && !['cdev', 'group', 'vdpa'].includes(config.hostPath)) {
      throw new Error(`config.hostPath: ${String(config.hostPath)} is not 'cdev', 'group' or 'vdpa'`);
    }
    if ((config.hostPath === 'group' || config.hostPath === 'vdpa') && config.mode !== 'shadow') {
      throw new Error(`config.hostPath: the ${config.hostPath} path has no nesting; use mode "shadow"`);
    }
    if (config.hostPath === 'group' && !config.groups) throw new Error('config.groups: the group path needs the host\'s IOMMU groups');
    const hostPath = hostPathOf(host, config);
    checkDevicePaths(config, hostPath);
    const sub = config.devices.findIndex((d) => d.subdevice);
    if (sub >= 0 && (config.mode !== 'shadow' || hostPath === 'group')) {
      throw new Error(`devices[${sub}].subdevice: subdevices are for shadow mode on the cdev or vdpa path`);
    }
    const prids = new Map(config.devices.map((d, i) => [parseBdf(d.bdf, `devices[${i}].bdf`), d.hostSid]));
    const subdevices = new Set<number>(config.devices.filter((d) => d.subdevice).map((d) => parseBdf(d.bdf)));
    const machine = await createMachine({
      ...config.guest,
      profile: 'default',
      iommu: { scalableMode: true, cachingMode: true, awBits: 48, virtualCommands: config.mode === 'nested' },
      devices: config.devices.map((d) => ({ bdf: d.bdf, kind: d.kind })),
      backing: {
        ram: host.guestRam,
        ecapWithheld: WITHHELD[config.mode],
        portFor: (vrid) => hostPort(host, prids.get(vrid)!, {
          hostPasid: (g) => vm?.ctx.guestPasids.hostOf(g),
          onFault: (f) => vm?.hostFault(vrid, f),
          untaggedPasid: subdevices.has(vrid) ? () => vm?.devices.get(vrid)?.defaultPasid : undefined,
          onUnmappedPasid: (gpasid, iova, write) => vm?.unmappedPasid(vrid, gpasid, iova, write),
        }),
      },
    });
    const ctx = host.platform.createContext(config.name ?? 'vm');
    try {
      const { ids, devices } = buildHostObjects(ctx, host, machine, { ...config, hostPath }, { prids, subdevices }, () => vm?.handler.onFaultReady?.());
      vm = new VirtualMachine(host, config, hostPath, machine, ctx, ids, devices);
    } catch (e) {
      ctx.close();
      throw e;
    }
    vm.start();
    return vm;
  }

  private start(): void {
    this.boot();
    this.machine.vtd.onInvalidate = (event) => this.handler.onInvalidate(event);
    this.machine.vtd.setPageResponseRouter((vrid) => ({ pageGroupResponse: (r) => this.handler.onGuestResponse?.(vrid, r) }));
    for (const prid of new Set([...this.devices.values()].map((d) => d.prid))) {
      this.host.owners.set(prid, { vm: this, pageResponse: (_sid, hpasid, grp, code) => this.pageResponse(prid, hpasid, grp, code) });
    }
  }

  /** A new mode handler (and virtual-command backend) with nothing bound: at creation and after `reset`. */
  private boot(): void {
    if (this.config.hostPath === undefined && this.hostPath === 'group') {
      this.log('vmm: a device has no VFIO cdev (its driver offers the group interface only): the VM takes its devices through VFIO groups');
    }
    if (this.config.mode === 'nested') {
      const nested = new NestedMode(this);
      this.handler = nested;
      this.vcmd = new VcmdPasidAllocator(this, nested);
      this.machine.vtd.virtualCommands.backend = this.vcmd;
    } else this.handler = new ShadowMode(this);
  }

  /**
   * System reset of the VM (a guest reboot, as QEMU's system_reset with
   * assigned devices): each device is reset on the host first (page groups
   * in flight answered Response Failure, as `resetDevice` does), then the
   * mode drops every binding, shadow domain, nested HWPT, pass-through
   * HWPT, VFIO container and guest PASID it made, and the PASIDs the guest
   * held through virtual commands go back to the VM's set; fault records
   * nobody read are discarded, the VMM log is cleared, and the guest machine
   * returns to power-on state (VT-d unit, devices, PCI enumeration). Guest
   * RAM is kept (the caller owns its contents, as a reboot keeps memory).
   * The host objects `create` made stay (IOAS with guest RAM, fault queue,
   * nesting parent, bound devices and subdevices, vIOMMU and vDEVICEs,
   * PASID set), so the VM is as `create` left it: `host.platform.usage()`
   * and `ctx.counts()` read as they did then. Throws on a closed VM.
   */
  reset(): void {
    if (this.closed) throw new Error('reset: the VM is closed');
    for (const d of this.devices.values()) this.hostReset(d);
    this.handler.teardown?.();
    this.vcmd?.releaseAll();
    this.ctx.faultRead(this.ids.fault);
    this.logLines.length = 0;
    this.machine.reset();
    this.boot();
  }

  /** The mode logic (NestedMode or ShadowMode) for inspection. */
  get modeHandler(): ModeHandler {
    return this.handler;
  }

  /** The VM device the guest sees at `bdf`; throws naming it if none. */
  device(bdf: string | number): VmDevice {
    const vrid = typeof bdf === 'number' ? bdf : parseBdf(bdf);
    const d = this.devices.get(vrid);
    if (d === undefined) throw new Error(`bdf: the VM has no device at ${formatBdf(vrid)}`);
    return d;
  }

  /** The VM device with physical RID `prid`, if any. */
  deviceOfPrid(prid: Sid): VmDevice | undefined {
    return [...this.devices.values()].find((d) => d.prid === prid);
  }

  /** A VMM log line. */
  log(msg: string): void {
    this.logLines.push(msg);
    if (this.logLines.length > 256) this.logLines.shift();
    this.config.log?.(msg);
  }

  /**
   * Function-level reset of the device at `bdf` (e.g. the guest wrote FLR):
   * the host resets the physical device first — its outstanding page groups
   * are answered (Response Failure) so nothing stays in flight — then the
   * device model returns to power-on state. Returns the groups answered.
   */
  resetDevice(bdf: string): number {
    const d = this.device(bdf);
    const groups = this.hostReset(d);
    this.handler.onDeviceReset?.(d.vrid);
    d.model.reset();
    this.log(`vmm: reset ${formatBdf(d.vrid)} (pRID ${d.prid.toString(16)}): ${groups} page group(s) answered`);
    return groups;
  }

  /** Resets the physical side of `d` (where the mode placed it, else in the VM's context); returns the page groups answered. */
  private hostReset(d: VmDevice): number {
    return this.handler.resetDevice?.(d) ?? (d.devId ? this.ctx.reset(d.devId) : 0);
  }

  /** Tears the VM down: mode bindings, every host object, device ownership. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handler.teardown?.();
    this.ctx.close();
    for (const d of this.devices.values()) if (this.host.owners.get(d.prid)?.vm === this) this.host.owners.delete(d.prid);
  }

  private unmappedPasid(vrid: number, gpasid: number, iova: bigint, write: boolean): number | undefined {
    const d = this.devices.get(vrid);
    return d ? this.handler.onUnmappedPasid?.(d, gpasid, iova, write) : undefined;
  }

  private hostFault(vrid: number, f: HostDmaFault): void {
    const d = this.devices.get(vrid);
    if (d) this.handler.onHostFault?.(d, f);
  }

  /**
   * A host page-group response for physical device `prid` with host PASID
   * `hpasid` goes to the VM device whose group it answers: the whole device,
   * or, on a parent of subdevices, the slice the PASID names (VT-d §6.5.2.9:
   * the response carries the PASID so the parent can tell its slices apart)
   * — the subdevice with that default PASID (its request had none: the
   * response reaches it without PASID), or the one holding that PASID. A
   * response naming no slice's PASID reaches none (logged): one slice's
   * answer never completes a sibling's group.
   */
  private pageResponse(prid: number, hpasid: number | undefined, prgi: number, code: number): void {
    const devs = [...this.devices.values()].filter((d) => d.prid === prid);
    const whole = devs.find((d) => d.defaultPasid === undefined);
    const gpasid = hpasid === undefined || hpasid === 0 ? undefined : this.ctx.guestPasids.guestOf(hpasid);
    const slice = devs.find((d) => d.defaultPasid !== undefined && d.defaultPasid === hpasid);
    const d = whole ?? slice ?? (gpasid === undefined ? undefined : this.handler.requester?.(prid, gpasid));
    if (d === undefined) {
      this.log(`vmm: page response ${formatBdf(prid)} PASID ${hpasid ?? '-'} PRGI ${prgi} names no subdevice of the VM; dropped`);
      return;
    }
    d.model.pageGroupResponse?.({ pasid: d === slice ? undefined : gpasid, prgi, code: code as PageResponseCode });
  }
}

/**
 * `config.hostPath`, or, when not given, 'group' for a shadow-mode VM with
 * the host's groups one of whose devices has no VFIO cdev, else 'cdev'.
 */
function hostPathOf(host: PhysicalHost, config: VmConfig): HostPath {
  if (config.hostPath !== undefined) return config.hostPath;
  const noCdev = config.devices.some((d) => host.platform.deviceInfo(d.hostSid)?.cdev === false); // no such device: binding it reports that
  return noCdev && config.groups !== undefined && config.mode === 'shadow' ? 'group' : 'cdev';
}

/** Throws naming `devices[i].hostPath` when a device's own path is unknown or cannot go with the VM's mode and path. */
function checkDevicePaths(config: VmConfig, vmPath: HostPath): void {
  config.devices.forEach((d, i) => {
    if (d.hostPath === undefined) return;
    if (d.hostPath !== 'cdev' && d.hostPath !== 'vdpa') throw new Error(`devices[${i}].hostPath: ${String(d.hostPath)} is not 'cdev' or 'vdpa'`);
    if (vmPath === 'group') throw new Error(`devices[${i}].hostPath: a VM on the group path takes every device through VFIO groups`);
    if (d.hostPath === 'vdpa' && config.mode !== 'shadow') throw new Error(`devices[${i}].hostPath: the vdpa path has no nesting; use mode "shadow"`);
  });
}

/** Allocates the VM's host objects (any failure propagates; the caller closes the context). */
function buildHostObjects(
  ctx: HostIommu, host: PhysicalHost, machine: Machine, config: VmConfig,
  { prids, subdevices }: { prids: Map<number, number>; subdevices: ReadonlySet<number> }, onFault: () => void,
): { ids: VmObjects; devices: Map<number, VmDevice> } {
  const ioas = ctx.ioasAlloc();
  ctx.ioasMap(ioas, { iova: 0n, hpa: host.hpaOf(0n), len: host.guestRam.size });
  const fault = ctx.faultQueueAlloc(onFault);
  const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
  const devices = new Map<number, VmDevice>();
  const legacy = config.hostPath === 'group';
  /** Bound physical devices by pRID: each binds once (EBUSY for a second VM function on it), except a parent of subdevices. */
  const bound = new Map<number, number>();
  const bind = (prid: number, parent: boolean): number => {
    const id = (parent ? bound.get(prid) : undefined) ?? ctx.bindDevice(host.platform.openDevice(prid));
    bound.set(prid, id);
    return id;
  };
  const paths = new Map<number, HostPath>(config.devices.map((d) => [parseBdf(d.bdf), d.hostPath ?? config.hostPath!]));
  for (const [vrid, prid] of prids) {
    if (legacy) config.groups!.groupOf(prid); // ENOENT for a device outside the topology
    const model = machine.device(sid(vrid));
    const hostPath = paths.get(vrid)!;
    if (subdevices.has(vrid)) {
      const devId = ctx.subdeviceAlloc(bind(prid, true));
      devices.set(vrid, { vrid, prid, devId, model, hostPath, defaultPasid: ctx.subdevicePasid(devId) });
    } else devices.set(vrid, { vrid, prid, devId: legacy ? 0 : bind(prid, false), model, hostPath });
  }
  if (devices.size === 0) throw new Error('devices: a VM needs at least one device');
  // The group path binds devices in per-domain containers: no vIOMMU object in the VM's context.
  // A subdevice has no vDEVICE of its own (its requests are the parent's RID): the vIOMMU is over a bound device.
  const viommu = legacy ? 0 : ctx.viommuAlloc(bound.values().next().value!, parent);
  if (!legacy) for (const d of devices.values()) if (d.defaultPasid === undefined) ctx.vdeviceAlloc(viommu, d.devId, d.vrid);
  const pasidSet = ctx.pasidSetAlloc(config.pasidQuota ?? 16);
  return { ids: { ioas, fault, parent, viommu, pasidSet }, devices };
}
