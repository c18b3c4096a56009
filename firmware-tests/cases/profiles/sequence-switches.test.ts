/**
 * Both sides of the profile switches found by sequences and random guest
 * programs on QEMU (issues 20 and 26; docs/PROFILES.md): each guest program,
 * written only as MMIO and guest-RAM accesses, runs on the default (spec)
 * profile, on a `qemu-*` profile and on that profile with only the named
 * switch at the spec's value ("qemu-7.2 -NAME", switch-off.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { readWords, writeWords } from '../../../host/src/tables/guest-ram.js';
import { GuestQueue } from '../../../host/src/guest/invalidation-queue.js';
import { PageTableBuilder, PasidTableBuilder } from '../../../host/src/tables/table-builders.js';
import { encodeContextEntry } from '../../../host/src/vtd/spec/context-entry.js';
import { waitDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { encodePasidEntry, PGTT } from '../../../host/src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../../../host/src/vtd/spec/sm-context-entry.js';
import type { Testbed } from '../../lib/testbed.js';
import { SID, SS_RW, attachSm, buf64, dmaRead, legacy, onEach } from './profile-guest.js';
import { modelSetOf4k } from '../../../tools/qemu-record/iotlb-set-families.js';
import { PASID_NONE } from '../../../host/src/core/constants.js';

vi.mock('../../../host/src/vtd/profiles.js', async (orig) => (await import('./switch-off.js')).profilesWithSwitchOff(await orig()));
vi.mock('../../../host/src/vtd/qi/qi-behaviour.js', async (orig) => (await import('./switch-off.js')).qiWithSwitchOff(await orig()));

const LEGACY = { scalableMode: false, awBits: 39 } as const;
const SM_OPTS = { scalableMode: true, awBits: 48 } as const;
/** IECTL (§11.4.9.6): IM bit 31, IP bit 30. */
const IECTL = 0xa0;

describe('pass-through address space', () => {
  it('PT_STICKY: pass-through found in memory at a context-cache invalidation holds on qemu after the entry changes back; default reads the entry', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -PT_STICKY'], LEGACY, (tb) => {
      const { g } = legacy(tb, 1, [[0x1000n, 0x30_0000n]]);
      tb.m.ram.writeU64(0x30_0000n, 0xaaaan); // translated
      tb.m.ram.writeU64(0x1000n, 0xbbbbn); // identity
      const entry = readWords(tb.m.ram, g.ctx.contextEntryAddress(SID), 2);
      writeWords(tb.m.ram, g.ctx.contextEntryAddress(SID), [entry[0]! | 2n << 2n, entry[1]!]); // TT=10: pass-through
      g.drv.contextInvalidateGlobal(); // QEMU decides the device's address space here
      writeWords(tb.m.ram, g.ctx.contextEntryAddress(SID), entry); // translated again, no invalidation
      g.drv.iotlbInvalidateGlobal();
      dmaRead(tb, g, 0x1000n);
      return buf64(tb);
    });
    expect(r).toEqual({ default: 0xaaaan, 'qemu-7.2': 0xbbbbn, 'qemu-7.2 -PT_STICKY': 0xaaaan });
  });
});

/** First 8 bytes of slot `slot`'s device buffer after it read `iova` (-1 when the read failed). */
function read64(tb: Testbed, slot: number, iova: bigint): bigint {
  const dev = tb.dev(slot);
  if (!dev.read(iova, 8).ok) return -1n;
  return new DataView(dev.buffer().buffer, dev.buffer().byteOffset, 8).getBigUint64(0, true);
}

describe('IOTLB keyed by source id', () => {
  it('IOTLB_BY_SID (scalable): two devices in one domain with their own tables share IOTLB entries on default, not on qemu', async () => {
    const r = await onEach(['default', 'qemu-10.0', 'qemu-10.0 -IOTLB_BY_SID'], SM_OPTS, (tb) => {
      const g = tb.guest('scalable');
      for (const [slot, data] of [[3, 0x30_0000n], [4, 0x31_0000n]] as const) {
        const t = g.attachScalable(slot << 3, { did: 5, pgtt: PGTT.SECOND_STAGE });
        t.ss!.map(0x1000n, data, 12, SS_RW);
        tb.m.ram.writeU64(data, data);
      }
      g.start();
      return [read64(tb, 3, 0x1000n), read64(tb, 4, 0x1000n)];
    });
    expect(r['default']).toEqual([0x30_0000n, 0x30_0000n]); // device 4 hits device 3's entry (same DID, PASID, page)
    expect(r['qemu-10.0']).toEqual([0x30_0000n, 0x31_0000n]);
    expect(r['qemu-10.0 -IOTLB_BY_SID']).toEqual(r['default']);
  });

  it('IOTLB_BY_SID (legacy): a device keeps its own stale entry on qemu after another device of the domain filled the page again', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -IOTLB_BY_SID'], LEGACY, (tb) => {
      const g = tb.guest('legacy');
      const ss = g.attachLegacy(3 << 3, { did: 2 });
      g.ctx.setContext(4 << 3, readWords(tb.m.ram, g.ctx.contextEntryAddress(3 << 3), 2)); // same domain, same tables
      ss.map(0x1000n, 0x30_0000n, 12, SS_RW);
      tb.m.ram.writeU64(0x30_0000n, 0xaaaan);
      tb.m.ram.writeU64(0x31_0000n, 0xbbbbn);
      g.start();
      const first = read64(tb, 3, 0x1000n);
      ss.map(0x1000n, 0x31_0000n, 12, SS_RW); // remapped without invalidation
      g.drv.iotlbInvalidatePage(2, 0x8000n); // another page: the domain's entry for 0x1000 stays
      const other = read64(tb, 4, 0x1000n); // device 4 misses (no entry of its own yet on qemu) or hits
      return [first, other, read64(tb, 3, 0x1000n)];
    });
    expect(r['default']).toEqual([0xaaaan, 0xaaaan, 0xaaaan]); // one entry per (DID, page): both hit it
    expect(r['qemu-7.2']).toEqual([0xaaaan, 0xbbbbn, 0xaaaan]); // device 4 walks; device 3 keeps its entry
    expect(r['qemu-7.2 -IOTLB_BY_SID']).toEqual([0xaaaan, 0xbbbbn, 0xbbbbn]); // device 4's fill replaced device 3's entry
  });
});

describe('IOTLB capacity', () => {
  it('IOTLB_FLUSH_WHEN_FULL: the 1025th fill empties QEMU\'s IOTLB, ending a stale entry the model\'s IOTLB keeps', async () => {
    const pages = 1024; // fills after the stale one: 1025 in all
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -IOTLB_FLUSH_WHEN_FULL'], LEGACY, (tb) => {
      const base = 0x100_0000n;
      const leaves = Array.from({ length: pages + 1 }, (_, k): [bigint, bigint] => [base + BigInt(k) * 0x1000n, 0x30_0000n]);
      const { ss } = legacy(tb, 1, leaves);
      tb.m.ram.writeU64(0x30_0000n, 0xaaaan);
      tb.m.ram.writeU64(0x31_0000n, 0xbbbbn);
      const first = read64(tb, 3, base);
      ss.map(base, 0x31_0000n, 12, SS_RW); // remapped without invalidation: the entry is stale
      const before = read64(tb, 3, base);
      for (let k = 1; k <= pages; k++) tb.dev(3).read(base + BigInt(k) * 0x1000n, 8);
      return [first, before, read64(tb, 3, base)];
    });
    expect(r['default']).toEqual([0xaaaan, 0xaaaan, 0xaaaan]);
    expect(r['qemu-7.2']).toEqual([0xaaaan, 0xaaaan, 0xbbbbn]);
    expect(r['qemu-7.2 -IOTLB_FLUSH_WHEN_FULL']).toEqual(r['default']);
  });

  it('IOTLB_FLUSH_WHEN_FULL: 40 entries of one model set all stay cached on qemu (one hash table) until invalidated; 16 ways keep 16 without the switch', async () => {
    const base = 0x100_0000n >> 12n;
    const crowd: bigint[] = [];
    for (let vpn = base; crowd.length < 40; vpn++) if (modelSetOf4k(Number(vpn), SID, PASID_NONE) === 7) crowd.push(vpn << 12n);
    const r = await onEach(['qemu-7.2', 'qemu-7.2 -IOTLB_FLUSH_WHEN_FULL'], LEGACY, (tb) => {
      const { g, ss } = legacy(tb, 1, crowd.map((iova): [bigint, bigint] => [iova, 0x30_0000n]));
      tb.m.ram.writeU64(0x30_0000n, 0xaaaan);
      tb.m.ram.writeU64(0x31_0000n, 0xbbbbn);
      for (const iova of crowd) read64(tb, 3, iova);
      for (const iova of crowd) ss.map(iova, 0x31_0000n, 12, SS_RW); // remapped without invalidation
      g.drv.iotlbInvalidatePage(1, crowd[0]!); // in the set's ways
      g.drv.iotlbInvalidatePage(1, crowd[39]!); // on qemu past the set's 16 ways
      // Newest first: an LRU set hits on its 16 newest fills before its misses evict them.
      const cached = [...crowd].reverse().filter((iova) => read64(tb, 3, iova) === 0xaaaan).length;
      g.drv.iotlbInvalidateDomain(1);
      return { cached, after: crowd.filter((iova) => read64(tb, 3, iova) === 0xaaaan).length };
    });
    expect(r['qemu-7.2']).toEqual({ cached: 38, after: 0 });
    // Without the switch the set keeps 16 ways (and shows modelSetOf4k is the core's set index).
    expect(r['qemu-7.2 -IOTLB_FLUSH_WHEN_FULL']).toEqual({ cached: 15, after: 0 });
  });
});

describe('DMA over several pages', () => {
  it('DMA_PER_TRANSLATION: after 4 KiB pages became a 2 MiB leaf, one qemu translation serves the whole DMA; the spec looks up each 4 KiB page', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -DMA_PER_TRANSLATION'], LEGACY, (tb) => {
      const { g, ss } = legacy(tb, 1, [[0x20_0000n, 0x30_0000n], [0x20_1000n, 0x31_0000n]]);
      for (const [gpa, v] of [[0x30_0ff8n, 0xa0n], [0x31_0000n, 0xa1n], [0x40_0ff8n, 0xb0n], [0x40_1000n, 0xb1n]] as const) tb.m.ram.writeU64(gpa, v);
      read64(tb, 3, 0x20_1000n); // the second page's 4 KiB entry is cached
      ss.map(0x20_0000n, 0x40_0000n, 21, SS_RW); // the region becomes one 2 MiB leaf, no invalidation
      g.drv.iotlbInvalidatePage(1, 0x20_0000n); // the first page only (and, on default, the paging-structure caches)
      tb.dev(3).read(0x20_0ff8n, 16); // 8 bytes of each page
      const b = new DataView(tb.dev(3).buffer().buffer, tb.dev(3).buffer().byteOffset, 16);
      return [b.getBigUint64(0, true), b.getBigUint64(8, true)];
    });
    expect(r['default']).toEqual([0xb0n, 0xa1n]); // second page: its stale 4 KiB entry
    expect(r['qemu-7.2']).toEqual([0xb0n, 0xb1n]); // the 2 MiB translation covers both
    expect(r['qemu-7.2 -DMA_PER_TRANSLATION']).toEqual(r['default']);
  });
});

describe('DMA past a failing page', () => {
  it('dmaPastFault: a DMA whose first page is not mapped still moves the second page on qemu; default ends at the fault', async () => {
    const r = await onEach(['default', 'qemu-10.0', 'qemu-10.0 -dmaPastFault'], LEGACY, (tb) => {
      const { g } = legacy(tb, 1, [[0x2000n, 0x31_0000n]]); // 0x1000 is not mapped
      tb.m.ram.writeU64(0x31_0000n, 0xd00dn);
      const dev = tb.dev(3);
      dev.buffer().fill(0xee);
      const read = dev.read(0x1ff8n, 16);
      const b = new DataView(dev.buffer().buffer, dev.buffer().byteOffset, 16);
      const got = [b.getBigUint64(0, true), b.getBigUint64(8, true)];
      const fault = g.drv.readFaults()[0]?.reason;
      dev.buffer().fill(0x77, 0, 16);
      dev.write(0x1ff8n, 16);
      return { ok: read.ok, got, fault, written: tb.m.ram.readU64(0x31_0000n) };
    });
    expect(r['default']).toEqual({ ok: false, got: [0n, 0n], fault: 6, written: 0xd00dn });
    expect(r['qemu-10.0']).toEqual({ ok: false, got: [0n, 0xd00dn], fault: 6, written: 0x7777_7777_7777_7777n });
    expect(r['qemu-10.0 -dmaPastFault']).toEqual(r['default']);
  });
});

describe('legacy context entries', () => {
  it('PT_CONTEXT_AW_CHECKED: a pass-through context entry with AW=0 is identity on default; qemu faults 0x3', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -PT_CONTEXT_AW_CHECKED'], LEGACY, (tb) => {
      const g = tb.guest('legacy');
      g.ctx.setContext(SID, encodeContextEntry({ P: true, TT: 2, AW: 0, DID: 1 }));
      g.start();
      const o = dmaRead(tb, g, 0x1000n);
      return o.ok ? 'identity' : o.reason;
    });
    expect(r).toEqual({ default: 'identity', 'qemu-7.2': 0x3, 'qemu-7.2 -PT_CONTEXT_AW_CHECKED': 'identity' });
  });
});

describe('DMA outside RAM', () => {
  it('UNASSIGNED_READS_ZERO: a read translated past the end of RAM gets all-ones on default, 0 on qemu', async () => {
    const r = await onEach(['default', 'qemu-10.0', 'qemu-10.0 -UNASSIGNED_READS_ZERO'], LEGACY, (tb) => {
      legacy(tb, 1, [[0x1000n, 0x4000_0000n]]); // 1 GiB: past the test bed's RAM
      return read64(tb, 3, 0x1000n);
    });
    expect(r).toEqual({ default: 0xffff_ffff_ffff_ffffn, 'qemu-10.0': 0n, 'qemu-10.0 -UNASSIGNED_READS_ZERO': 0xffff_ffff_ffff_ffffn });
  });
});

describe('scalable-mode structures', () => {
  /** A second-stage device whose RID_PASID entry's first two qwords are then replaced by `q`. */
  const smWithEntry = (q: (good: bigint[]) => bigint[]) => (tb: Testbed) => {
    const g = tb.guest('scalable');
    const dev = attachSm(g, { did: 3, pgtt: PGTT.SECOND_STAGE });
    dev.ss.map(0x1000n, 0x30_0000n, 12, SS_RW);
    const good = encodePasidEntry({ P: true, PGTT: PGTT.SECOND_STAGE, DID: 3, AW: 2, SSPTPTR: dev.ss.rootPointer });
    dev.pasids.setPasid(0, [...q(good), ...good.slice(2)]);
    g.start();
    const o = dmaRead(tb, g, 0x1000n);
    return o.ok ? 'ok' : o.reason;
  };

  it('PASID_RSVD_UNCHECKED: a PASID entry with reserved bit 10 set faults 0x5A on default; qemu uses it', async () => {
    const r = await onEach(['default', 'qemu-10.0', 'qemu-10.0 -PASID_RSVD_UNCHECKED'], SM_OPTS, smWithEntry((e) => [e[0]! | 1n << 10n, e[1]!]));
    expect(r).toEqual({ default: 0x5a, 'qemu-10.0': 'ok', 'qemu-10.0 -PASID_RSVD_UNCHECKED': 0x5a });
  });

  it('PASID_TYPE_BEFORE_P: an all-zero PASID entry is not present (0x59) on default; qemu-10.0 finds PGTT 0 invalid first (0x5B)', async () => {
    const r = await onEach(['default', 'qemu-10.0', 'qemu-10.0 -PASID_TYPE_BEFORE_P'], SM_OPTS, smWithEntry(() => [0n, 0n]));
    expect(r).toEqual({ default: 0x59, 'qemu-10.0': 0x5b, 'qemu-10.0 -PASID_TYPE_BEFORE_P': 0x59 });
  });

  it('NO_PDTS_CHECK: a RID_PASID past the PASID directory size (PDTS) faults 0x46 on default; qemu walks the entry there', async () => {
    const r = await onEach(['default', 'qemu-10.0', 'qemu-10.0 -NO_PDTS_CHECK'], SM_OPTS, (tb) => {
      const g = tb.guest('scalable');
      const pasids = new PasidTableBuilder(g.env.mem, g.env.alloc, 0); // 128 directory entries: PASIDs 0..0x1fff
      const ss = new PageTableBuilder(g.env.mem, g.env.alloc, { stage: 'ss', levels: 4 });
      ss.map(0x1000n, 0x30_0000n, 12, SS_RW);
      const rid = 0x2040; // directory index 129
      pasids.setPasid(rid, encodePasidEntry({ P: true, PGTT: PGTT.SECOND_STAGE, DID: 1, AW: 2, SSPTPTR: ss.rootPointer }));
      g.ctx.setContext(SID, encodeSmContextEntry({ P: true, PASIDDIRPTR: pasids.directory, PDTS: 0, RID_PASID: rid }));
      g.start();
      const o = dmaRead(tb, g, 0x1000n);
      return o.ok ? 'ok' : o.reason;
    });
    expect(r).toEqual({ default: 0x46, 'qemu-10.0': 'ok', 'qemu-10.0 -NO_PDTS_CHECK': 0x46 });
  });
});

describe('fault processing disable', () => {
  it('PASID_FAULT_IGNORES_FPD: an invalid PASID entry (PGTT 5) with FPD=1 is suppressed on default; qemu-10.0 records 0x5B', async () => {
    const r = await onEach(['default', 'qemu-10.0', 'qemu-10.0 -PASID_FAULT_IGNORES_FPD'], SM_OPTS, (tb) => {
      const g = tb.guest('scalable');
      const dev = attachSm(g, { did: 3, pgtt: PGTT.SECOND_STAGE });
      dev.ss.map(0x1000n, 0x30_0000n, 12, SS_RW);
      dev.pasids.setPasid(0, encodePasidEntry({ P: true, FPD: true, PGTT: 5, DID: 3, AW: 2, SSPTPTR: dev.ss.rootPointer }));
      g.start();
      return dmaRead(tb, g, 0x1000n);
    });
    expect(r['default']).toMatchObject({ ok: false, records: 0 });
    expect(r['qemu-10.0']).toMatchObject({ ok: false, reason: 0x5b, records: 1 });
    expect(r['qemu-10.0 -PASID_FAULT_IGNORES_FPD']).toMatchObject({ ok: false, records: 0 });
  });
});

describe('queue', () => {
  it('dwLive: IQA.DW set while QIE=1 makes qemu fetch 256-bit descriptors at once; default keeps the width of the enable', async () => {
    const r = await onEach(['default', 'qemu-10.0', 'qemu-10.0 -dwLive'], SM_OPTS, (tb) => {
      const g = tb.guest('scalable');
      g.start();
      const q = new GuestQueue(g.env); // 128-bit
      q.enable();
      expect(q.submitSync([])).toBe(true); // one wait: IQH = 1 descriptor
      g.drv.write64(0x90, q.base | 1n << 11n); // IQA.DW = 1, QIES still 1
      const status = q.statusPage + 0x800n;
      tb.m.ram.writeU64(status, 0n);
      const w = waitDesc({ sw: true, fn: true, data: 0x77, addr: status });
      for (const [i, v] of [w[0]!, w[1]!, 0n, 0n].entries()) tb.m.ram.writeU64(q.base + 32n + BigInt(8 * i), v); // slot 1 of 32 bytes
      g.drv.write64(0x88, 2n * 32n); // IQT: 2 descriptors of 32 bytes
      return { status: Number(tb.m.ram.readU64(status)), iqe: (g.drv.read32(0x34) >> 4) & 1 };
    });
    expect(r['default']).toEqual({ status: 0, iqe: 1 }); // the 128-bit slot at offset 16 is empty: an invalid descriptor
    expect(r['qemu-10.0']).toEqual({ status: 0x77, iqe: 0 });
    expect(r['qemu-10.0 -dwLive']).toEqual(r['default']);
  });
});

describe('queue tail', () => {
  it('misalignedTailIgnored: IQT with bit 4 set in a 256-bit queue is IQE on default and 10.0; QEMU 7.2 stores it and waits', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-10.0', 'qemu-7.2 -misalignedTailIgnored'], SM_OPTS, (tb) => {
      const g = tb.guest('scalable');
      g.start();
      const q = new GuestQueue(g.env, { wide: true });
      q.enable();
      g.drv.write64(0x88, 0x30n); // 1.5 descriptors
      return { iqt: Number(g.drv.read64(0x88)), iqh: Number(g.drv.read64(0x80)), iqe: (g.drv.read32(0x34) >> 4) & 1 };
    });
    expect(r['default']).toEqual({ iqt: 0x30, iqh: 0, iqe: 1 });
    expect(r['qemu-10.0']).toEqual(r['default']);
    expect(r['qemu-7.2']).toEqual({ iqt: 0x30, iqh: 0, iqe: 0 });
    expect(r['qemu-7.2 -misalignedTailIgnored']).toEqual(r['default']);
  });
});

describe('registers', () => {
  it('qwordPairMasksOnly: an 8-byte write at 0x98 clearing ICS.IWC withdraws IECTL.IP on default, not on qemu', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -qwordPairMasksOnly'], LEGACY, (tb) => {
      const g = tb.guest('legacy');
      g.start();
      const q = new GuestQueue(g.env);
      q.enable();
      q.submitSync([], true); // wait with IF while IECTL.IM is set (reset value): ICS.IWC, IECTL.IP
      const before = g.drv.read32(IECTL);
      g.drv.write64(0x98, 1n << 32n); // upper dword: ICS, IWC written 1
      return { before, ics: g.drv.read32(0x9c), after: g.drv.read32(IECTL) };
    });
    expect(r['default']).toEqual({ before: 0xc000_0000, ics: 0, after: 0x8000_0000 });
    expect(r['qemu-7.2']).toEqual({ before: 0xc000_0000, ics: 0, after: 0xc000_0000 });
    expect(r['qemu-7.2 -qwordPairMasksOnly']).toEqual(r['default']);
  });

  it('rtaddrMaskedToAw: a root-table pointer with bit 45 set faults on default (outside RAM); qemu drops the bit at SRTP', async () => {
    const r = await onEach(['default', 'qemu-7.2', 'qemu-7.2 -rtaddrMaskedToAw'], LEGACY, (tb) => {
      const { g } = legacy(tb, 1, [[0x1000n, 0x30_0000n]]);
      const rtaddr = g.ctx.rootTable | 1n << 45n;
      g.drv.write64(0x20, rtaddr);
      g.drv.command(1 << 30); // SRTP
      g.drv.contextInvalidateGlobal();
      g.drv.iotlbInvalidateGlobal();
      const o = dmaRead(tb, g, 0x1000n);
      return { readBack: g.drv.read64(0x20) === rtaddr, dma: o.ok ? 'ok' : o.reason };
    });
    expect(r).toEqual({
      default: { readBack: true, dma: 0x8 }, 'qemu-7.2': { readBack: true, dma: 'ok' },
      'qemu-7.2 -rtaddrMaskedToAw': { readBack: true, dma: 0x8 },
    });
  });
});
