/**
 * Implicit invalidation on page requests (VT-d §6.5.4 in 3.x): before a page
 * request is queued, the remapping hardware drops what it may have cached
 * for that page, so the device's retry after the guest fixed the mapping
 * walks the tables again. Without it a write to a page cached read-only
 * would fault forever: software upgrades a permission without invalidating
 * (Linux SVA does exactly that) and relies on this rule.
 *
 * The PASID entry (the request's PASID, or the context's RID_PASID) gives
 * the domain id and the translation type: first-stage and nested entries
 * (PGTT 1, 3) drop the page from the PASID-IOTLB and the PASID's first-stage
 * paging-structure caches; second-stage entries (PGTT 2) drop the page of
 * the domain; pass-through (4) caches nothing to drop. An entry that cannot
 * be read leaves the caches alone (the guest's retry faults non-recoverably).
 */
import type { Core } from '../../core/core.js';
import type { GuestMemory } from '../../core/guest-memory.js';
import { contextEntryAddress, type AdmissionEnv } from './admission.js';
import type { PageRequest } from '../spec/page-request.js';

const P = 1n;
const ADDR = 0xffff_ffff_ffff_f000n;
/** PASID entry qw0 8:6 PGTT values (§9.6). */
const PGTT_FIRST_STAGE = 1, PGTT_SECOND_STAGE = 2, PGTT_NESTED = 3;

/** The request's PASID entry: qword 0 and 1, or undefined when not present / not RAM. */
function pasidEntry(mem: GuestMemory, ctx0: bigint, pasid: number): [bigint, bigint] | undefined {
  const dirEntry = (ctx0 & ADDR) + BigInt((pasid >> 6) * 8);
  if (!mem.contains(dirEntry, 8)) return undefined;
  const dir = mem.readU64(dirEntry);
  if (!(dir & P)) return undefined;
  const entry = (dir & ADDR) + BigInt((pasid & 0x3f) * 64);
  if (!mem.contains(entry, 16)) return undefined;
  const qw0 = mem.readU64(entry);
  return qw0 & P ? [qw0, mem.readU64(entry + 8n)] : undefined;
}

/** Drops cached translations of the requested page (call after admission accepted the request). */
export function invalidateForPageRequest(env: AdmissionEnv, core: Core, req: PageRequest): void {
  const ctxAt = contextEntryAddress(env, req.sid);
  if (typeof ctxAt !== 'bigint' || !env.mem.contains(ctxAt, 16)) return;
  const ctx0 = env.mem.readU64(ctxAt);
  // §9.4: requests without PASID use the context entry's RID_PASID (qw1 19:0).
  const pasid = req.pasid ?? Number(env.mem.readU64(ctxAt + 8n) & 0xf_ffffn);
  const pe = pasidEntry(env.mem, ctx0, pasid);
  if (!pe) return;
  const pgtt = Number((pe[0] >> 6n) & 7n);
  const did = Number(pe[1] & 0xffffn);
  const page = req.addr & ADDR;
  if (pgtt === PGTT_FIRST_STAGE || pgtt === PGTT_NESTED) core.invPasidIotlbPage(did, pasid, page, 0, false);
  else if (pgtt === PGTT_SECOND_STAGE) core.invIotlbPage(did, page, 0, false);
}
