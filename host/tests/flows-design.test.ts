/**
 * The flows of issue 24 (the rest of the design): each passes its own
 * checks and narrates what it claims. Their guest-driven suites are in
 * firmware-tests/cases/ (interrupt-remapping/, ...).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasmPath } from '../src/core/load-node.js';
import { interruptRemap } from '../src/flows/interrupt-remap.js';
import { vcmdPasid } from '../src/flows/vcmd-pasid.js';

async function narrate(flow: { run(io: { say(l: string): void }): Promise<{ failures: readonly string[] }> }) {
  const lines: string[] = [];
  const r = await flow.run({ say: (l) => lines.push(l) });
  return { failures: r.failures, text: lines.join('\n') };
}

describe.skipIf(!existsSync(wasmPath()))('design flows', () => {
  it('interrupt-remap: remapped delivery, IEC invalidation, source-id and compatibility faults', async () => {
    const { failures, text } = await narrate(interruptRemap);
    expect(failures).toEqual([]);
    expect(text).toMatch(/vector 0x41 to APIC 3/);
    expect(text).toMatch(/before the IEC invalidation APIC 3 \(cached entry\), after it APIC 5/);
    expect(text).toMatch(/fault 0x26 from 0x20/);
    expect(text).toMatch(/blocked \(fault 0x25\)/);
  });

  it('vcmd-pasid: PASIDs from the host through VCMD, quota status, identity on the host, free while bound', async () => {
    const { failures, text } = await narrate(vcmdPasid);
    expect(failures).toEqual([]);
    expect(text).toMatch(/VCMD allocate x3 -> PASID \d+, PASID \d+, status 16/);
    expect(text).toMatch(/guest PASID (\d+) -> host PASID \1/);
  });
});
