/**
 * An Arm machine (`createArmMachine`) with the ATS device behind its
 * SMMUv3, driven the way a guest drives it: the SMMU through its MMIO
 * frame and guest memory (SmmuDriver), PCI through ECAM (PciDriver), the
 * device through its BAR. The device's requester id is its StreamID.
 */
import { ARM_ECAM_BASE, ARM_RAM_BASE, createArmMachine, SMMU_BASE, type ArmMachine } from '../../../host/src/arm-machine.js';
import { ATS, ATS_CMD } from '../../../host/src/devices/ats/regs.js';
import { PciDriver } from '../../../host/src/guest/pci-driver.js';
import { SmmuDriver, SR } from '../../../host/src/guest/smmu/driver.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { CONFIG, encodeSte, s1Cd } from '../../../host/src/guest/smmu/structures.js';
import { PageAllocator } from '../../../host/src/tables/page-allocator.js';

/** The ATS device's requester id (00:05.0) and StreamID. */
export const ATS_SID = 0x28;
/** The IOVA the stage-1 tables map, and the two guest pages a test maps it to. */
export const VA = 0x7000_0000n;
export const PAGE_A = ARM_RAM_BASE + 0x20_0000n;
export const PAGE_B = ARM_RAM_BASE + 0x30_0000n;
/** The ASID of the stream's CD. */
export const ASID = 5;

const B = BigInt;

/** One booted machine with the SMMU on and the ATS device found. */
export interface AtsBed {
  readonly m: ArmMachine;
  readonly drv: SmmuDriver;
  readonly pci: PciDriver;
  readonly alloc: PageAllocator;
  readonly bar: bigint;
  /** Device register `off` (ATS.*). */
  reg(off: number): number;
  /** A device command on `len` bytes at `iova` (PASID register value `pasid`); returns STATUS. */
  cmd(kind: number, iova: bigint, len?: number, pasid?: number): number;
  /** The first `n` bytes of the device buffer. */
  buffer(n: number): number[];
  /** Fills the device buffer's first bytes with `bytes`. */
  fill(bytes: readonly number[]): void;
}

/** Boots the machine (profile `profile`), with the SMMU and its queues on. */
export async function atsBed(profile = 'default'): Promise<AtsBed> {
  const m = await createArmMachine({ profile, ramMib: 64, devices: [{ bdf: '00:05.0', kind: 'ats' }] });
  const alloc = new PageAllocator(m.ram, ARM_RAM_BASE + 0x100_0000n, ARM_RAM_BASE + 0x400_0000n);
  const drv = new SmmuDriver(m, m.ram, alloc, SMMU_BASE);
  const pci = new PciDriver(m, ARM_ECAM_BASE);
  const bar = pci.barBase(ATS_SID, 0);
  drv.init();
  const reg = (off: number): number => Number(m.mmioRead(bar + B(off), 4));
  return {
    m, drv, pci, alloc, bar, reg,
    cmd(kind, iova, len = 8, pasid = 0) {
      m.mmioWrite(bar + B(ATS.IOVA), 8, iova);
      m.mmioWrite(bar + B(ATS.LEN), 4, B(len));
      m.mmioWrite(bar + B(ATS.PASID), 4, B(pasid >>> 0));
      m.mmioWrite(bar + B(ATS.CMD), 4, B(kind));
      return reg(ATS.STATUS);
    },
    buffer: (n) => [...Array(n).keys()].map((i) => Number(m.mmioRead(bar + B(ATS.BUFFER + 4 * Math.floor(i / 4)), 4) >> B(8 * (i % 4))) & 0xff),
    fill: (bytes) => bytes.forEach((v, i) => {
      const at = bar + B(ATS.BUFFER + (i & ~3));
      const old = m.mmioRead(at, 4);
      m.mmioWrite(at, 4, (old & ~(0xffn << B(8 * (i & 3)))) | (B(v) << B(8 * (i & 3))));
    }),
  };
}

/** A stage-1 stream for the ATS device: VA -> `pa` (4 KiB), its STE with `eats`; returns the tables. */
export function s1Stream(b: AtsBed, pa: bigint, eats: number, cdMax = 0): LpaeTables {
  const s1 = new LpaeTables(b.m.ram, b.alloc, 1, 48);
  s1.map(VA, pa, 12);
  const cds = b.alloc.allocContiguous(1);
  for (let ssid = 0; ssid < 2 ** cdMax; ssid++) s1Cd(s1.root, ASID).forEach((w, i) => b.m.ram.writeU64(cds + B(64 * ssid + 8 * i), w));
  b.drv.setSte(ATS_SID, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cds, S1CDMax: cdMax, EATS: eats }));
  return s1;
}

/** CR0 with ATSCHK (bit 4) on or off, the rest as it is (the CR0ACK handshake). */
export function setAtsCheck(b: AtsBed, on: boolean): void {
  const cr0 = b.drv.read32(SR.CR0);
  b.drv.setCr0(on ? cr0 | 0x10 : cr0 & ~0x10);
}

export { ATS, ATS_CMD };
