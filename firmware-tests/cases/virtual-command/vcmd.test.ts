/**
 * The virtual command interface driven by a guest (VT-d rev 3.3
 * §10.4.43-46): PASIDs the guest allocates through VCMD/VCRSP come from the
 * host's global PASID space under the VM's quota and are the host PASIDs
 * themselves; the status codes a guest reads for every refusal; a unit
 * without the capability ignores the registers.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../../host/src/machine.js';
import { createProfile } from '../../../host/src/vtd/profiles.js';
import { bootGuest, bootHost, setDevicePasid, startIommu } from '../../../host/src/flows/guest-side.js';
import { guestEnvFor } from '../../../host/src/guest/machine-env.js';
import { PageTableBuilder, PasidTableBuilder } from '../../../host/src/tables/table-builders.js';
import { vcmdAllocPasid, vcmdFreePasid, vcmdPasidSupported } from '../../../host/src/guest/virtual-command.js';
import { VtdDriver } from '../../../host/src/guest/vtd-driver.js';
import { pasidCacheDesc } from '../../../host/src/vtd/spec/descriptors.js';
import { encodeFsPte } from '../../../host/src/vtd/spec/fs-pte.js';
import { encodePasidEntry, PGTT } from '../../../host/src/vtd/spec/pasid-entry.js';
import { REG } from '../../../host/src/vtd/spec/registers.js';
import { encodeSmContextEntry } from '../../../host/src/vtd/spec/sm-context-entry.js';

const BDF = '00:03.0';

async function nestedGuest(quota: number, name = 'vm-a') {
  const host = await bootHost();
  const g = await bootGuest({ name, mode: 'nested', pasidQuota: quota, devices: [{ bdf: BDF, hostSid: 0x0318, kind: 'dma-test' }] }, host);
  const pasids = new PasidTableBuilder(g.env.mem, g.env.alloc);
  g.iommu.ctx.setContext(g.vm.device(BDF).vrid, encodeSmContextEntry({ P: true, PASIDE: true, PASIDDIRPTR: pasids.directory }));
  startIommu(g);
  return { host, g, pasids, drv: g.iommu.drv };
}

describe('PASID allocation through virtual commands (nested VM)', () => {
  it('the vIOMMU advertises ECAP.VCS and VCCAP.PAS; allocate answers host PASIDs until the quota, then status 16', async () => {
    const { host, g, drv } = await nestedGuest(3);
    expect(vcmdPasidSupported(drv)).toBe(true);
    const got = [1, 2, 3, 4].map(() => vcmdAllocPasid(drv));
    expect(got.map((a) => a.status)).toEqual([0, 0, 0, 16]);
    const ps = got.slice(0, 3).map((a) => a.pasid);
    expect(new Set(ps).size).toBe(3);
    for (const p of ps) {
      expect(host.platform.pasids.ownerOf(p)?.owner).toBe('vm-a');
      expect(g.vm.ctx.guestPasids.hostOf(p)).toBe(p);
    }
    expect(drv.read64(REG.VCRSP) & 1n).toBe(0n); // IP never left set
    g.vm.close();
    expect(host.platform.usage().pasids).toBe(0);
  });

  it('free: success once, then 16 (invalid PASID); an unknown command answers status 1; the command needs the low dword', async () => {
    const { g, drv } = await nestedGuest(2);
    const a = vcmdAllocPasid(drv);
    expect(vcmdFreePasid(drv, a.pasid).status).toBe(0);
    expect(vcmdFreePasid(drv, a.pasid).status).toBe(16);
    expect(vcmdFreePasid(drv, 0x1234).status).toBe(16);
    drv.write64(REG.VCMD, 0x7n);
    expect(Number((drv.read64(REG.VCRSP) & 0xffn) >> 1n)).toBe(1);
    drv.write32(REG.VCMD + 4, 0); // high dword only: no command
    expect(Number((drv.read64(REG.VCRSP) & 0xffn) >> 1n)).toBe(1);
    drv.write32(REG.VCMD, 1); // a 4-byte write of the low dword issues "allocate"
    expect(drv.read64(REG.VCRSP) & 0xffn).toBe(0n);
    expect(vcmdAllocPasid(drv).status).toBe(0); // the freed PASID's quota is back: two held
    expect(vcmdAllocPasid(drv).status).toBe(16);
    g.vm.close();
  });

  it('a bound PASID is the host PASID (no second allocation); freeing it while bound unbinds it and blocks DMA', async () => {
    const { host, g, pasids, drv } = await nestedGuest(4);
    const { pasid } = vcmdAllocPasid(drv);
    const fs = new PageTableBuilder(g.env.mem, g.env.alloc, { stage: 'fs', levels: 4 });
    fs.map(0x4000_0000n, 0x210_0000n, 12, encodeFsPte({ P: true, RW: true, US: true }));
    pasids.setPasid(pasid, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 2, FSPTPTR: fs.rootPointer }));
    g.qi.submitSync([pasidCacheDesc(1, 2, pasid)]);
    setDevicePasid(g, BDF, pasid);
    const dev = g.vm.machine.dmaTest(BDF);
    dev.buffer().fill(0x5c, 0, 8);
    expect(dev.write(0x4000_0000n, 8).ok).toBe(true);
    expect(host.guestRam.read(0x210_0000n, 1)[0]).toBe(0x5c);
    expect(host.platform.usage().pasids).toBe(1);
    pasids.setPasid(pasid, encodePasidEntry({}));
    g.qi.submitSync([pasidCacheDesc(1, 2, pasid)]);
    expect(host.platform.pasids.ownerOf(pasid)?.owner).toBe('vm-a'); // unbinding keeps a PASID the guest allocated
    pasids.setPasid(pasid, encodePasidEntry({ P: true, PGTT: PGTT.FIRST_STAGE, DID: 2, FSPTPTR: fs.rootPointer }));
    g.qi.submitSync([pasidCacheDesc(1, 2, pasid)]);
    expect(dev.write(0x4000_0000n, 8).ok).toBe(true);
    expect(vcmdFreePasid(drv, pasid).status).toBe(0);
    expect(dev.write(0x4000_0000n, 8).ok).toBe(false);
    expect(host.platform.usage().pasids).toBe(0);
    expect(g.vm.ctx.counts()['hwpt-nested']).toBeUndefined();
    g.vm.close();
  });

  it('two VMs share one global space: neither is handed the other\'s PASID', async () => {
    const host = await bootHost();
    const a = await bootGuest({ name: 'vm-a', mode: 'nested', devices: [{ bdf: BDF, hostSid: 0x0318, kind: 'dma-test' }] }, host);
    const b = await bootGuest({ name: 'vm-b', mode: 'nested', devices: [{ bdf: BDF, hostSid: 0x0320, kind: 'dma-test' }] }, host);
    const pa = [1, 2, 3].map(() => vcmdAllocPasid(a.iommu.drv).pasid);
    const pb = [1, 2, 3].map(() => vcmdAllocPasid(b.iommu.drv).pasid);
    expect(pa.filter((p) => pb.includes(p))).toEqual([]);
    expect(vcmdFreePasid(b.iommu.drv, pa[0]!).status).toBe(16); // vm-b cannot free vm-a's PASID
    a.vm.close();
    b.vm.close();
  });
});

describe('units without a PASID allocator', () => {
  it('the default profile without the option: no VCS, VCCAP 0, VCMD writes ignored', async () => {
    const m = await createMachine({ ramMib: 16 });
    const drv = new VtdDriver(guestEnvFor(m).platform);
    expect(vcmdPasidSupported(drv)).toBe(false);
    drv.write64(REG.VCMD, 1n);
    expect(drv.read64(REG.VCMD)).toBe(0n);
    expect(drv.read64(REG.VCRSP)).toBe(0n);
  });

  it('with the option but no VMM backend: allocate answers 16; qemu profiles refuse the option', async () => {
    const m = await createMachine({ ramMib: 16, iommu: { virtualCommands: true } });
    const drv = new VtdDriver(guestEnvFor(m).platform);
    expect(vcmdPasidSupported(drv)).toBe(true);
    expect(vcmdAllocPasid(drv).status).toBe(16);
    expect(m.vtd.logLines.join('\n')).toMatch(/no host allocator/);
    expect(() => createProfile('qemu-10.0', { virtualCommands: true })).toThrow(/virtualCommands/);
  });
});
