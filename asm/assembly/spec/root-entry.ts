// §9.1 root entry (legacy mode, RTADDR.TTM=00): 128 bits, 256 per table,
// indexed by bus (SID 15:8). Constants and field accessors only.

/** Size of a root entry in bytes. */
export const ROOT_ENTRY_BYTES: u32 = 16;
/** qw0 bit 0: present. */
export const ROOT_P: u64 = 1;
/** qw0 bits 63:12: context-table pointer. */
export const ROOT_CTP_MASK: u64 = 0xffff_ffff_ffff_f000;
/** qw0 bits 11:1: reserved. */
export const ROOT_LO_RSVD: u64 = 0xffe;

/** Byte offset of the root entry for `bus` in the root table. */
// @ts-ignore: decorator
@inline export function rootEntryOffset(bus: u32): u64 {
  return <u64>(bus * ROOT_ENTRY_BYTES);
}

/** Whether a present root entry has reserved bits set (qw0 11:1, qw1 all,
 *  CTP bits at or above `haw`). */
export function rootReserved(lo: u64, hi: u64, haw: u32): bool {
  return (lo & ROOT_LO_RSVD) != 0 || hi != 0 || (lo >> haw) != 0;
}
