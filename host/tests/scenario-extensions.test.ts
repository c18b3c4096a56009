/**
 * The viommu extensions of the scenario format (firmware-tests/golden/
 * FORMAT.md, last section): `pci.cfg.*` on a device's configuration space,
 * `dev.mmio.*` on its BARs, `pasid` on `dma.*`; errors name the step; the
 * qemu-* profiles refuse them. The PRI flow runs the whole path: a PASID DMA
 * to an unmapped first-stage page becomes a page request in the queue, a
 * queued page-group response (type 9) makes the device retry.
 */
import { describe, expect, it } from 'vitest';
import { pageGroupResponseDesc } from '../src/vtd/spec/descriptors.js';
import { encodePasidDirEntry, encodePasidEntry, PGTT } from '../src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../src/vtd/spec/sm-context-entry.js';
import { encodeSmRootEntry } from '../src/vtd/spec/sm-root-entry.js';
import { createMachine } from '../src/machine.js';
import { EXT_CAP_ID } from '../src/pci/capabilities.js';
import { replayScenario, startReplay } from '../src/scenario/replay.js';

const BDF = '00:03.0';
const SID = 0x18;
const PASID = 5;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const w = (gpa: number, u64: bigint[]) => ({ op: 'mem.write', gpa: hex(gpa), u64: u64.map(hex) });
const mmio = (offset: number, size: number, value: bigint | number) => ({ op: 'mmio.write', offset: hex(offset), size, value: hex(value) });

function doc(steps: unknown[], profile = 'default'): Record<string, unknown> {
  return {
    format: 'viommu-scenario/1', name: 'ext', description: '',
    machine: { profile, ram_mib: 16, iommu: { scalable_mode: true, caching_mode: false, aw_bits: 48 }, devices: [{ bdf: BDF, kind: 'dma-test' }] },
    steps,
  };
}

async function capOffsets(): Promise<{ pasid: number; pri: number }> {
  const m = await createMachine({ ramMib: 16, devices: [{ bdf: BDF, kind: 'dma-test' }] });
  const cfg = m.device(BDF).config;
  return { pasid: cfg.findExtCapability(EXT_CAP_ID.PASID), pri: cfg.findExtCapability(EXT_CAP_ID.PRI) };
}

/** Scalable-mode tables: PASID 5 of 00:03.0 is first-stage with an empty PML4 (every page faults 0x71, recoverable). */
function tables(): unknown[] {
  return [
    w(0x10000, encodeSmRootEntry({ LP: true, LCTP: 0x11000n })),
    w(0x11000 + SID * 32, encodeSmContextEntry({ P: true, PASIDE: true, PRE: true, PASIDDIRPTR: 0x12000n })),
    w(0x12000, encodePasidDirEntry({ P: true, SMPTBLPTR: 0x13000n })),
    w(0x13000 + PASID * 64, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 1, FSPTPTR: 0x14000n })),
    { op: 'mem.fill', gpa: '0x14000', len: 4096, byte: 0 },
    mmio(0x20, 8, 0x10000n | (1n << 10n)), mmio(0x18, 4, 0x4000_0000), mmio(0x18, 4, 0x8000_0000),
    mmio(0xd0, 8, 0x20000), // PQA: one page, 128 descriptors
  ];
}

describe('scenario extensions (default profile)', () => {
  it('pci.cfg.read / pci.cfg.write reach the device configuration space through ECAM', async () => {
    const caps = await capOffsets();
    const out = await replayScenario(doc([
      { op: 'pci.cfg.read', bdf: BDF, offset: '0x0', size: 4 },
      { op: 'pci.cfg.read', bdf: BDF, offset: '0x2', size: 2 },
      { op: 'pci.cfg.write', bdf: BDF, offset: hex(caps.pasid + 6), size: 2, value: '0x7' },
      { op: 'pci.cfg.read', bdf: BDF, offset: hex(caps.pasid + 6), size: 2 },
      { op: 'pci.cfg.read', bdf: '00:05.0', offset: '0x0', size: 4 },
    ]));
    expect(out.observations).toEqual([
      { step: 0, op: 'pci.cfg.read', value: '0xd7a5654' },
      { step: 1, op: 'pci.cfg.read', value: '0xd7a' },
      { step: 3, op: 'pci.cfg.read', value: '0x7' },
      { step: 4, op: 'pci.cfg.read', value: '0xffffffff' }, // no function there: all ones
    ]);
  });

  it('dev.mmio.read / dev.mmio.write access BAR0 at the base firmware assigned', async () => {
    const out = await replayScenario(doc([
      { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x0', size: 4 },
      { op: 'dev.mmio.write', bdf: BDF, bar: 0, offset: '0x8', size: 8, value: '0x123456789000' },
      { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x8', size: 8 },
      { op: 'dev.mmio.write', bdf: BDF, bar: 0, offset: '0x1ffc', size: 4, value: '0xcafe' },
      { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x1ffc', size: 4 },
      { op: 'pci.cfg.write', bdf: BDF, offset: '0x4', size: 2, value: '0x0' }, // memory decoding off
      { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x0', size: 4 },
    ]));
    expect(out.observations).toEqual([
      { step: 0, op: 'dev.mmio.read', value: '0x544d4144' },
      { step: 2, op: 'dev.mmio.read', value: '0x123456789000' },
      { step: 4, op: 'dev.mmio.read', value: '0xcafe' },
      { step: 6, op: 'dev.mmio.read', value: '0x0' },
    ]);
  });

  it('a PASID DMA to an unmapped first-stage page is a page request; a type-9 response makes the device retry', async () => {
    const caps = await capOffsets();
    const run = await startReplay(doc([
      ...tables(),
      { op: 'pci.cfg.write', bdf: BDF, offset: hex(caps.pasid + 6), size: 2, value: '0x1' },
      { op: 'pci.cfg.write', bdf: BDF, offset: hex(caps.pri + 0xc), size: 4, value: '0x10' },
      { op: 'pci.cfg.write', bdf: BDF, offset: hex(caps.pri + 4), size: 2, value: '0x1' },
      { op: 'dma.read', bdf: BDF, iova: '0x5000', len: 8, pasid: PASID },
      { op: 'mmio.read', offset: '0xc8', size: 8 }, // PQT
      { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x18', size: 4 }, // STATUS
      mmio(0x90, 8, 0x30000n | (1n << 11n)), mmio(0x18, 4, 0x8400_0000), // IQA (256-bit), TE|QIE
      w(0x30000, pageGroupResponseDesc(SID, 0, 0, { pasid: PASID })),
      mmio(0x88, 8, 0x20), // IQT
      { op: 'mmio.read', offset: '0xc8', size: 8 },
      { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x18', size: 4 },
      // the same through the device's registers: PASID register, IOVA, LEN, doorbell
      { op: 'dev.mmio.write', bdf: BDF, bar: 0, offset: '0x24', size: 4, value: hex((0x8000_0000 | PASID) >>> 0) },
    ]));
    while (run.next());
    const obs = run.output().observations;
    expect(obs[0]).toEqual({ step: 13, op: 'mmio.read', value: '0x20' });
    expect((obs[1] as { value: string }).value).toMatch(/^0x.{2}04$/); // page wait, with the fault reason
    expect(obs[2]).toEqual({ step: 19, op: 'mmio.read', value: '0x40' }); // the retry faulted again: a second request
    expect((obs[3] as { value: string }).value).toMatch(/^0x.{2}04$/);
    const desc = run.machine.ram.readU64(0x20000n);
    expect(Number(desc & 0xffn)).toBe(1); // §9.13 page request descriptor type
    expect(Number((desc >> 16n) & 0xffffn)).toBe(SID);
    expect(Number((desc >> 32n) & 0xfffffn)).toBe(PASID);
    expect(run.machine.dmaTest(BDF).regs.pasid).toBe((0x8000_0000 | PASID) >>> 0);
  });

  it('a dma step without pasid sends no PASID (clears the PASID register the guest programmed)', async () => {
    const run = await startReplay(doc([
      { op: 'dev.mmio.write', bdf: BDF, bar: 0, offset: '0x24', size: 4, value: '0x80000005' },
      { op: 'dma.read', bdf: BDF, iova: '0x1000', len: 4 },
      { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x24', size: 4 },
    ]));
    while (run.next());
    expect(run.output().observations).toEqual([{ step: 2, op: 'dev.mmio.read', value: '0x0' }]);
  });

  it('snapshot saves and restores the machine in place: the steps after it observe what they would without it', async () => {
    const steps = (snap: boolean) => [
      mmio(0x20, 8, 0x10000n), mmio(0x18, 4, 0x4000_0000),
      w(0x3000, [0x1122334455667788n]),
      { op: 'dev.mmio.write', bdf: BDF, bar: 0, offset: '0x8', size: 8, value: '0x3000' },
      ...(snap ? [{ op: 'snapshot' }] : []),
      { op: 'mmio.read', offset: '0x20', size: 8 }, { op: 'mmio.read', offset: '0x1c', size: 4 },
      { op: 'mem.read', gpa: '0x3000', len: 8 },
      { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x8', size: 8 },
    ];
    const strip = (o: { step: number }[]) => o.map(({ step: _s, ...rest }) => rest);
    const withSnap = await replayScenario(doc(steps(true)));
    const without = await replayScenario(doc(steps(false)));
    expect(strip(withSnap.observations)).toEqual(strip(without.observations));
    expect(withSnap.observations.map((o) => o.step)).toEqual([5, 6, 7, 8]);
  });

  it('an "ats" device is the ATS device (BAR0 ID "ATSD"); qemu-* profiles refuse it naming the device', async () => {
    const d = doc([{ op: 'dev.mmio.read', bdf: '00:04.0', bar: 0, offset: '0x0', size: 4 }]);
    (d['machine'] as { devices: unknown[] }).devices.push({ bdf: '00:04.0', kind: 'ats' });
    expect((await replayScenario(d)).observations).toEqual([{ step: 0, op: 'dev.mmio.read', value: '0x44535441' }]);
    const q = doc([]);
    (q['machine'] as { profile: string; devices: unknown[] }).profile = 'qemu-7.2';
    (q['machine'] as { devices: unknown[] }).devices.push({ bdf: '00:04.0', kind: 'ats' });
    await expect(replayScenario(q)).rejects.toThrow(/machine\.devices\[1\]\.kind: "ats" is a viommu extension/);
  });
});

describe('scenario extensions: errors name the step', () => {
  const bad: [string, unknown, RegExp][] = [
    ['cfg size', { op: 'pci.cfg.read', bdf: BDF, offset: '0x0', size: 8 }, /step 0 \(pci\.cfg\.read\) field size/],
    ['cfg offset past 4 KiB', { op: 'pci.cfg.read', bdf: BDF, offset: '0x1000', size: 4 }, /step 0 \(pci\.cfg\.read\) field offset/],
    ['cfg misaligned', { op: 'pci.cfg.write', bdf: BDF, offset: '0x3', size: 2, value: '0x1' }, /step 0 \(pci\.cfg\.write\) field offset: 0x3 is not aligned/],
    ['cfg value too wide', { op: 'pci.cfg.write', bdf: BDF, offset: '0x4', size: 1, value: '0x100' }, /step 0 \(pci\.cfg\.write\) field value/],
    ['cfg bad bdf', { op: 'pci.cfg.read', bdf: 'x', offset: '0x0', size: 4 }, /step 0 \(pci\.cfg\.read\) field bdf/],
    ['bar index', { op: 'dev.mmio.read', bdf: BDF, bar: 6, offset: '0x0', size: 4 }, /step 0 \(dev\.mmio\.read\) field bar/],
    ['bar misaligned', { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x2', size: 4 }, /step 0 \(dev\.mmio\.read\) field offset/],
    ['missing value', { op: 'dev.mmio.write', bdf: BDF, bar: 0, offset: '0x0', size: 4 }, /step 0 \(dev\.mmio\.write\): missing field "value"/],
    ['pasid too wide', { op: 'dma.read', bdf: BDF, iova: '0x0', len: 4, pasid: 0x100000 }, /step 0 \(dma\.read\) field pasid/],
    ['unknown field', { op: 'dma.write', bdf: BDF, iova: '0x0', len: 4, priv: true }, /step 0 \(dma\.write\): unknown field "priv"/],
  ];
  for (const [what, step, re] of bad) {
    it(what, async () => {
      await expect(replayScenario(doc([step]))).rejects.toThrow(re);
    });
  }

  it('a device, BAR or BAR range the machine lacks fails before anything runs', async () => {
    const read = (bdf: string, bar: number, offset: string) => ({ op: 'dev.mmio.read', bdf, bar, offset, size: 8 });
    await expect(startReplay(doc([{ op: 'mmio.read', offset: '0x0', size: 4 }, read('00:04.0', 0, '0x0')]))).rejects.toThrow(/step 1 \(dev\.mmio\.read\) field bdf: no device at 00:04\.0/);
    await expect(startReplay(doc([read(BDF, 1, '0x0')]))).rejects.toThrow(/step 0 \(dev\.mmio\.read\) field bar: device 00:03\.0 has no BAR 1/);
    await expect(startReplay(doc([read(BDF, 0, '0x1ffc')]))).rejects.toThrow(/step 0 \(dev\.mmio\.read\) field offset: 0x1ffc \+ 8 is past BAR 0/);
    await expect(startReplay(doc([{ op: 'dma.read', bdf: '00:04.0', iova: '0x0', len: 4, pasid: 1 }]))).rejects.toThrow(/step 0 \(dma\.read\) field bdf/);
  });

  for (const profile of ['qemu-7.2', 'qemu-10.0']) {
    it(`profile ${profile} refuses every extension, naming the step`, async () => {
      const steps = [
        { op: 'pci.cfg.read', bdf: BDF, offset: '0x0', size: 4 },
        { op: 'pci.cfg.write', bdf: BDF, offset: '0x4', size: 2, value: '0x6' },
        { op: 'dev.mmio.read', bdf: BDF, bar: 0, offset: '0x0', size: 4 },
        { op: 'dev.mmio.write', bdf: BDF, bar: 0, offset: '0x0', size: 4, value: '0x0' },
        { op: 'dma.read', bdf: BDF, iova: '0x0', len: 4, pasid: 1 },
        { op: 'snapshot' },
      ];
      for (const s of steps) {
        const d = doc([{ op: 'mmio.read', offset: '0x0', size: 4 }, s], profile);
        await expect(replayScenario(d)).rejects.toThrow(new RegExp(`step 1 \\(${s.op.replace(/\./g, '\\.')}\\): a viommu extension .*profile "default", not "${profile}"`));
      }
      await expect(replayScenario(doc([{ op: 'dma.read', bdf: BDF, iova: '0x0', len: 4 }], profile))).resolves.toBeDefined();
    });
  }
});
