/**
 * Fault recording overflow and fault events (§7.3, §11.4.7): three devices
 * in legacy or scalable mode fault (not present, read-only written, PASID
 * entry not present) faster than the guest services the single fault
 * record QEMU has; the guest clears F, PFO or PPF in different orders,
 * masks and unmasks FECTL.IM, and moves FEDATA to a fresh vector before each
 * round, so the local APIC's pending vectors (read through QMP, apic.irr)
 * show which rounds raised a fault event. Interrupt remapping stays off:
 * the event is a compatibility-format MSI to processor 0.
 */
import { FRCD, FSTS } from '../../host/src/vtd/spec/registers.js';
import {
  DEVICES, GPA, awField, legacyContext, legacyRoot, mapSinks, pasidEntry, pasidEntryAt, pattern, smDevice, smRoot, ssTree,
} from './guest.js';
import { SS } from './page-tree.js';
import { REG, Rng, ScenarioBuilder, TTM_SCALABLE } from './scenario-builder.js';

/** FECTL.IM (§11.4.7.2). */
const IM = 0x8000_0000;
/** The fault-event message address: processor 0, physical destination (§5.1.8 compatibility format). */
const MSI_ADDR = 0xfee0_0000;

export function faultEvents(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const scalable = rng.chance(0.4);
  const aw = rng.pick([39, 48] as const);
  const n = 3;
  const t = ssTree(b, GPA.TABLES, aw);
  const ro = 0x2000n;
  const ok = 0x3000n;
  t.map(ro, GPA.DATA, SS.R);
  t.map(ok, GPA.DATA + 0x1000n, SS.RW);
  mapSinks(t, n);
  pattern(b, GPA.DATA, 0x61);
  const pasidAt: bigint[] = [];
  if (scalable) {
    smRoot(b);
    for (let i = 0; i < n; i++) {
      const at = pasidEntryAt(smDevice(b, i), 0);
      b.memWrite(at, pasidEntry({ slpt: t.top, aw: awField(aw).field, did: 1 + i }));
      pasidAt.push(at);
    }
  } else {
    legacyRoot(b);
    for (let i = 0; i < n; i++) legacyContext(b, DEVICES[i]!, { slpt: t.top, aw: awField(aw).field, did: 1 + i });
  }
  b.setRootTable(GPA.ROOT | (scalable ? TTM_SCALABLE : 0n)).globalInvalidateRegs().enableTranslation();
  b.mmioWrite(REG.FEADDR, 4, MSI_ADDR).mmioWrite(REG.FEUADDR, 4, 0);
  if (rng.chance(0.7)) b.mmioWrite(REG.FECTL, 4, 0); // unmasked from the start (IM is set at reset)
  const faults: ((dev: string) => void)[] = [
    (dev) => b.dmaWrite(dev, ro + BigInt(rng.int(32) * 8), 8),
    (dev) => b.dmaRead(dev, 0x9000n + BigInt(rng.int(8)) * 0x1000n, 8),
    (dev) => b.dmaRead(dev, ok, 8),
  ];
  const services: (() => void)[] = [
    () => b.mmioWrite(REG.FRCD_HI + 4, 4, FRCD.F >> 32n),
    () => b.mmioWrite(REG.FSTS, 4, FSTS.PFO),
    () => b.mmioWrite(REG.FSTS, 4, FSTS.PPF | FSTS.PFO),
    () => b.clearFaults(),
    () => b.mmioWrite(REG.FECTL, 4, rng.chance(0.5) ? IM : 0),
  ];
  for (let r = 0; r < 10; r++) {
    b.mmioWrite(REG.FEDATA, 4, 0x40 + r);
    if (scalable && rng.chance(0.2)) {
      const i = rng.int(n);
      b.memWrite(pasidAt[i]!, pasidEntry({ slpt: t.top, aw: awField(aw).field, did: 1 + i, p: rng.chance(0.5) }));
      b.globalInvalidateRegs(false);
    }
    for (let k = 1 + rng.int(4); k > 0; k--) rng.pick(faults)(DEVICES[rng.int(n)]!);
    b.mmioRead(REG.FSTS, 4).mmioRead(REG.FECTL, 4).mmioRead(REG.FRCD_HI, 8).mmioRead(REG.FRCD_LO, 8);
    for (let k = rng.int(3); k > 0; k--) rng.pick(services)();
    b.mmioRead(REG.FSTS, 4).mmioRead(REG.FECTL, 4);
    b.apicIrr(0);
  }
  return b.build(`gen-fault-events-${seed}`, 'faults from three devices against QEMU\'s one fault record: PFO, service orders, IM, and the fault-event MSIs at the local APIC',
    {
      profile: 'qemu-7.2', ram_mib: 256, iommu: { scalable_mode: scalable, caching_mode: false, aw_bits: aw },
      devices: DEVICES.slice(0, n).map((bdf) => ({ bdf, kind: 'dma-test' })),
    });
}

/** The family by name (recorded on both QEMUs). */
export const FAULT_EVENT_FAMILIES: Record<string, (seed: number) => object> = { 'fault-events': faultEvents };
