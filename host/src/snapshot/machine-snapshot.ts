/**
 * Whole-machine snapshot: the config the machine was built from (to check
 * the target matches), guest RAM (non-zero pages only), the VT-d unit, the
 * configuration-address latch and every device. Restore goes into a machine
 * built from an equal config and continues the same DMA stream.
 *
 * Sections: CONF (the normalized config as canonical JSON, config-key.ts), RAM (per
 * region: base, size, non-zero 4 KiB pages), VTD (vtd-state.ts), PCI
 * (CONFIG_ADDRESS latch), DEVS (per device: requester id, kind, payload: the
 * codec of the kind's row in devices/registry.ts),
 * IR (the interrupt-remapping table pointer SIRTP latched; optional: a
 * snapshot without it restores with no table latched).
 *
 * Restore is all or nothing: the format's checksum is checked first
 * (format.ts), then every section is read and checked against the machine
 * (RAM layout, register values against the profile, every device's state)
 * without changing anything; only then is the unit loaded (it checks its
 * state before changing anything) and the rest applied, which cannot fail.
 * Work is linear in the snapshot size plus the machine's RAM size.
 *
 * Machines backed by a VMM (`config.backing`, vmm/VirtualMachine) are
 * refused both ways: their RAM and device DMA live in the host's memory and
 * IOMMU objects (hostiommu), which have no snapshot.
 *
 * The sections every machine has (CONF, RAM, PCI, DEVS) are written and
 * read here for both machines; arm-snapshot.ts adds the SMMUv3's.
 */
import { kindRow } from '../devices/registry.js';
import type { Machine } from '../machine.js';
import type { MmioUnit, PciMachine } from '../pci-machine.js';
import { formatBdf, type Gpa, type Sid } from '../types.js';
import { configKey, checkConfigKey } from './config-key.js';
import { ByteReader, type ByteWriter, decodeSnapshot, writeSnapshot } from './format.js';
import { loadVtd, readVtd, writeVtd } from './vtd-state.js';

const PAGE = 4096;

/** The sections a snapshot has, in order. */
const SECTIONS = ['CONF', 'RAM ', 'VTD ', 'PCI ', 'DEVS', 'IR  '] as const;

/** Either machine, as the shared sections see it. */
export type AnyMachine = PciMachine<{ readonly backing?: unknown }, MmioUnit>;

/** Throws for a VMM-backed machine (see the file comment). */
export function refuseBacked(m: AnyMachine, what: 'snapshotted' | 'restored'): void {
  if (m.config.backing) {
    throw new Error(`snapshot: a VMM-backed machine (config.backing) cannot be ${what}: its RAM and device DMA belong to the host (hostiommu objects have no snapshot)`);
  }
}

/**
 * What a caller that watches every write to guest RAM knows (the fuzzer's
 * machine pool, fuzz/machine-pool.ts): which pages may be non-zero. With it
 * a snapshot reads, and a restore zeroes, only those pages instead of all
 * RAM; the snapshot bytes are the same either way. Wrong answers make wrong
 * snapshots, so it is for callers that can prove theirs (after each
 * restore the fuzzer checks that all RAM outside the pages is zero). Not
 * part of the package's API (host/src/index.ts does not export it).
 */
export interface RamTracking {
  /** Offsets, ascending, of the pages of RAM region [base, base + size) that may hold a non-zero byte: every other page of it is all zero. */
  candidates(base: number, size: number): number[];
  /** A restore wrote guest RAM [gpa, gpa + len) (it may be non-zero now). */
  wrote(gpa: Gpa<number>, len: number): void;
}

/** Serialises the whole machine to the versioned snapshot format (`tracking`: read only the pages it names, see RamTracking). */
export function snapshotMachine(m: Machine, tracking?: RamTracking): Uint8Array {
  refuseBacked(m, 'snapshotted');
  return writeSnapshot([
    ['CONF', (w) => w.text(configKey(m))],
    ['RAM ', (w) => writeRam(w, m, tracking)],
    ['VTD ', (w) => writeVtd(w, m.vtd)],
    ['PCI ', (w) => w.u32(m.configAccess.latch())],
    ['DEVS', (w) => writeDevices(w, m)],
    ['IR  ', (w) => writeIr(w, m)],
  ]);
}

/** The RAM section: per region its base, size and non-zero pages. */
export function writeRam(w: ByteWriter, m: AnyMachine, tracking?: RamTracking): void {
  const regions = m.core.ramRegions();
  w.u32(regions.length);
  for (const r of regions) {
    const mem = m.ram.view(r.base, r.size);
    const pages = nonZeroPages(mem, tracking?.candidates(r.base, r.size));
    w.u64(BigInt(r.base)).u32(r.size).u32(pages.length);
    for (const p of pages) w.u32(p).bytes(mem.subarray(p, Math.min(p + PAGE, r.size)));
  }
}

/** The DEVS section: per device its requester id, kind and the kind's payload. */
export function writeDevices(w: ByteWriter, m: AnyMachine): void {
  const list = m.deviceList();
  w.u32(list.length);
  for (const d of list) w.u32(d.sid).text(d.kind).bytes(kindRow(d).save(d));
}

/**
 * Offsets of the pages of `mem` holding a non-zero byte (the last page may
 * be partial), among `candidates` (offsets, ascending) or all pages. One word
 * view over the whole region where aligned, not one view per page: the scan
 * runs on every snapshot (the fuzzer's snapshot steps spent a tenth of their
 * time allocating the per-page views), and whole pages are read eight words
 * per test (1.8x less CPU than one word per test on 16 MiB of zeros).
 */
function nonZeroPages(mem: Uint8Array, candidates?: readonly number[]): number[] {
  const words = (mem.byteOffset & 3) === 0 ? new Int32Array(mem.buffer, mem.byteOffset, mem.length >> 2) : undefined;
  const nonZero = (p: number): boolean => {
    const end = Math.min(p + PAGE, mem.length);
    return words && end - p === PAGE ? pageNonZero(words, p >> 2) : bytesNonZero(mem, p, end);
  };
  if (candidates) return candidates.filter(nonZero);
  const pages: number[] = [];
  for (let p = 0; p < mem.length; p += PAGE) if (nonZero(p)) pages.push(p);
  return pages;
}

/** True when one of the page's words from `k` (PAGE / 4 of them, a multiple of 8) is non-zero. */
function pageNonZero(w: Int32Array, k: number): boolean {
  for (const end = k + PAGE / 4; k < end; k += 8) {
    if ((w[k]! | w[k + 1]! | w[k + 2]! | w[k + 3]! | w[k + 4]! | w[k + 5]! | w[k + 6]! | w[k + 7]!) !== 0) return true;
  }
  return false;
}

/** True when a byte of mem[from, to) is non-zero. */
function bytesNonZero(mem: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (mem[i] !== 0) return true;
  return false;
}

function writeIr(w: ByteWriter, m: Machine): void {
  const ir = m.vtd.interrupts.saveState();
  w.bool(ir.latched).u64(ir.irta);
}

/**
 * Restores `bytes` into `m` (built from an equal config); throws an Error
 * naming what does not fit, having changed nothing. With `tracking`, only
 * the RAM pages it names are zeroed first (see RamTracking), and it hears of
 * every page written.
 */
export function restoreMachine(m: Machine, bytes: Uint8Array, tracking?: RamTracking): void {
  refuseBacked(m, 'restored');
  const { read, has } = openSnapshot(bytes, SECTIONS);
  read('CONF', (r) => checkConfigKey(r.text(), configKey(m)));
  const ram = read('RAM ', (r) => prepareRam(m, r, tracking));
  const vtd = read('VTD ', readVtd);
  const latch = read('PCI ', (r) => r.u32());
  const devices = read('DEVS', (r) => prepareDevices(m, r));
  const ir = has('IR  ') ? read('IR  ', (r) => ({ latched: r.bool(), irta: r.u64() })) : undefined;
  loadVtd(m.vtd, ir ? { ...vtd, ir } : vtd); // checks all of the unit's state before changing any of it
  ram();
  m.configAccess.setLatch(latch);
  for (const apply of devices) apply();
}

/** A decoded snapshot whose sections are all among `sections`: `read(tag, f)` runs `f` over a section (missing: an Error) and checks it read the whole section. */
export function openSnapshot<T extends string>(bytes: Uint8Array, sections: readonly T[]): { read: <V>(tag: T, f: (r: ByteReader) => V) => V; has: (tag: T) => boolean } {
  const s = decodeSnapshot(bytes);
  for (const tag of s.keys()) if (!(sections as readonly string[]).includes(tag)) throw new Error(`snapshot: unknown section "${tag}"`);
  const read = <V>(tag: T, f: (r: ByteReader) => V): V => {
    const b = s.get(tag);
    if (!b) throw new Error(`snapshot: section "${tag}" is missing`);
    const r = new ByteReader(b, `section "${tag}"`);
    const v = f(r);
    r.end();
    return v;
  };
  return { read, has: (tag) => s.has(tag) };
}

/** Reads and checks the RAM section; returns how to apply it. */
export function prepareRam(m: AnyMachine, r: ByteReader, tracking?: RamTracking): () => void {
  const regions = m.core.ramRegions();
  const count = r.u32();
  if (count !== regions.length) throw new Error(`snapshot: ${count} RAM regions, machine has ${regions.length}`);
  const pages: { base: number; at: number; data: Uint8Array }[] = [];
  for (const reg of regions) {
    const base = r.u64();
    const size = r.u32();
    if (base !== BigInt(reg.base) || size !== reg.size) throw new Error(`snapshot: RAM region 0x${base.toString(16)}+0x${size.toString(16)} does not match the machine`);
    for (let n = r.u32(), i = 0; i < n; i++) {
      const at = r.u32();
      const data = r.bytes();
      if (at % PAGE !== 0 || data.length > PAGE || at + data.length > size) {
        throw new Error(`snapshot: RAM page at 0x${at.toString(16)} (+${data.length}) is not a page of its region`);
      }
      pages.push({ base: reg.base, at, data });
    }
  }
  return () => {
    for (const reg of regions) {
      if (!tracking) m.ram.view(reg.base, reg.size).fill(0);
      else for (const at of tracking.candidates(reg.base, reg.size)) m.ram.view(reg.base + at, Math.min(PAGE, reg.size - at)).fill(0);
    }
    for (const p of pages) {
      m.ram.view(p.base + p.at, p.data.length).set(p.data);
      tracking?.wrote(p.base + p.at, p.data.length);
    }
  };
}

/** Reads and checks every device's state (each machine device exactly once); returns how to apply them. */
export function prepareDevices(m: AnyMachine, r: ByteReader): (() => void)[] {
  const n = r.u32();
  const list = m.deviceList();
  if (n !== list.length) throw new Error(`snapshot: ${n} devices, machine has ${list.length}`);
  const seen = new Set<number>();
  const out: (() => void)[] = [];
  for (let i = 0; i < n; i++) {
    const sid = r.u32();
    const tag = r.text();
    const payload = r.bytes();
    if (seen.has(sid)) throw new Error(`snapshot: device ${formatBdf(sid & 0xffff)} appears twice`);
    seen.add(sid);
    const dev = list.find((d) => d.sid === (sid as Sid));
    if (!dev) throw new Error(`snapshot: the machine has no device at requester id 0x${sid.toString(16)}`);
    if (dev.kind !== tag) throw new Error(`snapshot: device ${formatBdf(sid)} is not a ${tag}`);
    const dr = new ByteReader(payload, `device ${formatBdf(sid)}`);
    out.push(kindRow(dev).load(dev, dr));
    dr.end();
  }
  return out;
}
