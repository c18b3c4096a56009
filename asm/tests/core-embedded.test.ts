// The core over an embedder's memory (docs/EMBEDDING.md §2): the release
// binary imports its memory and has no data segments; over a foreign
// WebAssembly.Memory with canary bytes around guest RAM and the state
// region, translations, walks with A/D writes, DMA, queued-invalidation
// status writes and fault paths land in the embedder's RAM and leave every
// canary intact; growth of the foreign memory mid-run keeps working.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCoreFromSync } from '../../host/src/core/load.js';
import { packageRoot, wasmPath } from '../../host/src/core/load-node.js';
import { GuestMemory } from '../../host/src/core/guest-memory.js';
import { createMachine, VTD_BASE } from '../../host/src/machine.js';
import { Fixture, K } from './core-fixture.js';

const PAGE = 65536;
const CANARY = 0x5a;
const RAM_BYTES = 8 << 20;
const STATE_BYTES = 8 << 20;
// Layout of the foreign memory: canary page, RAM, canary page, state, canary page.
const RAM_OFF = PAGE;
const STATE_OFF = RAM_OFF + RAM_BYTES + PAGE;
const TOTAL = STATE_OFF + STATE_BYTES + PAGE;
const CANARIES: Array<[number, number]> = [[0, RAM_OFF], [RAM_OFF + RAM_BYTES, STATE_OFF], [STATE_OFF + STATE_BYTES, TOTAL]];

/** The wasm sections of a binary: id and payload bounds. */
function sections(bin: Uint8Array): Array<{ id: number; start: number; end: number }> {
  const out = [];
  let p = 8;
  const leb = (): number => { let r = 0, s = 0, b; do { b = bin[p++]!; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  while (p < bin.length) {
    const id = bin[p++]!;
    const n = leb();
    out.push({ id, start: p, end: p + n });
    p += n;
  }
  return out;
}

/** A foreign memory filled with canary bytes, the core over it, RAM mapped at GPA 0. */
function embedded(): { memory: WebAssembly.Memory; f: Fixture } {
  const memory = new WebAssembly.Memory({ initial: TOTAL / PAGE });
  new Uint8Array(memory.buffer).fill(CANARY);
  const core = loadCoreFromSync(readFileSync(wasmPath()), { memory, stateBase: STATE_OFF, stateBytes: STATE_BYTES });
  expect(core.embedded).toBe(true);
  expect(core.mapRam(0, RAM_BYTES, RAM_OFF)).toBe(0);
  new Uint8Array(memory.buffer, RAM_OFF, RAM_BYTES).fill(0); // the emulator's fresh RAM
  return { memory, f: Fixture.over(core, RAM_BYTES) };
}

function canariesIntact(memory: WebAssembly.Memory): string[] {
  const bytes = new Uint8Array(memory.buffer);
  const bad: string[] = [];
  for (const [from, to] of CANARIES) {
    const i = bytes.subarray(from, to).findIndex((b) => b !== CANARY);
    if (i >= 0) bad.push(`0x${(from + i).toString(16)}`);
  }
  return bad;
}

describe('the release binary', () => {
  const bin = new Uint8Array(readFileSync(wasmPath()));

  it('has no data segments and imports its memory and state region', () => {
    const data = sections(bin).filter((s) => s.id === 11);
    expect(data.every((s) => bin[s.start] === 0), 'data section with segments').toBe(true);
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(bin));
    expect(imports).toEqual(expect.arrayContaining([
      { module: 'env', name: 'memory', kind: 'memory' },
      { module: 'env', name: 'stateBase', kind: 'global' },
      { module: 'env', name: 'stateBytes', kind: 'global' },
    ]));
    expect(WebAssembly.Module.exports(new WebAssembly.Module(bin))).toContainEqual({ name: 'memory', kind: 'memory' });
  });

  it('a build with static data is refused over a foreign memory, before it writes there', () => {
    const cov = join(packageRoot(), 'build', 'viommu.coverage.wasm');
    if (!existsSync(cov)) return;
    expect(sections(new Uint8Array(readFileSync(cov))).some((s) => s.id === 11)).toBe(true);
    const memory = new WebAssembly.Memory({ initial: 80 });
    new Uint8Array(memory.buffer).fill(CANARY);
    expect(() => loadCoreFromSync(readFileSync(cov), { memory })).toThrow(/static data/);
    expect(new Uint8Array(memory.buffer).every((b) => b === CANARY)).toBe(true);
    expect(loadCoreFromSync(readFileSync(cov)).embedded).toBe(false); // standalone is fine
  });
});

describe('core over a foreign memory', () => {
  it('walks, A/D writes and faults touch only the mapped RAM; the emulator sees the writes', () => {
    const { memory, f } = embedded();
    f.scalable();
    const ss = f.page(), fs = f.page(), dir = f.page();
    f.smContext(0x18, { pasidDir: dir });
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, aw: 2 });
    f.pasidEntry(dir, 1, { pgtt: 1, fsptr: fs, did: 2 });
    f.ssMap(ss, 4, 0x4000_0000n, 0x30_0000n);
    const leaf = f.fsMap(fs, 4, 0x7000n, 0x31_0000n);
    expect(f.tr(0x18, 0x4000_0123n)).toMatchObject({ ok: true, addr: 0x30_0123n });
    expect(f.tr(0x18, 0x7010n, K.ACC_WRITE, 1)).toMatchObject({ ok: true, addr: 0x31_0010n });
    // The core set A and D in the emulator's own bytes.
    const emu = new DataView(memory.buffer, RAM_OFF, RAM_BYTES);
    expect(emu.getUint32(Number(leaf), true) & 0x60).toBe(0x60);
    // Hostile tables: pointers at the state region's and the canaries' offsets
    // (read as GPAs they lie outside RAM) fault, never reach core state.
    f.put(fs, BigInt(STATE_OFF) | 7n);
    f.core.invalidateAll();
    expect(f.tr(0x18, 0x7010n, K.ACC_WRITE, 1).fault).toBe(K.FR_FS_ACCESS);
    f.pasidEntry(dir, 1, { pgtt: 1, fsptr: BigInt(RAM_BYTES), did: 2 });
    f.core.invalidateAll();
    expect(f.tr(0x18, 0x7010n, K.ACC_READ, 1).fault).toBe(K.FR_FS_TOP_ACCESS);
    f.core.setRootTable(BigInt(STATE_OFF), 1);
    expect(f.tr(0x18, 0x4000_0000n).fault).toBe(K.FR_SM_ROOT_ACCESS);
    expect(canariesIntact(memory)).toEqual([]);
  });

  it('DMA and batch translation move data between the emulator RAM and device buffers in the state region', () => {
    const { memory, f } = embedded();
    f.legacy();
    const ss = f.page();
    f.context(0x20, { ssptr: ss, did: 3, aw: 2 });
    f.ssMap(ss, 4, 0x1000n, 0x40_0000n);
    f.ssMap(ss, 4, 0x2000n, 0x40_1000n);
    new Uint8Array(memory.buffer, RAM_OFF + 0x40_0000, 64).fill(0xab);
    const buf = f.core.bufAlloc(4096);
    expect(buf).toBeGreaterThanOrEqual(STATE_OFF);
    expect(buf + 4096).toBeLessThanOrEqual(STATE_OFF + STATE_BYTES);
    expect(f.core.dmaCopyNum(0x20, 0, 0x1000, 64, K.ACC_READ, buf)).toBe(0);
    expect([...f.core.buffer(buf, 64)].every((b) => b === 0xab)).toBe(true);
    f.core.buffer(buf, 64).fill(0xcd);
    expect(f.core.dmaCopyNum(0x20, 0, 0x2000, 64, K.ACC_WRITE, buf)).toBe(0);
    expect(new Uint8Array(memory.buffer, RAM_OFF + 0x40_1000, 64).every((b) => b === 0xcd)).toBe(true);
    expect(f.core.translateNum(0x20, 0, 0x2008, K.ACC_READ)).toBe(0);
    expect(f.core.outAddr()).toBe(0x40_1008);
    const ring = f.core.batch;
    ring.set([0x20, 0, 0x1000, 0, K.ACC_READ, 0, 0, 0, 0x20, 0, 0x9000, 0, K.ACC_READ, 0, 0, 0]);
    expect(f.core.translateBatch(2)).toBe(1);
    expect([ring[K.BRES_STATUS], ring[K.BRES_ADDR_LO], ring[8 + K.BRES_STATUS]]).toEqual([0, 0x40_0000, K.FR_READ]);
    expect(() => f.core.buffer(RAM_OFF, 16)).toThrow(/off: .*not inside one device buffer/);
    expect(() => f.core.buffer(STATE_OFF, 16)).toThrow(/off: /);
    expect(canariesIntact(memory)).toEqual([]);
  });

  it('a machine over the embedded core: queued-invalidation status writes land in the emulator RAM', async () => {
    const { memory, f } = embedded();
    const m = await createMachine({ core: f.core });
    expect(m.core.ramRegions()).toEqual([{ base: 0, size: RAM_BYTES, offset: RAM_OFF }]);
    const queue = 0x20_0000, status = 0x20_8000;
    // One wait descriptor with a status write (§6.5.2.8): SW, FN, data 0x1234.
    m.ram.setUint32(queue, 0x5 | (1 << 5) | (1 << 6));
    m.ram.setUint32(queue + 4, 0x1234);
    m.ram.setUint64(queue + 8, status);
    m.mmioWrite(VTD_BASE + 0x90n, 8, BigInt(queue)); // IQA
    m.mmioWrite(VTD_BASE + 0x18n, 4, 1n << 26n); // GCMD.QIE
    m.mmioWrite(VTD_BASE + 0x88n, 8, 16n); // IQT: one descriptor
    expect(new DataView(memory.buffer).getUint32(RAM_OFF + status, true)).toBe(0x1234);
    expect(canariesIntact(memory)).toEqual([]);
  });

  it('the embedder growing its memory mid-run: the core and the host views keep working', () => {
    const { memory, f } = embedded();
    f.legacy();
    const ss = f.page();
    f.context(0x20, { ssptr: ss, did: 3, aw: 2 });
    f.ssMap(ss, 4, 0x1000n, 0x40_0000n);
    const ram = new GuestMemory(f.core);
    ram.setUint64(0x40_0000, 0x1234_5678_9abc);
    const buf = f.core.bufAlloc(4096);
    expect(f.core.dmaCopyNum(0x20, 0, 0x1000, 8, K.ACC_READ, buf)).toBe(0);
    const before = memory.buffer;
    memory.grow(3); // the emulator's allocator takes more pages: every old view detaches
    expect(before.byteLength).toBe(0);
    expect(ram.getUint64(0x40_0000)).toBe(0x1234_5678_9abc);
    expect(f.core.translateNum(0x20, 0, 0x1010, K.ACC_READ)).toBe(0);
    expect(f.core.outAddr()).toBe(0x40_0010);
    expect(new DataView(f.core.buffer(buf, 8).slice().buffer).getBigUint64(0, true)).toBe(0x1234_5678_9abcn);
    ram.setUint32(0x40_0000, 0xfeed);
    expect(f.core.dmaCopyNum(0x20, 0, 0x1000, 4, K.ACC_READ, buf)).toBe(0);
    expect(f.core.buffer(buf, 1)[0]).toBe(0xed);
    expect(f.core.stats()['translations']).toBeGreaterThan(0);
    expect(canariesIntact(memory)).toEqual([]);
  });
});

describe('loading over a foreign memory', () => {
  const bytes = (): Uint8Array => readFileSync(wasmPath());

  it('without stateBase the host grows the memory and takes only the new pages', () => {
    const memory = new WebAssembly.Memory({ initial: 4 });
    new Uint8Array(memory.buffer).fill(CANARY);
    const core = loadCoreFromSync(bytes(), { memory, stateBytes: 4 << 20 });
    expect(core.stateRegion()).toMatchObject({ base: 4 * PAGE, limit: 4 * PAGE + (4 << 20) });
    expect(new Uint8Array(memory.buffer, 0, 4 * PAGE).every((b) => b === CANARY)).toBe(true);
    expect(core.mapRam(0, 0x1000, 0)).toBe(0);
    expect(() => core.mapRam(0x1000, 0x2000, 5 * PAGE)).toThrow(/memOffset: .*state region/);
    expect(() => core.mapRam(0x1000, 0x1000, 2 ** 31)).toThrow(/memOffset: .*not inside the memory/);
    expect(() => core.mapRam(0, 0x1000, PAGE)).toThrow(/gpaBase: .*overlaps/);
    expect(() => core.mapRam(0x1800, 0x1000, PAGE)).toThrow(/gpaBase: .*aligned/);
    expect(() => core.mapRam(0x1000, 0, PAGE)).toThrow(/bytes/);
    expect(() => core.mapRam(0x1000, 0x1000, -1)).toThrow(/memOffset/);
    expect(core.ramRegions()).toHaveLength(1);
  });

  it('bad options are Errors naming the option; nothing is written to the memory', () => {
    const memory = new WebAssembly.Memory({ initial: 200 });
    new Uint8Array(memory.buffer).fill(CANARY);
    expect(() => loadCoreFromSync(bytes(), { memory, stateBase: 100 })).toThrow(/^stateBase: /);
    expect(() => loadCoreFromSync(bytes(), { memory, stateBase: 0, stateBytes: 4096 })).toThrow(/^stateBytes: /);
    expect(() => loadCoreFromSync(bytes(), { memory, stateBase: 190 * PAGE })).toThrow(/^stateBase: .*not inside/);
    expect(() => loadCoreFromSync(bytes(), { stateBase: 0 })).toThrow(/^stateBase: /);
    expect(() => loadCoreFromSync(bytes(), { memory: {} as WebAssembly.Memory })).toThrow(/^memory: /);
    const shared = new WebAssembly.Memory({ initial: 1, maximum: 200, shared: true });
    expect(() => loadCoreFromSync(bytes(), { memory: shared })).toThrow(/^memory: .*shared/);
    const fixed = new WebAssembly.Memory({ initial: 2, maximum: 2 });
    expect(() => loadCoreFromSync(bytes(), { memory: fixed })).toThrow(/^memory: cannot grow/);
    expect(new Uint8Array(memory.buffer).every((b) => b === CANARY)).toBe(true);
  });

  it('a state region at offset 0 and a larger IOTLB than it holds', () => {
    const memory = new WebAssembly.Memory({ initial: 64 });
    const core = loadCoreFromSync(bytes(), { memory, stateBase: 0, stateBytes: 4 << 20 });
    expect(core.bufAlloc(4096)).toBeGreaterThan(0);
    expect(() => core.setConfig(K.CFG_IOTLB_SETS_LG2, 12)).toThrow(/^value: .*state region/);
    expect(core.getConfig(K.CFG_IOTLB_SETS_LG2)).toBe(8);
    expect(core.unsafeExports.iotlbCapacity()).toBe(1024);
  });
});
