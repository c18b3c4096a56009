/**
 * Page flows: short guest programs on the machine on show. Most build a
 * fresh default machine and program it with the project's guest-driver
 * library (host/src/guest/), only through MMIO, ECAM and guest RAM, then
 * issue DMA; the machine stays on show so the panels display the tables,
 * registers, caches, faults and page requests it produced. The page-request
 * pair leaves a request in the queue, then lets the guest service it.
 * The project's narrated seed flows have their own panel (seed-flows-view.ts).
 */
import { type GuestEnv, GuestIommu } from '../../host/src/guest/guest-iommu.js';
import { GuestQueue } from '../../host/src/guest/invalidation-queue.js';
import { guestEnvFor } from '../../host/src/guest/machine-env.js';
import { GuestPrq } from '../../host/src/guest/page-request-queue.js';
import { PciDriver } from '../../host/src/guest/pci-driver.js';
import type { PageTableBuilder } from '../../host/src/tables/table-builders.js';
import { encodeFsPte } from '../../host/src/vtd/spec/fs-pte.js';
import { PageResponseCode } from '../../host/src/vtd/spec/page-request.js';
import { PGTT } from '../../host/src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../../host/src/vtd/spec/sm-context-entry.js';
import { encodeSsPte } from '../../host/src/vtd/spec/ss-pte.js';
import { PASID_REG } from '../../host/src/devices/common/function.js';
import { DMAT, DMAT_STATE, type Machine } from '../../host/src/browser.js';
import { byId, faultName, fill, h, hex } from './dom.js';
import type { Session } from './session.js';

/** Requester ids of the default machine's first DMA test device (00:03.0) and its ATS device (00:05.0). */
const SID = 0x18;
const ATS_SID = 0x28;
/** PASID of the page-request flow. */
const PRQ_PASID = 5;
const DATA_GPA = 0x20_0000n;
const IOVA = 0x4000_0000n;

/** One flow: a name, what it shows, and the guest program. */
interface Flow {
  readonly name: string;
  readonly about: string;
  /** Runs on the machine on show instead of a fresh default machine. */
  readonly sameMachine?: boolean;
  run(m: Machine, s: Session): void;
}

/** What the page-request flow left for the servicing step: its machine, queue and first-stage table. */
let prqBed: { m: Machine; env: GuestEnv; prq: GuestPrq; fs: PageTableBuilder } | undefined;

/** Turns on bus mastering (and PASID / PRI when asked) in the device's config space, as a guest's PCI driver does. */
function enableDevice(env: GuestEnv, sid: number, o: { pasid?: boolean; pri?: boolean } = {}): PciDriver {
  const pci = new PciDriver(env.platform);
  pci.command(sid, 0x6, true); // memory space + bus master
  if (o.pasid) pci.enablePasid(sid);
  if (o.pri) pci.enablePri(sid, 16);
  return pci;
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
    about: 'legacy root/context tables, 4-level second stage, maps 4 pages for 00:03.0 and the ATS device 00:05.0, DMA reads twice (walk, then IOTLB hit)',
    run(m, s) {
      const env = guestEnvFor(m);
      const g = new GuestIommu(env, 'legacy');
      for (const sid of [SID, ATS_SID]) {
        const ss = g.attachLegacy(sid, { did: 1, levels: 4 });
        for (let i = 0n; i < 4n; i++) ss.map(IOVA + i * 0x1000n, DATA_GPA + i * 0x1000n, 12, encodeSsPte({ R: true, W: true }));
        enableDevice(env, sid);
      }
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
  {
    name: 'page request: DMA to an unmapped page (PRI)',
    about: `scalable mode, PASID ${PRQ_PASID} first stage with nothing mapped, context PRE=1, PASID + PRI on in 00:03.0, QI and page-request queue on; the DMA waits and the unit queues a page request`,
    run(m, s) {
      const env = guestEnvFor(m);
      const g = new GuestIommu(env, 'scalable');
      const { pasids, fs } = g.attachScalable(SID, { did: 4, pgtt: PGTT.FIRST_STAGE, pasid: PRQ_PASID });
      g.ctx.setContext(SID, encodeSmContextEntry({ P: true, PASIDE: true, PRE: true, PASIDDIRPTR: pasids!.directory, RID_PASID: PRQ_PASID }));
      const pci = enableDevice(env, SID, { pasid: true, pri: true });
      s.event('action', `guest: GSTS after enabling translation ${hex(g.start())}`);
      const qi = new GuestQueue(env, { wide: true });
      qi.enable();
      const prq = new GuestPrq(env, (d) => qi.submitSync(d));
      prq.enable();
      prqBed = { m, env, prq, fs: fs! };
      env.platform.mmioWrite(pci.barBase(SID, 0) + BigInt(DMAT.PASID), 4, BigInt((PASID_REG.PV | PRQ_PASID) >>> 0));
      const dev = m.dmaTest('00:03.0');
      const r = dev.write(IOVA, 16);
      const waiting = (dev.lastStatus() & 7) === DMAT_STATE.PAGE_WAIT;
      s.event(r.ok ? 'obs' : 'fault', `00:03.0 DMA write PASID ${PRQ_PASID} ${hex(IOVA)}+16: ${r.ok ? 'ok' : waiting ? 'waiting for a page response' : `fault ${faultName(r.reason)}`}`);
      s.event('obs', `guest PRQ: ${prq.peek().map((q) => `rid ${hex(q.sid)} PASID ${q.pasid} page ${hex(q.addr)} prgi ${q.prgi}`).join('; ') || 'empty'}`);
    },
  },
  {
    name: 'page request: guest services the queue',
    about: 'after the flow above: the guest handler maps each requested page, answers the group with a page group response through the invalidation queue and moves PQH; the device retries and completes',
    sameMachine: true,
    run(m, s) {
      const bed = prqBed;
      if (!bed || bed.m !== m) throw new Error('page request: run "page request: DMA to an unmapped page (PRI)" first');
      const r = bed.prq.service((req) => {
        bed.fs.map(req.addr, DATA_GPA + 0x10_0000n, 12, encodeFsPte({ P: true, RW: true, US: true }));
        return PageResponseCode.Success;
      });
      s.event('action', `guest: serviced ${r.requests.length} request(s), answered ${r.responses.length} group(s)`);
      const state = m.dmaTest('00:03.0').lastStatus() & 7;
      s.event(state === DMAT_STATE.DONE ? 'obs' : 'fault', `00:03.0 after the response: ${state === DMAT_STATE.DONE ? 'DMA done' : `state ${state}`}`);
    },
  },
];

/** Wires the flows panel. */
export function initFlows(s: Session): void {
  fill(byId('flows'),
    ...FLOWS.map((f) => h('div', { class: 'flow' },
      h('button', { onclick: () => void s.act(`flow: ${f.name}`, async () => {
        if (!f.sameMachine) await s.resetDefault();
        f.run(s.machine, s);
      }) }, f.name), ' ', h('span', { class: 'note' }, f.about))));
}
