/**
 * Device state in snapshots stays readable: each device kind is driven (on
 * a fake DMA port) into a state with work in flight (a command or
 * descriptors waiting on page requests, device-TLB entries, registers,
 * buffer bytes), and its snapshot payload must equal the bytes the build
 * that wrote `data/device-snapshots-v3.json` produced (main at 6069dda,
 * before the devices owned their codecs). Loading those stored bytes into a
 * fresh device must give the same bytes back, and answering the restored
 * page requests must finish the work as the original device would.
 *
 * The file is written only with UPDATE_DEVICE_SNAPSHOTS=1, which is for a
 * new snapshot format version, never to make this test pass.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ATS } from '../src/devices/ats/regs.js';
import { FakeDmaPort } from '../src/devices/common/testing.js';
import { DMAT } from '../src/devices/dma-test/regs.js';
import { DEVICE_KINDS, kindRow, type DeviceKind, type ModelDevice } from '../src/devices/registry.js';
import { encodeDescriptor, SWQ_FLAG, SWQ_OP } from '../src/devices/swq/descriptor.js';
import { SWQ } from '../src/devices/swq/regs.js';
import { EXT_CAP_ID } from '../src/pci/capabilities.js';
import { ByteReader } from '../src/snapshot/format.js';
import { sid } from '../src/types.js';
import { PageResponseCode } from '../src/vtd/spec/page-request.js';

const FIXTURE = new URL('./data/device-snapshots-v3.json', import.meta.url);

/** A device and the fake port it does DMA through. */
interface Bench {
  readonly dev: ModelDevice;
  readonly port: FakeDmaPort;
}

/** Saves `dev`'s state with its kind's codec. */
const save = (dev: ModelDevice): Uint8Array => kindRow(dev).save(dev);

/** Loads `bytes` into `dev` with its kind's codec (checked, then applied). */
function load(dev: ModelDevice, bytes: Uint8Array): void {
  const r = new ByteReader(bytes, dev.kind);
  const apply = kindRow(dev).load(dev, r);
  r.end();
  apply();
}

/** A fresh device of `kind` at requester id `rid` on a fake port (pages 0x3000 and 0x5000 not present). */
function bench(kind: DeviceKind, rid: number): Bench {
  const port = new FakeDmaPort(1 << 16);
  port.notPresent.add(0x3000n);
  port.notPresent.add(0x5000n);
  for (let i = 0; i < port.memory.length; i++) port.memory[i] = (i * 7 + 3) & 0xff;
  return { dev: DEVICE_KINDS[kind].create(sid(rid), port, {}, () => {}), port };
}

/** Firmware + driver: memory space and bus master on, PASID (exec, priv) and PRI with `alloc` requests; ATS too when present. */
function enable(dev: ModelDevice, alloc: number): void {
  const c = dev.fn.config;
  c.write(0x04, 2, 0x6);
  c.write(c.findExtCapability(EXT_CAP_ID.PASID) + 6, 2, 0x7);
  const pri = c.findExtCapability(EXT_CAP_ID.PRI);
  c.write(pri + 0xc, 4, alloc);
  c.write(pri + 4, 2, 1);
  const ats = c.findExtCapability(EXT_CAP_ID.ATS);
  if (ats) c.write(ats + 6, 2, 0x8000);
}

/** Per kind: drive a fresh device into a state with work in flight. */
const SCENES: Record<DeviceKind, (b: Bench) => void> = {
  'dma-test': ({ dev }) => {
    enable(dev, 4);
    dev.barWrite(DMAT.IRQ, 4, 1n);
    dev.barWrite(DMAT.PASID, 4, BigInt(0x8000_0000 | 42));
    dev.barWrite(DMAT.BUFFER + 0x100, 8, 0x1122_3344_5566_7788n);
    command(dev, DMAT, 0x2000n, 8, 0x100, 2); // write: done
    command(dev, DMAT, 0x2ff0n, 0x20, 0x200, 1); // read across the missing page 0x3000: waits
  },
  ats: ({ dev }) => {
    enable(dev, 4);
    dev.barWrite(ATS.CTL, 4, 1n);
    command(dev, ATS, 0x1800n, 0x1000, 0, 1); // read: two pages into the device-TLB
    command(dev, ATS, 0x4800n, 0x1000, 0, 2); // write reaching the missing page 0x5000: waits
  },
  swq: ({ dev }) => {
    enable(dev, 4);
    dev.barWrite(SWQ.PASID_TABLE, 4, BigInt(0xc000_0000 | 9));
    dev.barWrite(SWQ.WQ_CFG, 4, 1n);
    const desc = (op: number, src: bigint, dst: bigint, size: number, completion: bigint) =>
      encodeDescriptor({ pasid: 9, priv: false, op, flags: SWQ_FLAG.RCR, completion, src, dst, size });
    const swq = dev as unknown as { enqueue(d: Uint8Array): string };
    swq.enqueue(desc(SWQ_OP.FILL, 0x0102_0304_0506_0708n, 0x2f00n, 0x200, 0x8000n)); // fill into 0x3000: waits
    swq.enqueue(desc(SWQ_OP.MEMMOVE, 0x1000n, 0x4f80n, 0x100, 0x8020n)); // copy into 0x5000: waits
    swq.enqueue(desc(SWQ_OP.FILL, 0xaan, 0x6000n, 0x40, 0x8040n)); // done at once
  },
};

/** Programs IOVA, LEN, BUF_OFF and CMD of a DMA-test-style register block. */
function command(dev: ModelDevice, r: { IOVA: number; LEN: number; BUF_OFF: number; CMD: number }, iova: bigint, len: number, off: number, cmd: number): void {
  dev.barWrite(r.IOVA, 8, iova);
  dev.barWrite(r.LEN, 4, BigInt(len));
  dev.barWrite(r.BUF_OFF, 4, BigInt(off));
  dev.barWrite(r.CMD, 4, BigInt(cmd));
}

/** Maps the missing pages and answers every outstanding page request Success; returns what the guest then sees. */
function finish(b: Bench): string {
  b.port.notPresent.clear();
  for (let pass = 0; pass < 4; pass++) {
    for (const g of b.dev.fn.pri!.save().outstanding) b.dev.pageGroupResponse!({ prgi: g.prgi, pasid: g.fault.pasid, code: PageResponseCode.Success });
  }
  let h = 0;
  for (const v of b.port.memory) h = (h * 31 + v) >>> 0;
  const regs = [0x00, 0x08, 0x10, 0x18, 0x1c, 0x20, 0x34, 0x38].map((o) => b.dev.barRead(o, 4).toString(16));
  return `regs=${regs.join(',')} ram=${h.toString(16)} inFlight=${b.dev.fn.pri!.inFlight()}`;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const KINDS = Object.keys(SCENES) as DeviceKind[];
const RID: Record<DeviceKind, number> = { 'dma-test': 0x18, ats: 0x28, swq: 0x30 };

describe('device snapshot payloads (format v3)', () => {
  if (process.env.UPDATE_DEVICE_SNAPSHOTS === '1' || !existsSync(FIXTURE)) {
    it('writes the stored payloads (UPDATE_DEVICE_SNAPSHOTS=1)', () => {
      expect(process.env.UPDATE_DEVICE_SNAPSHOTS).toBe('1');
      const out: Record<string, { payload: string; after: string }> = {};
      for (const kind of KINDS) {
        const b = bench(kind, RID[kind]);
        SCENES[kind](b);
        out[kind] = { payload: hex(save(b.dev)), after: finish(b) };
      }
      writeFileSync(FIXTURE, `${JSON.stringify(out, null, 1)}\n`);
    });
    return;
  }
  const stored = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<DeviceKind, { payload: string; after: string }>;

  it.each(KINDS)('%s: the same work in flight saves to the stored bytes', (kind) => {
    const b = bench(kind, RID[kind]);
    SCENES[kind](b);
    expect(b.dev.fn.pri!.inFlight()).toBeGreaterThan(0);
    expect(hex(save(b.dev))).toBe(stored[kind].payload);
    expect(finish(b)).toBe(stored[kind].after);
  });

  it.each(KINDS)('%s: the stored bytes load into a fresh device, save back identically and the work finishes', (kind) => {
    const original = bench(kind, RID[kind]);
    SCENES[kind](original);
    const b = bench(kind, RID[kind]);
    b.port.memory.set(original.port.memory); // guest RAM is restored by the machine, not the device
    load(b.dev, new Uint8Array(Buffer.from(stored[kind].payload, 'hex')));
    expect(hex(save(b.dev))).toBe(stored[kind].payload);
    expect(finish(b)).toBe(stored[kind].after);
  });
});
