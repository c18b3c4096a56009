// §9.4 scalable-mode context entry: 256 bits, 128 per table, indexed by
// devfn & 0x7F. Constants and field accessors only.

/** Size of a scalable-mode context entry in bytes. */
export const SM_CTX_ENTRY_BYTES: u32 = 32;
/** qw0 bit 0: present. */
export const SMCTX_P: u64 = 1;
/** qw0 bit 1: fault processing disable. */
export const SMCTX_FPD: u64 = 2;
/** qw0 bit 2: device-TLB enable (translation requests allowed). */
export const SMCTX_DTE: u64 = 4;
/** qw0 bit 3: PASID enable (requests with PASID allowed). */
export const SMCTX_PASIDE: u64 = 8;
/** qw0 bit 4: page-request enable. */
export const SMCTX_PRE: u64 = 16;
/** qw0 bits 8:5: reserved. */
export const SMCTX_LO_RSVD: u64 = 0x1e0;
/** qw1 bits 63:21: reserved (20 is RID_PRIV). */
export const SMCTX_HI_RSVD: u64 = 0xffff_ffff_ffe0_0000;

/** qw0 bits 11:9: PASID directory size, 2^(PDTS+7) entries. */
// @ts-ignore: decorator
@inline export function smCtxPdts(lo: u64): u32 { return <u32>(lo >> 9) & 7; }
/** qw0 bits 63:12: PASID directory pointer (PASIDDIRPTR). */
// @ts-ignore: decorator
@inline export function smCtxPasidDirPtr(lo: u64): u64 { return lo & 0xffff_ffff_ffff_f000; }
/** qw1 bits 19:0: RID_PASID. */
// @ts-ignore: decorator
@inline export function smCtxRidPasid(hi: u64): u32 { return <u32>hi & 0xfffff; }
/** qw1 bit 20: RID_PRIV (privilege of requests without PASID). */
// @ts-ignore: decorator
@inline export function smCtxRidPriv(hi: u64): bool { return ((hi >> 20) & 1) != 0; }
/** Byte offset of devfn's entry in its (lower or upper) context table. */
// @ts-ignore: decorator
@inline export function smCtxOffset(devfn: u32): u64 {
  return <u64>((devfn & 0x7f) * SM_CTX_ENTRY_BYTES);
}
/** Whether a present SM context entry has reserved bits set (qw2/qw3 are
 *  reserved too). */
export function smCtxReserved(q0: u64, q1: u64, q2: u64, q3: u64, haw: u32): bool {
  return (q0 & SMCTX_LO_RSVD) != 0 || (q1 & SMCTX_HI_RSVD) != 0 ||
    q2 != 0 || q3 != 0 || (q0 >> haw) != 0;
}
