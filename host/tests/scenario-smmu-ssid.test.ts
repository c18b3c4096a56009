/**
 * SubstreamIDs in smmuv3 scenarios (firmware-tests/golden/FORMAT.md, "viommu
 * extensions"): on profile `default` a `dma.*` with `pasid` is a request
 * whose SubstreamID is the device's PASID, once the guest enabled the
 * device's PASID capability through the Arm ECAM (`pci.cfg.write`). A guest
 * with two CDs (S1CDMax = 1, S1DSS = 0b10) reads two different pages at the
 * same IOVA; a SubstreamID beyond the table is C_BAD_SUBSTREAMID; bad
 * scenarios are refused naming the step.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { createArmMachine } from '../src/arm-machine.js';
import { replayScenario } from '../src/scenario/replay.js';
import { EXT_CAP_ID } from '../src/pci/capabilities.js';
import { put, type BitField } from '../src/smmu/spec/bits.js';
import { CD } from '../src/smmu/spec/cd.js';
import { CMD, OP } from '../src/smmu/spec/commands.js';
import { SMMU_REG as R } from '../src/smmu/spec/registers.js';
import { S1DSS, STE, STE_CONFIG } from '../src/smmu/spec/ste.js';
import { EVT } from '../src/smmu/spec/events.js';

const tmp = mkdtempSync(join(tmpdir(), 'viommu-ssid-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const RAM = 0x4000_0000n;
const STRTAB = RAM + 0x10_0000n;
const CMDQ = RAM + 0x11_0000n;
const EVTQ = RAM + 0x12_0000n;
const CDS = RAM + 0x30_0000n;
const PAGE_A = RAM + 0x80_0000n;
const PAGE_B = RAM + 0x81_0000n;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const words = (n: number, set: (x: bigint[]) => void): bigint[] => { const x = new Array<bigint>(n).fill(0n); set(x); return x; };
const addr = (x: bigint[], fd: BitField, a: bigint): void => put(x, fd, a >> BigInt(fd.lo));
const memWrite = (gpa: bigint, u64: bigint[]) => ({ op: 'mem.write', gpa: hex(gpa), u64: u64.map(hex) });
const mmio = (offset: number, size: number, value: bigint) => ({ op: 'mmio.write', offset: hex(offset), size, value: hex(value) });
const dma = (pasid?: number) => ({ op: 'dma.read', bdf: '00:03.0', iova: '0x0', len: 4, ...(pasid === undefined ? {} : { pasid }) });
/** The first word of the device's buffer (BAR 0 + 0x1000) and its STATUS (0x18). */
const buffer = { op: 'dev.mmio.read', bdf: '00:03.0', bar: 0, offset: '0x1000', size: 4 };
const status = { op: 'dev.mmio.read', bdf: '00:03.0', bar: 0, offset: '0x18', size: 4 };

/** The dma-test device's PASID capability offset, read as a guest finds it (the extended capability list). */
async function pasidCap(): Promise<number> {
  const m = await createArmMachine({ ramMib: 32, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] });
  return m.device('00:03.0').config.findExtCapability(EXT_CAP_ID.PASID);
}

/** A 4-level 4 KiB stage-1 chain at `pt` mapping IOVA 0 to `page` (read-write, AF). */
const chain = (pt: bigint, page: bigint) => [
  memWrite(pt, [(pt + 0x1000n) | 3n]), memWrite(pt + 0x1000n, [(pt + 0x2000n) | 3n]),
  memWrite(pt + 0x2000n, [(pt + 0x3000n) | 3n]), memWrite(pt + 0x3000n, [page | 3n | (1n << 10n) | 0x40n]),
];
const cd = (pt: bigint, asid: number) => words(8, (x) => {
  put(x, CD.T0SZ, 16); put(x, CD.EPD1, 1); put(x, CD.V, 1); put(x, CD.IPS, 5); put(x, CD.AA64, 1); put(x, CD.R, 1); put(x, CD.A, 1);
  put(x, CD.ASID, asid); addr(x, CD.TTB0, pt);
});
const cmd = (op: number, set: (x: bigint[]) => void = () => {}) => words(2, (x) => { put(x, CMD.opcode, op); set(x); });

/** The guest: stream table, queues, STE 0x18 stage 1 with two CDs, two tables, PASID on, the full invalidation. */
function guest(profile: string, cap: number, extra: object[]): object {
  const cfgiAll = cmd(OP.CFGI_STE_RANGE, (x) => put(x, CMD.Range, 31));
  return {
    format: 'viommu-scenario/1', name: 'smmu-ssid', description: 'two SubstreamIDs of one StreamID',
    machine: { profile, ram_mib: 32, iommu: { type: 'smmuv3' }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] },
    steps: [
      mmio(R.STRTAB_BASE, 8, STRTAB), mmio(R.STRTAB_BASE_CFG, 4, 8n), mmio(R.CMDQ_BASE, 8, CMDQ | 4n), mmio(R.EVENTQ_BASE, 8, EVTQ | 4n),
      mmio(R.CR0, 4, 0xdn),
      memWrite(STRTAB + 0x18n * 64n, words(8, (x) => {
        put(x, STE.V, 1); put(x, STE.Config, STE_CONFIG.S1); addr(x, STE.S1ContextPtr, CDS); put(x, STE.S1CDMax, 1); put(x, STE.S1DSS, S1DSS.SSID0);
      })),
      memWrite(CDS, cd(RAM + 0x40_0000n, 1)), memWrite(CDS + 64n, cd(RAM + 0x50_0000n, 2)),
      ...chain(RAM + 0x40_0000n, PAGE_A), ...chain(RAM + 0x50_0000n, PAGE_B),
      { op: 'mem.fill', gpa: hex(PAGE_A), len: 4096, byte: 0xaa }, { op: 'mem.fill', gpa: hex(PAGE_B), len: 4096, byte: 0xbb },
      memWrite(CMDQ, cfgiAll), memWrite(CMDQ + 16n, cmd(OP.TLBI_NSNH_ALL)), memWrite(CMDQ + 32n, cmd(OP.CMD_SYNC)), mmio(R.CMDQ_PROD, 4, 3n),
      { op: 'pci.cfg.write', bdf: '00:03.0', offset: hex(cap + 6), size: 2, value: '0x1' }, // PASID Enable (PCIe §7.8.8.3)
      ...extra,
    ],
  };
}

const values = (r: { observations: readonly unknown[] }): string[] => r.observations.map((o) => (o as { value?: string; data?: string }).value ?? (o as { data: string }).data);

describe('smmuv3 scenarios: SubstreamID from the device\'s PASID (viommu extension)', () => {
  it('SubstreamID 1 reaches CD 1; no SubstreamID uses CD 0 and SubstreamID 0 is then aborted with an event (S1DSS = 0b10, §3.3.2)', async () => {
    const doc = guest('default', await pasidCap(), [dma(1), buffer, dma(), buffer, dma(0), status]);
    const [b1, b0, st] = values(await replayScenario(doc));
    expect([b1, b0]).toEqual(['0xbbbbbbbb', '0xaaaaaaaa']);
    expect((Number(st) >> 8) & 0xff).toBe(EVT.F_STREAM_DISABLED); // the event the model records for it (host/src/smmu/config.ts)
  });

  it('a SubstreamID beyond S1CDMax is C_BAD_SUBSTREAMID with SSV and the SSID in the event record', async () => {
    const doc = guest('default', await pasidCap(), [dma(2), status, { op: 'mem.read', gpa: hex(EVTQ), len: 8 }]);
    const [st, ev] = values(await replayScenario(doc));
    expect((Number(st) >> 8) & 0xff).toBe(EVT.C_BAD_SUBSTREAMID); // the device's STATUS names the event
    const w0 = Buffer.from(ev!, 'hex').readBigUInt64LE(0);
    expect(Number(w0 & 0xffn)).toBe(EVT.C_BAD_SUBSTREAMID);
    expect([Number((w0 >> 11n) & 1n), Number((w0 >> 12n) & 0xf_ffffn), Number(w0 >> 32n)]).toEqual([1, 2, 0x18]);
  });

  it('without PASID Enable the device refuses a request with PASID (STATUS bad command), as on VT-d', async () => {
    const doc = guest('default', await pasidCap(), [{ op: 'pci.cfg.write', bdf: '00:03.0', offset: hex((await pasidCap()) + 6), size: 2, value: '0x0' }, dma(1), status]);
    expect(Number(values(await replayScenario(doc))[0]) & 7).toBe(3);
  });

  it('refuses `pasid` on a profile that reproduces QEMU, a SubstreamID past 20 bits, a snapshot on smmuv3', async () => {
    const cap = await pasidCap();
    const n = (guest('default', cap, []) as { steps: unknown[] }).steps.length;
    for (const profile of ['qemu-7.2', 'qemu-10.0']) {
      const doc = guest(profile, cap, [dma(1)]) as { steps: unknown[] };
      doc.steps.splice(n - 1, 1); // without the pci.cfg.write (an extension too): the dma step is the one refused
      await expect(replayScenario(doc)).rejects.toThrow(new RegExp(`^step ${n - 1} \\(dma.read\\): a viommu extension .*not "${profile}"`));
    }
    await expect(replayScenario(guest('default', cap, [dma(0x10_0000)]))).rejects.toThrow(/^step \d+ \(dma.read\) field pasid: expected an integer in 0..1048575/);
    await expect(replayScenario(guest('default', cap, [{ op: 'snapshot' }]))).rejects.toThrow(/^step \d+ \(snapshot\): not on an smmuv3 machine/);
  });

  it('`viommu replay` runs it from a file', async () => {
    const file = join(tmp, 'ssid.scenario.json');
    writeFileSync(file, JSON.stringify(guest('default', await pasidCap(), [dma(1), buffer])));
    const io = { stdout: '', stderr: '', out: (t: string) => { io.stdout += t; }, err: (t: string) => { io.stderr += t; } };
    expect(await main(['node', 'viommu', 'replay', file], io)).toBe(0);
    expect(JSON.parse(io.stdout).observations.map((o: { value: string }) => o.value)).toEqual(['0xbbbbbbbb']);
  });
});
