/**
 * Host-API flows (bind-ebusy, pasid-quota), the emulated basics, the
 * `viommu demo [flow]` command and the VM's host-API error paths.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { wasmPath } from '../src/core/load-node.js';
import { bindEbusy } from '../src/flows/bind-ebusy.js';
import { pasidQuota } from '../src/flows/pasid-quota.js';
import { basics } from '../src/flows/basics.js';
import { FLOWS } from '../src/flows/index.js';
import { bootHost } from '../src/flows/guest-side.js';
import { main } from '../src/cli/main.js';
import { VirtualMachine } from '../src/vmm/virtual-machine.js';
import { PhysicalHost } from '../src/vmm/physical-host.js';

/** `viommu demo ...args`. */
const runDemo = (args: string[], cliIo: { out(t: string): void; err(t: string): void }): Promise<number> => main(['node', 'viommu', 'demo', ...args], cliIo);

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => { out.push(t); }, err: (t: string) => { err.push(t); } } };
}

describe.skipIf(!existsSync(wasmPath()))('host flows and the demo command', () => {
  it.each([bindEbusy, pasidQuota, basics])('$name passes its checks', async (flow) => {
    expect((await flow.run({ say: () => {} })).failures).toEqual([]);
  });

  it('bind-ebusy: the second binder is told EBUSY', async () => {
    const lines: string[] = [];
    await bindEbusy.run({ say: (l) => lines.push(l) });
    expect(lines.some((l) => l.includes('vm-b binds') && l.includes('EBUSY'))).toBe(true);
  });

  it('demo <flow> runs one flow; an unknown name exits 2; a bare demo runs all and prints throughput', async () => {
    const one = io();
    expect(await runDemo(['iopf'], one.io)).toBe(0);
    expect(one.out.join('')).toContain('== iopf');
    expect(one.out.join('')).not.toContain('== shadow');
    const bad = io();
    expect(await runDemo(['nope'], bad.io)).toBe(2);
    expect(bad.err.join('')).toContain("value 'nope' is invalid for argument 'flow'");
    const all = io();
    expect(await runDemo([], all.io)).toBe(0);
    const text = all.out.join('');
    for (const f of FLOWS) expect(text).toContain(`-> ${f.name} ok`);
    expect(text).toMatch(/throughput: \d+\.\d\d M nested translations\/s/);
  }, 30_000);

  it('a failing flow makes the demo exit 1', async () => {
    const broken = { name: 'broken', summary: 'x', run: async () => ({ ok: false, failures: ['nope'] }) };
    (FLOWS as unknown as typeof broken[]).push(broken);
    try {
      const r = io();
      expect(await runDemo(['broken'], r.io)).toBe(1);
      expect(r.err.join('')).toContain('broken FAILED');
    } finally {
      (FLOWS as unknown as typeof broken[]).pop();
    }
  });

  it('VM creation errors leave nothing: a device the host lacks, a device bound elsewhere', async () => {
    const host = await bootHost();
    await expect(VirtualMachine.create(host, { mode: 'nested', devices: [{ bdf: '00:03.0', hostSid: 0x0999, kind: 'dma-test' }] })).rejects.toThrow(/ENOENT/);
    expect(host.platform.usage().objects).toBe(0);
    const a = await VirtualMachine.create(host, { name: 'a', mode: 'nested', devices: [{ bdf: '00:03.0', hostSid: 0x0318, kind: 'dma-test' }] });
    await expect(VirtualMachine.create(host, { name: 'b', mode: 'shadow', devices: [{ bdf: '00:05.0', hostSid: 0x0318, kind: 'dma-test' }] })).rejects.toThrow(/EBUSY/);
    expect(host.platform.usage().boundDevices).toBe(1);
    a.close();
    expect(host.platform.usage()).toMatchObject({ objects: 0, boundDevices: 0, pinnedPages: 0 });
  });

  it('physical host options are checked', async () => {
    await expect(PhysicalHost.create({ guestRamMib: 1 })).rejects.toThrow(/guestRamMib/);
  });
});
