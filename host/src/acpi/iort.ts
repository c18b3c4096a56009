/**
 * ACPI IO Remapping Table (Arm DEN 0049E.d "IORT") as bytes an emulator
 * hands to its firmware, the Arm counterpart of the DMAR table (dmar.ts):
 * the ACPI header and the IORT header (§3.2), one SMMUv3 node (§3.1.1.2,
 * node type 4) with the unit's register base and its four wired
 * interrupts, and one PCI root complex node (§3.1.1.4, type 2) whose ID
 * mapping sends the requester ids of its segment to the SMMUv3 node as
 * StreamIDs (§3.1.1.1, an identity mapping unless asked otherwise).
 */
import { ACPI_HEADER_LEN, acpiTable, u16, u32, u64 } from './table.js';

/** What the generator needs to know about the machine. */
export interface IortInput {
  /** Register base of the SMMUv3 (the 128 KiB frame). */
  readonly smmuBase: bigint;
  /** GSIVs of the event-queue, PRI-queue, CMD_SYNC and global-error interrupts (0 = not wired). */
  readonly gsiv: { readonly event: number; readonly pri: number; readonly sync: number; readonly gerror: number };
  /** The SMMU's table walks are cache coherent (node flag COHACC Override; SMMU_IDR0.COHACC). */
  readonly coherent: boolean;
  /** PCI segment of the root complex (default 0). */
  readonly segment?: number;
  /** Requester ids mapped: first and count (default the whole 16-bit space). */
  readonly rids?: { readonly first: number; readonly count: number };
  /** StreamID of the first mapped requester id (default = `rids.first`, identity). */
  readonly streamBase?: number;
  /** Largest PASID width the root complex forwards (0 = PASIDs not forwarded). */
  readonly pasidBits?: number;
  /** The root complex supports ATS (ATS Attribute bit 0): an OS may enable ATS on its functions (default false). */
  readonly ats?: boolean;
  /** Address bits the root complex drives (memory address size limit, default 64). */
  readonly addressBits?: number;
}

/** IORT node types (DEN 0049E.d table 4). */
export const IORT_NODE = { ITS_GROUP: 0, NAMED_COMPONENT: 1, ROOT_COMPLEX: 2, SMMU_V1_V2: 3, SMMU_V3: 4, PMCG: 5, RMR: 6 } as const;
/** The table revision this generator writes (E.d). */
export const IORT_REVISION = 5;
/** Node revisions written: SMMUv3 node 4, root complex node 3 (E.d). */
export const IORT_NODE_REVISION = { SMMU_V3: 4, ROOT_COMPLEX: 3 } as const;
/** Bytes of the ACPI header plus the IORT header (node count, node array offset, reserved). */
export const IORT_HEADER_LEN = ACPI_HEADER_LEN + 12;
/** Bytes of a node header (type, length, revision, identifier, mapping count, mapping offset). */
export const IORT_NODE_HEADER_LEN = 16;
/** Bytes of one ID mapping (input base, count - 1, output base, output reference, flags). */
export const IORT_ID_MAPPING_LEN = 20;
/** Bytes of the SMMUv3 node (no ID mappings: its MSIs need no ITS here). */
export const IORT_SMMU_V3_LEN = 68;
/** Bytes of the root complex node before its ID mappings. */
export const IORT_ROOT_COMPLEX_LEN = 36;
/** SMMUv3 node flags: COHACC Override (bit 0). */
export const IORT_SMMU_FLAGS = { COHACC_OVERRIDE: 1 } as const;
/** Root complex ATS attribute bits: ATS (0), PRI (1), PASID forwarding (2). */
export const IORT_RC_ATS = { ATS: 1, PRI: 2, PASID_FWD: 4 } as const;
/** Memory access properties: cache coherent (CCA = 1), memory access flags CPM | DACS. */
const COHERENT_PROPERTIES = { cca: 1, flags: 0x3 } as const;

/** Builds the IORT; throws naming the field when the input cannot be described. */
export function buildIort(input: IortInput): Uint8Array {
  const rids = input.rids ?? { first: 0, count: 0x1_0000 };
  checkInt(rids.first, 0, 0xffff, 'rids.first');
  checkInt(rids.count, 1, 0x1_0000 - rids.first, 'rids.count');
  const streamBase = checkInt(input.streamBase ?? rids.first, 0, 0xffff_ffff - (rids.count - 1), 'streamBase');
  const pasidBits = checkInt(input.pasidBits ?? 0, 0, 20, 'pasidBits');
  const addressBits = checkInt(input.addressBits ?? 64, 32, 64, 'addressBits');
  if (input.ats !== undefined && typeof input.ats !== 'boolean') throw new Error(`ats: ${String(input.ats)} is not a boolean`);
  for (const [k, v] of Object.entries(input.gsiv)) checkInt(v, 0, 0xffff_ffff, `gsiv.${k}`);
  if (typeof input.smmuBase !== 'bigint' || input.smmuBase < 0n || input.smmuBase >= 1n << 64n || input.smmuBase % 0x1_0000n !== 0n) {
    throw new Error(`smmuBase: ${String(input.smmuBase)} is not a 64 KiB aligned 64-bit address`);
  }
  const smmuAt = IORT_HEADER_LEN;
  const smmu = [
    ...nodeHeader(IORT_NODE.SMMU_V3, IORT_SMMU_V3_LEN, IORT_NODE_REVISION.SMMU_V3, 0, 0, 0),
    ...u64(input.smmuBase), ...u32(input.coherent ? IORT_SMMU_FLAGS.COHACC_OVERRIDE : 0), ...u32(0),
    ...u64(0n), // VATOS address: none
    ...u32(0), // model: generic SMMUv3
    ...u32(input.gsiv.event), ...u32(input.gsiv.pri), ...u32(input.gsiv.gerror), ...u32(input.gsiv.sync),
    ...u32(0), ...u32(0), // proximity domain, DeviceID mapping index (both flagged invalid)
  ];
  const rcLen = IORT_ROOT_COMPLEX_LEN + IORT_ID_MAPPING_LEN;
  const rc = [
    ...nodeHeader(IORT_NODE.ROOT_COMPLEX, rcLen, IORT_NODE_REVISION.ROOT_COMPLEX, 1, 1, IORT_ROOT_COMPLEX_LEN),
    ...u32(input.coherent ? COHERENT_PROPERTIES.cca : 0), 0, 0, 0, input.coherent ? COHERENT_PROPERTIES.flags : 0,
    ...u32((pasidBits > 0 ? IORT_RC_ATS.PASID_FWD : 0) | (input.ats === true ? IORT_RC_ATS.ATS : 0)), ...u32(checkInt(input.segment ?? 0, 0, 0xffff_ffff, 'segment')),
    addressBits, ...u16(pasidBits), 0,
    // One ID mapping: requester ids [first, first + count) -> StreamIDs from streamBase, at the SMMUv3 node.
    ...u32(rids.first), ...u32(rids.count - 1), ...u32(streamBase), ...u32(smmuAt), ...u32(0),
  ];
  // §3.2: node count, offset of the node array, reserved; then the nodes.
  const head = [...u32(2), ...u32(IORT_HEADER_LEN), ...u32(0)];
  return acpiTable('IORT', IORT_REVISION, 'VIOMMUIO', [...head, ...smmu, ...rc]);
}

/** A node header (§3.1.1): type, length, revision, identifier, ID mapping count and offset. */
function nodeHeader(type: number, length: number, revision: number, id: number, mappings: number, mappingOffset: number): number[] {
  return [type, ...u16(length), revision, ...u32(id), ...u32(mappings), ...u32(mappingOffset)];
}

function checkInt(v: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`${what}: ${String(v)} is not an integer in ${lo}..${hi}`);
  return v;
}

