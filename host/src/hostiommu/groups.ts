/**
 * IOMMU groups: the smallest sets of devices the platform can isolate from
 * each other (Linux iommu_group). Functions of one multi-function device
 * without ACS can DMA to each other behind the IOMMU's back, so they form
 * one group and are assigned together; a function with ACS (or a device on
 * its own) is a group alone. VFIO's legacy interface hands devices out a
 * group at a time (vfio-container.ts).
 *
 * Group ids are small integers in discovery order, as /dev/vfio/<N>.
 */
import { checkInt, fail } from './errors.js';
import type { HostPlatform } from './platform.js';
import type { Sid } from '../types.js';

/** One IOMMU group: its id and member requester ids (ascending). */
export interface IommuGroup {
  /** Group number (/dev/vfio/<id>). */
  readonly id: number;
  /** Requester ids of its devices, ascending. */
  readonly members: readonly number[];
}

/** Options of the group topology. */
export interface GroupTopologyOptions {
  /** Functions that have ACS: each is a group of its own. */
  readonly isolated?: readonly number[];
}

/** The groups of a set of physical devices. */
export class IommuGroups {
  private readonly groups: IommuGroup[] = [];
  private readonly bySid = new Map<number, IommuGroup>();

  /**
   * Groups `sids` (devices the platform has; ENOENT otherwise): functions
   * sharing bus and device number go together unless listed as isolated.
   * @param platform The platform the devices are on.
   */
  constructor(readonly platform: HostPlatform, sids: readonly number[], o: GroupTopologyOptions = {}) {
    const isolated = new Set(o.isolated ?? []);
    const byDevice = new Map<string, number[]>();
    const seen = new Set<number>();
    for (const [i, sid] of sids.entries()) {
      checkInt(sid, 0, 0xffff, `sids[${i}]`);
      platform.openDevice(sid, 'group'); // ENOENT for a device the platform lacks
      if (seen.has(sid)) fail('EEXIST', `sids[${i}]: ${sid.toString(16)} is listed twice`);
      seen.add(sid);
      const key = isolated.has(sid) ? `fn:${sid}` : String(sid >> 3);
      byDevice.set(key, [...(byDevice.get(key) ?? []), sid]);
    }
    const ordered = [...byDevice.values()].map((m) => m.sort((a, b) => a - b)).sort((a, b) => a[0]! - b[0]!);
    for (const members of ordered) {
      const g: IommuGroup = { id: this.groups.length, members };
      this.groups.push(g);
      for (const sid of members) this.bySid.set(sid, g);
    }
  }

  /** Every group. */
  list(): readonly IommuGroup[] {
    return this.groups;
  }

  /** Group `id`; ENOENT if none. */
  group(id: number): IommuGroup {
    const g = this.groups[checkInt(id, 0, 0x7fff_ffff, 'groupId')];
    if (g === undefined) fail('ENOENT', `groupId: no IOMMU group ${id}`);
    return g;
  }

  /** The group of device `sid`; ENOENT if it is in none. */
  groupOf(sid: Sid): IommuGroup {
    const g = this.bySid.get(sid);
    if (g === undefined) fail('ENOENT', `sid: ${String(sid)} is in no IOMMU group`);
    return g;
  }

  /** Members of `g` bound to some context right now (a group with one is not viable for another owner). */
  boundMembers(g: IommuGroup): number[] {
    return g.members.filter((sid) => this.platform.openDevice(sid, 'group').device.boundTo !== undefined);
  }
}
