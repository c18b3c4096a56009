import { describe, expect, it } from 'vitest';
import { patch } from './patch.js';
import type { Step } from '../../host/src/scenario/parse.js';
import { put } from '../../host/src/smmu/spec/bits.js';
import { CD } from '../../host/src/smmu/spec/cd.js';
import { CMD, OP } from '../../host/src/smmu/spec/commands.js';
import { SMMU_REG as R } from '../../host/src/smmu/spec/registers.js';
import { STE } from '../../host/src/smmu/spec/ste.js';
import { SmmuUnit } from '../../host/src/smmu/smmu-unit.js';
import { replayScenario } from '../../host/src/scenario/replay.js';
import { loadFuzzModule } from '../execute.js';
import { runSmmuCampaign } from '../smmu/campaign.js';
import { SmmuExecutor } from '../smmu/execute.js';
import { smmuInputFromDoc, smmuInputToDoc, smmuSeeds, type SmmuInput } from '../smmu/input.js';
import { mutateSmmu } from '../smmu/mutate.js';
import { Rng } from '../rng.js';
import { CAPS } from '../pri-steps.js';
import { formatScenarioDoc } from '../input.js';
import { main } from '../../host/src/cli/main.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Issue 19: the SMMUv3 fuzzer. Its oracles are silent on the golden
// scenarios and on a directed guest, and each fires on a bug patched into
// the unit; a short campaign finds an injected bug by itself.
const { module } = loadFuzzModule();

const RAM = 0x4000_0000n;
const w = (gpa: bigint, u64: bigint[]): Step => ({ op: 'mem.write', gpa, u64 });
const mmio = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value });
const dma = (op: 'dma.read' | 'dma.write', iova: bigint, pasid?: number): Step => ({ op, bdf: '00:03.0', iova, len: 8, ...(pasid === undefined ? {} : { pasid }) });
const words = (set: (x: bigint[]) => void): bigint[] => { const x = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]; set(x); return x; };
const addr = (x: bigint[], fd: { hi: number; lo: number; word: number }, a: bigint): void => put(x, fd, a >> BigInt(fd.lo));

const STRTAB = RAM + 0x10_0000n;
const CMDQ = RAM + 0x11_0000n;
const EVTQ = RAM + 0x12_0000n;
const MSI = RAM + 0x13_0000n;
const CDS = RAM + 0x30_0000n;
const PT = RAM + 0x40_0000n;
/** STE of StreamID 0x18 (00:03.0): stage 1 (§5.2), or abort. */
const ste = (config: number): Step => w(STRTAB + 0x18n * 64n, words((x) => { put(x, STE.V, 1); put(x, STE.Config, config); addr(x, STE.S1ContextPtr, CDS); }));
/** A command (§4) as two doublewords. */
const cmd = (op: number, set: (x: bigint[]) => void = () => {}): bigint[] => { const x = [0n, 0n]; put(x, CMD.opcode, op); set(x); return x; };
const cfgiAll = cmd(OP.CFGI_STE_RANGE, (x) => put(x, CMD.Range, 31));
const tlbiAll = cmd(OP.TLBI_NSNH_ALL);
const sync = (msi: bigint, data: number): bigint[] => cmd(OP.CMD_SYNC, (x) => { put(x, CMD.CS, 1); put(x, CMD.MSIData, data); addr(x, CMD.MSIAddress, msi); });
/** Commands at queue slots `from`.. and the PROD write (a 16-entry queue). */
const commands = (from: number, ...cmds: bigint[][]): Step[] => [...cmds.map((c, i) => w(CMDQ + BigInt(((from + i) & 15) * 16), c)), mmio(R.CMDQ_PROD, 4, BigInt((from + cmds.length) & 31))];

/**
 * A guest as a driver sets one up (IHI 0070): linear stream table (256
 * entries), 16-entry command and event queues, the SMMU on; the STE of
 * 00:03.0 is stage 1 with one CD (4 KiB granule, T0SZ 16, records faults)
 * whose tables map IOVA 0 read-write and 0x1000 read-only; the full
 * invalidation with a CMD_SYNC that writes an MSI; DMAs: a read and a write
 * at 0, a write at 0x1000 (permission fault, an event).
 */
function guest(): SmmuInput {
  const steps: Step[] = [
    mmio(R.STRTAB_BASE, 8, STRTAB), mmio(R.STRTAB_BASE_CFG, 4, 8n),
    mmio(R.CMDQ_BASE, 8, CMDQ | 4n), mmio(R.EVENTQ_BASE, 8, EVTQ | 4n),
    mmio(R.CR0, 4, 0xdn), // SMMUEN, EVENTQEN, CMDQEN
    ste(0b101),
    w(CDS, words((x) => { put(x, CD.T0SZ, 16); put(x, CD.EPD1, 1); put(x, CD.V, 1); put(x, CD.IPS, 5); put(x, CD.AA64, 1); put(x, CD.R, 1); put(x, CD.A, 1); put(x, CD.ASID, 1); addr(x, CD.TTB0, PT); })),
    w(PT, [(PT + 0x1000n) | 3n]), w(PT + 0x1000n, [(PT + 0x2000n) | 3n]), w(PT + 0x2000n, [(PT + 0x3000n) | 3n]),
    w(PT + 0x3000n, [(RAM + 0x80_0000n) | 3n | (1n << 10n) | 0x40n, (RAM + 0x80_1000n) | 3n | (1n << 10n) | 0xc0n]),
    ...commands(0, cfgiAll, tlbiAll, sync(MSI, 0x1234)),
    dma('dma.read', 0n), dma('dma.write', 0n), dma('dma.write', 0x1000n),
  ];
  return { machine: { profile: 'default', ram_mib: 32, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] }, steps };
}
/** The step of the first PROD write (the full invalidation and its CMD_SYNC). */
const FIRST_DOORBELL = 14;

const run = (input: SmmuInput) => new SmmuExecutor(module).run(input);
type Unit = Record<string, (...a: unknown[]) => unknown>;
const unit = SmmuUnit.prototype as unknown as Unit;

describe('SMMUv3 fuzzer', () => {
  it('is silent on every SMMUv3 golden scenario, and judges their DMA against the reference', async () => {
    const seeds = smmuSeeds();
    expect(seeds.length).toBeGreaterThanOrEqual(150);
    let judged = 0;
    for (const s of seeds) {
      const r = await run(s);
      expect(r.finding, JSON.stringify(r.finding)).toBeUndefined();
      judged += r.dmaJudged;
    }
    expect(judged).toBeGreaterThanOrEqual(20); // most golden DMAs follow targeted CFGI/TLBI only: the caches are not known clean
  });

  it('is silent on the directed guest, whose DMAs it judged', async () => {
    const r = await run(guest());
    expect(r.finding).toBeUndefined();
    expect(r.dmaJudged).toBe(2); // the read and the write at 0 (the write at 0x1000 faulted)
  });

  it('writes to pages the SMMU never read keep its caches known clean; a write to a table it read does not', async () => {
    const g = guest();
    const unrelated = await run({ ...g, steps: [...g.steps, w(RAM + 0x90_0000n, [1n]), dma('dma.read', 0n)] });
    expect(unrelated.finding).toBeUndefined();
    expect(unrelated.dmaJudged).toBe(3); // the read after the write is judged too
    const leaf = await run({ ...g, steps: [...g.steps, w(PT + 0x3000n, [(RAM + 0x81_0000n) | 3n | (1n << 10n) | 0x40n]), dma('dma.read', 0n)] });
    expect(leaf.finding).toBeUndefined(); // the IOTLB may still hold the old page: not judged
    expect(leaf.dmaJudged).toBe(2);
  });

  it('dma-unmapped: a unit that ignores CFGI keeps serving an STE the guest set to abort', async () => {
    patch(unit, 'invalidateSte', () => {});
    const g = guest();
    const r = await run({ ...g, steps: [...g.steps, ste(0), ...commands(3, cfgiAll, tlbiAll, sync(MSI, 1)), dma('dma.read', 0n)] });
    expect(r.finding?.kind).toBe('dma-unmapped');
    expect(r.finding?.message).toMatch(/dma.read 00:03.0 at 0x0 completed, but the tables say: STE.Config = abort/);
  });

  it('event: a fault recorded under another StreamID', async () => {
    const failed = unit['failed']!;
    patch(unit, 'failed', function (this: unknown, ev: unknown, record: unknown) { return failed.call(this, { ...(ev as object), sid: (ev as { sid: number }).sid + 1 }, record); });
    const r = await run(guest());
    expect(r.finding?.kind).toBe('event');
    expect(r.finding?.message).toMatch(/event type 0x13 for dma.write 00:03.0 at 0x1000 names StreamID 0x19, not 0x18/);
  });

  it('cmdq: a CMD_SYNC (CS = SIG_IRQ) whose MSI write is dropped', async () => {
    const real = unit['sync']!;
    patch(unit, 'sync', function (this: unknown, cs: unknown, ...rest: unknown[]) { if (cs !== 1) real.call(this, cs, ...rest); });
    const r = await run(guest());
    expect(r.finding?.kind).toBe('cmdq');
    expect(r.finding?.step).toBe(FIRST_DOORBELL);
    expect(r.finding?.message).toMatch(/CMD_SYNC \(CS = SIG_IRQ, MSI 0x40130000\) completed, but memory there holds 0x0, not MSIData 0x1234/);
  });

  it('cmdq: a CMD_SYNC MSI to an address with no RAM and no doorbell that does not abort', async () => {
    const g = guest();
    const input = { ...g, steps: [...g.steps, ...commands(3, sync(0x1000n, 1))] };
    expect((await run(input)).finding).toBeUndefined(); // the real unit aborts it
    const real = unit['signal']!;
    patch(unit, 'signal', function (this: unknown, source: unknown, addr: unknown, data: unknown) { if (addr !== 0x1000) real.call(this, source, addr, data); });
    const r = await run(input);
    expect(r.finding?.kind).toBe('cmdq');
    expect(r.finding?.message).toMatch(/MSI 0x1000: no RAM or doorbell there\) completed, but GERROR.MSI_CMDQ_ABT_ERR is not active/);
  });

  it('cmdq: a doorbell that consumes only some commands', async () => {
    const real = unit['consumeCommands']!;
    let n = 0;
    patch(unit, 'consumeCommands', function (this: unknown) { if (n++ !== 1) real.call(this); }); // the CR0 write's call runs, the first PROD write's not
    const r = await run(guest());
    expect(r.finding?.kind).toBe('cmdq');
    expect(r.finding?.message).toMatch(/CMDQEN = 1, no CMDQ_ERR, yet 3 command\(s\) are left unconsumed/);
  });

  it('cmdq: CONS that passes PROD', async () => {
    // The oracles read registers through the unit's 4-byte MMIO read (read32).
    const read = SmmuUnit.prototype.read32;
    patch(SmmuUnit.prototype, 'read32', function (this: SmmuUnit, offset: number) {
      const v = read.call(this, offset);
      return offset === R.CMDQ_CONS && v === 3 ? 4 : v;
    });
    const r = await run(guest());
    expect(r.finding?.kind).toBe('cmdq');
    expect(r.finding?.message).toMatch(/CONS passed PROD \(CONS 0x0 -> 0x4, PROD 0x3\)/);
  });

  it('gerror: an error raised again while active toggles GERROR back', async () => {
    patch(unit, 'gerrorActive', () => false);
    const g = guest();
    // Two CMD_SYNCs whose MSI address is not memory (MSI_CMDQ_ABT_ERR), one per doorbell.
    const r = await run({ ...g, steps: [...g.steps, ...commands(3, sync(0x1000n, 1)), ...commands(4, sync(0x1000n, 2))] });
    expect(r.finding?.kind, r.finding?.message).toBe('gerror');
    expect(r.finding?.message).toMatch(/GERROR bits 0x10 toggled while already active/);
  });

  it('inputs round-trip as scenario documents, SubstreamIDs included, and mutants stay valid and replayable', async () => {
    const g = guest();
    const withSsid = { ...g, steps: [...g.steps, dma('dma.read', 0x2000n, 3)] };
    expect(smmuInputFromDoc(JSON.parse(JSON.stringify(smmuInputToDoc(withSsid, 'x', ''))))).toEqual(withSsid);
    // On a profile that reproduces QEMU the SubstreamID is dropped (the scenario format refuses it there), the DMA kept.
    const q = smmuInputFromDoc(JSON.parse(JSON.stringify(smmuInputToDoc({ ...withSsid, machine: { ...g.machine, profile: 'qemu-10.0' } }, 'x', ''))));
    expect(q.steps.at(-1)).toEqual(dma('dma.read', 0x2000n));
    const rng = new Rng(5);
    for (let i = 0; i < 200; i++) {
      const m = mutateSmmu(g, rng, [g]).input;
      expect(smmuInputFromDoc(JSON.parse(JSON.stringify(smmuInputToDoc(m, 'x', '')))).steps).toEqual(m.steps);
      if (i % 20 === 0) await replayScenario(smmuInputToDoc(m, 'x', '')); // what `viommu replay` accepts
    }
  });

  it('a finding with a SubstreamID is a scenario `viommu replay` runs (the event it recorded, read back)', async () => {
    const failed = unit['failed']!;
    // A unit that records a SubstreamID event under the wrong SubstreamID.
    patch(unit, 'failed', function (this: unknown, ev: unknown, record: unknown) {
      const e = ev as { ssid?: number };
      return failed.call(this, e.ssid === undefined ? e : { ...e, ssid: e.ssid + 1 }, record);
    });
    const g = guest();
    const enable: Step = { op: 'pci.cfg.write', bdf: '00:03.0', offset: CAPS.pasid + 6, size: 2, value: 1n }; // PASID Enable
    const input = { ...g, steps: [enable, ...g.steps, dma('dma.read', 0n, 5)] }; // S1CDMax = 0: C_BAD_SUBSTREAMID, the second event
    const r = await run(input);
    expect(r.finding?.kind).toBe('event');
    expect(r.finding?.message).toMatch(/event type 0x8 for dma.read 00:03.0 SSID 5 at 0x0 has SSV = 1, SSID 6/);
    const dir = mkdtempSync(join(tmpdir(), 'smmu-finding-'));
    try {
      const file = join(dir, 'finding.scenario.json');
      const doc = smmuInputToDoc({ ...input, steps: [...input.steps, { op: 'mem.read', gpa: RAM + 0x12_0020n, len: 8 }] }, 'finding', r.finding!.message);
      writeFileSync(file, formatScenarioDoc(doc));
      const io = { stdout: '', stderr: '', out: (t: string) => { io.stdout += t; }, err: (t: string) => { io.stderr += t; } };
      expect(await main(['node', 'viommu', 'replay', file], io)).toBe(0);
      const w0 = Buffer.from(JSON.parse(io.stdout).observations.at(-1).data as string, 'hex').readBigUInt64LE(0);
      expect([Number(w0 & 0xffn), Number((w0 >> 12n) & 0xf_ffffn)]).toEqual([0x08, 6]); // the bug, reproduced by the replay
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a short campaign from golden seeds finds a dropped CMD_SYNC MSI by itself', async () => {
    const real = unit['sync']!;
    patch(unit, 'sync', function (this: unknown, cs: unknown, ...rest: unknown[]) { if (cs !== 1) real.call(this, cs, ...rest); });
    // IDR0.MSI (CMD_SYNC MSI writes) is the default profile's; the QEMU profiles signal a wired line.
    const seeds = smmuSeeds().slice(0, 12).map((x) => ({ ...x, machine: { ...x.machine, profile: 'default' } }));
    const stats = await runSmmuCampaign({ module, seeds, runs: 300, seed: 7 });
    expect(stats.bugs.map((b) => b.finding.kind)).toContain('cmdq');
    expect(stats.bugs.find((b) => b.finding.kind === 'cmdq')?.finding.message).toMatch(/CMD_SYNC \(CS = SIG_IRQ/);
  }, 120_000);
});
