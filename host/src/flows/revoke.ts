/**
 * revoke: a peer device's BAR window is mapped into the VM's IOAS so a
 * device can DMA to it peer-to-peer (the guest's first stage maps a VA to
 * the BAR's guest-physical address). The exporter revokes the region: the
 * VMM unmaps it from the IOAS, which zaps the host second-stage entries
 * and invalidates the IOTLB, so the very next DMA — even to a translation
 * that was cached — fails and the peer memory stays as it was.
 */
import { encodeFsPte } from '../vtd/spec/fs-pte.js';
import { PageResponseCode } from '../vtd/spec/page-request.js';
import { HOST_LAYOUT } from '../vmm/physical-host.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootVsva, VSVA } from './nested-vsva.js';

/** Where the guest sees the peer BAR, and the VA it maps it at. */
const PEER = { gpa: 0xe000_0000n, va: VSVA.va + 0x20_0000n } as const;

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const g = await bootVsva();
  const { vm, host, dev } = g;
  const len = BigInt(HOST_LAYOUT.peerBarSize);
  vm.ctx.ioasMap(vm.ids.ioas, { iova: PEER.gpa, hpa: HOST_LAYOUT.peerBar, len });
  g.fs.map(PEER.va, PEER.gpa, 12, encodeFsPte({ P: true, RW: true, US: true }));
  io.say(`vmm: peer BAR (host ${hex(HOST_LAYOUT.peerBar)}, ${len / 1024n} KiB) mapped at GPA ${hex(PEER.gpa)}; guest maps VA ${hex(PEER.va)} to it`);

  dev.buffer().fill(0xb1, 0, 16);
  const p2p = dev.write(PEER.va, 16);
  const inPeer = host.mem.read(HOST_LAYOUT.peerBar, 16).every((b) => b === 0xb1);
  io.say(`device: peer-to-peer DMA write: ${p2p.ok ? 'ok' : 'fault'}, peer BAR holds the data: ${inPeer}`);
  c.that(p2p.ok && inPeer, 'peer-to-peer DMA reaches the peer BAR');

  const flushesBefore = host.core.stats();
  const unmapped = vm.ctx.ioasUnmap(vm.ids.ioas, PEER.gpa, len);
  dev.buffer().fill(0xee, 0, 16);
  const after = dev.write(PEER.va, 16);
  const untouched = host.mem.read(HOST_LAYOUT.peerBar, 16).every((b) => b === 0xb1);
  io.say(`exporter revokes: ${unmapped} bytes unmapped from the IOAS; next DMA (translation was cached): ${after.ok ? 'ok' : 'fault'}; peer BAR untouched: ${untouched}`);
  c.that(unmapped === len && !after.ok && untouched, 'after revocation the cached translation is gone and the peer is not written');
  c.that(JSON.stringify(flushesBefore) !== JSON.stringify(host.core.stats()), 'the host IOTLB saw the invalidation');
  // The second-stage miss under the guest's first stage may come to the guest as a page request: it cannot map a revoked BAR.
  const asked = g.prq.service(() => PageResponseCode.InvalidRequest).requests.length;
  io.say(`guest: ${asked} page request for the revoked address answered Invalid Request`);
  const guestRamOk = dev.write(VSVA.va, 16).ok;
  c.that(guestRamOk, 'the rest of the VM\'s address space is unaffected');
  vm.close();
  c.that(host.platform.usage().objects === 0 && host.platform.usage().pinnedPages === 0, 'teardown leaves nothing pinned');
  return c.result();
}

/** The flow. */
export const revoke: Flow = { name: 'revoke', summary: 'a peer BAR used for P2P DMA is revoked: mappings zapped, IOTLB invalidated', run };
