// Legacy mode (TTM=00): every fault of the root -> context lookup, the
// second-stage walker at 3/4/5 levels (hit, permissions, not-present per
// level, reserved bits, superpages, address width, out-of-RAM tables).
import { describe, expect, it } from 'vitest';
import { Fixture, K, legacyFixture } from './core-fixture.js';

const OUTSIDE = 0x4000_0000n; // beyond the fixture's 32 MiB of RAM

describe('legacy lookup faults', () => {
  it('translates a 4 KiB page through a 3-level table, then hits the IOTLB', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
    expect(f.tr(sid, 0x1234n)).toMatchObject({ ok: true, addr: 0x20_0234n, pageLg2: 12, perms: 7, did: 1, source: K.SRC_WALK });
    expect(f.tr(sid, 0x1238n)).toMatchObject({ ok: true, addr: 0x20_0238n, source: K.SRC_IOTLB });
  });

  it('translation disabled is identity', async () => {
    const { f, sid } = await legacyFixture();
    f.core.setTranslationEnabled(false);
    expect(f.tr(sid, 0xdead_b000n, K.ACC_WRITE)).toMatchObject({ ok: true, addr: 0xdead_b000n, source: K.SRC_DISABLED });
  });

  it('root entry P=0 -> 0x1, not qualified', async () => {
    const { f } = await legacyFixture();
    const t = f.tr(0x0118, 0x1000n); // bus 1 has no root entry
    expect(t.fault).toBe(K.FR_ROOT_NP);
    expect(t.faultFlags & K.FF_WALK).toBe(0);
  });

  it('root entry reserved bits -> 0xA', async () => {
    const { f, sid } = await legacyFixture();
    f.put(f.rootTable, f.mem.readU64(f.rootTable) | 0x10n);
    f.core.invalidateAll();
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_ROOT_RSVD);
    f.put(f.rootTable, f.mem.readU64(f.rootTable) & ~0x10n, 1n);
    f.core.invalidateAll();
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_ROOT_RSVD);
  });

  it('root table outside RAM -> 0x8; context table outside RAM -> 0x9', async () => {
    const { f, sid } = await legacyFixture();
    f.core.setRootTable(OUTSIDE, 0);
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_ROOT_ACCESS);
    f.core.setRootTable(f.rootTable, 0);
    f.put(f.rootTable, OUTSIDE | 1n, 0n);
    f.core.invalidateAll();
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_ACCESS);
  });

  it('context entry P=0 -> 0x2, suppressed by FPD (read even when P=0)', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.context(sid, { ssptr: ss, p: false });
    f.core.invalidateAll();
    let t = f.tr(sid, 0x1000n);
    expect(t.fault).toBe(K.FR_CTX_NP);
    expect(t.faultFlags & K.FF_SUPPRESSED).toBe(0);
    f.context(sid, { ssptr: ss, p: false, fpd: true });
    t = f.tr(sid, 0x1000n);
    expect(t.fault).toBe(K.FR_CTX_NP);
    expect(t.faultFlags & K.FF_SUPPRESSED).toBe(K.FF_SUPPRESSED);
  });

  it('context reserved bits -> 0xB (qw0 11:4, qw1 bit 7, qw1 63:24)', async () => {
    for (const [lo, hi] of [[0x10n, 0n], [0x800n, 0n], [0n, 0x80n], [0n, 1n << 40n]] as const) {
      const { f, ss, sid } = await legacyFixture();
      f.context(sid, { ssptr: ss, lo, hi });
      expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_RSVD);
    }
  });

  it('invalid context entries -> 0x3: TT=3, AW outside SAGAW, TT=1 without DT, TT=2 without PT', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.context(sid, { ssptr: ss, tt: 3 });
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_INVALID);
    f.context(sid, { ssptr: ss, aw: 0 });
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_INVALID);
    f.context(sid, { ssptr: ss, aw: 4 });
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_INVALID);
    f.core.setConfig(K.CFG_SAGAW, 0x4); // 48-bit only
    f.context(sid, { ssptr: ss, aw: 1 });
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_INVALID);
    f.core.setConfig(K.CFG_SAGAW, 0xe);
    f.core.setConfig(K.CFG_ECAP_DT, 0);
    f.context(sid, { ssptr: ss, tt: 1 });
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_INVALID);
    f.core.setConfig(K.CFG_ECAP_PT, 0);
    f.context(sid, { ssptr: ss, tt: 2 });
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_INVALID);
  });

  it('TT=2 is pass-through; translation requests are blocked by TT 00 and 10 (0xD), allowed by TT 01', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x1000n, 0x30_0000n, { w: false });
    expect(f.tr(sid, 0x1000n, K.ACC_READ | K.ACC_TRANSLATION_REQ).fault).toBe(K.FR_TT_BLOCKED);
    f.context(sid, { ssptr: ss, tt: 1 });
    f.core.invalidateAll();
    const t = f.tr(sid, 0x1000n, K.ACC_WRITE | K.ACC_TRANSLATION_REQ);
    expect(t).toMatchObject({ ok: true, addr: 0x30_0000n, perms: 5 }); // R|X, no W, and no fault
    f.context(sid, { ssptr: ss, tt: 2 });
    f.core.invalidateAll();
    expect(f.tr(sid, 0x7777_7000n, K.ACC_WRITE)).toMatchObject({ ok: true, addr: 0x7777_7000n, source: K.SRC_PT });
    expect(f.tr(sid, 0x1000n, K.ACC_READ | K.ACC_TRANSLATION_REQ).fault).toBe(K.FR_TT_BLOCKED);
  });

  it('a request with PASID in legacy mode -> 0x31', async () => {
    const { f, sid } = await legacyFixture();
    expect(f.tr(sid, 0x1000n, K.ACC_READ, 5).fault).toBe(K.FR_SM_PASID_IN_LEGACY);
  });

  it('output address in the interrupt range -> 0xE (qualified)', async () => {
    const { f, ss, sid } = await legacyFixture();
    f.ssMap(ss, 3, 0x5000n, 0xfee0_0000n);
    const t = f.tr(sid, 0x5000n);
    expect(t.fault).toBe(K.FR_INTR_ADDR);
    expect(t.faultFlags & K.FF_WALK).toBe(K.FF_WALK);
  });
});

for (const aw of [1, 2, 3]) {
  const levels = aw + 2;
  const bits = 30 + 9 * aw;
  describe(`legacy second-stage walk, ${levels} levels (AW ${bits})`, () => {
    it('read/write hits and permission faults (R/W ANDed across levels)', async () => {
      const { f, ss, sid } = await legacyFixture([], aw);
      f.ssMap(ss, levels, 0x40_0000n, 0x20_0000n);
      f.ssMap(ss, levels, 0x40_1000n, 0x20_1000n, { w: false });
      f.ssMap(ss, levels, 0x40_2000n, 0x20_2000n, { r: false });
      expect(f.tr(sid, 0x40_0008n, K.ACC_WRITE)).toMatchObject({ ok: true, addr: 0x20_0008n });
      expect(f.tr(sid, 0x40_1000n, K.ACC_WRITE).fault).toBe(K.FR_WRITE);
      expect(f.tr(sid, 0x40_1000n).ok).toBe(true);
      expect(f.tr(sid, 0x40_2000n).fault).toBe(K.FR_READ);
      expect(f.tr(sid, 0x40_2000n, K.ACC_WRITE).ok).toBe(true);
      // clear W in the top-level entry: writes anywhere below fail
      const top = ss + ((0x40_0000n >> BigInt(12 + 9 * (levels - 1))) & 0x1ffn) * 8n;
      f.put(top, f.mem.readU64(top) & ~2n);
      f.core.invalidateAll();
      expect(f.tr(sid, 0x40_0000n, K.ACC_WRITE).fault).toBe(K.FR_WRITE);
      expect(f.tr(sid, 0x40_0000n).ok).toBe(true);
    });

    it('not present at each level: 6 for reads, 5 for writes; reserved bits -> 0xC', async () => {
      for (let level = 0; level < levels; level++) {
        const { f, ss, sid } = await legacyFixture([], aw);
        const leaf = f.ssMap(ss, levels, 0x80_0000n, 0x20_0000n);
        const entry = entryAt(f, ss, levels, 0x80_0000n, level, leaf);
        const saved = f.mem.readU64(entry);
        f.put(entry, 0n);
        expect(f.tr(sid, 0x80_0000n).fault, `level ${level}`).toBe(K.FR_READ);
        expect(f.tr(sid, 0x80_0000n, K.ACC_WRITE).fault).toBe(K.FR_WRITE);
        f.put(entry, saved | (1n << 62n));
        expect(f.tr(sid, 0x80_0000n).fault).toBe(K.FR_SS_RSVD);
        f.put(entry, saved | (1n << 50n)); // above HAW 48
        expect(f.tr(sid, 0x80_0000n).fault).toBe(K.FR_SS_RSVD);
        f.put(entry, saved);
        expect(f.tr(sid, 0x80_0000n).ok).toBe(true);
      }
    });

    it('tables outside RAM: top -> 0x3, below -> 0x7', async () => {
      const { f, ss, sid } = await legacyFixture([], aw);
      f.ssMap(ss, levels, 0x1000n, 0x20_0000n);
      const top = ss;
      f.put(top, OUTSIDE | 3n);
      f.core.invalidateAll();
      expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_SS_ACCESS);
      f.context(sid, { ssptr: OUTSIDE, aw });
      f.core.invalidateAll();
      expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_CTX_INVALID);
    });

    it(`input address width: 2^${bits}-1 translates, 2^${bits} -> 0x4`, async () => {
      const { f, ss, sid } = await legacyFixture([], aw);
      const last = (1n << BigInt(bits)) - 1n;
      f.ssMap(ss, levels, last & ~0xfffn, 0x20_0000n);
      expect(f.tr(sid, last)).toMatchObject({ ok: true, addr: 0x20_0fffn });
      expect(f.tr(sid, last + 1n).fault).toBe(K.FR_ADDR_WIDTH);
    });
  });
}

describe('legacy superpages, SNP, PS at the top', () => {
  it('2 MiB and 1 GiB leaves: boundaries and reserved low address bits', async () => {
    const { f, ss, sid } = await legacyFixture([], 2);
    f.ssMap(ss, 4, 0x4000_0000n, 0x0020_0000n, { lg2: 21 });
    expect(f.tr(sid, 0x401f_ffffn)).toMatchObject({ ok: true, addr: 0x003f_ffffn, pageLg2: 21 });
    expect(f.tr(sid, 0x4020_0000n).fault).toBe(K.FR_READ);
    const leaf = f.ssMap(ss, 4, 0x80_0000_0000n, 0n, { lg2: 30 });
    expect(f.tr(sid, 0x80_3fff_ffffn)).toMatchObject({ ok: true, addr: 0x3fff_ffffn, pageLg2: 30 });
    f.put(leaf, f.mem.readU64(leaf) | 0x1000n);
    f.core.invalidateAll();
    expect(f.tr(sid, 0x80_0000_0000n).fault).toBe(K.FR_SS_RSVD);
  });

  it('superpages gated by CFG_SSLPS', async () => {
    const { f, ss, sid } = await legacyFixture([[K.CFG_SSLPS, 1]], 2);
    f.ssMap(ss, 4, 0x4000_0000n, 0x20_0000n, { lg2: 21 });
    f.ssMap(ss, 4, 0x80_0000_0000n, 0n, { lg2: 30 });
    expect(f.tr(sid, 0x4000_0000n).ok).toBe(true);
    expect(f.tr(sid, 0x80_0000_0000n).fault).toBe(K.FR_SS_RSVD);
    f.core.setConfig(K.CFG_SSLPS, 0);
    expect(f.tr(sid, 0x4000_0000n).fault).toBe(K.FR_SS_RSVD);
  });

  it('PS in a PML4E is reserved; SNP is reserved without ECAP.SC and in non-leaf entries', async () => {
    const { f, ss, sid } = await legacyFixture([], 2);
    const leaf = f.ssMap(ss, 4, 0x1000n, 0x20_0000n);
    f.put(ss, f.mem.readU64(ss) | 0x80n);
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_SS_RSVD);
    f.put(ss, f.mem.readU64(ss) & ~0x80n);
    f.put(leaf, f.mem.readU64(leaf) | 0x800n);
    f.core.invalidateAll();
    expect(f.tr(sid, 0x1000n).ok).toBe(true);
    f.core.setConfig(K.CFG_ECAP_SC, 0);
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_SS_RSVD);
    f.core.setConfig(K.CFG_ECAP_SC, 1);
    f.put(leaf, f.mem.readU64(leaf) & ~0x800n);
    f.put(ss, f.mem.readU64(ss) | 0x800n);
    f.core.invalidateAll();
    expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_SS_RSVD);
  });
});

// The address of the entry at `level` on iova's path (leaf given).
function entryAt(f: Fixture, root: bigint, levels: number, iova: bigint, level: number, leaf: bigint): bigint {
  let table = root;
  for (let l = levels - 1; l >= 0; l--) {
    const at = table + ((iova >> BigInt(12 + 9 * l)) & 0x1ffn) * 8n;
    if (l === level) return at;
    table = f.mem.readU64(at) & 0x000f_ffff_ffff_f000n;
  }
  return leaf;
}
