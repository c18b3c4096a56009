/**
 * What every ACPI table shares (ACPI 6.5 §5.2.6 "System Description Table
 * Header"): the 36-byte header with signature, length, revision, checksum
 * and the OEM / creator ids, and the little-endian byte writers the table
 * generators (dmar.ts, iort.ts) build their bodies with.
 */

/** Bytes of the system description table header. */
export const ACPI_HEADER_LEN = 36;

/** A table: the header for `signature` / `revision` / `oemTableId` over `body` (the bytes after the header), checksummed. */
export function acpiTable(signature: string, revision: number, oemTableId: string, body: readonly number[]): Uint8Array {
  const t = new Uint8Array(ACPI_HEADER_LEN + body.length);
  t.set(ascii(signature), 0);
  t.set(u32(t.length), 4);
  t[8] = revision;
  t.set(ascii('VIOMMU'), 10);
  t.set(ascii(oemTableId.padEnd(8, ' ').slice(0, 8)), 16);
  t.set(u32(1), 24);
  t.set(ascii('VTDM'), 28);
  t.set(u32(1), 32);
  t.set(body, ACPI_HEADER_LEN);
  t[9] = (256 - (t.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
  return t;
}

/** Verifies the ACPI checksum: all bytes sum to 0 mod 256. */
export function checksumOk(table: Uint8Array): boolean {
  return (table.reduce((a, b) => a + b, 0) & 0xff) === 0;
}

/** Little-endian u16. */
export const u16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
/** Little-endian u32. */
export const u32 = (v: number): number[] => [...u16(v & 0xffff), ...u16(v >>> 16)];
/** Little-endian u64. */
export const u64 = (v: bigint): number[] => [...u32(Number(v & 0xffff_ffffn)), ...u32(Number(v >> 32n))];
/** ASCII bytes of `s`. */
export const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
