/**
 * What the reference model needs to know about the IOMMU: the capability
 * values that change translation results (CAP/ECAP, §11.4.2-3), the root
 * table as latched by SRTP (§11.4.5), and the profile quirk switches.
 */

/** Capability values the translation rules depend on (mirrors docs/ABI.md CFG_*). */
export interface RefCaps {
  /** CAP.SAGAW bits as in the ABI: bit 1 = 39-bit/3-level, bit 2 = 48/4, bit 3 = 57/5. */
  sagaw: number;
  /** Max guest address width in bits (CAP.MGAW + 1). */
  mgaw: number;
  /** Host address width in bits: output-address bits at or above it are reserved. */
  haw: number;
  /** CAP.SSLPS: bit 0 = 2 MiB, bit 1 = 1 GiB second-stage superpages. */
  sslps: number;
  /** CAP.FS1GP: first-stage 1 GiB pages. */
  fs1gp: boolean;
  /** CAP.FS5LP: first-stage 5-level paging. */
  fs5lp: boolean;
  /** ECAP.PT / SC / NEST / SRS / ERS / DT / PASID / SMTS / FSTS / SSTS / PRS. */
  pt: boolean;
  sc: boolean;
  nest: boolean;
  srs: boolean;
  ers: boolean;
  dt: boolean;
  pasid: boolean;
  smts: boolean;
  fsts: boolean;
  ssts: boolean;
  prs: boolean;
  /** Supported PASID width (ECAP.PSS + 1). */
  pasidBits: number;
  /** Bit set of QUIRK_* profile switches (0 = the spec). */
  quirks: number;
}

/** Root-table state (RTADDR latched by SRTP) and GSTS.TES. */
export interface RefRoot {
  /** Root table address, RTADDR bits 63:12. */
  rta: bigint;
  /** RTADDR.TTM: 0 legacy, 1 scalable, 2 reserved, 3 abort-DMA. */
  ttm: number;
  /** GSTS.TES: translation enabled. */
  enabled: boolean;
}

/** The default profile: everything this model implements, no quirks. */
export function defaultCaps(overrides: Partial<RefCaps> = {}): RefCaps {
  return {
    sagaw: 0b1110,
    mgaw: 57,
    haw: 46,
    sslps: 0b11,
    fs1gp: true,
    fs5lp: true,
    pt: true,
    sc: true,
    nest: true,
    srs: true,
    ers: true,
    dt: true,
    pasid: true,
    smts: true,
    fsts: true,
    ssts: true,
    prs: true,
    pasidBits: 20,
    quirks: 0,
    ...overrides,
  };
}

/** True when SAGAW supports the AW encoding (§3: AW 1/2/3 = 3/4/5 levels). */
export function sagawSupports(caps: RefCaps, aw: number): boolean {
  return aw >= 1 && aw <= 3 && ((caps.sagaw >> aw) & 1) === 1;
}

/** Mask of address bits [51:haw] (reserved in entries that hold addresses). */
export function aboveHawMask(caps: RefCaps): bigint {
  return caps.haw >= 52 ? 0n : ((1n << 52n) - 1n) & ~((1n << BigInt(caps.haw)) - 1n);
}
