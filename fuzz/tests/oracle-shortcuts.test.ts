// The oracles' shortcuts (fuzz/cache-scope-oracle.ts: a cache whose fill
// counters have not moved since it was seen empty is not read again) must
// change nothing: the same verdicts, observations and coverage features as
// the plain oracles (`plainOracles`), on golden seeds and their mutants, on
// the real model and on one that skips invalidations (many cache-scope
// findings), and a cache filled again after it was seen empty is read again.
import { describe, expect, it } from 'vitest';
import { Core } from '../../host/src/core/core.js';
import { Executor, loadFuzzModule, type ExecResult } from '../execute.js';
import type { FuzzInput, Step } from '../input.js';
import { seedsAndMutants } from './golden-mutants.js';
import { patch } from './patch.js';

const { module } = loadFuzzModule();

const inputs = (n: number): FuzzInput[] => seedsAndMutants(4, 1, 19, n);

const verdict = (r: ExecResult) => ({ finding: r.finding, features: r.features, observations: r.observations });

async function compare(all: readonly FuzzInput[]): Promise<number> {
  const fast = new Executor(module);
  const plain = new Executor(module, { plainOracles: true });
  let found = 0;
  for (const input of all) {
    const a = verdict(await fast.run(input));
    expect(a).toEqual(verdict(await plain.run(input)));
    if (a.finding) found++;
  }
  return found;
}

const w = (gpa: number, u64: bigint[]): Step => ({ op: 'mem.write', gpa: BigInt(gpa), u64 });
const mmio = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value });
const dma: Step = { op: 'dma.read', bdf: '00:03.0', iova: 0n, len: 8 };
/** Queue descriptor `index` (at 0x180000): a global IOTLB invalidation (VT-d §6.5.2.3, type 2, G=01), and the tail moved past it. */
const globalIotlb = (index: number): Step[] => [w(0x180000 + 16 * index, [0x12n, 0n]), mmio(0x88, 8, BigInt(16 * (index + 1)))];

describe('oracle shortcuts', () => {
  it('change no verdict, observation or feature of golden seeds and mutants', async () => {
    expect(await compare(inputs(120))).toBe(0);
  }, 300_000);

  it('change no verdict when the model leaves entries behind (cache-scope findings)', async () => {
    patch(Core.prototype, 'invIotlbDomain', () => {});
    patch(Core.prototype, 'invContextGlobal', () => {});
    patch(Core.prototype, 'invPasidCache', () => {});
    patch(Core.prototype, 'invIotlbPageRaw', () => {});
    patch(Core.prototype, 'invContextDevice', () => {});
    expect(await compare(inputs(60))).toBeGreaterThan(5);
  }, 300_000);

  it('read a cache again once it may have been filled after it was seen empty', async () => {
    let calls = 0;
    const real = Core.prototype.invIotlbGlobal;
    patch(Core.prototype, 'invIotlbGlobal', function (this: Core) {
      if (++calls !== 2) real.call(this); // the second global invalidation is lost
    });
    const input: FuzzInput = {
      machine: { profile: 'default', ram_mib: 16, iommu: { scalable_mode: false, caching_mode: false, aw_bits: 48 }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] },
      steps: [
        w(0x100000, [0x101001n, 0n]), w(0x101180, [0x200001n, 0x102n]), // root and context entry of 00:03.0, domain 1
        w(0x200000, [0x201003n]), w(0x201000, [0x202003n]), w(0x202000, [0x203003n]), w(0x203000, [0x300003n]),
        mmio(0x20, 8, 0x100000n), mmio(0x18, 4, 0x4000_0000n), mmio(0x18, 4, 0x8000_0000n), // SRTP, TE
        mmio(0x90, 8, 0x180000n), mmio(0x18, 4, 0x8400_0000n), // IQA, QIE
        ...globalIotlb(0), // empties the (empty) IOTLB: the oracle sees it empty
        dma, // fills it
        ...globalIotlb(1), // lost
      ],
    };
    const r = await new Executor(module).run(input);
    expect(r.finding).toMatchObject({ kind: 'cache-scope', step: input.steps.length - 1 });
    expect(r.finding!.message).toMatch(/iotlbGlobal.*left IOTLB entry/);
  });
});
