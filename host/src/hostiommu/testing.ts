/**
 * Test support for the host object model: a platform over plain JS memory
 * (no wasm core) whose physical IOMMU writes real VT-d tables and records
 * the cache invalidations it would send to a core. Unit tests use it; the
 * core-backed tests use `TableIommu` over a `Core` directly.
 */
import { ArrayGuestMemory } from '../tables/guest-ram.js';
import { FailInjector } from './fail-nth.js';
import { HostIommuError } from './errors.js';
import { HostPages, hostRam } from './host-pages.js';
import { TableIommu, type CoreCaches, type TableIommuOptions } from './table-iommu.js';
import { HostPlatform, type PlatformOptions } from './platform.js';
import type { Did, Iova, Pasid, Sid } from '../types.js';

/** CoreCaches that records each invalidation as a short string ("iotlbPage did=1 addr=0x1000 am=0"). */
export class RecordingCaches implements CoreCaches {
  /** The invalidations in call order. */
  readonly log: string[] = [];
  invContextDevice(did: Did, sid: Sid, fm: number): void { this.log.push(`context did=${did} sid=${sid} fm=${fm}`); }
  invPasidCache(g: number, did: Did, pasid: Pasid): void { this.log.push(`pasidCache g=${g} did=${did} pasid=${pasid}`); }
  invPasidIotlb(did: Did, pasid: Pasid): void { this.log.push(`pasidIotlb did=${did} pasid=${pasid}`); }
  invPasidIotlbPage(did: Did, pasid: Pasid, addr: Iova, am: number, ih: number | boolean): void {
    this.log.push(`pasidIotlbPage did=${did} pasid=${pasid} addr=0x${addr.toString(16)} am=${am} ih=${ih ? 1 : 0}`);
  }
  invIotlbDomain(did: Did): void { this.log.push(`iotlbDomain did=${did}`); }
  invIotlbPage(did: Did, addr: Iova, am: number, ih: number | boolean): void {
    this.log.push(`iotlbPage did=${did} addr=0x${addr.toString(16)} am=${am} ih=${ih ? 1 : 0}`);
  }
}

/** Where the test platform's memory lies. */
export const TEST_LAYOUT = {
  /** Host memory mappable by IOAS map: [0, 256 MiB). */
  ramEnd: 0x1000_0000n,
  /** Host table memory: [256 MiB, 256 MiB + 4 MiB). */
  tableBase: 0x1000_0000n,
  tableSize: 0x40_0000,
} as const;

/** A test platform and the pieces behind it. */
export interface TestPlatform {
  readonly platform: HostPlatform;
  readonly injector: FailInjector;
  readonly iommu: TableIommu;
  readonly caches: RecordingCaches;
  readonly mem: ArrayGuestMemory;
  /** Page group responses sent to devices: [sid, pasid, groupId, code]. */
  readonly responses: [number, number | undefined, number, number][];
  /** Sids whose page requests were drained. */
  readonly drained: number[];
}

/** A platform over JS memory: table memory per TEST_LAYOUT, host RAM below it. */
export function createTestPlatform(opts: Omit<Partial<PlatformOptions>, 'iommu'> & { tables?: TableIommuOptions } = {}): TestPlatform {
  const { tables, ...platformOpts } = opts;
  const injector = opts.injector ?? new FailInjector();
  const mem = new ArrayGuestMemory(TEST_LAYOUT.tableBase, TEST_LAYOUT.tableSize);
  const pages = new HostPages(hostRam(mem), TEST_LAYOUT.tableBase, TEST_LAYOUT.tableBase + BigInt(TEST_LAYOUT.tableSize), injector);
  const caches = new RecordingCaches();
  const drained: number[] = [];
  const iommu = new TableIommu(pages, caches, { pasidBits: 15, onDrain: (sid) => drained.push(sid), ...tables });
  const responses: TestPlatform['responses'] = [];
  const platform = new HostPlatform({
    hostMemory: (hpa, len) => hpa + len <= TEST_LAYOUT.ramEnd,
    onPageResponse: (sid, pasid, grp, code) => responses.push([sid, pasid, grp, code]),
    ...platformOpts,
    iommu,
    injector,
  });
  return { platform, injector, iommu, caches, mem, responses, drained };
}

/** The HostIommuError `fn` throws; rethrows any other error and throws if `fn` returns. */
export function hostErrorOf(fn: () => unknown): HostIommuError {
  try {
    fn();
  } catch (e) {
    if (e instanceof HostIommuError) return e;
    throw e;
  }
  throw new Error('expected a HostIommuError, nothing was thrown');
}
