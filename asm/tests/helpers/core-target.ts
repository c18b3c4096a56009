/**
 * The WASM core as a test target (see targets.ts), through the host wrapper
 * host/src/core (docs/ABI.md). `loadCoreTarget()` returns undefined when the
 * wrapper or build/viommu.wasm is not there yet, so the tests then run on the
 * reference model alone (and say so in their names).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import type { RefCaps, RefRoot } from '../reference/config.js';
import { ACC, FF } from '../reference/constants.js';
import type { RefRequest } from '../reference/translate.js';
import { RAM_BASE, RAM_SIZE, type Observed, type Target } from './targets.js';

/** The part of host/src/core/core.ts `Core` these tests use. */
interface CoreApi {
  addRam(baseGpa: number, size: number): unknown;
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
    [k.CFG_SAGAW!, caps.sagaw], [k.CFG_MGAW!, caps.mgaw], [k.CFG_HAW!, caps.haw], [k.CFG_SSLPS!, caps.sslps],
    [k.CFG_FS1GP!, b(caps.fs1gp)], [k.CFG_FS5LP!, b(caps.fs5lp)], [k.CFG_ECAP_PT!, b(caps.pt)], [k.CFG_ECAP_SC!, b(caps.sc)],
    [k.CFG_ECAP_NEST!, b(caps.nest)], [k.CFG_ECAP_SRS!, b(caps.srs)], [k.CFG_ECAP_ERS!, b(caps.ers)], [k.CFG_ECAP_DT!, b(caps.dt)],
    [k.CFG_ECAP_PASID!, b(caps.pasid)], [k.CFG_ECAP_SMTS!, b(caps.smts)], [k.CFG_ECAP_FSTS!, b(caps.fsts)],
    [k.CFG_ECAP_SSTS!, b(caps.ssts)], [k.CFG_ECAP_PRS!, b(caps.prs)], [k.CFG_PASID_BITS!, caps.pasidBits], [k.CFG_QUIRKS!, caps.quirks],
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

/** `export const NAME: type = value;` pairs of an AssemblyScript source file under asm/assembly. */
export function asmConstants(file: string): Consts {
  const text = readFileSync(new URL(`../../assembly/${file}`, import.meta.url), 'utf8');
  const out: Consts = {};
  for (const m of text.matchAll(/export const (\w+): \w+ = (0x[0-9a-f_]+|\d+|1 << \d+);/gi)) {
    const v = m[2]!.replaceAll('_', '');
    out[m[1]!] = v.startsWith('1 <<') ? 1 << Number(v.slice(4)) : Number(v);
  }
  return out;
}

/**
 * The raw wasm exports (docs/ABI.md) behind CoreApi, for when the host
 * wrapper host/src/core is not there yet. RAM is region 0.
 */
function rawCore(x: Record<string, (...a: number[]) => number> & { memory: WebAssembly.Memory }, k: Consts): { core: CoreApi; mem: GuestMemoryLike } {
  const hi = (v: bigint): number => Number((v >> 32n) & 0xffff_ffffn);
  const lo = (v: bigint): number => Number(v & 0xffff_ffffn);
  let ramOff = 0;
  const view = (): DataView => new DataView(x.memory.buffer);
  const off = (gpa: bigint, len: number): number => {
    if (gpa < RAM_BASE || gpa + BigInt(len) > RAM_BASE + BigInt(RAM_SIZE)) throw new Error(`gpa 0x${gpa.toString(16)} outside RAM`);
    return ramOff + Number(gpa - RAM_BASE);
  };
  const mem: GuestMemoryLike = {
    readU64: (gpa) => view().getBigUint64(off(gpa, 8), true),
    writeU64: (gpa, v) => view().setBigUint64(off(gpa, 8), BigInt.asUintN(64, v), true),
    fill: (gpa, len, byte) => void new Uint8Array(x.memory.buffer, off(gpa, len), len).fill(byte),
  };
  const core: CoreApi = {
    addRam: (base, size) => {
      const i = x.ramAddRegion!(Number(base), size);
      if (i < 0) throw new Error(`ramAddRegion failed: ${i}`);
      ramOff = x.ramRegionOffset!(i);
    },
    setConfig: (key, v) => void x.setConfig!(key, v),
    setRootTable: (rta, ttm) => void x.setRootTable!(hi(rta), lo(rta), ttm),
    setTranslationEnabled: (on) => void x.setTranslationEnabled!(on ? 1 : 0),
    translate: (sid, pasid, iova, access) => {
      const st = x.translate!(sid, pasid ?? 0, hi(iova), lo(iova), access);
      const o = new Uint32Array(x.memory.buffer, x.outPtr!(), 12);
      const addr = (BigInt(o[k.OUT_ADDR_HI!]!) << 32n) | BigInt(o[k.OUT_ADDR_LO!]!);
      return { ok: st === 0, fault: st, addr, pageLg2: o[k.OUT_PAGE_LG2!]!, perms: o[k.OUT_PERMS!]!, faultFlags: o[k.OUT_FAULT_FLAGS!]!, did: o[k.OUT_DID!]! };
    },
    invalidateAll: () => void x.invalidateAll!(),
    invContextGlobal: () => void x.invContextGlobal!(),
    invContextDevice: (did, sid, fm) => void x.invContextDevice!(did, sid, fm),
    invIotlbGlobal: () => void x.invIotlbGlobal!(),
    invIotlbDomain: (did) => void x.invIotlbDomain!(did),
    invIotlbPage: (did, a, am, ih) => void x.invIotlbPage!(did, hi(a), lo(a), am, ih),
    invPasidIotlb: (did, pasid) => void x.invPasidIotlb!(did, pasid),
    invPasidIotlbPage: (did, pasid, a, am, ih) => void x.invPasidIotlbPage!(did, pasid, hi(a), lo(a), am, ih),
    invPasidCache: (g, did, pasid) => void x.invPasidCache!(g, did, pasid),
  };
  return { core, mem };
}

/** Instantiates build/viommu.wasm directly (no host wrapper). */
function loadRaw(): Target | undefined {
  const wasm = new URL('../../../build/viommu.wasm', import.meta.url);
  if (!existsSync(wasm)) return undefined;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasm)), { env: { abort: () => { throw new Error('wasm abort'); } } });
  const k = asmConstants('abi/layout.ts');
  const { core, mem } = rawCore(inst.exports as never, k);
  core.addRam(0, RAM_SIZE);
  return new CoreTarget(core, mem, k);
}

/**
 * Loads the core with 16 MiB of RAM at GPA 0: through host/src/core when it
 * exists, else straight from build/viommu.wasm; undefined when neither is
 * there (set H2_REQUIRE_CORE=1 to make that an error).
 */
export async function loadCoreTarget(): Promise<Target | undefined> {
  const base = '../../../host/src/core/';
  try {
    const coreMod = (await import(/* @vite-ignore */ `${base}load-node.js`)) as { loadCore(): Promise<CoreApi> };
    const memMod = (await import(/* @vite-ignore */ `${base}guest-memory.js`)) as { GuestMemory: new (core: CoreApi) => GuestMemoryLike };
    const k = (await import(/* @vite-ignore */ `${base}constants.js`)) as Consts;
    const core = await coreMod.loadCore();
    core.addRam(0, RAM_SIZE);
    return new CoreTarget(core, new memMod.GuestMemory(core), k);
  } catch {
    const raw = loadRaw();
    if (!raw && process.env.H2_REQUIRE_CORE) throw new Error('core not built');
    return raw;
  }
}
