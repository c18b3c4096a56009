/**
 * The device registry is the one home of a device kind: each row builds its
 * kind and carries its snapshot codec, and the snapshot code reaches devices
 * only through it. The PRI-capable devices retry through one engine: every
 * kind sends at most MAX_PAGE_REQUESTS page requests for one piece of work
 * when the guest answers Success without mapping the page.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ATS } from '../src/devices/ats/regs.js';
import { FakeDmaPort } from '../src/devices/common/testing.js';
import { MAX_PAGE_REQUESTS } from '../src/devices/common/retry-engine.js';
import { DMAT } from '../src/devices/dma-test/regs.js';
import { DEVICE_KINDS, isDeviceKind, kindRow, type DeviceKind, type ModelDevice } from '../src/devices/registry.js';
import { encodeDescriptor, SWQ_FLAG, SWQ_OP } from '../src/devices/swq/descriptor.js';
import { SWQ } from '../src/devices/swq/regs.js';
import { createMachine } from '../src/machine.js';
import { EXT_CAP_ID } from '../src/pci/capabilities.js';
import { configKey } from '../src/snapshot/config-key.js';
import { ByteReader, ByteWriter, decodeSnapshot, encodeSnapshot } from '../src/snapshot/format.js';
import { sid } from '../src/types.js';
import { PageResponseCode } from '../src/vtd/spec/page-request.js';

const KINDS = Object.keys(DEVICE_KINDS) as DeviceKind[];

/** Bus master, PASID (exec, priv), PRI with 4 requests, ATS when present. */
function enable(dev: ModelDevice): void {
  const c = dev.fn.config;
  c.write(0x04, 2, 0x6);
  c.write(c.findExtCapability(EXT_CAP_ID.PASID) + 6, 2, 0x7);
  const pri = c.findExtCapability(EXT_CAP_ID.PRI);
  c.write(pri + 0xc, 4, 4);
  c.write(pri + 4, 2, 1);
  const ats = c.findExtCapability(EXT_CAP_ID.ATS);
  if (ats) c.write(ats + 6, 2, 0x8000);
}

/** Per kind: start one piece of work that touches page 0x3000; returns the STATUS-like value to read when it ended. */
const START: Record<DeviceKind, (dev: ModelDevice, port: FakeDmaPort) => () => bigint> = {
  'dma-test': (dev) => {
    dev.barWrite(DMAT.IOVA, 8, 0x3000n);
    dev.barWrite(DMAT.LEN, 4, 8n);
    dev.barWrite(DMAT.CMD, 4, 1n);
    return () => dev.barRead(DMAT.STATUS, 4);
  },
  ats: (dev) => {
    dev.barWrite(ATS.IOVA, 8, 0x3000n);
    dev.barWrite(ATS.LEN, 4, 8n);
    dev.barWrite(ATS.CMD, 4, 2n);
    return () => dev.barRead(ATS.STATUS, 4);
  },
  swq: (dev, port) => {
    dev.barWrite(SWQ.PASID_TABLE, 4, BigInt(0x8000_0000 | 9));
    dev.barWrite(SWQ.WQ_CFG, 4, 1n);
    const swq = dev as unknown as { enqueue(d: Uint8Array): string };
    swq.enqueue(encodeDescriptor({ pasid: 9, priv: false, op: SWQ_OP.FILL, flags: SWQ_FLAG.RCR, completion: 0x8000n, src: 1n, dst: 0x3000n, size: 8 }));
    return () => BigInt(port.memory[0x8000]!); // completion status byte
  },
};

describe('device registry', () => {
  it.each(KINDS)('%s: its row builds a device of its kind, whose state saves and loads through the same row', (kind) => {
    const dev = DEVICE_KINDS[kind].create(sid(0x18), new FakeDmaPort(), {}, () => {});
    expect(dev.kind).toBe(kind);
    expect(isDeviceKind(kind)).toBe(true);
    enable(dev);
    const bytes = kindRow(dev).save(dev);
    const fresh = DEVICE_KINDS[kind].create(sid(0x18), new FakeDmaPort(), {}, () => {});
    const r = new ByteReader(bytes, kind);
    const apply = kindRow(fresh).load(fresh, r);
    r.end();
    expect(fresh.fn.config.read(0x04, 2) & 0x6).toBe(0); // load changed nothing yet
    apply();
    expect(kindRow(fresh).save(fresh)).toEqual(bytes);
  });

  it('a snapshot names the kind of each device; a device of another kind at that requester id is refused', async () => {
    const a = await createMachine({ ramMib: 4, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
    const b = await createMachine({ ramMib: 4, devices: [{ bdf: '00:03.0', kind: 'ats' }] });
    const snap = a.snapshot();
    expect(() => b.restore(snap)).toThrow(/config differs/);
    const forged = decodeSnapshot(snap);
    forged.set('CONF', new ByteWriter().text(configKey(b)).finish()); // a's devices under b's config
    const before = b.snapshot();
    expect(() => b.restore(encodeSnapshot([...forged]))).toThrow(/device 00:03\.0 is not a dma-test/);
    expect(b.snapshot()).toEqual(before);
    expect(isDeviceKind('nic')).toBe(false);
    expect(isDeviceKind('toString')).toBe(false);
  });

  it('the snapshot code reaches devices only through the registry', () => {
    const dir = new URL('../src/snapshot/', import.meta.url);
    const imports = readdirSync(dir).flatMap((f) => [...readFileSync(new URL(f, dir), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => `${f}: ${m[1]}`));
    const devices = imports.filter((i) => i.includes('devices/'));
    expect(devices.length).toBeGreaterThan(0);
    expect(devices.filter((i) => !i.endsWith(': ../devices/registry.js'))).toEqual([]);
  });
});

/** A device of `kind` whose work waits on a page request for the missing page 0x3000; `status` reads how it ended. */
function waiting(kind: DeviceKind): { port: FakeDmaPort; dev: ModelDevice; status: () => bigint } {
  const port = new FakeDmaPort();
  port.notPresent.add(0x3000n);
  const dev = DEVICE_KINDS[kind].create(sid(0x18), port, {}, () => {});
  enable(dev);
  const status = START[kind](dev, port);
  expect(port.pageRequests!.requests).toHaveLength(1);
  return { port, dev, status };
}

describe('one retry engine for the PRI-capable devices', () => {
  it.each(KINDS)('%s: a guest answering Success without mapping the page gets MAX_PAGE_REQUESTS page requests, then the work fails', (kind) => {
    const { port, dev, status } = waiting(kind);
    const sent = port.pageRequests!.requests;
    for (let i = 0; i < 2 * MAX_PAGE_REQUESTS && dev.fn.pri!.inFlight() > 0; i++) {
      const req = sent.at(-1)!;
      dev.pageGroupResponse!({ prgi: req.prgi, pasid: req.pasid, code: PageResponseCode.Success });
    }
    expect(sent).toHaveLength(MAX_PAGE_REQUESTS);
    expect(dev.fn.pri!.inFlight()).toBe(0);
    expect(sent.every((r) => r.addr === 0x3000n)).toBe(true);
    const failed: Record<DeviceKind, bigint> = { 'dma-test': 2n, ats: 6n, swq: 3n }; // FAULT, NO_PERMISSION, PAGE_FAULT
    expect(status() & (kind === 'swq' ? 0xffn : 7n)).toBe(failed[kind]);
  });

  it.each(KINDS)('%s: an answer that maps the page lets the work finish', (kind) => {
    const { port, dev, status } = waiting(kind);
    port.notPresent.clear();
    const req = port.pageRequests!.requests[0]!;
    dev.pageGroupResponse!({ prgi: req.prgi, pasid: req.pasid, code: PageResponseCode.Success });
    expect(port.pageRequests!.requests).toHaveLength(1);
    expect(status() & (kind === 'swq' ? 0xffn : 7n)).toBe(1n); // DONE / SUCCESS
  });
});
