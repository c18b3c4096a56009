// The seed flow arm-bind-pasid-table passes its own checks and narrates what it claims.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasmPath } from '../src/core/load-node.js';
import { armBindPasidTable } from '../src/flows/arm-bind-pasid-table.js';
import { flowNamed } from '../src/flows/index.js';

describe.skipIf(!existsSync(wasmPath()))('flow arm-bind-pasid-table', () => {
  it('binds the guest-owned CD table, DMAs with two guest SSIDs, invalidates, forwards a fault with the vSID, unbinds', async () => {
    const lines: string[] = [];
    const r = await armBindPasidTable.run({ say: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect(r.failures).toEqual([]);
    expect(flowNamed('arm-bind-pasid-table')).toBe(armBindPasidTable);
    expect(text).toMatch(/allocated SSIDs 1 and 2 itself/);
    expect(text).toMatch(/Config 111 \(nested\), S1ContextPtr 0x[0-9a-f]+ \(a guest-physical address\)/);
    expect(text).toMatch(/nested-vsva: the host owns the PASID table/);
    expect(text).toMatch(/before CFGI_CD \+ TLBI_NH_ASID the device used the cached CD \(true\), after them the new one \(true\)/);
    expect(text).toMatch(/guest event queue: type 0x10 sid 0x18 ssid 1/);
  });
});
