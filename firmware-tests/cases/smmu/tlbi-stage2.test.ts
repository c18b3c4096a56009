// Stage-2 TLB invalidation against nested (S1+S2) translations, through
// MMIO and guest memory. CMD_TLBI_S2_IPA invalidates stage-2-only entries
// for the IPA range (Leaf = 0: at every level, so also the stage-2
// translations a nested walk made of stage-1 table IPAs); like the Arm
// ARM's TLBI IPAS2*, it is not required to invalidate entries that combine
// stage 1 and stage 2, so software follows a stage-2 change with
// CMD_TLBI_NH_ALL of the VMID (Linux's arm-smmu-v3 does) or
// CMD_TLBI_S12_VMALL, which invalidates every stage-1, stage-2 and combined
// entry of the VMID. And the commands of features the unit lacks
// (SMMU_IDR0.ATS = PRI = 0, narrowed by SmmuOptions; no stage 2) are CERROR_ILL.
import { describe, expect, it } from 'vitest';
import { smmuBed, RAM_BASE, type SmmuBed } from '../../lib/smmu/testbed.js';
import { LpaeTables } from '../../../host/src/guest/smmu/lpae.js';
import { C, CONFIG, encodeSte, s1Cd } from '../../../host/src/guest/smmu/structures.js';
import { SR } from '../../../host/src/guest/smmu/driver.js';

const SID = 0x20;
const VMID = 3;
const ASID = 4;
const VA = 0x5555_0000n;
/** The IPA the stage-1 leaf points at, and two 2 MiB blocks stage 2 can put it in. */
const IPA = RAM_BASE + 0x40_0000n;
const BLOCK = IPA & ~0x1f_ffffn;
const OTHER_BLOCK = RAM_BASE + 0x80_0000n;

/**
 * A nested stream: stage 2 maps guest RAM 1:1 in 2 MiB blocks (so the
 * guest's tables sit at IPA = PA), stage 1 maps VA -> IPA; one DMA fills
 * the TLB. The byte at IPA reads 0x11 through the first block, 0x22
 * through OTHER_BLOCK.
 */
async function nested(): Promise<{ b: SmmuBed; s1: LpaeTables; s2: LpaeTables; byte: () => number | undefined }> {
  const b = await smmuBed();
  b.drv.init();
  const s2 = new LpaeTables(b.mem, b.alloc, 2, 40, 1);
  for (let i = 0n; i < 32n; i++) s2.map(RAM_BASE + (i << 21n), RAM_BASE + (i << 21n), 21);
  const s1 = new LpaeTables(b.mem, b.alloc, 1, 48);
  s1.map(VA, IPA, 12);
  const cd = b.alloc.alloc();
  s1Cd(s1.root, ASID).forEach((w, i) => b.mem.writeU64(cd + BigInt(8 * i), w));
  b.drv.setSte(SID, encodeSte({
    V: true, Config: CONFIG.NESTED, S1ContextPtr: cd, S2VMID: VMID, S2T0SZ: 24, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: true, S2R: true, S2TTB: s2.root,
  }));
  b.mem.fill(IPA, 8, 0x11);
  b.mem.fill(OTHER_BLOCK + (IPA - BLOCK), 8, 0x22);
  const byte = (): number | undefined => b.dma(SID, VA).data?.[0];
  expect(byte()).toBe(0x11);
  return { b, s1, s2, byte };
}

describe('TLBI_S2_IPA and TLBI_S12_VMALL on nested translations (SMMUv3 §4.4, as Arm ARM TLBI IPAS2)', () => {
  it('after a stage-2 change of the output IPA: TLBI_S2_IPA then TLBI_NH_ALL of the VMID (Linux\'s sequence) gives the new page; NH_ALL of another VMID does not', async () => {
    const { b, s2, byte } = await nested();
    s2.map(BLOCK, OTHER_BLOCK, 21);
    expect(b.drv.submit([C.tlbiS2Ipa(VMID, BLOCK), C.tlbiNhAll(VMID + 1)])).toBe(0);
    expect(byte()).toBe(0x11); // the combined entry of VMID 3 stays: nothing named it
    expect(b.drv.submit([C.tlbiS2Ipa(VMID, BLOCK), C.tlbiNhAll(VMID)])).toBe(0);
    expect(byte()).toBe(0x22);
  });
  it('TLBI_S12_VMALL of the VMID alone drops combined entries; of another VMID it keeps them', async () => {
    const { b, s2, byte } = await nested();
    s2.map(BLOCK, OTHER_BLOCK, 21);
    expect(b.drv.submit([C.tlbiS12Vmall(VMID + 1)])).toBe(0);
    expect(byte()).toBe(0x11);
    expect(b.drv.submit([C.tlbiS12Vmall(VMID)])).toBe(0);
    expect(byte()).toBe(0x22);
  });
  it('a stage-2 change under a stage-1 table: TLBI_S2_IPA (Leaf = 0) of the table\'s IPA and TLBI_NH_VA of the page make the walk read the moved table', async () => {
    const { b, s1, s2, byte } = await nested();
    // Copy the 2 MiB block holding the stage-1 leaf table, change the copy's PTE, point stage 2 at the copy.
    let leafTable = s1.root; // 4 levels from level 0 (48 bits, 4 KiB): follow levels 0-2 (IPA = PA here)
    for (let shift = 39n; shift > 12n; shift -= 9n) leafTable = b.mem.readU64(leafTable + ((VA >> shift) & 511n) * 8n) & 0xffff_ffff_f000n;
    const tableBlock = leafTable & ~0x1f_ffffn;
    const copy = RAM_BASE + 0x200_0000n;
    b.mem.write(copy, b.mem.read(tableBlock, 0x20_0000));
    const pte = copy + (leafTable - tableBlock) + ((VA >> 12n) & 511n) * 8n;
    b.mem.writeU64(pte, (b.mem.readU64(pte) & ~0xffff_ffff_f000n) | (OTHER_BLOCK + (IPA - BLOCK)));
    s2.map(tableBlock, copy, 21);
    expect(byte()).toBe(0x11); // nothing invalidated yet
    expect(b.drv.submit([C.tlbiS2Ipa(VMID, leafTable, false), C.tlbiNhVa(VMID, ASID, VA)])).toBe(0);
    expect(byte()).toBe(0x22);
  });
});

describe('commands of features the SMMU lacks are CERROR_ILL (§4.1.3)', () => {
  it('ATC_INV without ATS and PRI_RESP without PRI (SMMU_IDR0.ATS = PRI = 0) stop the queue at them; the commands before them ran', async () => {
    const b = await smmuBed('default', 64, { ats: false });
    b.drv.init();
    const idr0 = b.drv.read32(SR.IDR0);
    expect([(idr0 >>> 10) & 1, (idr0 >>> 16) & 1]).toEqual([0, 0]); // ATS, PRI
    for (const cmd of [C.atcInv(SID, undefined, 0n, 0), C.priResp(SID, 1, 1, 2)]) {
      const cons = b.drv.read32(SR.CMDQ_CONS) & 0xfffff;
      expect(b.drv.submit([C.tlbiNsnhAll(), cmd, C.tlbiNsnhAll()], false)).toBe(1);
      expect(b.drv.read32(SR.CMDQ_CONS) & 0xfffff).toBe(cons + 1); // stopped at the second command
      expect(b.drv.read32(SR.GERROR) & 1).not.toBe(b.drv.read32(SR.GERRORN) & 1); // CMDQ_ERR active
      b.drv.recoverCommandError();
      expect(b.drv.read32(SR.CMDQ_CONS) >>> 24).toBe(0);
    }
  });
  it('TLBI_S2_IPA and TLBI_S12_VMALL without stage 2 are CERROR_ILL', async () => {
    const b = await smmuBed('default', 64, { stage2: false });
    b.drv.init();
    expect(b.drv.read32(SR.IDR0) & 1).toBe(0); // S2P
    expect(b.drv.submit([C.tlbiS2Ipa(0, 0x1000n)], false)).toBe(1);
    b.drv.recoverCommandError();
    expect(b.drv.submit([C.tlbiS12Vmall(0)], false)).toBe(1);
  });
});
