/** Regenerates docs/API.md and requires every public export and public member to be documented. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { OUTPUT, undocumentedExports, undocumentedMembers, unexportedTypes, writeApiReference } from './generate.js';

describe('API reference', () => {
  it('covers every export of host/src/index.ts, each documented, members too', () => {
    const api = writeApiReference();
    expect(api.map((i) => i.name)).toEqual(expect.arrayContaining(['createMachine', 'Machine', 'VtdUnit', 'replayScenario']));
    const text = readFileSync(OUTPUT, 'utf8');
    for (const i of api) expect(text).toContain(`## ${i.name}`);
    expect(undocumentedExports(api)).toEqual([]);
    expect(undocumentedMembers(api)).toEqual([]);
    // The Node loader is the only thing the browser entry leaves out.
    expect(api.filter((i) => i.nodeOnly).map((i) => i.name).sort()).toEqual(['LoadOptions', 'loadCore', 'loadCoreSync', 'wasmPath']);
  }, 60_000);

  it('exports every type the public API names (DmaAttrs, ConfigSpace, DeviceKind, ...), so users can name them', () => {
    expect(unexportedTypes()).toEqual([]);
  }, 60_000);
});
