/**
 * Guest tables panel: the structures the unit would walk, read from guest
 * RAM as an expandable tree — root table (§9.1/§9.2), context entries
 * (§9.3/§9.4), PASID directory and table (§9.5/§9.6), first- and
 * second-stage paging structures (§9.7/§9.8). Nodes load when opened; open
 * nodes stay open across re-renders.
 */
import { readWords } from '../../host/src/tables/guest-ram.js';
import { decodeContextEntry } from '../../host/src/vtd/spec/context-entry.js';
import { decodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { decodePasidDirEntry, decodePasidEntry } from '../../host/src/vtd/spec/pasid-entry.js';
import { decodeRootEntry } from '../../host/src/vtd/spec/root-entry.js';
import { decodeSmContextEntry } from '../../host/src/vtd/spec/sm-context-entry.js';
import { decodeSmRootEntry } from '../../host/src/vtd/spec/sm-root-entry.js';
import type { Machine } from '../../host/src/browser.js';
import { byId, fill, h, hex } from './dom.js';
import type { Session } from './session.js';

/** A tree node; `children` is evaluated when the node is opened. */
interface TreeNode {
  readonly key: string;
  readonly label: string;
  readonly children?: () => TreeNode[];
}

/** Nodes the user opened, and closed; nodes above DEFAULT_OPEN_DEPTH start open. */
const open = new Set<string>();
const closed = new Set<string>();
const DEFAULT_OPEN_DEPTH = 2;
const PAGE_TABLE_ENTRIES = 512;

function words(m: Machine, gpa: bigint, n: number): bigint[] | undefined {
  try {
    return readWords(m.ram, gpa, n);
  } catch {
    return undefined; // outside RAM: the walker would fault too
  }
}

function flags(o: Record<string, unknown>, names: string[]): string {
  return names.filter((n) => o[n] === true).join(' ');
}

/** Paging structure at `table` (level = leaf level 0 .. top), `stage` fs or ss. */
function pageTable(m: Machine, key: string, table: bigint, level: number, base: bigint, stage: 'fs' | 'ss'): TreeNode[] {
  const all = words(m, table, PAGE_TABLE_ENTRIES);
  if (!all) return [{ key: `${key}/x`, label: `table ${hex(table)} is outside RAM` }];
  const out: TreeNode[] = [];
  all.forEach((w, i) => {
    const present = stage === 'fs' ? (w & 1n) === 1n : (w & 3n) !== 0n;
    if (!present) return;
    const iova = base + (BigInt(i) << BigInt(12 + 9 * level));
    const ps = level > 0 && ((w >> 7n) & 1n) === 1n;
    const addr = w & 0x000f_ffff_ffff_f000n;
    const perm = stage === 'fs'
      ? flags(decodeFsPte(w), ['RW', 'US', 'A', 'D', 'XD'])
      : ['R', 'W', 'X'].filter((_, b) => ((w >> BigInt(b)) & 1n) === 1n).join('');
    const k = `${key}/${i}`;
    const leaf = level === 0 || ps;
    const label = `[${i}] iova ${hex(iova)} ${leaf ? `→ ${stage === 'fs' ? 'page' : 'gpa'} ${hex(addr)}${ps ? ` (${level === 1 ? '2M' : '1G'})` : ''}` : `→ table ${hex(addr)}`} ${perm} (${hex(w, 16)})`;
    out.push(leaf ? { key: k, label } : { key: k, label, children: () => pageTable(m, k, addr, level - 1, iova, stage) });
  });
  return out.length ? out : [{ key: `${key}/e`, label: 'no present entries' }];
}

function pasidEntries(m: Machine, key: string, table: bigint, dirIndex: number): TreeNode[] {
  const out: TreeNode[] = [];
  for (let i = 0; i < 64; i++) {
    const w = words(m, table + BigInt(i * 64), 8);
    if (!w) return [{ key: `${key}/x`, label: `PASID table ${hex(table)} is outside RAM` }];
    const e = decodePasidEntry(w);
    if (!e.P) continue;
    const pasid = dirIndex * 64 + i;
    const k = `${key}/${pasid}`;
    const kids: TreeNode[] = [];
    if (e.PGTT === 1 || e.PGTT === 3) {
      kids.push({ key: `${k}/fs`, label: `first stage ${hex(e.FSPTPTR)} (${e.FSPM === 1 ? 5 : 4}-level)`, children: () => pageTable(m, `${k}/fs`, e.FSPTPTR, e.FSPM === 1 ? 4 : 3, 0n, 'fs') });
    }
    if (e.PGTT === 2 || e.PGTT === 3) {
      kids.push({ key: `${k}/ss`, label: `second stage ${hex(e.SSPTPTR)} (${e.AW + 2}-level)`, children: () => pageTable(m, `${k}/ss`, e.SSPTPTR, e.AW + 1, 0n, 'ss') });
    }
    const pgtt = ['?', 'first-stage', 'second-stage', 'nested', 'pass-through'][e.PGTT] ?? `reserved(${e.PGTT})`;
    out.push({ key: k, label: `PASID ${pasid}: ${pgtt} DID=${e.DID} ${flags(e, ['FPD', 'SRE', 'WPE'])}`, children: () => kids });
  }
  return out.length ? out : [{ key: `${key}/e`, label: 'no present PASID entries' }];
}

function pasidDirectory(m: Machine, key: string, dir: bigint, pdts: number): TreeNode[] {
  const n = Math.min(2 ** (pdts + 7), 256); // §9.4 PDTS: 2^(x+7) entries; the panel shows the first 256
  const all = words(m, dir, n);
  if (!all) return [{ key: `${key}/x`, label: `PASID directory ${hex(dir)} is outside RAM` }];
  const out: TreeNode[] = [];
  all.forEach((w, i) => {
    const e = decodePasidDirEntry([w]);
    if (e.P) out.push({ key: `${key}/${i}`, label: `dir[${i}] PASIDs ${i * 64}-${i * 64 + 63} → ${hex(e.SMPTBLPTR)}`, children: () => pasidEntries(m, `${key}/${i}`, e.SMPTBLPTR, i) });
  });
  return out.length ? out : [{ key: `${key}/e`, label: 'no present directory entries' }];
}

function contextEntries(m: Machine, key: string, bus: number, ctp: bigint, scalable: boolean, devfnBase: number): TreeNode[] {
  const size = scalable ? 32 : 16;
  const count = scalable ? 128 : 256;
  const all = words(m, ctp, (count * size) / 8);
  if (!all) return [{ key: `${key}/x`, label: `context table ${hex(ctp)} is outside RAM` }];
  const out: TreeNode[] = [];
  for (let i = 0; i < count; i++) {
    const w = all.slice((i * size) / 8, ((i + 1) * size) / 8);
    const devfn = devfnBase + i;
    const bdf = `${bus.toString(16).padStart(2, '0')}:${(devfn >> 3).toString(16).padStart(2, '0')}.${devfn & 7}`;
    const k = `${key}/${devfn}`;
    if (scalable) {
      const e = decodeSmContextEntry(w);
      if (e.P) out.push({ key: k, label: `${bdf}: PASID dir ${hex(e.PASIDDIRPTR)} RID_PASID=${e.RID_PASID} ${flags(e, ['FPD', 'DTE', 'PASIDE', 'PRE'])}`, children: () => pasidDirectory(m, k, e.PASIDDIRPTR, e.PDTS) });
    } else {
      const e = decodeContextEntry(w);
      if (!e.P) continue;
      const tt = ['untranslated', 'device-TLB', 'pass-through', 'reserved'][e.TT] ?? String(e.TT);
      out.push({ key: k, label: `${bdf}: DID=${e.DID} AW=${e.AW} (${e.AW + 2}-level) TT=${tt} ${flags(e, ['FPD'])} → ${hex(e.SSPTPTR)}`, children: e.TT === 2 ? undefined : () => pageTable(m, k, e.SSPTPTR, e.AW + 1, 0n, 'ss') });
    }
  }
  return out.length ? out : [{ key: `${key}/e`, label: 'no present context entries' }];
}

function rootEntries(m: Machine, rta: bigint, scalable: boolean): TreeNode[] {
  const all = words(m, rta, 512);
  if (!all) return [{ key: 'x', label: `root table ${hex(rta)} is outside RAM` }];
  const out: TreeNode[] = [];
  for (let bus = 0; bus < 256; bus++) {
    const w = all.slice(bus * 2, bus * 2 + 2);
    if (scalable) {
      const e = decodeSmRootEntry(w);
      if (e.LP) out.push({ key: `b${bus}l`, label: `bus ${bus} lower (devfn 0-127) → ${hex(e.LCTP)}`, children: () => contextEntries(m, `b${bus}l`, bus, e.LCTP, true, 0) });
      if (e.UP) out.push({ key: `b${bus}u`, label: `bus ${bus} upper (devfn 128-255) → ${hex(e.UCTP)}`, children: () => contextEntries(m, `b${bus}u`, bus, e.UCTP, true, 128) });
    } else {
      const e = decodeRootEntry(w);
      if (e.P) out.push({ key: `b${bus}`, label: `bus ${bus} → context table ${hex(e.CTP)}`, children: () => contextEntries(m, `b${bus}`, bus, e.CTP, false, 0) });
    }
  }
  return out.length ? out : [{ key: 'e', label: 'no present root entries' }];
}

function renderNode(n: TreeNode, depth = 0): HTMLElement {
  if (!n.children) return h('div', { class: 'leaf mono' }, n.label);
  const kids = n.children;
  const d = h('details', { 'data-key': n.key }, h('summary', { class: 'mono' }, n.label));
  const populate = (): void => {
    if (d.childElementCount === 1) d.append(...kids().map((k) => renderNode(k, depth + 1)));
  };
  if (open.has(n.key) || (depth < DEFAULT_OPEN_DEPTH && !closed.has(n.key))) {
    d.open = true;
    populate();
  }
  d.addEventListener('toggle', () => {
    if (d.open) {
      open.add(n.key);
      closed.delete(n.key);
      populate();
    } else {
      open.delete(n.key);
      closed.add(n.key);
    }
  });
  return d;
}

function render(s: Session): void {
  const m = s.machine;
  const gsts = m.vtd.regs.get('GSTS');
  const rtaddr = m.vtd.regs.get('RTADDR');
  const scalable = m.vtd.scalableMode();
  const rta = rtaddr & ~0xfffn;
  const head = `RTADDR ${hex(rtaddr)} (${scalable ? 'scalable' : 'legacy'} mode as latched by SRTP; RTPS=${(gsts >> 30n) & 1n}, TES=${(gsts >> 31n) & 1n})`;
  const tree = rta === 0n && ((gsts >> 30n) & 1n) === 0n
    ? [h('div', { class: 'note' }, 'No root table latched yet (RTADDR + GCMD.SRTP).')]
    : rootEntries(m, rta, scalable).map((n) => renderNode(n));
  fill(byId('tables-tree'), h('div', { class: 'mono' }, head), ...tree);
}

/** Wires the tables panel. */
export function initTablesView(s: Session): void {
  s.onChange(() => render(s));
}
