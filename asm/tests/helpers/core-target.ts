/**
 * The WASM core as a test target (see targets.ts), through the host wrapper
 * host/src/core (docs/ABI.md). `loadCoreTarget()` returns undefined when the
 * wrapper or build/viommu.wasm is not there yet, so the tests then run on the
 * reference model alone (and say so in their names).
 */
import type { GuestMemoryLike } from '../../../firmware-tests/lib/page-allocator.js';
import type { RefCaps, RefRoot } from '../reference/config.js';
import { ACC, FF } from '../reference/constants.js';
import type { RefRequest } from '../reference/translate.js';
import { RAM_BASE, RAM_SIZE, type Observed, type Target } from './targets.js';

/** The part of host/src/core/core.ts `Core` these tests use. */
interface CoreApi {
  addRam(baseGpa: number | bigint, size: number): unknown;
  setConfig(key: number, value: number): void;
  setRootTable(rtaddr: bigint, ttm: number): void;
  setTranslationEnabled(on: boolean | number): void;
  translate(sid: number, pasid: number | undefined, iova: bigint, access: number): {
    ok: boolean; fault: number; addr: bigint; pageLg2: number; perms: number; faultFlags: number; did: number;
  };
  invalidateAll(): void;
  invContextGlobal(): void;
  invContextDevice(did: number, sid: number, fm: number): void;
  invIotlbGlobal(): void;
  invIotlbDomain(did: number): void;
  invIotlbPage(did: number, addr: bigint, am: number, ih: number): void;
  invPasidIotlb(did: number, pasid: number): void;
  invPasidIotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: number): void;
  invPasidCache(granularity: number, did: number, pasid: number): void;
}

type Consts = Record<string, number>;

/** Maps reference caps onto the core's CFG_* keys (docs/ABI.md "Configuration"). */
function configRows(k: Consts, caps: RefCaps): [number, number][] {
  const b = (v: boolean): number => (v ? 1 : 0);
  return [
    [k.CFG_SAGAW!, caps.sagaw], [k.CFG_MGAW!, caps.mgaw], [k.CFG_HAW!, caps.haw], [k.CFG_SLLPS!, caps.sllps],
    [k.CFG_FS1GP!, b(caps.fs1gp)], [k.CFG_FL5LP!, b(caps.fl5lp)], [k.CFG_ECAP_PT!, b(caps.pt)], [k.CFG_ECAP_SC!, b(caps.sc)],
    [k.CFG_ECAP_NEST!, b(caps.nest)], [k.CFG_ECAP_SRS!, b(caps.srs)], [k.CFG_ECAP_ERS!, b(caps.ers)], [k.CFG_ECAP_DT!, b(caps.dt)],
    [k.CFG_ECAP_PASID!, b(caps.pasid)], [k.CFG_ECAP_SMTS!, b(caps.smts)], [k.CFG_ECAP_FLTS!, b(caps.flts)],
    [k.CFG_ECAP_SLTS!, b(caps.slts)], [k.CFG_ECAP_PRS!, b(caps.prs)], [k.CFG_PASID_BITS!, caps.pasidBits], [k.CFG_QUIRKS!, caps.quirks],
  ];
}

/** The core behind the Target interface. */
class CoreTarget implements Target {
  readonly name = 'core';

  constructor(private readonly core: CoreApi, readonly mem: GuestMemoryLike, private readonly k: Consts) {}

  reset(caps: RefCaps, root: RefRoot): void {
    this.mem.fill(RAM_BASE, RAM_SIZE, 0);
    for (const [key, value] of configRows(this.k, caps)) this.core.setConfig(key, value);
    this.setRoot(root);
  }
  setRoot(root: RefRoot): void {
    this.core.setRootTable(root.rta, root.ttm);
    this.core.setTranslationEnabled(root.enabled ? 1 : 0);
    this.core.invalidateAll();
  }
  translate(req: RefRequest): Observed {
    const pasid = req.access & ACC.PASID ? req.pasid : undefined;
    const t = this.core.translate(req.sid, pasid, req.iova, req.access);
    if (t.ok) return { status: 0, addr: t.addr, pageLg2: t.pageLg2, perms: t.perms, suppressed: false, did: t.did };
    return { status: t.fault, addr: 0n, pageLg2: 0, perms: 0, suppressed: (t.faultFlags & FF.SUPPRESSED) !== 0, did: 0 };
  }
  all(): void { this.core.invalidateAll(); }
  contextGlobal(): void { this.core.invContextGlobal(); }
  contextDevice(did: number, sid: number, fm: number): void { this.core.invContextDevice(did, sid, fm); }
  iotlbGlobal(): void { this.core.invIotlbGlobal(); }
  iotlbDomain(did: number): void { this.core.invIotlbDomain(did); }
  iotlbPage(did: number, addr: bigint, am: number, ih: boolean): void { this.core.invIotlbPage(did, addr, am, ih ? 1 : 0); }
  pasidIotlb(did: number, pasid: number): void { this.core.invPasidIotlb(did, pasid); }
  pasidIotlbPage(did: number, pasid: number, addr: bigint, am: number, ih: boolean): void { this.core.invPasidIotlbPage(did, pasid, addr, am, ih ? 1 : 0); }
  pasidCache(g: number, did: number, pasid: number): void { this.core.invPasidCache(g, did, pasid); }
}

/**
 * Loads the core (release build) with 16 MiB of RAM at GPA 0, or returns
 * undefined when host/src/core or the wasm build is missing.
 */
export async function loadCoreTarget(): Promise<Target | undefined> {
  const base = '../../../host/src/core/';
  try {
    const coreMod = (await import(/* @vite-ignore */ `${base}core.js`)) as { loadCore(): Promise<CoreApi> };
    const memMod = (await import(/* @vite-ignore */ `${base}guest-memory.js`)) as { GuestMemory: new (core: CoreApi) => GuestMemoryLike };
    const k = (await import(/* @vite-ignore */ `${base}constants.js`)) as Consts;
    const core = await coreMod.loadCore();
    core.addRam(0, RAM_SIZE);
    return new CoreTarget(core, new memMod.GuestMemory(core), k);
  } catch (e) {
    if (process.env.H2_REQUIRE_CORE) throw e;
    return undefined;
  }
}
