/**
 * arm-bind-pasid-table: the ARM side of the nesting design, where the guest
 * owns its PASID table. The guest builds an SMMUv3 context-descriptor table
 * in its own RAM, allocates two SubstreamIDs for one device itself, and
 * points its STE at the table; the VMM traps the STE update (CFGI_STE) and
 * binds the guest's whole table to the device (a nested HWPT carrying the
 * guest STE: bind_pasid_table, today iommufd's IOMMU_HWPT_DATA_ARM_SMMUV3 on
 * a vIOMMU). The device DMAs with both SubstreamIDs through the guest's
 * stage 1 over the host's stage 2; the guest edits one CD and invalidates
 * (CFGI_CD + TLBI_NH_ASID, passed through raw with vSID -> pSID and the
 * VMID filled in); a fault reaches the guest's event queue with the vSID;
 * the guest removes the table and the device is blocked.
 *
 * Its opposite is the VT-d flow nested-vsva: there the host owns the PASID
 * table and binds one guest first stage per (device, PASID), each guest
 * PASID mapped to a host PASID.
 */
import { SmmuDriver } from '../guest/smmu/driver.js';
import { LpaeTables } from '../guest/smmu/lpae.js';
import { C, CONFIG, encodeSte, EV, s1Cd } from '../guest/smmu/structures.js';
import { PciDriver } from '../guest/pci-driver.js';
import { PageAllocator } from '../tables/page-allocator.js';
import { ARM_ECAM_BASE, ARM_RAM_BASE, SMMU_BASE } from '../arm-machine.js';
import { DMAT } from '../devices/dma-test/regs.js';
import { PASID_REG } from '../devices/common/function.js';
import { ArmPhysicalHost } from '../vmm/arm-host.js';
import { ArmNestedVm } from '../vmm/arm-vm.js';
import { get } from '../smmu/spec/bits.js';
import { STE } from '../smmu/spec/ste.js';
import { Checks, hex, type Flow, type FlowIo, type FlowResult } from './flow.js';

/** The flow's device, physical StreamID and guest layout. */
const ARM = { bdf: '00:03.0', vsid: 0x18, psid: 0x0318, va: 0x7000_0000n, gpaA: ARM_RAM_BASE + 0x200_0000n, gpaB: ARM_RAM_BASE + 0x210_0000n, gpaC: ARM_RAM_BASE + 0x220_0000n } as const;

/** The guest's own SubstreamID allocator: the lowest free SSID above 0 (the host is not asked). */
class GuestSsids {
  private readonly used = new Set<number>([0]);
  constructor(readonly bits: number) {}
  alloc(): number {
    for (let s = 1; s < 2 ** this.bits; s++) if (!this.used.has(s)) { this.used.add(s); return s; }
    throw new Error('guest: no free SubstreamID');
  }
}

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const host = await ArmPhysicalHost.create({ guestRamMib: 64 });
  host.addDevice(ARM.psid);
  const vm = await ArmNestedVm.create(host, { devices: [{ bdf: ARM.bdf, hostSid: ARM.psid, kind: 'dma-test' }] });
  const m = vm.machine;
  const alloc = new PageAllocator(host.guestRam, ARM_RAM_BASE + 0x100_0000n, ARM_RAM_BASE + 0x200_0000n);
  const drv = new SmmuDriver(m, host.guestRam, alloc, SMMU_BASE);
  const pci = new PciDriver(m, ARM_ECAM_BASE);
  pci.enablePasid(ARM.vsid);
  drv.init({ sidBits: 8 });
  const idr0 = drv.read32(0x0);
  const ssidBits = (drv.read32(0x4) >>> 6) & 0x1f;
  io.say(`guest: SMMUv3 with stage 1 only (IDR0 ${hex(idr0)}: S1P ${idr0 & 2 ? 1 : 0} S2P ${idr0 & 1}), ${ssidBits}-bit SubstreamIDs; stream table and queues in its RAM`);
  c.that((idr0 & 3) === 2 && ssidBits > 0, 'the guest sees a stage-1 SMMU with SubstreamIDs (the host keeps stage 2)');

  // The guest allocates two SSIDs itself and fills their CDs in its own CD table.
  const ssids = new GuestSsids(ssidBits);
  const s1 = ssids.alloc();
  const s2 = ssids.alloc();
  const a = new LpaeTables(host.guestRam, alloc, 1, 48);
  const b = new LpaeTables(host.guestRam, alloc, 1, 48);
  a.map(ARM.va, ARM.gpaA, 12);
  b.map(ARM.va, ARM.gpaB, 12);
  const cdTable = alloc.alloc();
  const writeCd = (ssid: number, words: bigint[]) => words.forEach((w, i) => host.guestRam.writeU64(cdTable + BigInt(64 * ssid + 8 * i), w));
  writeCd(s1, s1Cd(a.root, s1));
  writeCd(s2, s1Cd(b.root, s2));
  io.say(`guest: allocated SSIDs ${s1} and ${s2} itself, CD table at GPA ${hex(cdTable)} (SSID ${s1}: ASID ${s1}, VA ${hex(ARM.va)} -> ${hex(ARM.gpaA)}; SSID ${s2}: ASID ${s2}, -> ${hex(ARM.gpaB)})`);
  const usage0 = host.platform.usage();
  drv.setSte(ARM.vsid, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cdTable, S1CDMax: 2, S1DSS: 0 }));
  const phys = host.smmu.guestSte(ARM.psid);
  const physCfg = 'words' in phys ? get(phys.words, STE.Config) : -1;
  const physCtx = 'words' in phys ? BigInt(phys.words[0]! & 0x000f_ffff_ffff_ffc0n) : -1n;
  const vmid = 'words' in phys ? get(phys.words, STE.S2VMID) : -1;
  io.say(`vmm: trapped CFGI_STE of vSID ${hex(ARM.vsid)}; bound the guest's table: nested HWPT ${vm.device(ARM.vsid).hwpt} on vIOMMU ${vm.ids.viommu}; physical STE of pSID ${hex(ARM.psid)}: Config ${physCfg.toString(2)} (nested), S1ContextPtr ${hex(physCtx)} (a guest-physical address), VMID ${vmid} (the vIOMMU's) over the host stage 2`);
  c.that(physCfg === 0b111 && physCtx === cdTable, 'the physical STE nests the guest STE (S1ContextPtr = the guest CD table GPA) over the host stage 2');
  c.that(host.platform.usage().pasids === usage0.pasids, 'binding the table took no host PASID: the SSIDs stay the guest\'s');
  io.say('  (the VT-d opposite, flow nested-vsva: the host owns the PASID table, binds one nested HWPT per (device, PASID) and maps each guest PASID to a host PASID)');

  // The device DMAs with each SSID through stage 1 over stage 2.
  const dev = m.dmaTest(ARM.bdf);
  const bar = BigInt(pci.read(ARM.vsid, 0x10, 4) & ~0xf);
  const dma = (ssid: number | undefined, iova: bigint, fill: number): number => {
    dev.buffer().fill(fill, 0, 16);
    m.mmioWrite(bar + BigInt(DMAT.IOVA), 8, iova);
    m.mmioWrite(bar + BigInt(DMAT.LEN), 4, 16n);
    m.mmioWrite(bar + BigInt(DMAT.PASID), 4, ssid === undefined ? 0n : BigInt((PASID_REG.PV | ssid) >>> 0));
    m.mmioWrite(bar + BigInt(DMAT.CMD), 4, 2n); // WRITE the buffer to iova
    return Number(m.mmioRead(bar + BigInt(DMAT.STATUS), 4));
  };
  const at = (gpa: bigint) => host.guestRam.read(gpa, 1)[0]!;
  const st1 = dma(s1, ARM.va, 0xa1);
  const st2 = dma(s2, ARM.va, 0xb2);
  io.say(`device: DMA write to VA ${hex(ARM.va)} with SSID ${s1} -> status ${hex(st1)}, GPA ${hex(ARM.gpaA)} holds ${hex(at(ARM.gpaA))}; with SSID ${s2} -> status ${hex(st2)}, GPA ${hex(ARM.gpaB)} holds ${hex(at(ARM.gpaB))}`);
  c.that((st1 & 7) === 1 && (st2 & 7) === 1 && at(ARM.gpaA) === 0xa1 && at(ARM.gpaB) === 0xb2, 'each SSID used its own CD: the same VA lands in two guest pages');

  // The guest edits SSID 2's CD (a new table) and invalidates it.
  const cNew = new LpaeTables(host.guestRam, alloc, 1, 48);
  cNew.map(ARM.va, ARM.gpaC, 12);
  writeCd(s2, s1Cd(cNew.root, s2));
  dma(s2, ARM.va, 0xc3);
  const stale = at(ARM.gpaB) === 0xc3 && at(ARM.gpaC) !== 0xc3;
  drv.submit([C.cfgiCd(ARM.vsid, s2), C.tlbiNhAsid(0, s2)]);
  dma(s2, ARM.va, 0xd4);
  const fresh = at(ARM.gpaC) === 0xd4;
  io.say(`guest: SSID ${s2}'s CD now points at a table mapping VA -> ${hex(ARM.gpaC)}; before CFGI_CD + TLBI_NH_ASID the device used the cached CD (${stale}), after them the new one (${fresh})`);
  c.that(stale && fresh, 'the guest\'s CFGI_CD and TLBI_NH_ASID reached the physical SMMU (vSID -> pSID, VMID filled in)');
  c.that(at(ARM.gpaA) === 0xa1 && (dma(s1, ARM.va, 0xe5) & 7) === 1 && at(ARM.gpaA) === 0xe5, `SSID ${s1} was not disturbed`);

  // A fault in the guest's stage 1 reaches the guest's event queue with the vSID.
  drv.events();
  const stf = dma(s1, ARM.va + 0x10_0000n, 0);
  const evs = drv.events();
  const ev = evs[0];
  io.say(`device: DMA with SSID ${s1} to an unmapped VA -> status ${hex(stf)}; guest event queue: ${evs.map((e) => `type ${hex(e.type)} sid ${hex(e.sid)} ssid ${e.ssid} addr ${hex(e.addr)}`).join('; ') || 'empty'}`);
  c.that(evs.length === 1 && ev?.type === EV.F_TRANSLATION && ev.sid === ARM.vsid && ev.ssv && ev.ssid === s1 && ev.addr === ARM.va + 0x10_0000n, 'the physical F_TRANSLATION arrived in the guest queue with the vSID, not the pSID');

  // The guest removes the table: the stream aborts.
  drv.setSte(ARM.vsid, encodeSte({ V: true, Config: CONFIG.ABORT }));
  const blocked = dma(s1, ARM.va, 0xf6);
  io.say(`guest: STE of vSID ${hex(ARM.vsid)} set to abort + CFGI_STE; vmm rebound it (nested HWPT ${vm.device(ARM.vsid).hwpt}, abort); DMA with SSID ${s1} -> status ${hex(blocked)}, GPA ${hex(ARM.gpaA)} still ${hex(at(ARM.gpaA))}`);
  c.that((blocked & 7) !== 1 && at(ARM.gpaA) === 0xe5, 'after the guest removed its table the device is blocked');
  vm.close();
  const left = host.platform.usage();
  c.that(left.objects === 0 && left.boundDevices === 0, 'VM teardown left no host objects and no bound device');
  return c.result();
}

/** The flow. */
export const armBindPasidTable: Flow = {
  name: 'arm-bind-pasid-table',
  summary: 'SMMUv3 nesting: the guest owns its CD table and SSIDs; the host binds the whole table (opposite of nested-vsva)',
  run,
};
