// host/src/smmu/core-abi.ts must equal asm/assembly/abi/smmu-layout.ts:
// every `export const` is parsed from the asm source and compared, both ways.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as A from '../../host/src/smmu/core-abi.js';

describe('SMMUv3 ABI constants', () => {
  const src = readFileSync(new URL('../assembly/abi/smmu-layout.ts', import.meta.url), 'utf8');
  const asm: Record<string, number> = {};
  for (const m of src.matchAll(/export const (\w+): u32 = ([^;]+);/g)) {
    const expr = m[2]!.replace(/<u32>/g, '').replace(/_/g, '');
    if (!/^[0-9a-fx()<\s]+$/i.test(expr)) throw new Error(`cannot evaluate ${m[1]}`);
    asm[m[1]!] = Number(Function(`"use strict"; return (${expr});`)());
  }
  const host = Object.fromEntries(Object.entries(A).filter(([, v]) => typeof v === 'number')) as Record<string, number>;
  it('parses every constant', () => expect(Object.keys(asm).length).toBeGreaterThan(30));
  it('the host mirror equals the asm side, both ways', () => expect(host).toEqual(asm));
});
