/**
 * An Arm VM with a nested SMMUv3: the guest sees an Arm machine whose SMMU
 * (stage 1 only, with SubstreamIDs) it programs through MMIO and its own
 * RAM; its devices really DMA through the host's physical SMMU with their
 * physical StreamIDs. The VMM keeps the two in step the way QEMU's
 * accelerated SMMUv3 and Linux's iommufd do (the `bind_pasid_table` design,
 * ARCHITECTURE.md "Host side"):
 *
 * - Host objects: an IOAS with guest RAM mapped GPA -> HPA, a nesting-parent
 *   stage 2 over it, each device bound, an SMMUv3 vIOMMU with a vDEVICE per
 *   device (virtual StreamID = the guest's requester id) and a vEVENTQ.
 * - The guest's CFGI_STE (CFGI_STE_RANGE, CFGI_ALL) is trapped: the VMM
 *   reads the guest STE and binds it as a nested HWPT (IOMMU_HWPT_DATA_ARM_SMMUV3),
 *   attached to the device. The guest's CD table — and with it every
 *   SubstreamID the guest allocated — is then the guest's alone: the
 *   physical SMMU fetches it through stage 2.
 * - The guest's TLBI_NH_* / TLBI_NSNH_ALL / CFGI_CD(_ALL) / ATC_INV pass
 *   through raw to the vIOMMU, which fills in the VMID and maps vSID -> pSID.
 * - Stage-1 events the physical SMMU logs for a device come back through
 *   the vEVENTQ with the vSID and go into the guest's event queue.
 *
 * A guest STE the host refuses (EIO) leaves the stream aborting; logged.
 */
import { createArmMachine, type ArmMachine } from '../arm-machine.js';
import type { DeviceKind } from '../devices/registry.js';
import { isHostIommuError } from '../hostiommu/errors.js';
import type { HostIommu } from '../hostiommu/host-iommu.js';
import { get } from '../smmu/spec/bits.js';
import { CMD } from '../smmu/spec/commands.js';
import { formatBdf, parseBdf, type Sid } from '../types.js';
import type { ArmPhysicalHost } from './arm-host.js';

/** A device of the VM: physical StreamID `hostSid` shown to the guest at `bdf` (its vSID). */
export interface ArmVmDeviceConfig {
  readonly bdf: string;
  readonly hostSid: Sid;
  readonly kind: DeviceKind;
}

/** What an Arm VM is built from. */
export interface ArmVmConfig {
  /** VM name (the host context's owner; default "arm-vm"). */
  readonly name?: string;
  readonly devices: readonly ArmVmDeviceConfig[];
  /** vEVENTQ depth (default 64). */
  readonly eventDepth?: number;
  /** VMM log lines (binds, refused STEs, forwarded events). */
  readonly log?: (msg: string) => void;
}

/** One device of the VM. */
export interface ArmVmDevice {
  /** Virtual StreamID (the guest's requester id). */
  readonly vsid: Sid;
  /** Physical StreamID. */
  readonly psid: number;
  /** Host device object id. */
  readonly devId: number;
  /** The nested HWPT bound from the guest's STE (undefined: none yet). */
  hwpt?: number;
  /** The guest STE doublewords 0-1 that HWPT holds. */
  ste?: readonly [bigint, bigint];
}

/** Host object ids of the VM. */
export interface ArmVmObjects {
  readonly ioas: number;
  readonly parent: number;
  readonly viommu: number;
  readonly veventq: number;
}

/** Guest commands the VMM hands to the vIOMMU as they are. */
const PASS_THROUGH: ReadonlySet<string> = new Set(['TLBI_NH_ALL', 'TLBI_NH_ASID', 'TLBI_NH_VA', 'TLBI_NH_VAA', 'TLBI_NSNH_ALL', 'CFGI_CD', 'CFGI_CD_ALL', 'ATC_INV']);

/** A VM over an ArmPhysicalHost with the guest's SMMUv3 nested on the physical one. */
export class ArmNestedVm {
  /** Log lines of the VMM (bounded), newest last. */
  readonly logLines: string[] = [];
  private closed = false;

  private constructor(
    readonly host: ArmPhysicalHost,
    readonly config: ArmVmConfig,
    /** What the guest sees. */
    readonly machine: ArmMachine,
    /** The VM's host IOMMU context. */
    readonly ctx: HostIommu,
    readonly ids: ArmVmObjects,
    /** Devices by vSID. */
    readonly devices: ReadonlyMap<number, ArmVmDevice>,
  ) {}

  /**
   * Builds the guest machine and the host objects over devices the host has
   * (`host.addDevice`); throws (leaving nothing behind) when the host refuses.
   */
  static async create(host: ArmPhysicalHost, config: ArmVmConfig): Promise<ArmNestedVm> {
    const psids = new Map(config.devices.map((d, i) => [parseBdf(d.bdf, `devices[${i}].bdf`) as number, d.hostSid]));
    const machine = await createArmMachine({
      profile: 'default', smmu: { stage2: false }, devices: config.devices.map((d) => ({ bdf: d.bdf, kind: d.kind })),
      backing: { ram: host.guestRam, portFor: (vsid) => host.smmu.portFor(psids.get(vsid)!) },
    });
    const ctx = host.platform.createContext(config.name ?? 'arm-vm');
    let vm: ArmNestedVm | undefined;
    try {
      const ioas = ctx.ioasAlloc();
      ctx.ioasMap(ioas, { iova: host.guestRam.gpaBase, hpa: host.guestRam.hpaBase, len: host.guestRam.size });
      const parent = ctx.hwptAllocPaging(ioas, { nestParent: true });
      const devices = new Map<number, ArmVmDevice>();
      for (const [vsid, psid] of psids) devices.set(vsid, { vsid, psid, devId: ctx.bindDevice(host.platform.openDevice(psid)) });
      const first = devices.values().next().value;
      if (first === undefined) throw new Error('devices: a VM needs at least one device');
      const viommu = ctx.viommuAlloc(first.devId, parent, 'arm-smmuv3');
      for (const d of devices.values()) ctx.vdeviceAlloc(viommu, d.devId, d.vsid);
      const veventq = ctx.veventqAlloc(viommu, config.eventDepth ?? 64, () => vm?.forwardEvents());
      vm = new ArmNestedVm(host, config, machine, ctx, { ioas, parent, viommu, veventq }, devices);
    } catch (e) {
      ctx.close();
      throw e;
    }
    machine.smmu.onCommand = (name, words) => vm!.onGuestCommand(name, words);
    return vm;
  }

  /** The VM device the guest sees at `bdf`; throws naming it if none. */
  device(bdf: string | number): ArmVmDevice {
    const vsid = typeof bdf === 'number' ? bdf : parseBdf(bdf);
    const d = this.devices.get(vsid);
    if (d === undefined) throw new Error(`bdf: the VM has no device at ${formatBdf(vsid)}`);
    return d;
  }

  /** A VMM log line. */
  log(msg: string): void {
    this.logLines.push(msg);
    if (this.logLines.length > 256) this.logLines.shift();
    this.config.log?.(msg);
  }

  /** A command the guest's SMMU executed: STE changes rebind, invalidations pass through. */
  private onGuestCommand(name: string, words: readonly bigint[]): void {
    if (this.closed) return;
    if (name === 'CFGI_STE') this.syncStreams(get(words, CMD.SID), get(words, CMD.SID));
    else if (name === 'CFGI_STE_RANGE') {
      const n = 2 ** (get(words, CMD.Range) + 1);
      const first = Math.floor(get(words, CMD.SID) / n) * n;
      this.syncStreams(first, first + n - 1);
    } else if (PASS_THROUGH.has(name)) this.passThrough(name, words);
  }

  private passThrough(name: string, words: readonly bigint[]): void {
    try {
      this.ctx.hwptInvalidate(this.ids.viommu, [{ cmd: [words[0]!, words[1]!] }]);
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      this.log(`vmm: guest ${name} not passed to the host: ${e.message}`);
    }
  }

  /** Re-reads the guest STEs of vSIDs first..last that are VM devices. */
  private syncStreams(first: number, last: number): void {
    for (const d of this.devices.values()) if (d.vsid >= first && d.vsid <= last) this.bindGuestSte(d);
  }

  /**
   * Binds the device's current guest STE: a refused one (EIO) aborts the
   * stream; a host failure (ENOMEM, ...) leaves the previous binding. Guest
   * input never makes this throw.
   */
  private bindGuestSte(d: ArmVmDevice): void {
    const got = this.machine.smmu.guestSte(d.vsid);
    const want: [bigint, bigint] = 'type' in got ? [0n, 0n] : [got.words[0]!, got.words[1]!];
    if (d.ste && d.ste[0] === want[0] && d.ste[1] === want[1]) return;
    const hwpt = this.allocGuestSte(d, want) ?? this.allocGuestSte(d, [0n, 0n]);
    if (hwpt === undefined) return;
    try {
      if (d.hwpt === undefined) this.ctx.attach(d.devId, hwpt);
      else this.ctx.replace(d.devId, hwpt);
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      this.ctx.destroy(hwpt);
      this.log(`vmm: binding vSID 0x${d.vsid.toString(16)} failed on the host (${e.message}); the previous binding stays`);
      return;
    }
    if (d.hwpt !== undefined) this.ctx.destroy(d.hwpt);
    d.hwpt = hwpt;
    d.ste = want;
    this.log(`vmm: vSID 0x${d.vsid.toString(16)} -> pSID 0x${d.psid.toString(16)}: nested HWPT ${hwpt} from the guest STE 0x${want[0].toString(16)}`);
  }

  /** A nested HWPT for `ste`, or undefined (logged) when the host refuses it. */
  private allocGuestSte(d: ArmVmDevice, ste: [bigint, bigint]): number | undefined {
    try {
      return this.ctx.hwptAllocNested(this.ids.viommu, { ste });
    } catch (e) {
      if (!isHostIommuError(e)) throw e;
      this.log(`vmm: guest STE 0x${ste[0].toString(16)} of vSID 0x${d.vsid.toString(16)} refused by the host (${e.message})${ste[0] === 0n ? '' : '; the stream aborts'}`);
      return undefined;
    }
  }

  /** Moves every vEVENTQ record into the guest's event queue. */
  forwardEvents(): void {
    for (const r of this.ctx.veventqRead(this.ids.veventq)) {
      const ok = this.machine.smmu.injectEvent(r.record);
      this.log(`vmm: event 0x${(r.record[0]! & 0xffn).toString(16)} for vSID 0x${(r.record[0]! >> 32n).toString(16)} -> guest event queue${ok ? '' : ' (lost: the guest queue is off or full)'}`);
    }
  }

  /** Tears the VM down: every host object (the devices go back to blocked). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.close();
  }
}

