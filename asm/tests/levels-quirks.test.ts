/**
 * Profile quirks that change a translation's result (docs/ABI.md QUIRK_*),
 * each against its hand-computed QEMU answer and the spec answer, on the
 * reference and (when built) the core.
 */
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../../host/src/tables/page-allocator.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { defaultCaps } from './reference/config.js';
import { ACC, FR, QUIRK } from './reference/constants.js';
import { FORMATS, SID, buildFixture, fixturePasid, type Fixture } from './helpers/formats.js';
import { RAM_BASE, RAM_SIZE, ReferenceTarget, TABLES_START, show, type Target } from './helpers/targets.js';
import { loadCoreTarget } from './helpers/core-target.js';

const core = await loadCoreTarget();
const targets: Target[] = [new ReferenceTarget(), ...(core ? [core] : [])];
const fmt = (name: string) => FORMATS.find((f) => f.name === name)!;
const IOVA = 0x4000_0000n;

interface QuirkCase {
  name: string;
  format: string;
  quirk: number;
  edit: (f: Fixture, t: Target) => void;
  iova: bigint;
  access: number;
  spec: number;
  quirked: number;
  /** Expected FF_SUPPRESSED with and without the quirk (default false). */
  suppressed?: [boolean, boolean];
}

const map4k = (f: Fixture, bits = f.leaf.rw) => f.table!.map(IOVA, 0x20_0000n, 12, bits);
const CASES: QuirkCase[] = [
  { name: 'SM context P=0', format: 'sm-ss4', quirk: QUIRK.LEGACY_CODES_IN_SM, edit: (f, t) => { map4k(f); t.mem.writeU64(f.contextEntry, 0n); }, iova: IOVA, access: ACC.READ, spec: FR.SCT_NOT_PRESENT, quirked: FR.CTX_NOT_PRESENT },
  { name: 'SM SS not present (read)', format: 'sm-ss4', quirk: QUIRK.LEGACY_CODES_IN_SM, edit: () => {}, iova: IOVA, access: ACC.READ, spec: FR.SSL_PERM, quirked: FR.READ },
  { name: 'SM SS write to read-only', format: 'sm-ss4', quirk: QUIRK.LEGACY_CODES_IN_SM, edit: (f) => map4k(f, f.leaf.ro), iova: IOVA, access: ACC.WRITE, spec: FR.SGN_WRITE, quirked: FR.WRITE },
  { name: 'SM SS non-leaf SNP', format: 'sm-ss4', quirk: QUIRK.LEGACY_CODES_IN_SM, edit: (f) => { map4k(f); f.table!.writeEntry(IOVA, 1, f.table!.readEntry(IOVA, 1)! | 0x800n); }, iova: IOVA, access: ACC.READ, spec: FR.SSL_RSVD, quirked: 0 },
  { name: 'supervisor request to supervisor page', format: 'sm-fs4', quirk: QUIRK.FS_ALL_USER, edit: (f) => map4k(f, encodeFsPte({ P: true, RW: true })), iova: IOVA, access: ACC.READ | ACC.PRIV, spec: 0, quirked: FR.SGN_USER },
  { name: 'page overlapping the interrupt range', format: 'legacy-ss4', quirk: QUIRK.INTR_PAGE_OVERLAP, edit: (f) => f.table!.map(IOVA, 0xc000_0000n, 30, f.leaf.rw), iova: IOVA, access: ACC.READ, spec: 0, quirked: FR.INTR_RANGE },
  { name: 'output inside the interrupt range', format: 'sm-ss4', quirk: QUIRK.INTR_PAGE_OVERLAP, edit: (f) => f.table!.map(IOVA, 0xfee0_0000n, 12, f.leaf.rw), iova: IOVA, access: ACC.READ, spec: FR.SGN_INTR_RANGE, quirked: FR.SGN_INTR_RANGE, suppressed: [false, false] },
  {
    name: 'reserved context bits with FPD=1', format: 'legacy-ss4', quirk: QUIRK.RSVD_CTX_UNQUALIFIED,
    edit: (f, t) => { map4k(f); t.mem.writeU64(f.contextEntry, t.mem.readU64(f.contextEntry) | 0x2n | 0x10n); },
    iova: IOVA, access: ACC.READ, spec: FR.CTX_RSVD, quirked: FR.CTX_RSVD, suppressed: [true, false],
  },
];

describe.each(CASES.map((c) => [c.name, c] as const))('%s', (_n, c) => {
  it.each([['spec', 0], ['quirk', c.quirk]] as const)('%s', (which, quirks) => {
    for (const t of targets) {
      t.reset(defaultCaps({ quirks }), { rta: 0n, ttm: 0, enabled: true });
      const f = buildFixture(t.mem, new PageAllocator(t.mem, TABLES_START, RAM_BASE + BigInt(RAM_SIZE)), fmt(c.format));
      c.edit(f, t);
      t.setRoot(f.root);
      const o = t.translate({ sid: SID, pasid: fixturePasid(f), iova: c.iova, access: c.access | f.baseAccess });
      expect(o.status, `${t.name}: ${show(o)}`).toBe(which === 'spec' ? c.spec : c.quirked);
      if (c.suppressed) expect(o.suppressed, `${t.name}: suppressed`).toBe(c.suppressed[which === 'spec' ? 0 : 1]);
    }
  });
});
