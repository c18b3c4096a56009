import { describe, expect, it } from 'vitest';
import { ScenarioApics } from '../src/scenario/apics.js';

// ScenarioApics.clear (a reused fuzz machine's reset, fuzz/machine-pool.ts)
// must leave the APICs exactly as a new instance of the same count starts.
const reads = (a: ScenarioApics) => Array.from({ length: a.count }, (_, id) => a.read(id));
const msi = (dest: number): bigint => 0xfee0_0000n | (BigInt(dest) << 12n);

describe('ScenarioApics.clear', () => {
  it('clears every IRR and TMR bit an interrupt set, and later interrupts land as in a new instance', () => {
    const a = new ScenarioApics(3);
    a.deliver(msi(1), 0x41); // fixed, edge
    a.deliver(msi(0xff), 0x8052); // fixed, level, broadcast
    a.deliver(msi(2), 0x120 | 0x8000); // lowest priority, level
    expect(reads(a)).not.toEqual(reads(new ScenarioApics(3)));
    a.clear();
    expect(reads(a)).toEqual(reads(new ScenarioApics(3)));
    const b = new ScenarioApics(3);
    for (const x of [a, b]) x.deliver(msi(2), 0x8033);
    expect(reads(a)).toEqual(reads(b));
    expect(a.read(2)).toEqual({ vectors: [0x33], level: [0x33] });
  });
});
