/**
 * Built-in guest flows: each builds a fresh default machine and programs it
 * with the project's guest-driver library (firmware-tests/lib), only through
 * MMIO and guest RAM, then issues DMA. The machine stays on show so the
 * panels display the tables, registers, caches and faults it produced.
 *
 * The seed flows of the design (nested HWPT, PASID bind per device, I/O page
 * faults through the page-request queue, RID translation, SIOV work queues)
 * need host/src/hostiommu and PRI devices, which do not exist yet; the panel
 * says so and they slot into FLOWS when they land.
 */
import { GuestIommu } from '../../firmware-tests/lib/guest.js';
import { guestEnvFor } from '../../firmware-tests/lib/machine-env.js';
import { PGTT, encodeFsPte, encodeSsPte } from '../../firmware-tests/lib/tables.js';
import type { Machine } from '../../host/src/browser.js';
import { byId, faultName, fill, h, hex } from './dom.js';
import type { Session } from './session.js';

/** Requester id of the default machine's first device, 00:03.0. */
const SID = 0x18;
const DATA_GPA = 0x20_0000n;
const IOVA = 0x4000_0000n;

/** One flow: a name, what it shows, and the guest program. */
interface Flow {
  readonly name: string;
  readonly about: string;
  run(m: Machine, s: Session): void;
}

function writePattern(m: Machine, gpa: bigint, len: number, seed: number): void {
  m.ram.write(gpa, Uint8Array.from({ length: len }, (_, i) => (seed + i) & 0xff));
}

function dmaRead(m: Machine, s: Session, bdf: string, iova: bigint, len: number): void {
  const r = m.dmaTest(bdf).read(iova, len);
  s.event(r.ok ? 'obs' : 'fault', `${bdf} DMA read ${hex(iova)}+${len}: ${r.ok ? 'ok' : `fault ${faultName(r.reason)}`}`);
}

const FLOWS: readonly Flow[] = [
  {
    name: 'legacy 4 KiB map + DMA',
    about: 'legacy root/context tables, 4-level second stage, maps 4 pages, DMA reads twice (walk, then IOTLB hit)',
    run(m, s) {
      const g = new GuestIommu(guestEnvFor(m), 'legacy');
      const ss = g.attachLegacy(SID, { did: 1, levels: 4 });
      for (let i = 0n; i < 4n; i++) ss.map(IOVA + i * 0x1000n, DATA_GPA + i * 0x1000n, 12, encodeSsPte({ R: true, W: true }));
      writePattern(m, DATA_GPA, 0x4000, 0x11);
      s.event('action', `guest: GSTS after enabling translation ${hex(g.start())}`);
      dmaRead(m, s, '00:03.0', IOVA, 256);
      dmaRead(m, s, '00:03.0', IOVA + 0x10n, 64);
    },
  },
  {
    name: 'scalable first-stage (PASID 0)',
    about: 'scalable-mode context, PASID directory, first-stage 4-level table with a 2 MiB page, DMA read',
    run(m, s) {
      const g = new GuestIommu(guestEnvFor(m), 'scalable');
      const { fs } = g.attachScalable(SID, { did: 2, pgtt: PGTT.FIRST_STAGE });
      fs!.map(IOVA, 0x40_0000n, 21, encodeFsPte({ P: true, RW: true, US: true }));
      writePattern(m, 0x40_0000n, 0x1000, 0x22);
      s.event('action', `guest: GSTS after enabling translation ${hex(g.start())}`);
      dmaRead(m, s, '00:03.0', IOVA + 0x1234n, 128);
    },
  },
  {
    name: 'fault: unmapped IOVA, fault event MSI',
    about: 'legacy mapping of one page, fault-event MSI unmasked, DMA to the next (unmapped) page records a fault',
    run(m, s) {
      const g = new GuestIommu(guestEnvFor(m), 'legacy');
      const ss = g.attachLegacy(SID, { did: 3, levels: 4 });
      ss.map(IOVA, DATA_GPA, 12, encodeSsPte({ R: true }));
      g.drv.setupFaultEvent(0xfee0_0000n, 0x41);
      g.start();
      dmaRead(m, s, '00:03.0', IOVA + 0x1000n, 64);
      const w = m.dmaTest('00:03.0').write(IOVA, 8);
      s.event(w.ok ? 'obs' : 'fault', `00:03.0 DMA write to read-only page: ${w.ok ? 'ok' : `fault ${faultName(w.reason)}`}`);
    },
  },
];

/** Wires the flows panel. */
export function initFlows(s: Session): void {
  fill(byId('flows'),
    ...FLOWS.map((f) => h('div', { class: 'flow' },
      h('button', { onclick: () => void s.act(`flow: ${f.name}`, async () => {
        await s.resetDefault();
        f.run(s.machine, s);
      }) }, f.name), ' ', h('span', { class: 'note' }, f.about))),
    h('div', { class: 'note' }, 'Seed flows (nested translation with a host second stage, PASID bind per device, '
      + 'I/O page faults through the page-request queue, RID translation, SIOV work queues) are not implemented '
      + 'in the model yet; they will appear here when they land.'));
}
