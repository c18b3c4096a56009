// Configuration store: capability values and profile quirks (CFG_* keys of
// abi/layout.ts), one u32 per key. Reads are plain loads on the hot path.

import {
  CFG_COUNT, CFG_ECAP_DT, CFG_ECAP_ERS, CFG_ECAP_FSTS, CFG_ECAP_NEST, CFG_ECAP_PASID, CFG_ECAP_PRS,
  CFG_ECAP_PT, CFG_ECAP_SC, CFG_ECAP_SSTS, CFG_ECAP_SMTS, CFG_ECAP_SRS, CFG_FS5LP, CFG_FS1GP,
  CFG_HAW, CFG_IOTLB_MAX_ENTRIES, CFG_IOTLB_SETS_LG2, CFG_IOTLB_WAYS, CFG_MGAW, CFG_PASID_BITS, CFG_QUIRKS, CFG_SAGAW, CFG_SSLPS,
} from './abi/layout';
import { scDropAll } from './cache/setup-cache';
import { heapAlloc } from './mem/heap';

let CFG: usize = 0;

/** Allocate the store (once, at instantiation). Returns false when the
 *  state region cannot hold it. */
export function cfgInit(): bool {
  CFG = heapAlloc(<u64>CFG_COUNT * 4, 64);
  return CFG != 0;
}

/** The value of configuration key `key` (0 for an unknown key). */
// @ts-ignore: decorator
@inline export function cfg(key: u32): u32 {
  return load<u32>(CFG + (key << 2));
}

/** Store a configuration value (the caller validated key and value). */
export function cfgStore(key: u32, value: u32): void {
  scDropAll(); // decoded setups depend on capabilities and quirks
  store<u32>(CFG + (key << 2), value);
}

/** Whether profile quirk bit `q` is on. */
// @ts-ignore: decorator
@inline export function quirk(q: u32): bool {
  return (load<u32>(CFG + (CFG_QUIRKS << 2)) & q) != 0;
}

/** The default profile with its default options (host/src/vtd/profiles.ts: 48-bit, scalable mode;
 *  host/tests/profile-object.test.ts keeps the two equal): spec behaviour, no quirks. */
export function cfgDefaults(): void {
  cfgStore(CFG_SAGAW, 0x6); // 39/48-bit (3 and 4 levels)
  cfgStore(CFG_MGAW, 48);
  cfgStore(CFG_HAW, 48);
  cfgStore(CFG_SSLPS, 3);
  cfgStore(CFG_FS1GP, 1);
  cfgStore(CFG_FS5LP, 0);
  cfgStore(CFG_ECAP_PT, 1);
  cfgStore(CFG_ECAP_SC, 1);
  cfgStore(CFG_ECAP_NEST, 1);
  cfgStore(CFG_ECAP_SRS, 1);
  cfgStore(CFG_ECAP_ERS, 1);
  cfgStore(CFG_ECAP_DT, 1);
  cfgStore(CFG_ECAP_PASID, 1);
  cfgStore(CFG_ECAP_SMTS, 1);
  cfgStore(CFG_ECAP_FSTS, 1);
  cfgStore(CFG_ECAP_SSTS, 1);
  cfgStore(CFG_ECAP_PRS, 1);
  cfgStore(CFG_PASID_BITS, 20);
  cfgStore(CFG_IOTLB_SETS_LG2, 8);
  cfgStore(CFG_IOTLB_WAYS, 4);
  cfgStore(CFG_QUIRKS, 0);
  cfgStore(CFG_IOTLB_MAX_ENTRIES, 1024);
}
