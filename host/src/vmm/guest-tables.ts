/**
 * The VMM's reads of the guest's translation structures (what QEMU's
 * intel_iommu does when it shadows or binds): root and context entries
 * (§9.1-9.4) and the PASID directory and table (§9.5, §9.6). Guest tables
 * may hold anything: every read is checked against guest RAM, and a
 * structure that is not present or cannot be read comes back as the fault
 * reason the unit would give a request that needs it (§7.1.3; faults are
 * values), never as an exception. Second-stage tables are ss-walk.ts.
 */
import type { GuestMemory } from '../core/guest-memory.js';
import {
  FR_CTX_ACCESS, FR_CTX_NP, FR_PASID_NP, FR_PDIR_ACCESS, FR_PDIR_NP, FR_PTE_ACCESS, FR_ROOT_ACCESS, FR_ROOT_NP,
  FR_SM_CTX_ACCESS, FR_SM_CTX_NP, FR_SM_PASIDE, FR_SM_PDTS, FR_SM_ROOT_ACCESS, FR_SM_ROOT_NP,
} from '../core/constants.js';
import { readWords } from '../tables/guest-ram.js';
import { type ContextEntry, decodeContextEntry } from '../vtd/spec/context-entry.js';
import { decodePasidDirEntry, decodePasidEntry, type PasidEntry } from '../vtd/spec/pasid-entry.js';
import { decodeSmContextEntry, type SmContextEntry } from '../vtd/spec/sm-context-entry.js';
import { decodeSmRootEntry } from '../vtd/spec/sm-root-entry.js';
import type { WorkBudget } from './work-budget.js';
import type { Pasid, Sid } from '../types.js';

/** An entry read from guest memory, or the fault reason a request needing it gets. */
export type Read<T> = T | number;

/** True when `r` is a fault reason rather than an entry. */
export const isFault = <T>(r: Read<T>): r is number => typeof r === 'number';

/** Reads `n` u64 at `gpa`, or undefined when they are not in guest RAM. */
function words(mem: GuestMemory, gpa: bigint, n: number): bigint[] | undefined {
  return mem.contains(gpa, n * 8) ? readWords(mem, gpa, n) : undefined;
}

/** §9.3 legacy context entry of `sid` under root table `rta`. */
export function legacyContext(mem: GuestMemory, rta: bigint, sid: Sid): Read<ContextEntry> {
  const root = words(mem, rta + BigInt(sid >> 8) * 16n, 2);
  if (root === undefined) return FR_ROOT_ACCESS;
  if ((root[0]! & 1n) === 0n) return FR_ROOT_NP;
  const w = words(mem, (root[0]! & ~0xfffn) + BigInt(sid & 0xff) * 16n, 2);
  if (w === undefined) return FR_CTX_ACCESS;
  const ce = decodeContextEntry(w);
  return ce.P ? ce : FR_CTX_NP;
}

/** §9.4 scalable-mode context entry of `sid` under root table `rta`. */
export function smContext(mem: GuestMemory, rta: bigint, sid: Sid): Read<SmContextEntry> {
  const rw = words(mem, rta + BigInt(sid >> 8) * 16n, 2);
  if (rw === undefined) return FR_SM_ROOT_ACCESS;
  const re = decodeSmRootEntry(rw);
  const upper = (sid & 0x80) !== 0;
  if (!(upper ? re.UP : re.LP)) return FR_SM_ROOT_NP;
  const w = words(mem, (upper ? re.UCTP : re.LCTP) + BigInt(sid & 0x7f) * 32n, 4);
  if (w === undefined) return FR_SM_CTX_ACCESS;
  const ce = decodeSmContextEntry(w);
  return ce.P ? ce : FR_SM_CTX_NP;
}

/** PASID directory entries of a context entry (§9.4 PDTS: 2^(PDTS+7), at most 2^14). */
const directorySize = (ce: SmContextEntry): number => Math.min(2 ** (Number(ce.PDTS) + 7), 1 << 14);

/**
 * §9.6 PASID entry `pasid` of the device whose context entry is `ce`, for a
 * request with PASID (`withPasid`) or without one (the RID_PASID entry).
 */
export function pasidEntry(mem: GuestMemory, ce: SmContextEntry, pasid: Pasid, withPasid: boolean): Read<PasidEntry> {
  if (withPasid && !ce.PASIDE) return FR_SM_PASIDE;
  if (pasid >>> 6 >= directorySize(ce)) return FR_SM_PDTS;
  const dw = words(mem, ce.PASIDDIRPTR + BigInt(pasid >>> 6) * 8n, 1);
  if (dw === undefined) return FR_PDIR_ACCESS;
  const de = decodePasidDirEntry(dw);
  if (!de.P) return FR_PDIR_NP;
  const pw = words(mem, de.SMPTBLPTR + BigInt(pasid & 0x3f) * 64n, 8);
  if (pw === undefined) return FR_PTE_ACCESS;
  const pe = decodePasidEntry(pw);
  return pe.P ? pe : FR_PASID_NP;
}

/**
 * Every present PASID of the device whose context entry is `ce`. Reads the
 * directory and each present PASID table as 4 KiB blocks; charges `budget`
 * one unit per directory entry and 64 per PASID table. Returns undefined
 * when the budget runs out.
 */
export function presentPasids(mem: GuestMemory, ce: SmContextEntry, budget: WorkBudget): number[] | undefined {
  const out: number[] = [];
  const dirEntries = directorySize(ce);
  for (let d0 = 0; d0 < dirEntries; d0 += 512) {
    const n = Math.min(512, dirEntries - d0);
    budget.left -= n;
    if (budget.left < 0) return undefined;
    const dir = block(mem, ce.PASIDDIRPTR + BigInt(d0) * 8n, n * 8);
    if (dir === undefined) break;
    for (let i = 0; i < n; i++) {
      const lo = dir[2 * i]!;
      if ((lo & 1) === 0) continue;
      budget.left -= 64;
      if (budget.left < 0) return undefined;
      const table = block(mem, BigInt(dir[2 * i + 1]! & 0xfffff) * 0x1_0000_0000n + BigInt((lo & ~0xfff) >>> 0), 4096);
      if (table === undefined) continue;
      for (let k = 0; k < 64; k++) if (table[16 * k]! & 1) out.push((d0 + i) * 64 + k);
    }
  }
  return out;
}

/**
 * `len` bytes at `gpa` (4-byte aligned: table addresses are 4 KiB aligned)
 * as u32 halves, or undefined outside guest RAM: a view of guest RAM, not a
 * copy (presentPasids reads each block once and keeps none of them).
 */
function block(mem: GuestMemory, gpa: bigint, len: number): Uint32Array | undefined {
  if (!mem.contains(gpa, len)) return undefined;
  const b = mem.view(Number(gpa), len);
  return new Uint32Array(b.buffer, b.byteOffset, len >>> 2);
}
