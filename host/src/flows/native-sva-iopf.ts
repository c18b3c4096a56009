/**
 * native-sva-iopf: an I/O page fault the host serves itself. A host process
 * maps a buffer it has never touched (no pages yet) and binds a device to
 * its address space with its PASID (SVA). The device writes there: the
 * first-stage walk finds no page, the device sends a page request, the
 * physical IOMMU puts it in the fault queue of the process's domain, and
 * the host's handler runs the process's own fault handler, which populates
 * the page and answers Success; the device retries and the data lands in
 * the page the process now owns. An address outside every area is refused
 * (Invalid). No guest and no VMM take part: compare `iopf`, where the same
 * page request is forwarded to a guest.
 */
import { DMAT, DMAT_STATE } from '../devices/dma-test/regs.js';
import { DmaTestDevice } from '../devices/dma-test/device.js';
import { PASID_REG } from '../devices/common/function.js';
import { HostProcess } from '../hostiommu/host-process.js';
import { SvaBinding } from '../hostiommu/sva.js';
import { sid } from '../types.js';
import type { PageResponseCode } from '../vtd/spec/page-request.js';
import { hostPort } from '../vmm/host-port.js';
import { HOST_LAYOUT, type PhysicalHost } from '../vmm/physical-host.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootHost } from './guest-side.js';

const DEV = 0x0328;
const BUF = 0x7f10_0000_0000n;
/** Host memory the process's pages and tables come from (the host's own RAM, never a VM's). */
export const PROC_MEM = { start: HOST_LAYOUT.hostRam, end: HOST_LAYOUT.hostRam + BigInt(HOST_LAYOUT.hostRamSize) } as const;

/**
 * A host device model for the physical device `prid`: it DMAs through the
 * physical IOMMU with the PASID it is programmed with (bus master, PASID
 * and PRI enabled as its host driver would) and receives page responses.
 */
export function hostDevice(host: PhysicalHost, prid: number, owner: object): DmaTestDevice {
  const dev = new DmaTestDevice(sid(prid), hostPort(host, prid, { hostPasid: (p) => p }));
  const cfg = dev.config;
  cfg.write(0x04, 2, 0x6); // memory space + bus master
  cfg.write(cfg.findExtCapability(0x1b) + 6, 2, 1); // PASID enable
  const pri = cfg.findExtCapability(0x13);
  cfg.write(pri + 4, 2, 2); // PRI reset
  cfg.write(pri + 0xc, 4, 16); // outstanding page requests allocated
  cfg.write(pri + 4, 2, 1); // PRI enable
  host.owners.set(prid, { vm: owner, pageResponse: (_s, pasid, prgi, code) => dev.pageGroupResponse({ pasid, prgi, code: code as PageResponseCode }) });
  return dev;
}

/**
 * A host process on `host` with a 16 KiB writable area at `buf` (nothing
 * populated) and a read-only page 1 MiB above it, its address space bound
 * with SVA to the physical device `prid`, which is programmed with the
 * process's PASID.
 */
export function svaProcess(host: PhysicalHost, prid: number, buf: bigint) {
  const proc = new HostProcess('proc', host.mem, PROC_MEM.start, PROC_MEM.end);
  proc.mmap(buf, 0x4000n, { write: true });
  proc.mmap(buf + 0x10_0000n, 0x1000n, { write: false });
  const ctx = host.platform.createContext('proc');
  const sva = new SvaBinding(ctx, proc, ctx.pasidSetAlloc(1));
  const devId = ctx.bindDevice(host.platform.openDevice(prid));
  sva.bind(devId);
  const dev = hostDevice(host, prid, sva);
  dev.barWrite(DMAT.PASID, 4, BigInt(PASID_REG.PV | sva.pasid));
  return { proc, ctx, sva, devId, dev };
}

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const host = await bootHost();
  const { proc, ctx, sva, devId, dev } = svaProcess(host, DEV, BUF);
  io.say(`host process: 16 KiB area at ${hex(BUF)} (no page populated), page table ${hex(proc.pageTable.rootPointer)}, PASID ${sva.pasid}; device ${hex(DEV)} bound (SVA)`);

  /** The device's last command completed (a page response may complete it after its first attempt returned). */
  const done = (): boolean => (dev.lastStatus() & 7) === DMAT_STATE.DONE;
  dev.buffer().set([0xfe, 0xed, 0xfa, 0xce], 0);
  dev.write(BUF + 0x1230n, 4);
  const w = done();
  const hpa = proc.physical(BUF + 0x1230n);
  const data = hpa === undefined ? [] : [...host.mem.read(hpa, 4)];
  io.say(`device writes 4 bytes at ${hex(BUF + 0x1230n)}: page request -> host fault handler populated ${hpa === undefined ? 'nothing' : hex(hpa & ~0xfffn)} -> Success; device ${w ? 'completed on retry' : `state ${dev.lastStatus() & 7}`}, memory ${data.map((b) => hex(b)).join(' ')}`);
  c.that(w && data.join() === [0xfe, 0xed, 0xfa, 0xce].join(), 'the host served the page request and the retried DMA landed in the process\'s new page');
  c.that(sva.stats().served === 1 && proc.counts.populated === 1, 'one group answered Success, one page populated, no guest involved');

  dev.buffer().fill(0xaa, 0, 16);
  dev.read(BUF + 0x3000n, 16);
  const r = done();
  io.say(`device reads another untouched page: ${r ? 'ok' : 'fault'}, zero-filled ${dev.buffer().subarray(0, 16).every((b) => b === 0)}; pages populated ${proc.counts.populated}`);
  c.that(r && dev.buffer().subarray(0, 16).every((b) => b === 0) && proc.counts.populated === 2, 'each first touch populates one page on demand');

  dev.write(BUF + 0x20_0000n, 4);
  const out = done();
  dev.write(BUF + 0x10_0000n, 4);
  const ro = done();
  io.say(`device writes outside every area: ${out ? 'ok' : `refused (state ${dev.lastStatus() & 7}, group answered Invalid)`}; writes a read-only area: ${ro ? 'ok' : 'refused'}`);
  c.that(!out && !ro && sva.stats().refused === 2 && proc.counts.refused === 2, 'what the process may not touch the device may not either');

  sva.unbind(devId);
  dev.write(BUF + 0x1230n, 4);
  const after = done();
  sva.close();
  ctx.close();
  host.owners.delete(DEV);
  io.say(`unbind: DMA with the PASID ${after ? 'still works' : 'blocked'}; host objects ${host.platform.usage().objects}, PASIDs ${host.platform.usage().pasids}`);
  c.that(!after && host.platform.usage().objects === 0 && host.platform.usage().pasids === 0, 'unbinding blocks the PASID and leaves nothing behind');
  return c.result();
}

/** The flow. */
export const nativeSvaIopf: Flow = { name: 'native-sva-iopf', summary: 'device page fault on a host process\'s PASID, served by the host itself', run };
