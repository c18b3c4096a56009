/** Small DOM and formatting helpers shared by the page's panels. */
import * as K from '../../host/src/browser.js';

type Child = Node | string | number | bigint | false | null | undefined;

/** Creates an element with attributes (`on*` functions become listeners) and children. */
export function h<T extends keyof HTMLElementTagNameMap>(
  tag: T, attrs: Record<string, unknown> = {}, ...children: Child[]
): HTMLElementTagNameMap[T] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === false || c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces the children of `el`. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  for (const c of children) if (c !== false && c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
}

/** The element with `id`; throws naming it when missing. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`id: no element #${id} in the page`);
  return el as T;
}

/** `0x` + lowercase hex, zero-padded to `digits`. */
export function hex(v: bigint | number, digits = 0): string {
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

/** Parses a user-typed number, `0x...` hex or decimal, in 0..`max`; throws naming `what`. */
export function parseNum(text: string, what: string, max = (1n << 64n) - 1n): bigint {
  const t = text.trim().replace(/_/g, '');
  if (!/^0x[0-9a-f]+$/i.test(t) && !/^[0-9]+$/.test(t)) throw new Error(`${what}: "${text}" is not a number (use 0x... or decimal)`);
  const v = BigInt(t);
  if (v > max) throw new Error(`${what}: ${text} is larger than ${hex(max)}`);
  return v;
}

/** Parses a user-typed integer in min..max; throws naming `what`. */
export function parseIntIn(text: string, what: string, min: number, max: number): number {
  const v = Number(parseNum(text, what, BigInt(max)));
  if (v < min) throw new Error(`${what}: ${text} is smaller than ${min}`);
  return v;
}

/** Shows a form's outcome in its result element; an error replaces the old result and is marked (class bad, data-error). */
export function showResult(el: HTMLElement, text: string, error = false): void {
  el.textContent = error ? `error: ${text}` : text;
  el.classList.toggle('bad', error);
  if (error) el.dataset['error'] = 'true';
  else delete el.dataset['error'];
}

const FAULT_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(K).filter(([k]) => k.startsWith('FR_')).map(([k, v]) => [v as number, k.slice(3)]),
);

/** "0x6 READ" style name of a VT-d fault reason code (§7.1.3 / appendix). */
export function faultName(code: number): string {
  return `${hex(code)} ${FAULT_NAMES.get(code) ?? 'unknown'}`;
}
