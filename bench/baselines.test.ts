/**
 * The native C and plain-JS baselines implement the same algorithm: same
 * translations, same IOTLB hit and PTE-read counts, on every setup kind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsTranslator } from './js-baseline/translator.js';
import { JsTarget } from './js-baseline/target.js';
import { buildNative, NativeTarget } from './native/driver.js';
import { uniformOrder } from './workloads/orders.js';
import { buildSetup, requestsFor, type SetupSpec } from './workloads/setups.js';

const geometry = { iotlbSetsLg2: 4, iotlbWays: 4 };
const specs: SetupSpec[] = [
  { kind: 'ss', levels: 3, pageLg2: 12, pages: 300 },
  { kind: 'ss', levels: 5, pageLg2: 21, pages: 40 },
  { kind: 'fs', levels: 4, pageLg2: 12, pages: 300 },
  { kind: 'nested', levels: 4, pageLg2: 12, pages: 300 },
  { kind: 'nested', levels: 5, pageLg2: 21, pages: 40 },
];

describe('JS baseline translations', () => {
  it.each(specs)('maps every page of $kind$levels onto the data area (pageLg2 $pageLg2)', (spec) => {
    const setup = buildSetup(spec);
    const tr = new JsTranslator(setup.image.data(), setup.ramSize, geometry);
    tr.setRoot(setup.rootTable);
    const pageSize = 2 ** spec.pageLg2, dataBase = 2 ** 21; // data area is the first 2 MiB-aligned allocation
    for (let i = 0; i < spec.pages; i += 7) {
      const iova = setup.iovaBase + i * pageSize + 5;
      expect(tr.translate(setup.sid, setup.pasid, Math.floor(iova / 2 ** 32), iova >>> 0, setup.access)).toBe(0);
      expect(tr.out.addrHi * 2 ** 32 + tr.out.addrLo).toBe(dataBase + (i % ((4 << 20) / pageSize)) * pageSize + 5);
      expect(tr.out.pageLg2).toBe(spec.pageLg2);
    }
    const unmapped = setup.iovaBase + spec.pages * pageSize;
    expect(tr.translate(setup.sid, setup.pasid, 0, unmapped >>> 0, setup.access)).not.toBe(0);
  });
});

const build = buildNative();
describe.skipIf(!build.ok)('native (lean and plain) and JS baselines agree', () => {
  let lean: NativeTarget, plain: NativeTarget;
  beforeAll(() => { if (build.ok) { lean = new NativeTarget(build, 'lean'); plain = new NativeTarget(build, 'plain'); } });
  afterAll(async () => { await lean?.close(); await plain?.close(); });

  it.each(specs)('counts the same hits and PTE reads on $kind$levels (pageLg2 $pageLg2)', async (spec) => {
    const setup = buildSetup(spec);
    const reqs = requestsFor(setup, uniformOrder(spec.pages, 2000, 7));
    const js = new JsTarget();
    const load = { image: setup.image.data(), ramSize: setup.ramSize, rootTable: setup.rootTable, geometry };
    for (const t of [lean, plain, js]) { await t.load(load); await t.setRequests(0, reqs); }
    const b = await js.run(0, 'percall', 2);
    for (const native of [lean, plain]) {
      for (const mode of ['batch', 'percall'] as const) {
        const a = await native.run(0, mode, 2);
        expect(a.okCount, `${native.name} ${mode}`).toBe(4000);
        expect({ ...a, ns: 0 }, `${native.name} ${mode}`).toEqual({ ...b, ns: 0 });
        await native.reset(); // empties every cache: the next mode starts as fresh
      }
    }
    expect(b.iotlbMisses).toBeGreaterThan(0);
    expect(b.pteReads).toBeGreaterThan(0);
  });
});
