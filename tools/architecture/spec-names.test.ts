/**
 * One spec name per field across the two languages: the core's spec files
 * (asm/assembly/spec/*.ts, AssemblyScript, read as text) and the host's
 * (host/src/vtd/spec/*.ts, imported) name every constant and field accessor
 * alike, with the same value, in the VT-d 3.4+/4.x spelling (first-stage
 * FS*, second-stage SS*: CAP.FS5LP, CAP.SSLPS, ECAP.FSTS/SSTS, FSPTPTR, ...).
 *
 * How an AssemblyScript constant finds its host twin, in this order:
 * the same export name (`CTX_ENTRY_BYTES`); `GROUP_KEY` for an exported
 * object `GROUP` with key `KEY` (`PGTT_FIRST_STAGE` = `PGTT.FIRST_STAGE`);
 * `<prefix>_<FIELD>` or `<prefix>_<FIELD>_MASK` = the mask of layout field
 * FIELD (`PE_P`, `ROOT_CTP_MASK`); `<prefix>_[LO_|HI_|Q<n>_]RSVD` = the
 * layout's reserved bits of that qword. A field accessor whose doc comment
 * says where it reads (`qw2 bits 63:12: ...`) must carry the name of the
 * layout field at exactly those bits (`peFsPtPtr` for FSPTPTR). The prefixes
 * pair each AssemblyScript file with its host layouts, below.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fieldMask, reservedMask, type Layout } from '../../host/src/vtd/spec/field-codec.js';
import * as rootEntry from '../../host/src/vtd/spec/root-entry.js';
import * as smRootEntry from '../../host/src/vtd/spec/sm-root-entry.js';
import * as contextEntry from '../../host/src/vtd/spec/context-entry.js';
import * as smContextEntry from '../../host/src/vtd/spec/sm-context-entry.js';
import * as pasidEntry from '../../host/src/vtd/spec/pasid-entry.js';
import * as ssPte from '../../host/src/vtd/spec/ss-pte.js';
import * as fsPte from '../../host/src/vtd/spec/fs-pte.js';
import * as registers from '../../host/src/vtd/spec/registers.js';

const ASM = new URL('../../asm/assembly/', import.meta.url);

/** Every .ts file under asm/assembly, relative to it. */
function asmSources(dir = ''): string[] {
  return readdirSync(new URL(dir, ASM)).flatMap((name) => {
    const rel = `${dir}${name}`;
    if (statSync(new URL(rel, ASM)).isDirectory()) return asmSources(`${rel}/`);
    return name.endsWith('.ts') ? [rel] : [];
  });
}

/** One AssemblyScript spec file and its host twin: constant prefixes and accessor prefixes -> host layouts. */
interface Pair {
  readonly asm: string;
  readonly host: Record<string, unknown>;
  readonly constants?: Record<string, Layout>;
  readonly accessors?: Record<string, Layout>;
  /** Constants that are the core's policy, not a spec field (kept out of the comparison, with the reason). */
  readonly policy?: Record<string, string>;
}

const PAIRS: readonly Pair[] = [
  { asm: 'spec/root-entry.ts', host: rootEntry, constants: { ROOT: rootEntry.ROOT_ENTRY } },
  { asm: 'spec/sm-root-entry.ts', host: smRootEntry, constants: { SM_ROOT: smRootEntry.SM_ROOT_ENTRY } },
  { asm: 'spec/context-entry.ts', host: contextEntry, constants: { CTX: contextEntry.CONTEXT_ENTRY }, accessors: { ctx: contextEntry.CONTEXT_ENTRY } },
  {
    asm: 'spec/sm-context-entry.ts', host: smContextEntry,
    constants: { SMCTX: smContextEntry.SM_CONTEXT_ENTRY }, accessors: { smCtx: smContextEntry.SM_CONTEXT_ENTRY },
  },
  {
    asm: 'spec/pasid-entry.ts', host: pasidEntry,
    constants: { PDIR: pasidEntry.PASID_DIR_ENTRY, PE: pasidEntry.PASID_ENTRY },
    accessors: { pdir: pasidEntry.PASID_DIR_ENTRY, pe: pasidEntry.PASID_ENTRY },
  },
  {
    asm: 'spec/ss-pte.ts', host: ssPte, constants: { SS: ssPte.SS_PTE },
    policy: { SNP_RESERVED: 'SNP policy switch of the walker', SNP_LEAF_OK: 'SNP policy switch', SNP_IGNORED: 'SNP policy switch' },
  },
  { asm: 'spec/fs-pte.ts', host: fsPte, constants: { FS: fsPte.FS_PTE } },
  { asm: 'spec/registers.ts', host: registers },
];

/** `export const NAME: type = value;` of an AssemblyScript file, values as bigint (undefined if not a literal). */
function asmConstants(text: string): Map<string, bigint | undefined> {
  const out = new Map<string, bigint | undefined>();
  for (const m of text.matchAll(/export const (\w+): \w+ = ([^;]+);/g)) {
    const v = m[2]!.replaceAll('_', '').replace(/<u64>|<u32>/g, '').trim();
    const shift = /^(\w+)\s*<<\s*(\d+)$/.exec(v);
    out.set(m[1]!, shift ? BigInt(shift[1]!) << BigInt(shift[2]!) : /^(0x[0-9a-f]+|\d+)$/i.test(v) ? BigInt(v) : undefined);
  }
  return out;
}

/** Field accessors with a position in their doc comment: name, qword, hi, lo. */
function asmAccessors(text: string): { name: string; word: number; hi: number; lo: number }[] {
  const re = /\/\*\*\s*qw(\d) bits? (\d+)(?::(\d+))?:[^*]*\*\/\s*(?:\/\/[^\n]*\n\s*)?(?:@inline\s+)?export function (\w+)/g;
  return [...text.matchAll(re)].map((m) => ({ name: m[4]!, word: Number(m[1]), hi: Number(m[2]), lo: Number(m[3] ?? m[2]) }));
}

const norm = (s: string): string => s.replaceAll('_', '').toLowerCase();
const asBig = (v: unknown): bigint | undefined => (typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : undefined);

/** The host value an AssemblyScript constant must equal, or why none was found. */
function hostTwin(pair: Pair, name: string): bigint | string {
  const direct = asBig(pair.host[name]);
  if (direct !== undefined) return direct;
  for (let i = name.indexOf('_'); i > 0; i = name.indexOf('_', i + 1)) {
    const group = pair.host[name.slice(0, i)];
    if (group && typeof group === 'object') {
      const v = asBig((group as Record<string, unknown>)[name.slice(i + 1)]);
      if (v !== undefined) return v;
    }
  }
  const prefix = Object.keys(pair.constants ?? {}).filter((p) => name.startsWith(`${p}_`)).sort((a, b) => b.length - a.length)[0];
  if (prefix === undefined) return `no host constant, object key or layout prefix names ${name}`;
  const layout = pair.constants![prefix]!;
  const rest = name.slice(prefix.length + 1);
  const rsvd = /^(?:(LO|HI|Q(\d))_)?RSVD$/.exec(rest);
  if (rsvd) return reservedMask(layout)[rsvd[1] === 'HI' ? 1 : rsvd[2] !== undefined ? Number(rsvd[2]) : 0] ?? 0n;
  const field = layout[rest] ?? layout[rest.replace(/_MASK$/, '')];
  if (field === undefined || field.kind === 'rsvd') return `${name}: the host layout has no field ${rest}`;
  return fieldMask(field);
}

describe('spec names: AssemblyScript == TypeScript', () => {
  for (const pair of PAIRS) {
    const text = readFileSync(new URL(pair.asm, ASM), 'utf8');
    it(`${pair.asm}: every constant has its host twin, same name, same value`, () => {
      const bad: string[] = [];
      for (const [name, value] of asmConstants(text)) {
        if (pair.policy?.[name]) continue;
        const twin = hostTwin(pair, name);
        if (typeof twin === 'string') bad.push(twin);
        else if (value !== twin) bad.push(`${name}: core 0x${value?.toString(16)} != host 0x${twin.toString(16)}`);
      }
      expect(bad).toEqual([]);
      expect(asmConstants(text).size).toBeGreaterThan(0);
    });
    if (pair.accessors) {
      it(`${pair.asm}: every field accessor is named after the field it reads`, () => {
        const accessors = asmAccessors(text);
        const bad = accessors.flatMap((a) => {
          const prefix = Object.keys(pair.accessors!).find((p) => a.name.startsWith(p) && /[A-Z]/.test(a.name[p.length] ?? ''));
          if (prefix === undefined) return [`${a.name}: no accessor prefix (${Object.keys(pair.accessors!).join(', ')})`];
          const hit = Object.entries(pair.accessors![prefix]!).find(([, f]) => f.kind !== 'rsvd' && f.word === a.word && f.hi === a.hi && f.lo === a.lo);
          if (hit === undefined) return [`${a.name}: the host layout has no field at qw${a.word} ${a.hi}:${a.lo}`];
          return norm(hit[0]) === norm(a.name.slice(prefix.length)) ? [] : [`${a.name} reads ${hit[0]}: name it ${prefix}${hit[0]}`];
        });
        expect(bad).toEqual([]);
        expect(accessors.length).toBeGreaterThan(0);
      });
    }
  }

  it('each configuration key that mirrors a CAP / ECAP field carries its name (abi/layout.ts, VT-d §11.4.2-3)', () => {
    const text = readFileSync(new URL('abi/layout.ts', ASM), 'utf8');
    const keys = (o: object) => new Set(Object.keys(o).map((k) => k.replace(/_SHIFT$/, '').toUpperCase()));
    const fields = { CAP: keys(registers.CAP), ECAP: keys(registers.ECAP) };
    const bad: string[] = [];
    let seen = 0;
    for (const m of text.matchAll(/\/\*\*\s*(E?CAP)\.(\w+)[^*]*\*\/\s*export const (CFG_\w+)/g)) {
      const [, reg, field, name] = m as unknown as [string, 'CAP' | 'ECAP', string, string];
      seen++;
      if (!fields[reg].has(field)) bad.push(`${name}: ${reg}.${field} is not a field of host/src/vtd/spec/registers.ts ${reg}`);
      const want = reg === 'CAP' ? `CFG_${field}` : `CFG_ECAP_${field}`;
      if (name !== want) bad.push(`${name} mirrors ${reg}.${field}: name it ${want}`);
    }
    expect(bad).toEqual([]);
    expect(seen).toBeGreaterThan(10);
  });

  it('no translation mode, type or PGTT is compared with a bare number (asm/assembly)', () => {
    const bad = asmSources().flatMap((f) => readFileSync(new URL(f, ASM), 'utf8').split('\n')
      .filter((l) => /\b(rootTtm|ttm|pgtt|tt)\s*[!=]=\s*\d/.test(l)).map((l) => `${f}: ${l.trim()}`));
    expect(bad).toEqual([]);
  });
});
