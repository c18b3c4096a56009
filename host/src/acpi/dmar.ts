/**
 * ACPI DMA Remapping Reporting table (VT-d spec chapter 8) as bytes an
 * emulator hands to its firmware: the ACPI header (§8.1), one DRHD for the
 * machine's remapping unit, either with device scopes for its devices (§8.3,
 * §8.3.1) or with INCLUDE_PCI_ALL, and one RMRR per reserved region (§8.4).
 */
import { acpiTable, u16, u64 } from './table.js';

/** A reserved memory region (RMRR) for some devices. */
export interface RmrrConfig {
  /** First byte (4 KiB aligned). */
  readonly base: bigint;
  /** Last byte, inclusive (4 KiB aligned minus 1). */
  readonly limit: bigint;
  /** Devices that use the region ("BB:DD.F"). */
  readonly devices: readonly string[];
}

/** What the generator needs to know about the machine. */
export interface DmarInput {
  /** Host address width in bits (the table stores HAW - 1). */
  readonly haw: number;
  /** Register base of the remapping unit. */
  readonly registerBase: bigint;
  /**
   * The DRHD's INCLUDE_PCI_ALL flag (§8.3, flags bit 0): the unit covers every
   * PCI device of segment 0, so `devices` and `bridges` must be empty. For
   * embedders whose PCI devices the model does not know (v86). Default false:
   * the DRHD lists `devices` and `bridges` as device scopes.
   */
  readonly includePciAll?: boolean;
  /** Requester ids of the endpoints under the unit. */
  readonly devices: readonly number[];
  /** Root ports: their requester id and secondary bus. */
  readonly bridges: readonly { sid: number; secondary: number }[];
  /** Reserved memory regions (first and last byte) with the requester ids that use them. */
  readonly rmrr?: readonly { base: bigint; limit: bigint; devices: readonly number[] }[];
  /** DMAR flags: bit 0 INTR_REMAP, bit 1 X2APIC_OPT_OUT, bit 2 DMA_CTRL_PLATFORM_OPT_IN. Default 0. */
  readonly flags?: number;
}

/** Remapping structure types (§8.2). */
export const DMAR_TYPE = { DRHD: 0, RMRR: 1 } as const;
/** DRHD flags (§8.3). */
export const DRHD_FLAGS = { INCLUDE_PCI_ALL: 1 } as const;
/** Device scope types (§8.3.1). */
export const SCOPE_TYPE = { PCI_ENDPOINT: 1, PCI_SUB_HIERARCHY: 2 } as const;

/** Builds the DMAR table; throws naming the field when the input cannot be described. */
export function buildDmar(input: DmarInput): Uint8Array {
  if (!Number.isInteger(input.haw) || input.haw < 32 || input.haw > 64) throw new Error(`haw: ${input.haw} is not in 32..64`);
  if (input.includePciAll && (input.devices.length > 0 || input.bridges.length > 0)) {
    throw new Error('devices: must be empty with includePciAll (the unit already covers every PCI device)');
  }
  const bridgeOf = new Map(input.bridges.map((b) => [b.secondary, b.sid]));
  const scope = (sid: number, type: number): number[] => deviceScope(sid, type, bridgeOf);
  const scopes = [
    ...input.devices.flatMap((d) => scope(d, SCOPE_TYPE.PCI_ENDPOINT)),
    ...input.bridges.flatMap((b) => scope(b.sid, SCOPE_TYPE.PCI_SUB_HIERARCHY)),
  ];
  const flags = input.includePciAll ? DRHD_FLAGS.INCLUDE_PCI_ALL : 0;
  const drhd = [...u16(DMAR_TYPE.DRHD), ...u16(16 + scopes.length), flags, 0, ...u16(0), ...u64(input.registerBase), ...scopes];
  const rmrrs = (input.rmrr ?? []).flatMap((r, i) => {
    if (r.base % 0x1000n !== 0n || (r.limit + 1n) % 0x1000n !== 0n || r.limit <= r.base) {
      throw new Error(`rmrr[${i}]: [0x${r.base.toString(16)}, 0x${r.limit.toString(16)}] is not a 4 KiB-aligned region`);
    }
    const s = r.devices.flatMap((d) => scope(d, SCOPE_TYPE.PCI_ENDPOINT));
    return [...u16(DMAR_TYPE.RMRR), ...u16(24 + s.length), 0, 0, ...u16(0), ...u64(r.base), ...u64(r.limit), ...s];
  });
  // §8.1: HAW - 1, flags, 10 reserved bytes, then the remapping structures.
  return acpiTable('DMAR', 1, 'VIOMMUDM', [input.haw - 1, (input.flags ?? 0) & 0x7, ...new Array<number>(10).fill(0), ...drhd, ...rmrrs]);
}

/** Device scope (§8.3.1): start bus 0 and the path through the root port, when there is one. */
function deviceScope(sid: number, type: number, bridgeOf: Map<number, number>): number[] {
  const bus = sid >> 8;
  const path: number[] = [];
  if (bus !== 0) {
    const bridge = bridgeOf.get(bus);
    if (bridge === undefined) throw new Error(`devices: no root port leads to bus ${bus}`);
    path.push((bridge >> 3) & 0x1f, bridge & 7);
  }
  path.push((sid >> 3) & 0x1f, sid & 7);
  return [type, 6 + path.length, 0, 0, 0, 0, ...path];
}

/** Verifies the ACPI checksum (table.ts). */
export { checksumOk } from './table.js';
