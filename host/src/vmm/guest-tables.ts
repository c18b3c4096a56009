/**
 * The VMM's reads of the guest's translation structures (what QEMU's
 * intel_iommu does when it shadows or binds): root and context entries
 * (§9.1-9.4), the PASID directory and table (§9.5, §9.6) and second-stage
 * leaves (§9.8). Guest tables may hold anything: every read is checked
 * against guest RAM, and a structure that is not present or points outside
 * RAM reads as `undefined`, never as an exception.
 */
import type { GuestMemory } from '../core/guest-memory.js';
import {
  decodeContextEntry, decodePasidDirEntry, decodePasidEntry, decodeSmContextEntry,
  decodeSmRootEntry, readWords, type ContextEntry, type PasidEntry, type SmContextEntry,
} from '../../../firmware-tests/lib/tables.js';

/** Reads `words` u64 at `gpa`, or undefined when they are not in guest RAM. */
function words(mem: GuestMemory, gpa: bigint, n: number): bigint[] | undefined {
  return mem.contains(gpa, n * 8) ? readWords(mem, gpa, n) : undefined;
}

/** §9.3 legacy context entry of `sid` under root table `rta`, if present. */
export function legacyContext(mem: GuestMemory, rta: bigint, sid: number): ContextEntry | undefined {
  const root = words(mem, rta + BigInt(sid >> 8) * 16n, 2);
  if (root === undefined || (root[0]! & 1n) === 0n) return undefined;
  const w = words(mem, (root[0]! & ~0xfffn) + BigInt(sid & 0xff) * 16n, 2);
  const ce = w && decodeContextEntry(w);
  return ce?.P ? ce : undefined;
}

/** §9.4 scalable-mode context entry of `sid` under root table `rta`, if present. */
export function smContext(mem: GuestMemory, rta: bigint, sid: number): SmContextEntry | undefined {
  const rw = words(mem, rta + BigInt(sid >> 8) * 16n, 2);
  if (rw === undefined) return undefined;
  const re = decodeSmRootEntry(rw);
  const upper = (sid & 0x80) !== 0;
  if (!(upper ? re.UP : re.LP)) return undefined;
  const w = words(mem, (upper ? re.UCTP : re.LCTP) + BigInt(sid & 0x7f) * 32n, 4);
  const ce = w && decodeSmContextEntry(w);
  return ce?.P ? ce : undefined;
}

/** §9.6 PASID entry `pasid` of the device whose context entry is `ce`, if present. */
export function pasidEntry(mem: GuestMemory, ce: SmContextEntry, pasid: number): PasidEntry | undefined {
  if (pasid >>> 6 >= 2 ** (Number(ce.PDTS) + 7)) return undefined; // beyond the directory, §9.4 PDTS
  const dw = words(mem, ce.PASIDDIRPTR + BigInt(pasid >>> 6) * 8n, 1);
  const de = dw && decodePasidDirEntry(dw);
  if (!de?.P) return undefined;
  const pw = words(mem, de.SMPTBLPTR + BigInt(pasid & 0x3f) * 64n, 8);
  const pe = pw && decodePasidEntry(pw);
  return pe?.P ? pe : undefined;
}

/** Every present PASID of the device whose context entry is `ce` (bounded by its directory). */
export function presentPasids(mem: GuestMemory, ce: SmContextEntry): number[] {
  const out: number[] = [];
  const dirEntries = Math.min(2 ** (Number(ce.PDTS) + 7), 1 << 14);
  for (let d = 0; d < dirEntries; d++) {
    const dw = words(mem, ce.PASIDDIRPTR + BigInt(d) * 8n, 1);
    if (dw === undefined) break;
    const de = decodePasidDirEntry(dw);
    if (!de.P) continue;
    for (let i = 0; i < 64; i++) {
      const w0 = words(mem, de.SMPTBLPTR + BigInt(i) * 64n, 1);
      if (w0 !== undefined && (w0[0]! & 1n) !== 0n) out.push(d * 64 + i);
    }
  }
  return out;
}

/** A present second-stage leaf: where its IOVA range goes and with which rights. */
export interface SsLeaf {
  readonly iova: bigint;
  readonly gpa: bigint;
  readonly sizeLg2: number;
  readonly read: boolean;
  readonly write: boolean;
}

const ADDR = ((1n << 52n) - 1n) & ~0xfffn;

/**
 * The present leaves of a guest second-stage table (`levels` 3/4/5) inside
 * `[from, to)`, in IOVA order. Entries without R and W are not present
 * (§9.8); PS marks 2 MiB / 1 GiB leaves.
 */
export function ssLeaves(mem: GuestMemory, root: bigint, levels: number, from = 0n, to = 1n << 57n): SsLeaf[] {
  const out: SsLeaf[] = [];
  const visit = (table: bigint, level: number, base: bigint) => {
    const span = 1n << BigInt(12 + 9 * level);
    for (let i = 0n; i < 512n; i++) {
      const iova = base + i * span;
      if (iova + span <= from || iova >= to) continue;
      const w = words(mem, table + i * 8n, 1);
      if (w === undefined) return;
      const e = w[0]!;
      if ((e & 3n) === 0n) continue;
      if (level === 0 || (level <= 2 && (e & 0x80n) !== 0n)) {
        out.push({ iova, gpa: e & ADDR & ~(span - 1n), sizeLg2: 12 + 9 * level, read: (e & 1n) !== 0n, write: (e & 2n) !== 0n });
      } else {
        visit(e & ADDR, level - 1, iova);
      }
    }
  };
  visit(root & ADDR, levels - 1, 0n);
  return out;
}

/** Second-stage levels of a legacy context entry's AW (§9.3: 1 -> 3, 2 -> 4, 3 -> 5). */
export const levelsOfAw = (aw: number | bigint): number => Number(aw) + 2;

