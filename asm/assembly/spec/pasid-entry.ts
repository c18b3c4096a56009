// §9.5 PASID directory entry (64 bits, index PASID[19:6]) and §9.6 PASID
// table entry (512 bits, 64 per 4 KiB table, index PASID[5:0]).
// Constants and field accessors only.

/** PASID directory entry qw0 bit 0: present. */
export const PDIR_P: u64 = 1;
/** PASID directory entry qw0 bit 1: fault processing disable. */
export const PDIR_FPD: u64 = 2;
/** PASID directory entry qw0 bits 11:2: reserved. */
export const PDIR_RSVD: u64 = 0xffc;
/** Size of a PASID table entry in bytes. */
export const PASID_ENTRY_BYTES: u32 = 64;

/** PGTT 001: first-stage only (§9.6). */
export const PGTT_FIRST_STAGE: u32 = 1;
/** PGTT 010: second-stage only. */
export const PGTT_SECOND_STAGE: u32 = 2;
/** PGTT 011: nested (first stage over second stage). */
export const PGTT_NESTED: u32 = 3;
/** PGTT 100: pass-through. */
export const PGTT_PASS_THROUGH: u32 = 4;

/** qw0 bit 0: present. */
export const PE_P: u64 = 1;
/** qw0 bit 1: fault processing disable. */
export const PE_FPD: u64 = 2;
/** qw0 bits 11:10: reserved. */
export const PE_Q0_RSVD: u64 = 0xc00;
/** qw1 bits 86:80 (qw1 22:16): reserved. */
export const PE_Q1_RSVD: u64 = 0x7f_0000;
/** qw2 bits 139:136 (qw2 11:8): reserved. */
export const PE_Q2_RSVD: u64 = 0xf00;

/** PASID directory entry index: PASID[19:6]. */
// @ts-ignore: decorator
@inline export function pdirIndex(pasid: u32): u32 { return pasid >> 6; }
/** PASID table entry index: PASID[5:0]. */
// @ts-ignore: decorator
@inline export function ptblIndex(pasid: u32): u32 { return pasid & 63; }
/** qw0 bits 63:12: PASID table pointer (SMPTBLPTR). */
// @ts-ignore: decorator
@inline export function pdirSmPtblPtr(e: u64): u64 { return e & 0xffff_ffff_ffff_f000; }
/** qw0 bits 4:2: second-stage address width. */
// @ts-ignore: decorator
@inline export function peAw(q0: u64): u32 { return <u32>(q0 >> 2) & 7; }
/** qw0 bit 5: second-stage execute enable. */
// @ts-ignore: decorator
@inline export function peSsee(q0: u64): bool { return ((q0 >> 5) & 1) != 0; }
/** qw0 bits 8:6: PASID granular translation type. */
// @ts-ignore: decorator
@inline export function pePgtt(q0: u64): u32 { return <u32>(q0 >> 6) & 7; }
/** qw0 bits 63:12: second-stage table pointer (SSPTPTR). */
// @ts-ignore: decorator
@inline export function peSsPtPtr(q0: u64): u64 { return q0 & 0xffff_ffff_ffff_f000; }
/** qw1 bits 15:0: domain id. */
// @ts-ignore: decorator
@inline export function peDid(q1: u64): u32 { return <u32>q1 & 0xffff; }
/** qw2 bit 0: supervisor request enable. */
// @ts-ignore: decorator
@inline export function peSre(q2: u64): bool { return (q2 & 1) != 0; }
/** qw2 bit 1: execute request enable. */
// @ts-ignore: decorator
@inline export function peEre(q2: u64): bool { return (q2 & 2) != 0; }
/** qw2 bits 3:2: first-stage paging mode (0 4-level, 1 5-level). */
// @ts-ignore: decorator
@inline export function peFspm(q2: u64): u32 { return <u32>(q2 >> 2) & 3; }
/** qw2 bit 4: write protect enable. */
// @ts-ignore: decorator
@inline export function peWpe(q2: u64): bool { return (q2 & 16) != 0; }
/** qw2 bits 63:12: first-stage table pointer (FSPTPTR). */
// @ts-ignore: decorator
@inline export function peFsPtPtr(q2: u64): u64 { return q2 & 0xffff_ffff_ffff_f000; }
/** Reserved bits in a present PASID table entry: the fixed fields of
 *  qw0-qw2 and all of qw3-qw7 (bits 511:192, passed OR-ed together as
 *  `qHi`; fuzz finding sm-pasid-entry-reserved-ignored). A table pointer's
 *  bits above HAW count only when the entry's PGTT uses that pointer (§9.6:
 *  the SSPTPTR for PGTT 010b/011b, the FSPTPTR for 001b/011b; fuzz finding
 *  fs-pasid-entry-ssptptr-garbage). */
export function peReserved(q0: u64, q1: u64, q2: u64, qHi: u64, haw: u32, usesSs: bool, usesFs: bool): bool {
  if ((q0 & PE_Q0_RSVD) != 0 || (q1 & PE_Q1_RSVD) != 0 || (q2 & PE_Q2_RSVD) != 0 || qHi != 0) return true;
  if (usesSs && (q0 >> haw) != 0) return true;
  return usesFs && (q2 >> haw) != 0;
}
