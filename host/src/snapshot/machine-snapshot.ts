/**
 * Whole-machine snapshot: the config the machine was built from (to check
 * the target matches), guest RAM (non-zero pages only), the VT-d unit, the
 * configuration-address latch and every device. Restore goes into a fresh
 * machine built from the same config and continues the same DMA stream.
 *
 * Sections: CONF (JSON of profile, iommu options, RAM size, devices), RAM
 * (per region: base, size, non-zero 4 KiB pages), VTD (vtd-state.ts), PCI
 * (CONFIG_ADDRESS latch), DEVS (per device: requester id, kind, payload).
 */
import { loadAts, saveAts } from '../devices/ats/snapshot.js';
import { AtsDevice } from '../devices/ats/device.js';
import { loadDmaTest, saveDmaTest } from '../devices/dma-test/snapshot.js';
import { DmaTestDevice } from '../devices/dma-test/device.js';
import type { ModelDevice } from '../devices/registry.js';
import { loadSwq, saveSwq } from '../devices/swq/snapshot.js';
import { SwqDevice } from '../devices/swq/device.js';
import type { Machine } from '../machine.js';
import { formatBdf, type Sid } from '../types.js';
import { ByteReader, ByteWriter, decodeSnapshot, encodeSnapshot, section } from './format.js';
import { loadVtd, saveVtd } from './vtd-state.js';

const PAGE = 4096;

/** Per device class: tag, save, load. */
const DEVICE_CODECS = [
  { tag: 'dma-test', is: (d: ModelDevice) => d instanceof DmaTestDevice, save: (d: ModelDevice) => saveDmaTest(d as DmaTestDevice), load: (d: ModelDevice, r: ByteReader) => loadDmaTest(d as DmaTestDevice, r) },
  { tag: 'ats', is: (d: ModelDevice) => d instanceof AtsDevice, save: (d: ModelDevice) => saveAts(d as AtsDevice), load: (d: ModelDevice, r: ByteReader) => loadAts(d as AtsDevice, r) },
  { tag: 'swq', is: (d: ModelDevice) => d instanceof SwqDevice, save: (d: ModelDevice) => saveSwq(d as SwqDevice), load: (d: ModelDevice, r: ByteReader) => loadSwq(d as SwqDevice, r) },
] as const;

/** The part of the machine config a snapshot must agree with. */
function configKey(m: Machine): string {
  const c = m.config;
  return JSON.stringify({
    profile: c.profile ?? 'default', iommu: c.iommu ?? {}, device: c.device, ramMib: c.ramMib ?? 256,
    devices: (c.devices ?? []).map((d) => ({ bdf: d.bdf, kind: d.kind, dmaMaskBits: d.dmaMaskBits })),
  });
}

/** Serialises the whole machine to the versioned snapshot format. */
export function snapshotMachine(m: Machine): Uint8Array {
  const ram = new ByteWriter();
  const mem = m.core.views();
  const regions = m.core.ramRegions();
  ram.u32(regions.length);
  for (const r of regions) {
    const pages: number[] = [];
    for (let p = 0; p < r.size; p += PAGE) if (mem.subarray(r.offset + p, r.offset + Math.min(p + PAGE, r.size)).some((b) => b !== 0)) pages.push(p);
    ram.u64(BigInt(r.base)).u32(r.size).u32(pages.length);
    for (const p of pages) ram.u32(p).bytes(mem.subarray(r.offset + p, r.offset + Math.min(p + PAGE, r.size)));
  }
  const devs = new ByteWriter();
  const list = m.deviceList();
  devs.u32(list.length);
  for (const d of list) {
    const codec = DEVICE_CODECS.find((c) => c.is(d));
    if (!codec) throw new Error(`snapshot: device ${formatBdf(d.sid)} has no snapshot codec`);
    devs.u32(d.sid).text(codec.tag).bytes(codec.save(d));
  }
  return encodeSnapshot([
    ['CONF', new ByteWriter().text(configKey(m)).finish()],
    ['RAM ', ram.finish()],
    ['VTD ', saveVtd(m.vtd)],
    ['PCI ', new ByteWriter().u32(m.configAccess.latch()).finish()],
    ['DEVS', devs.finish()],
  ]);
}

/** Restores `bytes` into `m` (built from the same config); throws an Error naming what does not fit. */
export function restoreMachine(m: Machine, bytes: Uint8Array): void {
  const s = decodeSnapshot(bytes);
  const conf = section(s, 'CONF');
  const key = conf.text();
  conf.end();
  if (key !== configKey(m)) throw new Error(`snapshot: machine config differs (snapshot ${key}, machine ${configKey(m)})`);
  const ram = section(s, 'RAM ');
  restoreRam(m, ram);
  ram.end();
  const vtd = section(s, 'VTD ');
  loadVtd(m.vtd, vtd);
  vtd.end();
  const pci = section(s, 'PCI ');
  m.configAccess.setLatch(pci.u32());
  pci.end();
  const devs = section(s, 'DEVS');
  const n = devs.u32();
  for (let i = 0; i < n; i++) {
    const sid = devs.u32();
    const tag = devs.text();
    const payload = devs.bytes();
    const dev = m.device(sid as Sid);
    const codec = DEVICE_CODECS.find((c) => c.tag === tag);
    if (!codec || !codec.is(dev)) throw new Error(`snapshot: device ${formatBdf(sid)} is not a ${tag}`);
    const r = new ByteReader(payload, `device ${formatBdf(sid)}`);
    codec.load(dev, r);
    r.end();
  }
  devs.end();
}

function restoreRam(m: Machine, r: ByteReader): void {
  const regions = m.core.ramRegions();
  const count = r.u32();
  if (count !== regions.length) throw new Error(`snapshot: ${count} RAM regions, machine has ${regions.length}`);
  for (const reg of regions) {
    const base = r.u64();
    const size = r.u32();
    if (base !== BigInt(reg.base) || size !== reg.size) throw new Error(`snapshot: RAM region 0x${base.toString(16)}+0x${size.toString(16)} does not match the machine`);
    m.core.views().fill(0, reg.offset, reg.offset + reg.size);
    const pages = r.u32();
    for (let i = 0; i < pages; i++) {
      const at = r.u32();
      const data = r.bytes();
      if (at + data.length > size) throw new Error(`snapshot: RAM page at 0x${at.toString(16)} is outside its region`);
      m.core.views().set(data, reg.offset + at);
    }
  }
}
