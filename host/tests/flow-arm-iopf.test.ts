// The seed flow arm-iopf passes its own checks and narrates what it claims.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasmPath } from '../src/core/load-node.js';
import { armIopf } from '../src/flows/arm-iopf.js';
import { flowNamed } from '../src/flows/index.js';

describe.skipIf(!existsSync(wasmPath()))('flow arm-iopf', () => {
  it('serves an ATS miss through the guest PRI queue, refuses one, overflows and recovers', async () => {
    const lines: string[] = [];
    const r = await armIopf.run({ say: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect(r.failures).toEqual([]);
    expect(flowNamed('arm-iopf')).toBe(armIopf);
    expect(text).toMatch(/-> waiting on a page request; guest PRI queue: sid 0x18 ssid 1 addr 0x70000000 PRG 0 Last R/);
    expect(text).toMatch(/CMD_PRI_RESP Success \+ CMD_SYNC; device: done, its buffer holds 0x44332211/);
    expect(text).toMatch(/guest answered InvalidRequest -> failed \(no permission\)/);
    expect(text).toMatch(/PRIQ_PROD.OVFLG 1; the SMMU answered Success itself 16 times/);
    expect(text).toMatch(/overflow seen: true/);
  });
});
