// host/src/core/constants.ts must equal the asm side (abi/layout.ts and
// spec/fault-reasons.ts): every `export const` is parsed from the asm
// sources and compared, in both directions.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as K from '../../host/src/core/constants.js';

function asmConstants(path: string, into: Record<string, number>): void {
  const src = readFileSync(new URL(path, import.meta.url), 'utf8');
  for (const m of src.matchAll(/export const (\w+): (\w+) = ([^;]+);/g)) {
    const expr = m[3]!.replace(/<u(32|64)>/g, '').replace(/_/g, '').replace(/\b([A-Z][A-Z0-9_]*)\b/g, (n) => {
      if (!(n in into)) throw new Error(`${path}: ${m[1]} uses unknown ${n}`);
      return String(into[n]);
    });
    if (!/^[-0-9a-fx()<>\s|]+$/i.test(expr)) throw new Error(`${path}: cannot evaluate ${m[1]} = ${m[3]}`);
    into[m[1]!] = Number(Function(`"use strict"; return (${expr});`)());
  }
}

describe('core constants', () => {
  const asm: Record<string, number> = {};
  asmConstants('../assembly/abi/layout.ts', asm);
  asmConstants('../assembly/spec/fault-reasons.ts', asm);
  const host = K as unknown as Record<string, number>;

  it('parses a plausible number of constants', () => {
    expect(Object.keys(asm).length).toBeGreaterThan(120);
  });
  it('every asm constant has the same value on the host', () => {
    const diff = Object.entries(asm).filter(([k, v]) => host[k] !== v).map(([k, v]) => `${k}: asm ${v} host ${host[k]}`);
    expect(diff).toEqual([]);
  });
  it('the host has no constant the asm side lacks', () => {
    expect(Object.keys(host).filter((k) => !(k in asm))).toEqual([]);
  });
  it('quirk bits are distinct single bits', () => {
    const q = Object.entries(asm).filter(([k]) => k.startsWith('QUIRK_')).map(([, v]) => v);
    expect(new Set(q).size).toBe(q.length);
    for (const v of q) expect(v & (v - 1)).toBe(0);
  });
});
