// Register fields the core reads (§11.4): RTADDR.TTM, the translation table
// mode SRTP latches (§11.4.5). Constants only; the host's twin is
// host/src/vtd/spec/registers.ts (a test keeps the two equal).

/** TTM 00: legacy mode (root and context entries, §9.1 / §9.3). */
export const TTM_LEGACY: u32 = 0;
/** TTM 01: scalable mode (§9.2 / §9.4, PASID tables). */
export const TTM_SCALABLE: u32 = 1;
/** TTM 10: reserved. */
export const TTM_RESERVED: u32 = 2;
/** TTM 11: abort DMA mode (needs ECAP.ADMS). */
export const TTM_ABORT_DMA: u32 = 3;
