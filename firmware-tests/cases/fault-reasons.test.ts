/**
 * Guest-driver suite: every fault reason a guest can provoke with bad
 * structures (VT-d §7.1.3 fault-condition tables), each read back from the fault
 * recording registers with the requester id, address and request type.
 */
import { describe, expect, it } from 'vitest';
import { bootTestbed, sidOf, type Testbed } from '../lib/testbed.js';
import { writeWords } from '../../host/src/tables/guest-ram.js';
import type { GuestIommu } from '../../host/src/guest/guest-iommu.js';
import { encodeContextEntry } from '../../host/src/vtd/spec/context-entry.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { encodePasidEntry, PGTT } from '../../host/src/vtd/spec/pasid-entry.js';
import { rootEntryAddress } from '../../host/src/vtd/spec/root-entry.js';
import { encodeSmContextEntry } from '../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../../host/src/vtd/spec/ss-pte.js';

const RW = encodeSsPte({ R: true, W: true });
const OUTSIDE_RAM = 0x40_0000_0000n; // 256 GiB: no RAM there

interface Case {
  readonly name: string;
  readonly reason: number;
  readonly write?: boolean;
  readonly iova?: bigint;
  /** Corrupts the structures of device slot 3 after a valid legacy set-up. */
  readonly legacy?: (g: GuestIommu, tb: Testbed) => void;
  /** Corrupts a valid scalable set-up (PGTT=2 unless it rewrites the entry). */
  readonly scalable?: (g: GuestIommu, tb: Testbed) => void;
  /** Runs before translation is enabled (e.g. a root table outside RAM). */
  readonly rtaddr?: bigint;
}

const ctxAddr = (g: GuestIommu): bigint => g.ctx.contextEntryAddress(sidOf(3));

const LEGACY: Case[] = [
  { name: 'root entry not present', reason: 0x1, legacy: (g, tb) => tb.env.mem.writeU64(rootEntryAddress(g.ctx.rootTable, 0), 0n) },
  { name: 'context entry not present', reason: 0x2, legacy: (g, tb) => writeWords(tb.env.mem, ctxAddr(g), [0n, 0n]) },
  {
    name: 'context AW not in SAGAW', reason: 0x3,
    legacy: (g, tb) => writeWords(tb.env.mem, ctxAddr(g), encodeContextEntry({ P: true, SSPTPTR: 0x100_0000n, AW: 4, DID: 1 })),
  },
  { name: 'address above the guest address width', reason: 0x4, iova: 1n << 50n },
  { name: 'write to a read-only page', reason: 0x5, write: true, iova: 0x2000n },
  { name: 'read of a non-present page', reason: 0x6, iova: 0x9000n },
  {
    name: 'second-stage table below the top outside RAM', reason: 0x7,
    legacy: (g, tb) => {
      const ctx = tb.env.mem.readU64(ctxAddr(g));
      const top = ctx & ~0xfffn;
      tb.env.mem.writeU64(top, OUTSIDE_RAM | 3n); // level-3 entry for iova 0 points outside RAM
    },
  },
  { name: 'root table outside RAM', reason: 0x8, rtaddr: OUTSIDE_RAM },
  {
    name: 'context table outside RAM', reason: 0x9,
    legacy: (g, tb) => writeWords(tb.env.mem, rootEntryAddress(g.ctx.rootTable, 0), [OUTSIDE_RAM | 1n, 0n]),
  },
  {
    name: 'reserved bits in a root entry', reason: 0xa,
    legacy: (g, tb) => {
      const a = rootEntryAddress(g.ctx.rootTable, 0);
      tb.env.mem.writeU64(a, tb.env.mem.readU64(a) | 0x10n);
    },
  },
  {
    name: 'reserved bits in a context entry', reason: 0xb,
    legacy: (g, tb) => tb.env.mem.writeU64(ctxAddr(g), tb.env.mem.readU64(ctxAddr(g)) | 0x20n),
  },
  {
    name: 'reserved bits in a second-stage entry', reason: 0xc,
    legacy: (g, tb) => {
      const top = tb.env.mem.readU64(ctxAddr(g)) & ~0xfffn;
      tb.env.mem.writeU64(top, tb.env.mem.readU64(top) | (1n << 7n)); // PS in a PML4E
    },
  },
  { name: 'output address in the interrupt range', reason: 0xe, iova: 0x3000n },
];

async function legacyBed(c: Case) {
  const tb = await bootTestbed({ profile: 'default', iommu: { scalableMode: false, awBits: 48 } });
  const g = tb.guest('legacy');
  const ss = g.attachLegacy(sidOf(3), { did: 1, levels: 4 });
  ss.map(0x1000n, 0x30_0000n, 12, RW);
  ss.map(0x2000n, 0x30_1000n, 12, encodeSsPte({ R: true }));
  ss.map(0x3000n, 0xfee0_0000n, 12, RW);
  c.legacy?.(g, tb);
  if (c.rtaddr !== undefined) {
    g.drv.write64(0x20, c.rtaddr);
    g.drv.command(0x4000_0000);
    g.drv.enableTranslation();
  } else {
    g.start();
  }
  return { tb, g };
}

describe('legacy-mode fault reasons (default profile)', () => {
  for (const c of LEGACY) {
    it(`0x${c.reason.toString(16)}: ${c.name}`, async () => {
      const { tb, g } = await legacyBed(c);
      const iova = c.iova ?? 0x1000n;
      const r = c.write ? tb.dev(3).write(iova, 8) : tb.dev(3).read(iova, 8);
      expect(r).toMatchObject({ ok: false, reason: c.reason });
      const faults = g.drv.readFaults();
      expect(faults).toHaveLength(1);
      expect(faults[0]).toMatchObject({ sid: sidOf(3), reason: c.reason, read: !c.write, addr: iova & ~0xfffn });
    });
  }

  it('FPD in the context entry suppresses qualified faults (no record)', async () => {
    const tb = await bootTestbed({ profile: 'default', iommu: { scalableMode: false, awBits: 48 } });
    const g = tb.guest('legacy');
    g.attachLegacy(sidOf(3), { did: 1, levels: 4, fpd: true });
    g.start();
    expect(tb.dev(3).read(0x1000n, 8)).toMatchObject({ ok: false, reason: 6 });
    expect(g.drv.faultStatus()).toBe(0);
  });
});

const SCALABLE: Case[] = [
  {
    name: 'PASID entry not present', reason: 0x59,
    scalable: (g) => g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.SECOND_STAGE }).pasids!.setPasid(0, new Array(8).fill(0n)),
  },
  {
    name: 'invalid PGTT in the PASID entry', reason: 0x5b,
    scalable: (g) => {
      const a = g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.SECOND_STAGE });
      a.pasids!.setPasid(0, encodePasidEntry({ P: true, PGTT: 5, DID: 2, AW: 2 }));
    },
  },
  {
    name: 'first-stage entry not present', reason: 0x71,
    scalable: (g) => void g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.FIRST_STAGE }),
  },
  {
    name: 'first-stage write to a read-only page', reason: 0x85, write: true,
    scalable: (g) => g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.FIRST_STAGE }).fs!
      .map(0x1000n, 0x30_0000n, 12, encodeFsPte({ P: true, US: true })),
  },
  {
    name: 'first-stage reserved bits', reason: 0x72,
    scalable: (g) => {
      const fs = g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.FIRST_STAGE }).fs!;
      fs.map(0x1000n, 0x30_0000n, 12, encodeFsPte({ P: true, RW: true, US: true }));
      fs.writeEntry(0x1000n, 0, fs.readEntry(0x1000n, 0)! | (1n << 51n)); // address bit above HAW (48)
    },
  },
  {
    name: 'first-stage output in the interrupt range', reason: 0x87,
    scalable: (g) => g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.FIRST_STAGE }).fs!
      .map(0x1000n, 0xfee0_0000n, 12, encodeFsPte({ P: true, RW: true, US: true })),
  },
  {
    name: 'scalable root entry without a lower context table (LP=0)', reason: 0x39,
    scalable: (g, tb) => {
      g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.SECOND_STAGE });
      tb.env.mem.writeU64(rootEntryAddress(g.ctx.rootTable, 0), 0n);
    },
  },
  {
    name: 'scalable context entry not present', reason: 0x41,
    scalable: (g) => g.ctx.setContext(sidOf(3), [0n, 0n, 0n, 0n]),
  },
  {
    name: 'PASID directory entry not present', reason: 0x51,
    scalable: (g, tb) => tb.env.mem.writeU64(g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.SECOND_STAGE }).pasids!.directory, 0n),
  },
  {
    name: 'PASID directory outside RAM', reason: 0x50,
    scalable: (g) => g.ctx.setContext(sidOf(3), encodeSmContextEntry({ P: true, PASIDDIRPTR: OUTSIDE_RAM })),
  },
  {
    name: 'PASID table outside RAM', reason: 0x58,
    scalable: (g, tb) => tb.env.mem.writeU64(g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.SECOND_STAGE }).pasids!.directory, OUTSIDE_RAM | 1n),
  },
  {
    name: 'first-stage top table outside RAM', reason: 0x73,
    scalable: (g) => g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.SECOND_STAGE }).pasids!
      .setPasid(0, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 2, FSPTPTR: OUTSIDE_RAM })),
  },
  {
    name: 'first-stage table below the top outside RAM', reason: 0x70,
    scalable: (g, tb) => {
      const fs = g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.FIRST_STAGE }).fs!;
      tb.env.mem.writeU64(fs.rootTable, OUTSIDE_RAM | 7n);
    },
  },
  {
    name: 'first-stage supervisor page for a user request', reason: 0x81,
    scalable: (g) => g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.FIRST_STAGE }).fs!
      .map(0x1000n, 0x30_0000n, 12, encodeFsPte({ P: true, RW: true })),
  },
  {
    name: 'non-canonical input address (first stage)', reason: 0x80, iova: 0x8000_0000_1000n,
    scalable: (g) => void g.attachScalable(sidOf(3), { did: 2, pgtt: PGTT.FIRST_STAGE }),
  },
];

describe('scalable-mode fault reasons (default profile)', () => {
  for (const c of SCALABLE) {
    it(`0x${c.reason.toString(16)}: ${c.name}`, async () => {
      const tb = await bootTestbed({ profile: 'default', iommu: { scalableMode: true, awBits: 48 } });
      const g = tb.guest('scalable');
      c.scalable!(g, tb);
      g.start();
      const iova = c.iova ?? 0x1000n;
      const r = c.write ? tb.dev(3).write(iova, 8) : tb.dev(3).read(iova, 8);
      expect(r).toMatchObject({ ok: false, reason: c.reason });
      expect(g.drv.readFaults()).toMatchObject([{ sid: sidOf(3), reason: c.reason, addr: iova & ~0xfffn }]);
    });
  }

  it('scalable context entry with a reserved bit set', async () => {
    const tb = await bootTestbed({ profile: 'default', iommu: { scalableMode: true, awBits: 48 } });
    const g = tb.guest('scalable');
    g.ctx.setContext(sidOf(3), encodeSmContextEntry({ P: true, PASIDDIRPTR: 0x100_0000n }).map((w, i) => (i === 2 ? 1n : w)));
    g.start();
    const r = tb.dev(3).read(0x1000n, 8);
    expect(r.ok).toBe(false);
    expect(g.drv.readFaults()).toHaveLength(1);
  });
});
