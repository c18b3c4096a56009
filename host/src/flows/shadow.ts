/**
 * shadow: a legacy-mode guest on a caching-mode unit (CAP.CM = 1). Each of
 * its IOTLB invalidations makes the VMM re-read the invalidated range of the
 * guest's second-stage table and map/unmap the host IOAS; the device DMAs
 * through the host domain only. An unmap the guest forgets to invalidate
 * leaves the host mapping in place (what a stale IOTLB entry would show);
 * the invalidation removes it and the next DMA faults in the guest's fault
 * recording registers.
 */
import { iotlbDesc } from '../vtd/spec/descriptors.js';
import { encodeSsPte } from '../vtd/spec/ss-pte.js';
import { ShadowMode } from '../vmm/shadow.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootGuest, startIommu } from './guest-side.js';

const DID = 3;
const IOVA = 0x4000_0000n;
const GPA = 0x280_0000n;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const g = await bootGuest({ name: 'vm-shadow', mode: 'shadow', devices: [{ bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' }] });
  const { vm, host, iommu } = g;
  const cm = (iommu.drv.cap >> 7n) & 1n;
  io.say(`guest: CAP ${hex(iommu.drv.cap)} (CM = ${cm}): the guest must invalidate after every table change`);
  c.that(cm === 1n, 'the guest unit advertises caching mode');
  const ss = iommu.attachLegacy(vm.device('00:03.0').vrid, { did: DID, levels: 4 });
  const rw = encodeSsPte({ R: true, W: true });
  for (let i = 0n; i < 4n; i++) ss.map(IOVA + i * 0x1000n, GPA + i * 0x1000n, 12, rw);
  startIommu(g);
  const mode = vm.modeHandler as ShadowMode;
  const shadowed = mode.domains.get(DID)?.mappedPages() ?? 0;
  io.say(`guest: 4 pages IOVA ${hex(IOVA)} -> GPA ${hex(GPA)} in domain ${DID}, translation on (global invalidations): VMM mapped ${shadowed} pages in ${mode.stats.maps} host mapping(s)`);
  c.that(shadowed === 4 && mode.stats.maps === 1, 'the global invalidation shadowed exactly the 4 guest pages, as one host mapping (contiguous run)');

  const dev = vm.machine.dmaTest('00:03.0');
  dev.buffer().fill(0x3c, 0, 32);
  const w = dev.write(IOVA + 0x1010n, 32);
  c.that(w.ok && host.guestRam.read(GPA + 0x1010n, 32).every((b) => b === 0x3c), 'DMA through the host domain lands at the guest GPA');
  io.say(`device: DMA write to ${hex(IOVA + 0x1010n)} through the host second stage: ${w.ok ? 'ok' : 'fault'}`);

  ss.map(IOVA + 0x10_0000n, GPA + 0x10_0000n, 12, rw);
  const unseen = dev.read(IOVA + 0x10_0000n, 8).ok;
  g.qi.submitSync([iotlbDesc(3, DID, IOVA + 0x10_0000n)]);
  const seen = dev.read(IOVA + 0x10_0000n, 8).ok;
  io.say(`guest: new mapping at ${hex(IOVA + 0x10_0000n)}: DMA before its invalidation ${unseen ? 'ok' : 'faults'}, after ${seen ? 'ok' : 'faults'}`);
  c.that(!unseen && seen, 'a mapping reaches the host only with its invalidation (caching mode)');

  ss.unmap(IOVA, 12);
  const stale = dev.read(IOVA, 8).ok;
  io.say(`guest: unmapped ${hex(IOVA)} and forgot the invalidation: DMA still ${stale ? 'succeeds (stale host mapping)' : 'faults'}`);
  c.that(stale, 'a forgotten invalidation leaves the old mapping usable, as real hardware would');
  iommu.drv.readFaults();
  g.qi.submitSync([iotlbDesc(3, DID, IOVA)]);
  const gone = dev.read(IOVA, 8);
  const faults = iommu.drv.readFaults();
  io.say(`guest: page-selective IOTLB invalidation: DMA ${gone.ok ? 'ok' : 'faults'}; guest fault record ${faults.map((f) => `sid ${hex(f.sid)} reason ${hex(f.reason)} addr ${hex(f.addr)}`).join(', ')}`);
  c.that(!gone.ok && faults.length === 1 && faults[0]!.sid === vm.device('00:03.0').vrid && faults[0]!.addr === IOVA, 'after the invalidation the DMA faults and the guest sees the fault at its vRID');
  c.that(mode.stats.unmaps === 1 && mode.domains.get(DID)?.mappedPages() === 4, 'exactly one host unmap was made (the run split; the 3 other pages stay mapped)');
  vm.close();
  c.that(host.platform.usage().objects === 0 && host.platform.usage().pinnedPages === 0, 'VM teardown left no objects or pinned pages');
  return c.result();
}

/** The flow. */
export const shadow: Flow = { name: 'shadow', summary: 'caching-mode shadowing of guest mappings into the host IOAS', run };
