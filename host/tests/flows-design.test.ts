/**
 * The flows of issue 24 (the rest of the design): each passes its own
 * checks and narrates what it claims. Their guest-driven suites are in
 * firmware-tests/cases/ (interrupt-remapping/, ...).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { wasmPath } from '../src/core/load-node.js';
import { interruptRemap } from '../src/flows/interrupt-remap.js';
import { vcmdPasid } from '../src/flows/vcmd-pasid.js';
import { containerGroup } from '../src/flows/container-group.js';
import { vfioVdpaPasid } from '../src/flows/vfio-vdpa-pasid.js';
import { nativeSvaIopf } from '../src/flows/native-sva-iopf.js';
import { bindEbusy } from '../src/flows/bind-ebusy.js';
import { subdeviceFlow } from '../src/flows/subdevice.js';

async function narrate(flow: { run(io: { say(l: string): void }): Promise<{ failures: readonly string[] }> }) {
  const lines: string[] = [];
  const r = await flow.run({ say: (l) => lines.push(l) });
  return { failures: r.failures, text: lines.join('\n') };
}

describe.skipIf(!existsSync(wasmPath()))('design flows', () => {
  it('interrupt-remap: remapped delivery, IEC invalidation, source-id and compatibility faults', async () => {
    const { failures, text } = await narrate(interruptRemap);
    expect(failures).toEqual([]);
    expect(text).toMatch(/vector 0x41 to APIC 3/);
    expect(text).toMatch(/before the IEC invalidation APIC 3 \(cached entry\), after it APIC 5/);
    expect(text).toMatch(/fault 0x26 from 0x20 index 32/);
    expect(text).toMatch(/blocked \(fault 0x25\)/);
  });

  it('vcmd-pasid: PASIDs from the host through VCMD, quota status, identity on the host, free while bound', async () => {
    const { failures, text } = await narrate(vcmdPasid);
    expect(failures).toEqual([]);
    expect(text).toMatch(/VCMD allocate x3 -> PASID \d+, PASID \d+, status 16/);
    expect(text).toMatch(/guest PASID (\d+) -> host PASID \1/);
  });

  it('container-group and bind-ebusy: groups join containers whole; the second binder falls back to a group', async () => {
    const cg = await narrate(containerGroup);
    expect(cg.failures).toEqual([]);
    expect(cg.text).toMatch(/IOMMU groups: .*\{0x328, 0x329\}/);
    const be = await narrate(bindEbusy);
    expect(be.failures).toEqual([]);
    expect(be.text).toMatch(/vm-b falls back to group \d+ \{0x328, 0x329\} in a container: DMA translated for both functions/);
    expect(be.text).not.toMatch(/spare/);
  });

  it('vfio-vdpa-pasid: one guest PASID on both subsystems, guest invalidations reach both; then one IOAS on the host', async () => {
    const { failures, text } = await narrate(vfioVdpaPasid);
    expect(failures).toEqual([]);
    expect(text).toMatch(/host PASID \d+, HWPTs \d+ \(IOAS map\) \/ \d+ \(vhost IOTLB\)/);
    expect(text).toMatch(/PASID-selective invalidation: host tables fault \/ fault; DMAs then fault; guest fault records: 0x18 PASID 5 reason 0x79; 0x20 PASID 5 reason 0x79/);
    expect(text).toMatch(/vDPA INVALIDATE of the VFIO mapping: fault \/ fault/);
  });

  it('native-sva-iopf: the host populates the page and answers; no guest', async () => {
    const { failures, text } = await narrate(nativeSvaIopf);
    expect(failures).toEqual([]);
    expect(text).toMatch(/host fault handler populated 0x[0-9a-f]+ -> Success; device completed on retry/);
  });

  it('subdevice: (parent RID, default PASID) handles through attach, replace, vDPA, detach', async () => {
    const { failures, text } = await narrate(subdeviceFlow);
    expect(failures).toEqual([]);
    expect(text).toMatch(/the parent's RID without PASID -> blocked/);
    expect(text).toMatch(/the guest's PRQ: RID 0x18 PASID - PRGI 0; RID 0x20 PASID - PRGI 0/);
    expect(text).toMatch(/: waiting \/ waiting; answers 0x20: waiting \/ done; answers 0x18: done \/ done; data landed: true/);
  });
});
