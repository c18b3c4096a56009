/**
 * Instantiating the WASM core (docs/ABI.md "Memory", docs/EMBEDDING.md §2),
 * platform-neutral: from bytes, a compiled module, a URL or a fetch
 * response, over the core's own memory (standalone, the default) or over an
 * emulator's `WebAssembly.Memory` (embedded: guest RAM stays where the
 * emulator keeps it, and the core's private state lives in a region of that
 * memory the embedder grants or the host obtains by growing it).
 *
 * The core imports `env.memory`, `env.stateBase` and `env.stateBytes`; the
 * release build has no data segments, so instantiating it writes nothing
 * outside the state region.
 */
import { Core, type CoreExports } from './core.js';
import { STATE_ALIGN, STATE_BYTES_MIN } from './constants.js';

/** What `loadCoreFrom` accepts: the wasm bytes, a compiled module, a URL to fetch, or a fetch response (or its promise). */
export type CoreSource = BufferSource | WebAssembly.Module | URL | Response | PromiseLike<Response>;

/**
 * Where the core runs (docs/EMBEDDING.md §2). Without `memory` the core
 * makes its own (standalone: `core.addRam` carves guest RAM from it). With
 * `memory` it runs over the embedder's memory: map the emulator's RAM with
 * `core.mapRam`, and the core keeps its state in
 * `[stateBase, stateBase + stateBytes)` of that memory.
 */
export interface CoreMemoryOptions {
  /** The emulator's (non-shared) memory to run over, e.g. v86's `cpu.wasm_memory`. */
  memory?: WebAssembly.Memory;
  /**
   * Byte offset of the state region the embedder grants inside `memory`
   * (4 KiB aligned; the region must lie inside the memory and must never be
   * used by the emulator). Absent: the host grows `memory` by `stateBytes`
   * and uses the new pages, which no allocator of the emulator can hand out
   * (a Rust/dlmalloc or Emscripten heap takes new pages by growing too).
   */
  stateBase?: number;
  /** Size of the state region in bytes (a multiple of 4 KiB, at least `STATE_BYTES_MIN`); default `DEFAULT_STATE_BYTES`. */
  stateBytes?: number;
}

/** State-region size used when `stateBytes` is not given: the core's tables (~3.8 MiB) plus room for device buffers. */
export const DEFAULT_STATE_BYTES = 8 << 20;
/** Standalone: the core's own memory keeps its first 64 KiB page unused (static data of debug builds, and no offset 0). */
const STANDALONE_STATE_BASE = 65536;
const PAGE = 65536;
const MAX_BYTES = 2 ** 32;

/**
 * Standalone: the size (wasm pages) a module's start function grew its
 * memory to, measured at its first instantiation. Later instances of the
 * same module start with a memory that size: all zero, as the start
 * function finds a fresh memory, but without its step-by-step growth (one
 * `memory.grow` per table it allocates; each makes V8 replace the memory's
 * ArrayBuffer, and together they were ~2 ms of a ~6 ms machine build in the
 * fuzzer, which instantiates one module hundreds of times). The start
 * function is deterministic, so the instance ends at the same size and
 * contents either way (host/tests/core-load-presize.test.ts).
 */
const startPages = new WeakMap<WebAssembly.Module, number>();

/**
 * Modules whose memory import is shared (the fuzzer's coverage build,
 * fuzz/asconfig.coverage.json), found at their first standalone
 * instantiation. Why the fuzzer's build is: V8 counts the whole size of a
 * non-shared wasm memory as the isolate's external memory, and every ~64 MiB
 * of new memories set off a full collection of the JavaScript heap (a
 * session builds a core per machine description and VM; see fuzz/README.md
 * "Cost and figures"); a shared memory is not counted.
 */
const sharedModules = new WeakSet<WebAssembly.Module>();

/**
 * A standalone core's own memory: all zero. A shared one has the whole
 * wasm32 space from the start (reserved, resident only where written),
 * because it must never grow: growing a shared memory does not detach the
 * views the host keeps over it, which is how `Core` and `GuestMemory`
 * notice growth. The state region's allocations are the same either way
 * (the same offsets, refused past 4 GiB).
 */
function standaloneMemory(module: WebAssembly.Module): WebAssembly.Memory {
  if (sharedModules.has(module)) return new WebAssembly.Memory({ initial: MAX_BYTES / PAGE, maximum: MAX_BYTES / PAGE, shared: true });
  return new WebAssembly.Memory({ initial: startPages.get(module) ?? 1 });
}

function isResponseLike(v: unknown): v is Response {
  return typeof v === 'object' && v !== null && 'arrayBuffer' in v && 'ok' in v && 'status' in v;
}

async function wasmBytesOf(source: URL | Response | PromiseLike<Response>): Promise<ArrayBuffer> {
  if (source instanceof URL && source.protocol === 'file:') {
    throw new Error(`source: ${source.href} is a file URL; in Node use loadCore() or pass the file's bytes`);
  }
  const res = source instanceof URL ? await fetch(source) : await source;
  if (!isResponseLike(res)) throw new Error('source: the promise did not resolve to a fetch Response');
  if (!res.ok) throw new Error(`source: ${res.url || 'the response'} answered HTTP ${res.status}`);
  return res.arrayBuffer();
}

/**
 * Instantiates the core from `source` on any platform (browsers, Workers,
 * Node, Deno): wasm bytes, a compiled `WebAssembly.Module` (cheap: one module
 * can back many cores, each with its own state and guest RAM), a URL to
 * fetch, or a fetch `Response`. `options` choose standalone (default) or
 * embedded over an emulator's memory. Node users who want the packaged
 * build/viommu.wasm call `loadCore()` from the Node entry instead.
 */
export async function loadCoreFrom(source: CoreSource, options: CoreMemoryOptions = {}): Promise<Core> {
  if (source instanceof WebAssembly.Module) return loadCoreFromSync(source, options);
  const bytes = ArrayBuffer.isView(source) || source instanceof ArrayBuffer ? source : await wasmBytesOf(source);
  return loadCoreFromSync(await WebAssembly.compile(bytes), options);
}

/**
 * Instantiates the core synchronously from a compiled module or wasm bytes
 * (`options` as for loadCoreFrom). Browsers refuse to compile large modules
 * synchronously on the main thread: there compile once with
 * `WebAssembly.compile` and pass the module.
 */
export function loadCoreFromSync(source: WebAssembly.Module | BufferSource, options: CoreMemoryOptions = {}): Core {
  let module: WebAssembly.Module;
  if (source instanceof WebAssembly.Module) module = source;
  else if (ArrayBuffer.isView(source) || source instanceof ArrayBuffer) module = new WebAssembly.Module(source);
  else throw new Error('source: expected a WebAssembly.Module or the wasm bytes');
  let place = placeState(module, options);
  const standalone = options.memory === undefined;
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, imports(place.memory, place.stateBase, place.stateBytes));
  } catch (err) {
    // A link error of a standalone module not known yet may be a shared
    // memory import: then it links over a shared memory.
    if (!standalone || !(err instanceof WebAssembly.LinkError) || sharedModules.has(module)) throw instantiationError(place, err);
    sharedModules.add(module);
    place = placeState(module, options);
    try {
      instance = new WebAssembly.Instance(module, imports(place.memory, place.stateBase, place.stateBytes));
    } catch {
      sharedModules.delete(module);
      throw instantiationError(place, err);
    }
  }
  if (standalone && !sharedModules.has(module)) startPages.set(module, place.memory.buffer.byteLength / PAGE);
  return new Core(instance.exports as unknown as CoreExports);
}

/** The error of an instantiation that failed over `place`, naming its state region. */
function instantiationError(place: Placement, err: unknown): Error {
  const region = place.stateBytes ? `[0x${place.stateBase.toString(16)}, +0x${place.stateBytes.toString(16)})` : `from 0x${place.stateBase.toString(16)}`;
  return new Error(`source: the core did not instantiate with its state region ${region} (${err instanceof Error ? err.message : String(err)})`);
}

function imports(memory: WebAssembly.Memory, stateBase: number, stateBytes: number): WebAssembly.Imports {
  const abort = (_msg: number, _file: number, line: number, col: number): never => { throw new Error(`core: abort at line ${line}:${col}`); };
  return { env: { memory, stateBase, stateBytes, abort } };
}

interface Placement { memory: WebAssembly.Memory; stateBase: number; stateBytes: number }

/** Validates `options` and decides the memory and state region (growing the embedder's memory when asked to). */
function placeState(module: WebAssembly.Module, options: CoreMemoryOptions): Placement {
  if (typeof options !== 'object' || options === null) throw new Error(`options: ${String(options)} is not an object`);
  const { memory, stateBase, stateBytes } = options;
  if (memory === undefined) {
    if (stateBase !== undefined) throw new Error('stateBase: only meaningful with `memory` (the embedder\'s memory)');
    if (stateBytes !== undefined) throw new Error('stateBytes: only meaningful with `memory` (the embedder\'s memory)');
    // Standalone: a fresh memory, all zero, the state region grows with it
    // (from the size the module's start function needs, once known).
    return { memory: standaloneMemory(module), stateBase: STANDALONE_STATE_BASE, stateBytes: 0 };
  }
  if (!(memory instanceof WebAssembly.Memory)) throw new Error('memory: not a WebAssembly.Memory');
  const buffer = memory.buffer;
  if (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer) {
    throw new Error('memory: a shared memory (SharedArrayBuffer) is not supported by this build of the core; see docs/EMBEDDING.md §2');
  }
  const bytes = stateBytes ?? DEFAULT_STATE_BYTES;
  if (!isAligned(bytes) || bytes < STATE_BYTES_MIN) {
    throw new Error(`stateBytes: ${String(stateBytes)} is not a multiple of ${STATE_ALIGN} of at least ${STATE_BYTES_MIN} below 4 GiB`);
  }
  refuseStaticData(module);
  if (stateBase === undefined) {
    let oldPages: number;
    try {
      oldPages = memory.grow(Math.ceil(bytes / PAGE));
    } catch (err) {
      throw new Error(`memory: cannot grow by ${bytes} bytes for the core's state (${err instanceof Error ? err.message : String(err)}); grant a region with stateBase instead`);
    }
    return { memory, stateBase: oldPages * PAGE, stateBytes: bytes };
  }
  if (!isAligned(stateBase)) throw new Error(`stateBase: ${String(stateBase)} is not a multiple of ${STATE_ALIGN} below 4 GiB`);
  if (stateBase + bytes > buffer.byteLength) {
    throw new Error(`stateBase: [0x${stateBase.toString(16)}, +0x${bytes.toString(16)}) is not inside the memory (0x${buffer.byteLength.toString(16)} bytes)`);
  }
  return { memory, stateBase, stateBytes: bytes };
}

function isAligned(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v < MAX_BYTES && v % STATE_ALIGN === 0;
}

/**
 * Refuses a build that would write into the embedder's memory at
 * instantiation (data segments land at fixed addresses before the core can
 * check anything): instantiates it once over a scratch memory filled with a
 * pattern, with an unusable state region so the core stops at once, and
 * looks whether any byte changed. The release build has no data segments.
 */
function refuseStaticData(module: WebAssembly.Module): void {
  const scratch = new WebAssembly.Memory({ initial: 1 });
  const view = new Uint8Array(scratch.buffer);
  view.fill(0xa5);
  let linked = true;
  try {
    new WebAssembly.Instance(module, imports(scratch, 1, 0)); // stateBase 1: refused by the start function
  } catch (err) {
    // Expected: the unaligned state region stops the start function. A link
    // error means the module wants more than one page: static data too.
    linked = !(err instanceof WebAssembly.LinkError);
  }
  if (!linked || view.length !== PAGE || view.some((b) => b !== 0xa5)) {
    throw new Error('source: this build of the core has static data (a data segment) and can only run standalone; use the release build (build/viommu.wasm) over an embedder\'s memory');
  }
}
