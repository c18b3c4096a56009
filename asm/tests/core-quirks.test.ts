// Profile quirks (CFG_QUIRKS): each switch on (QEMU's behaviour) and off
// (the spec's), on the same guest setup.
import { describe, expect, it } from 'vitest';
import { Fixture, K, legacyFixture } from './core-fixture.js';

const SID = 0x18;

/** Both settings of one quirk: run `body` with the quirk off and on. */
function both(name: string, quirk: number, body: (on: boolean, cfg: [number, number][]) => Promise<void>): void {
  describe(name, () => {
    it('off (spec)', () => body(false, [[K.CFG_QUIRKS, 0]]));
    it('on (QEMU)', () => body(true, [[K.CFG_QUIRKS, quirk]]));
  });
}

/** Scalable setup: sid 0x18, RID_PASID 0 -> `entry`. */
async function sm(cfg: [number, number][], entry: (f: Fixture, dir: bigint, tables: bigint) => void): Promise<{ f: Fixture; dir: bigint; t: bigint }> {
  const f = await Fixture.create(32, cfg);
  f.scalable();
  const dir = f.page();
  const t = f.page();
  f.smContext(SID, { pasidDir: dir });
  entry(f, dir, t);
  return { f, dir, t };
}

both('QUIRK_IOTLB_BEFORE_CONTEXT', K.QUIRK_IOTLB_BEFORE_CONTEXT, async (on, cfg) => {
  const { f, ss, sid } = await legacyFixture(cfg);
  f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
  f.tr(sid, 0x1000n);
  f.context(sid, { ssptr: ss, p: false });
  f.core.invContextGlobal();
  const t = f.tr(sid, 0x1000n);
  if (on) expect(t).toMatchObject({ ok: true, source: K.SRC_IOTLB });
  else expect(t.fault).toBe(K.FR_CTX_NP);
});

both('QUIRK_NO_PASID_CACHE', K.QUIRK_NO_PASID_CACHE, async (on, cfg) => {
  const { f, dir, t: ss } = await sm(cfg, (f, dir, ss) => f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss }));
  f.ssMap(ss, 4, 0x1000n, 0x20_0000n);
  expect(f.tr(SID, 0x1000n).ok).toBe(true);
  const dirEntry = f.mem.readU64(dir);
  f.put(dir, dirEntry & ~1n); // directory entry P=0
  const t = f.tr(SID, 0x1000n);
  if (on) expect(t.fault).toBe(K.FR_PDIR_NP); // read on every request, before the IOTLB
  else expect(t.ok).toBe(true); // cached PASID entry, IOTLB hit
  f.put(dir, dirEntry);
  const pe = dirEntry & ~0xfffn;
  f.put(pe, f.mem.readU64(pe) & ~1n); // PASID entry P=0
  f.core.invPasidCache(3, 0, 0);
  f.core.invIotlbGlobal();
  expect(f.tr(SID, 0x1000n).ok).toBe(on); // QEMU checks P only when the context entry is fetched
  f.core.invContextGlobal();
  expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_PASID_NP);
});

both('QUIRK_LEGACY_CODES_IN_SM', K.QUIRK_LEGACY_CODES_IN_SM, async (on, cfg) => {
  const { f, t: ss } = await sm(cfg, (f, dir, ss) => f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss }));
  expect(f.tr(0x0218, 0x1000n).fault).toBe(on ? K.FR_ROOT_NP : K.FR_SM_ROOT_NP);
  expect(f.tr(SID, 0x1000n).fault).toBe(on ? K.FR_READ : K.FR_SM_SS_NP);
  expect(f.tr(SID, 0x1000n, K.ACC_WRITE).fault).toBe(on ? K.FR_WRITE : K.FR_SM_SS_NP);
  const leaf = f.ssMap(ss, 4, 0x2000n, 0x20_0000n, { leafBits: 0x800n });
  f.core.setConfig(K.CFG_ECAP_SC, 0);
  expect(f.tr(SID, 0x2000n).ok).toBe(on); // SNP not reserved in QEMU's scalable mode
  f.put(leaf, f.mem.readU64(leaf) | (1n << 62n));
  f.core.invalidateAll();
  expect(f.tr(SID, 0x2000n).fault).toBe(on ? K.FR_SS_RSVD : K.FR_SM_SS_RSVD);
});

both('QUIRK_FS_ALL_USER', K.QUIRK_FS_ALL_USER, async (on, cfg) => {
  const { f, t: fs } = await sm(cfg, (f, dir, fs) => f.pasidEntry(dir, 1, { pgtt: 1, fsptr: fs, sre: true }));
  f.fsMap(fs, 4, 0x1000n, 0x20_0000n, { us: false });
  const t = f.tr(SID, 0x1000n, K.ACC_READ | K.ACC_PRIV, 1);
  if (on) expect(t.fault).toBe(K.FR_FS_USER);
  else expect(t.ok).toBe(true);
});

both('QUIRK_FS_AD_IF_A_CLEAR', K.QUIRK_FS_AD_IF_A_CLEAR, async (on, cfg) => {
  const { f, t: fs } = await sm(cfg, (f, dir, fs) => f.pasidEntry(dir, 0, { pgtt: 1, fsptr: fs }));
  const leaf = f.fsMap(fs, 4, 0x1000n, 0x20_0000n);
  expect(f.tr(SID, 0x1000n).ok).toBe(true);
  expect(f.tr(SID, 0x1000n, K.ACC_WRITE).ok).toBe(true);
  expect(f.mem.readU64(leaf) & 0x40n).toBe(on ? 0n : 0x40n); // QEMU: A already set -> never D
  f.core.invalidateAll();
  f.tr(SID, 0x1000n, K.ACC_WRITE);
  expect(f.mem.readU64(leaf) & 0x40n).toBe(on ? 0n : 0x40n);
  // check order: a write to a read-only entry with reserved bits
  const bad = f.fsMap(fs, 4, 0x2000n, 0x21_0000n, { w: false });
  f.put(bad, f.mem.readU64(bad) | (1n << 50n));
  expect(f.tr(SID, 0x2000n, K.ACC_WRITE).fault).toBe(on ? K.FR_SM_WRITE : K.FR_FS_RSVD);
});

both('QUIRK_PT_STICKY', K.QUIRK_PT_STICKY, async (on, cfg) => {
  const { f, dir, t: ss } = await sm(cfg, (f, dir) => f.pasidEntry(dir, 0, { pgtt: 4 }));
  expect(f.tr(SID, 0x1000n).source).toBe(K.SRC_PT);
  f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss }); // nothing mapped
  f.core.invPasidCache(3, 0, 0);
  f.core.invIotlbGlobal();
  const t = f.tr(SID, 0x1000n);
  if (on) expect(t.source).toBe(K.SRC_PT);
  else expect(t.fault).toBe(K.FR_SM_SS_NP);
  f.core.invContextDevice(0, SID, 0);
  expect(f.tr(SID, 0x1000n).ok).toBe(false);
});

both('QUIRK_PSI_ALIAS', K.QUIRK_PSI_ALIAS, async (on, cfg) => {
  const { f, ss, sid } = await legacyFixture(cfg);
  const a = f.ssMap(ss, 3, 0x1000n, 0x20_0000n);
  const b = f.ssMap(ss, 3, 0x10_1000n, 0x21_0000n);
  f.tr(sid, 0x1000n);
  f.tr(sid, 0x10_1000n);
  f.put(a, 0x30_0003n);
  f.put(b, 0x31_0003n);
  f.core.invIotlbPage(1, 0x1000n, 0, 1);
  expect(f.tr(sid, 0x1000n).addr).toBe(0x30_0000n);
  expect(f.tr(sid, 0x10_1000n).addr).toBe(on ? 0x31_0000n : 0x21_0000n);
});

both('QUIRK_NO_FAULT_ON_CACHED_PERM', K.QUIRK_NO_FAULT_ON_CACHED_PERM, async (on, cfg) => {
  const { f, ss, sid } = await legacyFixture(cfg);
  f.ssMap(ss, 3, 0x1000n, 0x20_0000n, { w: false });
  f.tr(sid, 0x1000n);
  const t = f.tr(sid, 0x1000n, K.ACC_WRITE);
  expect(t.fault).toBe(K.FR_WRITE);
  expect(t.faultFlags & K.FF_SILENT).toBe(on ? K.FF_SILENT : 0);
});

both('QUIRK_SS_PERM_BEFORE_RSVD', K.QUIRK_SS_PERM_BEFORE_RSVD, async (on, cfg) => {
  const { f, ss, sid } = await legacyFixture(cfg);
  // a read-only leaf with a reserved bit (62): a write lacks the permission and hits the reserved bit
  f.ssMap(ss, 3, 0x1000n, 0x20_0000n, { w: false, leafBits: 1n << 62n });
  expect(f.tr(sid, 0x1000n, K.ACC_WRITE).fault).toBe(on ? K.FR_WRITE : K.FR_SS_RSVD);
  expect(f.tr(sid, 0x1000n).fault).toBe(K.FR_SS_RSVD);
});

both('QUIRK_QEMU_FAULT_PV', K.QUIRK_QEMU_FAULT_PV, async (on, cfg) => {
  const { f, sid } = await legacyFixture(cfg);
  const t = f.tr(sid, 0x1000n);
  expect(t.faultPasid).toBe(on ? 0xffff : 0);
  expect(t.faultFlags & K.FF_PP).toBe(0);
  expect(f.tr(0x0118, 0x1000n).faultPasid).toBe(0); // root fault
  const s = await sm(cfg, (g, dir, ss) => { g.smContext(SID, { pasidDir: dir, ridPasid: 3 }); g.pasidEntry(dir, 3, { pgtt: 2, ssptr: ss }); });
  const w = s.f.tr(SID, 0x1000n);
  expect(w.faultFlags & K.FF_PP).toBe(on ? K.FF_PP : 0);
  expect(w.faultPasid).toBe(on ? 3 : 0);
});

both('QUIRK_INTR_PAGE_OVERLAP', K.QUIRK_INTR_PAGE_OVERLAP, async (on, cfg) => {
  const { f, ss, sid } = await legacyFixture(cfg, 2);
  f.ssMap(ss, 4, 0x4000_0000n, 0xfee0_0000n & ~0x1f_ffffn, { lg2: 21 }); // 2 MiB page 0xFEE00000-0xFEFFFFFF
  const t = f.tr(sid, 0x4010_0000n); // -> 0xFEF00000, outside the range
  if (on) expect(t.fault).toBe(K.FR_INTR_ADDR);
  else expect(t).toMatchObject({ ok: true, addr: 0xfef0_0000n });
  expect(f.tr(sid, 0x4000_0000n).fault).toBe(K.FR_INTR_ADDR);
});

both('QUIRK_RSVD_CTX_UNQUALIFIED', K.QUIRK_RSVD_CTX_UNQUALIFIED, async (on, cfg) => {
  const { f, ss, sid } = await legacyFixture(cfg);
  f.context(sid, { ssptr: ss, fpd: true, lo: 0x10n });
  const t = f.tr(sid, 0x1000n);
  expect(t.fault).toBe(K.FR_CTX_RSVD);
  expect(t.faultFlags & K.FF_SUPPRESSED).toBe(on ? 0 : K.FF_SUPPRESSED);
});

both('QUIRK_FS_AS_SS', K.QUIRK_FS_AS_SS, async (on, cfg) => {
  const { f, t: ss } = await sm([...cfg, [K.CFG_ECAP_FSTS, 0]], (g, dir, ss) => g.pasidEntry(dir, 0, { pgtt: 1, ssptr: ss, aw: 2 }));
  f.ssMap(ss, 4, 0x1000n, 0x20_0000n);
  const t = f.tr(SID, 0x1000n);
  if (on) expect(t).toMatchObject({ ok: true, addr: 0x20_0000n });
  else expect(t.fault).toBe(K.FR_PASID_INVALID);
});

both('QUIRK_NO_PDIR_FPD', K.QUIRK_NO_PDIR_FPD, async (on, cfg) => {
  const { f, dir } = await sm(cfg, (g, dir, ss) => g.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss }));
  f.put(dir, (f.mem.readU64(dir) & ~1n) | 2n); // directory entry P=0, FPD=1
  const t = f.tr(SID, 0x1000n);
  expect(t.fault).toBe(K.FR_PDIR_NP);
  expect(t.faultFlags & K.FF_SUPPRESSED).toBe(on ? 0 : K.FF_SUPPRESSED);
});

both('QUIRK_PASID_FAULTS_0X58', K.QUIRK_PASID_FAULTS_0X58, async (on, cfg) => {
  const { f, dir, t: ss } = await sm(cfg, (g, dir, ss) => g.pasidEntry(dir, 0, { pgtt: 6, ssptr: ss }));
  expect(f.tr(SID, 0x1000n).fault).toBe(on ? K.FR_PTE_ACCESS : K.FR_PASID_INVALID);
  f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, p: false });
  expect(f.tr(SID, 0x1000n).fault).toBe(on ? K.FR_PTE_ACCESS : K.FR_PASID_NP);
  f.put(dir, 0n);
  expect(f.tr(SID, 0x1000n).fault).toBe(on ? K.FR_PTE_ACCESS : K.FR_PDIR_NP);
});

both('QUIRK_IOTLB_FLUSH_WHEN_FULL with CFG_IOTLB_MAX_ENTRIES 4', K.QUIRK_IOTLB_FLUSH_WHEN_FULL, async (on, cfg) => {
  const { f, ss, sid } = await legacyFixture([...cfg, [K.CFG_IOTLB_MAX_ENTRIES, 4]]);
  for (let k = 0n; k < 5n; k++) f.ssMap(ss, 3, 0x1000n * (k + 1n), 0x20_0000n);
  for (let k = 1n; k <= 4n; k++) f.tr(sid, 0x1000n * k);
  expect(f.tr(sid, 0x1000n).source).toBe(K.SRC_IOTLB); // 4 entries: all held
  f.tr(sid, 0x5000n); // the fifth fill finds 4 (QEMU: empties the IOTLB first)
  expect(f.tr(sid, 0x2000n).source).toBe(on ? K.SRC_WALK : K.SRC_IOTLB);
  expect(() => f.core.setConfig(K.CFG_IOTLB_MAX_ENTRIES, 0)).toThrow(/out of range/);
  expect(() => f.core.setConfig(K.CFG_IOTLB_MAX_ENTRIES, 1025)).toThrow(/out of range/);
});
