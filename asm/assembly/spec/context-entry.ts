// §9.3 context entry (legacy mode): 128 bits, 256 per table, indexed by
// devfn (SID 7:0). Address widths per §3 (AW 1/2/3 = 39/48/57 bits,
// 3/4/5 levels). Constants and field accessors only.

/** Size of a legacy context entry in bytes. */
export const CTX_ENTRY_BYTES: u32 = 16;
/** qw0 bit 0: present. */
export const CTX_P: u64 = 1;
/** qw0 bit 1: fault processing disable (read even when P=0). */
export const CTX_FPD: u64 = 2;
/** qw0 bits 11:4: reserved. */
export const CTX_LO_RSVD: u64 = 0xff0;
/** qw1 bit 7 and 63:24: reserved. */
export const CTX_HI_RSVD: u64 = 0xffff_ffff_ff00_0080;
/** TT 00: untranslated requests through the second-stage tables. */
export const TT_UNTRANSLATED: u32 = 0;
/** TT 01: as 00, plus translation requests (needs ECAP.DT). */
export const TT_DEVICE_TLB: u32 = 1;
/** TT 10: pass-through for untranslated requests (needs ECAP.PT). */
export const TT_PASS_THROUGH: u32 = 2;

/** qw0 bits 3:2: translation type. */
// @ts-ignore: decorator
@inline export function ctxTt(lo: u64): u32 { return <u32>(lo >> 2) & 3; }
/** qw0 bits 63:12: second-stage table pointer (SSPTPTR). */
// @ts-ignore: decorator
@inline export function ctxSsPtPtr(lo: u64): u64 { return lo & 0xffff_ffff_ffff_f000; }
/** qw1 bits 2:0: address width. */
// @ts-ignore: decorator
@inline export function ctxAw(hi: u64): u32 { return <u32>hi & 7; }
/** qw1 bits 23:8: domain id. */
// @ts-ignore: decorator
@inline export function ctxDid(hi: u64): u32 { return <u32>(hi >> 8) & 0xffff; }

/** §3: the number of paging levels for an AW encoding (AW + 2). */
// @ts-ignore: decorator
@inline export function awLevels(aw: u32): i32 { return <i32>aw + 2; }
/** §3: the address width in bits for an AW encoding (30 + 9 * AW). */
// @ts-ignore: decorator
@inline export function awBits(aw: u32): u32 { return 30 + 9 * aw; }
/** Whether AW names a width CAP.SAGAW supports (AW 1..3 only). */
export function awSupported(aw: u32, sagaw: u32): bool {
  return aw >= 1 && aw <= 3 && ((sagaw >> aw) & 1) != 0;
}
/** Whether a present legacy context entry has reserved bits set. */
export function ctxReserved(lo: u64, hi: u64, haw: u32): bool {
  return (lo & CTX_LO_RSVD) != 0 || (hi & CTX_HI_RSVD) != 0 || (lo >> haw) != 0;
}
