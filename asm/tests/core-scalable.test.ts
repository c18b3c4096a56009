// Scalable mode (TTM=01): SM root/context and PASID-level faults, FPD on
// every level, RID_PASID, pass-through, the first-stage walker (A/D, U/S,
// R/W, XD, SRE/WPE, canonical check, 1 GiB pages) and nested translation.
import { describe, expect, it } from 'vitest';
import { Fixture, K } from './core-fixture.js';
import { defaultCaps } from './reference/config.js';
import { ACC } from './reference/constants.js';
import { refTranslate } from './reference/translate.js';

const OUTSIDE = 0x4000_0000n;
const SID = 0x18;

interface Sm { f: Fixture; dir: bigint; ss: bigint; fs: bigint }

/** Scalable fixture: sid 0x18, PASID dir with RID_PASID 0; no PASID entry yet. */
async function sm(config: [number, number][] = []): Promise<Sm> {
  const f = await Fixture.create(32, config);
  f.scalable();
  const dir = f.page();
  f.smContext(SID, { pasidDir: dir });
  return { f, dir, ss: f.page(), fs: f.page() };
}

describe('scalable lookup faults', () => {
  it('SM root LP=0 -> 0x39, reserved -> 0x3A, unreadable -> 0x38; context unreadable 0x40', async () => {
    const { f } = await sm();
    expect(f.tr(0x0218, 0x1000n).fault).toBe(K.FR_SM_ROOT_NP);
    const { f: g } = await sm();
    g.put(g.rootTable, g.mem.readU64(g.rootTable) | 0x4n);
    g.core.invalidateAll();
    expect(g.tr(SID, 0x1000n).fault).toBe(K.FR_SM_ROOT_RSVD);
    g.core.setRootTable(OUTSIDE, 1);
    expect(g.tr(SID, 0x1000n).fault).toBe(K.FR_SM_ROOT_ACCESS);
    g.core.setRootTable(g.rootTable, 1);
    g.put(g.rootTable, OUTSIDE | 1n);
    g.core.invalidateAll();
    expect(g.tr(SID, 0x1000n).fault).toBe(K.FR_SM_CTX_ACCESS);
  });

  it('upper context table for devfn >= 0x80', async () => {
    const { f } = await sm();
    const dir = f.page();
    const ss = f.page();
    f.smContext(0x90, { pasidDir: dir });
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, aw: 2, did: 9 });
    f.ssMap(ss, 4, 0x1000n, 0x22_0000n);
    expect(f.tr(0x90, 0x1000n)).toMatchObject({ ok: true, addr: 0x22_0000n, did: 9 });
  });

  it('context P=0 -> 0x41 (FPD suppresses), reserved (incl. qw2/qw3) -> 0x42', async () => {
    const { f, dir } = await sm();
    f.smContext(SID, { pasidDir: dir, p: false, fpd: true });
    const t = f.tr(SID, 0x1000n);
    expect(t.fault).toBe(K.FR_SM_CTX_NP);
    expect(t.faultFlags & K.FF_SUPPRESSED).toBe(K.FF_SUPPRESSED);
    f.smContext(SID, { pasidDir: dir, q2: 1n });
    f.core.invalidateAll();
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_SM_CTX_RSVD);
    f.smContext(SID, { pasidDir: dir, q1: 1n << 30n });
    f.core.invalidateAll();
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_SM_CTX_RSVD);
  });

  it('a PASID entry\'s table pointers are reserved above HAW only when its PGTT uses them (fuzz finding fs-pasid-entry-ssptptr-garbage)', async () => {
    const { f, dir, ss, fs } = await sm();
    const garbage = 1n << 60n;
    f.ssMap(ss, 4, 0x1000n, 0x20_0000n);
    f.fsMap(fs, 4, 0x1000n, 0x20_0000n);
    const check = (e: Parameters<Fixture['pasidEntry']>[2], fault: number): void => {
      f.pasidEntry(dir, 0, e);
      f.core.invalidateAll();
      expect(f.tr(SID, 0x1000n).fault, JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))).toBe(fault);
    };
    check({ pgtt: 1, fsptr: fs, ssptr: garbage }, 0); // §9.6: SSPTPTR unused by PGTT 001b
    check({ pgtt: 1, fsptr: fs | garbage }, K.FR_PASID_RSVD);
    check({ pgtt: 2, ssptr: ss, fsptr: garbage }, 0); // FSPTPTR unused by PGTT 010b
    check({ pgtt: 2, ssptr: ss | garbage }, K.FR_PASID_RSVD);
    check({ pgtt: 4, ssptr: garbage, fsptr: garbage }, 0);
  });

  it('bits 511:192 of a PASID entry are reserved: any set faults 0x5A (fuzz finding sm-pasid-entry-reserved-ignored)', async () => {
    const { f, dir, fs } = await sm();
    f.fsMap(fs, 4, 0x1000n, 0x20_0000n);
    for (const qw of [3, 4, 5, 6, 7]) {
      const pe = f.pasidEntry(dir, 0, { pgtt: 1, fsptr: fs });
      f.core.invalidateAll();
      expect(f.tr(SID, 0x1000n).fault, `qw${qw} clear`).toBe(0);
      f.put(pe + BigInt(qw * 8), 1n << BigInt(qw * 9));
      f.core.invalidateAll();
      expect(f.tr(SID, 0x1000n).fault, `qw${qw}`).toBe(K.FR_PASID_RSVD);
    }
  });

  it('PASID-level faults: dir P=0 0x51, dir unreadable 0x50, entry P=0 0x59, invalid PGTT 0x5B, PDTS bound 0x46, PASIDE 0x45', async () => {
    const { f, dir, ss } = await sm();
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_PDIR_NP);
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, p: false });
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_PASID_NP);
    for (const pgtt of [0, 5, 6, 7]) {
      f.pasidEntry(dir, 0, { pgtt, ssptr: ss });
      expect(f.tr(SID, 0x1000n).fault, `pgtt ${pgtt}`).toBe(K.FR_PASID_INVALID);
    }
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, aw: 0 });
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_PASID_INVALID);
    f.pasidEntry(dir, 0, { pgtt: 1, fsptr: ss, fspm: 2 });
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_PASID_INVALID);
    // PASID 64 << 7 is beyond a PDTS=0 directory (128 entries)
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 128 * 64).fault).toBe(K.FR_SM_PDTS);
    f.smContext(SID, { pasidDir: dir, paside: false });
    f.core.invalidateAll();
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 1).fault).toBe(K.FR_SM_PASIDE);
    f.smContext(SID, { pasidDir: OUTSIDE });
    f.core.invalidateAll();
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_PDIR_ACCESS);
  });

  it('FPD in the PASID directory entry or PASID entry suppresses walk faults; faults carry PP/PV for PASID requests', async () => {
    const { f, dir, ss } = await sm();
    f.pasidEntry(dir, 7, { pgtt: 2, ssptr: ss, fpd: true });
    let t = f.tr(SID, 0x1000n, K.ACC_READ, 7);
    expect(t.fault).toBe(K.FR_SM_SS_NP);
    expect(t.faultFlags & (K.FF_SUPPRESSED | K.FF_PP | K.FF_WALK)).toBe(K.FF_SUPPRESSED | K.FF_PP | K.FF_WALK);
    expect(t.faultPasid).toBe(7);
    f.pasidEntry(dir, 7, { pgtt: 2, ssptr: ss, dirFpd: true });
    f.core.invPasidCache(3, 0, 0);
    t = f.tr(SID, 0x1000n, K.ACC_READ, 7);
    expect(t.faultFlags & K.FF_SUPPRESSED).toBe(K.FF_SUPPRESSED);
  });

  it('translation requests need DTE (0x44); RID_PASID names the entry for requests without PASID', async () => {
    const { f, dir, ss } = await sm();
    f.smContext(SID, { pasidDir: dir, ridPasid: 5 });
    f.pasidEntry(dir, 5, { pgtt: 2, ssptr: ss, did: 3 });
    f.ssMap(ss, 4, 0x1000n, 0x21_0000n);
    expect(f.tr(SID, 0x1000n)).toMatchObject({ ok: true, addr: 0x21_0000n, did: 3 });
    expect(f.tr(SID, 0x1000n, K.ACC_READ | K.ACC_TRANSLATION_REQ).fault).toBe(K.FR_SM_DTE);
  });

  it('PGTT=4 pass-through; second-stage codes in scalable mode (0x79, 0x7A, 0x84, 0x85, 0x87)', async () => {
    const { f, dir, ss } = await sm();
    f.pasidEntry(dir, 0, { pgtt: 4 });
    expect(f.tr(SID, 0x1234_5000n, K.ACC_WRITE)).toMatchObject({ ok: true, addr: 0x1234_5000n, source: K.SRC_PT });
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, aw: 2 });
    f.core.invPasidCache(3, 0, 0);
    const leaf = f.ssMap(ss, 4, 0x1000n, 0x21_0000n, { w: false });
    f.ssMap(ss, 4, 0x2000n, 0xfee0_0000n);
    expect(f.tr(SID, 0x3000n).fault).toBe(K.FR_SM_SS_NP);
    expect(f.tr(SID, 0x1000n, K.ACC_WRITE).fault).toBe(K.FR_SM_WRITE);
    expect(f.tr(SID, 0x2000n).fault).toBe(K.FR_SM_INTR_ADDR);
    expect(f.tr(SID, 1n << 48n).fault).toBe(K.FR_SM_ADDR_WIDTH);
    f.put(leaf, f.mem.readU64(leaf) | (1n << 62n));
    f.core.invalidateAll();
    expect(f.tr(SID, 0x1000n).fault).toBe(K.FR_SM_SS_RSVD);
  });

  it('with SSEE an entry with only X set is present, without SSEE not present; the reference agrees (fuzz finding sm-ss-entry-reserved-or-not-present)', async () => {
    const { f, dir, ss } = await sm();
    const leaf = f.ssMap(ss, 4, 0x1000n, 0x21_0000n, { r: false, w: false, x: true });
    const ask = (iova: bigint) => {
      const core = f.tr(SID, iova).fault;
      const ref = refTranslate(f.mem, defaultCaps(), { rta: f.rootTable, ttm: 1, enabled: true }, { sid: SID, pasid: 0, iova, access: ACC.READ }).status;
      expect(core, 'core vs reference').toBe(ref);
      return core;
    };
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, aw: 2, ssee: true });
    f.core.invalidateAll();
    expect(ask(0x1000n)).toBe(K.FR_SM_READ); // present: a read needs R
    f.put(leaf, f.mem.readU64(leaf) | (1n << 62n));
    f.core.invalidateAll();
    expect(ask(0x1000n)).toBe(K.FR_SM_SS_RSVD); // present: its reserved bits count
    f.pasidEntry(dir, 0, { pgtt: 2, ssptr: ss, aw: 2 });
    f.core.invalidateAll();
    expect(ask(0x1000n)).toBe(K.FR_SM_SS_NP); // SSEE=0: X is ignored, R=W=0 is not present
  });
});

/** First-stage fixture: PASID 0 (RID_PASID) PGTT=1 over a 4-level table. */
async function fsFixture(config: [number, number][] = [], e: Partial<{ sre: boolean; wpe: boolean; ere: boolean; fspm: number }> = {}): Promise<Sm> {
  const s = await sm(config);
  s.f.pasidEntry(s.dir, 0, { pgtt: 1, fsptr: s.fs, did: 2, ...e });
  s.f.pasidEntry(s.dir, 1, { pgtt: 1, fsptr: s.fs, did: 2, ...e });
  return s;
}

describe('first-stage walk', () => {
  it('4-level hit sets A on every entry and D on a written leaf; a later write sets D after a read', async () => {
    const { f, fs } = await fsFixture();
    const leaf = f.fsMap(fs, 4, 0x7000n, 0x23_0000n);
    expect(f.tr(SID, 0x7010n)).toMatchObject({ ok: true, addr: 0x23_0010n, perms: 7 });
    expect(f.mem.readU64(fs) & 0x20n).toBe(0x20n);
    expect(f.mem.readU64(leaf) & 0x60n).toBe(0x20n);
    expect(f.tr(SID, 0x7010n, K.ACC_WRITE).ok).toBe(true);
    expect(f.mem.readU64(leaf) & 0x60n).toBe(0x60n);
  });

  it('ACC_NO_AD probes leave A/D alone', async () => {
    const { f, fs } = await fsFixture();
    const leaf = f.fsMap(fs, 4, 0x7000n, 0x23_0000n);
    expect(f.tr(SID, 0x7000n, K.ACC_WRITE | K.ACC_NO_AD).ok).toBe(true);
    expect(f.mem.readU64(leaf) & 0x60n).toBe(0n);
  });

  it('P=0 0x71, reserved 0x72, unreadable 0x73 (top) / 0x70 (below), U/S 0x81, R/W 0x85, XD 0x82', async () => {
    const { f, fs } = await fsFixture([], { ere: true });
    f.fsMap(fs, 4, 0x1000n, 0x23_0000n, { w: false });
    f.fsMap(fs, 4, 0x2000n, 0x23_1000n, { us: false });
    f.fsMap(fs, 4, 0x3000n, 0x23_2000n, { xd: true });
    const leaf4 = f.fsMap(fs, 4, 0x4000n, 0x23_3000n);
    expect(f.tr(SID, 0x5000n).fault).toBe(K.FR_FS_NP);
    expect(f.tr(SID, 0x1000n, K.ACC_WRITE).fault).toBe(K.FR_SM_WRITE);
    expect(f.tr(SID, 0x2000n).fault).toBe(K.FR_FS_USER);
    expect(f.tr(SID, 0x3000n, K.ACC_READ | K.ACC_EXEC, 1).fault).toBe(K.FR_SM_EXEC);
    f.put(leaf4, f.mem.readU64(leaf4) | (1n << 50n));
    expect(f.tr(SID, 0x4000n).fault).toBe(K.FR_FS_RSVD);
    f.put(fs, OUTSIDE | 7n);
    f.core.invalidateAll();
    expect(f.tr(SID, 0x4000n).fault).toBe(K.FR_FS_ACCESS);
    const { f: g, dir } = await fsFixture();
    g.pasidEntry(dir, 0, { pgtt: 1, fsptr: OUTSIDE });
    expect(g.tr(SID, 0x4000n).fault).toBe(K.FR_FS_TOP_ACCESS);
  });

  it('canonical check (0x80) and 5-level paging (FSPM=1)', async () => {
    const { f, fs } = await fsFixture();
    expect(f.tr(SID, 1n << 47n).fault).toBe(K.FR_NON_CANONICAL);
    f.fsMap(fs, 4, 0xffff_8000_0000_0000n, 0x23_0000n);
    expect(f.tr(SID, 0xffff_8000_0000_0004n)).toMatchObject({ ok: true, addr: 0x23_0004n });
    const s5 = await fsFixture([], { fspm: 1 });
    s5.f.fsMap(s5.fs, 5, 1n << 50n, 0x24_0000n);
    expect(s5.f.tr(SID, 1n << 50n)).toMatchObject({ ok: true, addr: 0x24_0000n });
    expect(s5.f.tr(SID, 1n << 56n).fault).toBe(K.FR_NON_CANONICAL);
  });

  it('1 GiB pages need FS1GP; 2 MiB pages with bit 12 (PAT) are fine', async () => {
    const { f, fs } = await fsFixture();
    f.fsMap(fs, 4, 0x4000_0000n, 0n, { lg2: 30 });
    f.fsMap(fs, 4, 0x8000_0000n, 0x20_0000n, { lg2: 21, leafBits: 0x1000n });
    expect(f.tr(SID, 0x4000_1234n)).toMatchObject({ ok: true, addr: 0x1234n, pageLg2: 30 });
    expect(f.tr(SID, 0x8000_1234n)).toMatchObject({ ok: true, addr: 0x20_1234n, pageLg2: 21 });
    f.core.setConfig(K.CFG_FS1GP, 0);
    expect(f.tr(SID, 0x4000_1234n).fault).toBe(K.FR_FS_RSVD);
  });

  it('supervisor requests: SRE=0 -> 0x5D; with SRE they skip U/S; WPE makes R/W apply to them', async () => {
    const { f, fs, dir } = await fsFixture();
    f.fsMap(fs, 4, 0x1000n, 0x23_0000n, { us: false, w: false });
    expect(f.tr(SID, 0x1000n, K.ACC_READ | K.ACC_PRIV, 1).fault).toBe(K.FR_PASID_SRE);
    f.pasidEntry(dir, 1, { pgtt: 1, fsptr: fs, sre: true });
    f.core.invPasidCache(3, 0, 0);
    expect(f.tr(SID, 0x1000n, K.ACC_WRITE | K.ACC_PRIV, 1)).toMatchObject({ ok: true, perms: 7 });
    expect(f.tr(SID, 0x1000n, K.ACC_READ, 1).fault).toBe(K.FR_FS_USER);
    f.pasidEntry(dir, 1, { pgtt: 1, fsptr: fs, sre: true, wpe: true });
    f.core.invalidateAll();
    expect(f.tr(SID, 0x1000n, K.ACC_WRITE | K.ACC_PRIV, 1).fault).toBe(K.FR_SM_WRITE);
  });
});

describe('nested translation', () => {
  /** PASID 0 nested: first stage at GPA `fsGpa` (mapped by SS), SS identity-maps what it is given. */
  async function nested(): Promise<Sm & { map: (gpa: bigint, o?: { w?: boolean; r?: boolean }) => void }> {
    const s = await sm();
    const map = (gpa: bigint, o: { w?: boolean; r?: boolean } = {}): void => { s.f.ssMap(s.ss, 4, gpa, gpa, o); };
    s.f.pasidEntry(s.dir, 0, { pgtt: 3, fsptr: s.fs, ssptr: s.ss, aw: 2, did: 4 });
    return { ...s, map };
  }

  it('translates through both stages; every FS table is fetched through the SS', async () => {
    const s = await nested();
    const leaf = s.f.fsMap(s.fs, 4, 0x9000n, 0x25_0000n);
    let t = s.f.tr(SID, 0x9000n);
    expect(t.fault).toBe(K.FR_NEST_TOP_READ); // FS root not mapped in SS
    s.map(s.fs);
    t = s.f.tr(SID, 0x9000n);
    expect(t.fault).toBe(K.FR_NEST_READ); // next FS table not mapped
    let table = s.fs;
    for (let l = 3; l >= 1; l--) {
      const e = s.f.mem.readU64(table + ((0x9000n >> BigInt(12 + 9 * l)) & 0x1ffn) * 8n);
      table = e & 0x000f_ffff_ffff_f000n;
      s.map(table);
    }
    expect(s.f.tr(SID, 0x9000n).fault).toBe(K.FR_SM_SS_NP); // output GPA not mapped
    s.f.ssMap(s.ss, 4, 0x25_0000n, 0x26_0000n);
    expect(s.f.tr(SID, 0x9008n)).toMatchObject({ ok: true, addr: 0x26_0008n, did: 4 });
    expect(s.f.mem.readU64(leaf) & 0x20n).toBe(0x20n);
  });

  it('A/D updates need SS write permission on the table page (0x77)', async () => {
    const s = await nested();
    s.f.fsMap(s.fs, 4, 0x9000n, 0x25_0000n);
    s.f.ssMap(s.ss, 4, s.fs, s.fs, { w: false });
    let table = s.fs;
    for (let l = 3; l >= 1; l--) {
      table = s.f.mem.readU64(table + ((0x9000n >> BigInt(12 + 9 * l)) & 0x1ffn) * 8n) & 0x000f_ffff_ffff_f000n;
      s.map(table);
    }
    s.f.ssMap(s.ss, 4, 0x25_0000n, 0x26_0000n);
    expect(s.f.tr(SID, 0x9000n).fault).toBe(K.FR_NEST_AD_WRITE);
    expect(s.f.tr(SID, 0x9000n, K.ACC_READ | K.ACC_NO_AD).ok).toBe(true);
  });

  it('FS table address beyond the SS address width -> 0x74', async () => {
    const s = await nested();
    s.f.pasidEntry(s.dir, 0, { pgtt: 3, fsptr: 1n << 40n, ssptr: s.ss, aw: 1 }); // 39-bit SS
    expect(s.f.tr(SID, 0x9000n).fault).toBe(K.FR_NEST_FS_ADDR);
  });
});
