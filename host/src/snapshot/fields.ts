/**
 * Saving the plain fields (numbers, booleans, bigints) of a model object
 * whose owner does not expose a state API yet (the VT-d unit's invalidation
 * queue, fault recorder, latched root table). Only own fields of those
 * primitive types are touched; restore writes back exactly the fields that
 * exist on the target with the same type.
 */
import type { ByteReader, ByteWriter } from './format.js';

type Plain = number | boolean | bigint;

/** Writes the plain own fields of `obj` (name, kind, value). */
export function savePlainFields(w: ByteWriter, obj: object): void {
  const entries = Object.entries(obj).filter(([, v]) => ['number', 'boolean', 'bigint'].includes(typeof v)) as [string, Plain][];
  w.u32(entries.length);
  for (const [k, v] of entries) {
    w.text(k);
    if (typeof v === 'bigint') w.u8(2).u64(v);
    else if (typeof v === 'boolean') w.u8(1).bool(v);
    else w.u8(0).text(String(v));
  }
}

/** Reads fields saved by savePlainFields into `obj`; throws naming a field of the wrong kind. */
export function loadPlainFields(r: ByteReader, obj: object, what: string): void {
  const target = obj as Record<string, unknown>;
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const k = r.text();
    const kind = r.u8();
    const v: Plain = kind === 2 ? r.u64() : kind === 1 ? r.bool() : Number(r.text());
    if (kind > 2 || typeof target[k] !== typeof v) throw new Error(`snapshot: ${what}.${k} does not match this build`);
    target[k] = v;
  }
}
