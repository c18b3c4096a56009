// §9.2 scalable-mode root entry: 128 bits, 256 per table, indexed by bus.
// qw0 (LP, LCTP) names the context table for devfn 0x00-0x7F, qw1 (UP, UCTP)
// the one for devfn 0x80-0xFF. Constants and field accessors only.

/** Size of a scalable-mode root entry in bytes. */
export const SM_ROOT_ENTRY_BYTES: u32 = 16;
/** Bits 11:1 of each half: reserved. */
export const SM_ROOT_RSVD: u64 = 0xffe;

/** The half (qw0 for devfn < 0x80, qw1 otherwise) that names devfn's table. */
// @ts-ignore: decorator
@inline export function smRootHalf(lo: u64, hi: u64, devfn: u32): u64 {
  return devfn < 0x80 ? lo : hi;
}
/** LP/UP: the half is present. */
// @ts-ignore: decorator
@inline export function smRootPresent(half: u64): bool { return (half & 1) != 0; }
/** LCTP/UCTP: context-table pointer. */
// @ts-ignore: decorator
@inline export function smRootCtp(half: u64): u64 { return half & 0xffff_ffff_ffff_f000; }
/** Reserved bits in a present half (11:1 and pointer bits at or above haw). */
export function smRootReserved(half: u64, haw: u32): bool {
  return (half & SM_ROOT_RSVD) != 0 || (half >> haw) != 0;
}
