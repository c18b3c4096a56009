/**
 * Records what QEMU's `intel-iommu` presents for `-device` property strings:
 * for each string of `DEVICE_STRINGS`, on QEMU 7.2 and QEMU 10.0, either the
 * whole register block as the guest reads it right after reset (every dword
 * of 0x000..0x22f through qtest `readl`), or QEMU's error message when it
 * refuses the string. The result is committed as test data
 * (host/tests/data/qemu-device-registers.json): host/tests/qemu-device.test.ts
 * checks that the `qemu-7.2` / `qemu-10.0` profiles built from the same
 * strings present exactly these values and refuse exactly these strings.
 *
 * Usage (QEMU binaries as tools/qemu-record/README.md sets them up):
 *   npm run build && node dist/tools/qemu-device/record-registers.js > host/tests/data/qemu-device-registers.json
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { qemuFor } from '../qemu-record/record.js';

/** Base address of the VT-d register block on q35. */
const VTD_BASE = 0xfed9_0000;
/** Size of QEMU's register block (DMAR_REG_SIZE in 7.2 and 10.0). */
const BLOCK = 0x230;

/**
 * The property strings recorded: QEMU's defaults, every property away from
 * its default, the combinations QEMU's realize checks look at, and strings
 * QEMU refuses (bad values, unknown or version-specific properties).
 */
export const DEVICE_STRINGS: readonly string[] = [
  '',
  'caching-mode=on', 'caching-mode', 'caching-mode=yes', 'caching-mode=1', 'caching-mode=on,caching-mode=off',
  'aw-bits=39', 'aw-bits=48', 'aw-bits=0x30', 'aw-bits=57', 'aw-bits=52', 'aw-bits=300', 'aw-bits=048',
  'x-scalable-mode=on', 'x-scalable-mode=on,aw-bits=39', 'x-scalable-mode=on,aw-bits=48', 'x-scalable-mode=on,caching-mode=on',
  'x-pasid-mode=on', 'x-scalable-mode=on,x-pasid-mode=on',
  'device-iotlb=on', 'x-scalable-mode=on,device-iotlb=on',
  'intremap=on', 'intremap=off', 'intremap=auto', 'intremap=banana',
  'eim=on', 'eim=off', 'eim=on,intremap=on', 'eim=on,intremap=off', 'x-buggy-eim=on', 'intremap=on,x-buggy-eim=on',
  'intremap=off,x-buggy-eim=on', 'eim=off,x-buggy-eim=on', 'eim=on,x-buggy-eim=on',
  'dma-drain=off', 'x-scalable-mode=on,dma-drain=off',
  'dma-translation=off', 'x-scalable-mode=on,dma-translation=off',
  'snoop-control=on', 'x-scalable-mode=on,snoop-control=on',
  'pt=off', 'x-scalable-mode=on,pt=off',
  'version=1', 'version=banana', 'id=iommu0',
  'x-flts=on', 'x-scalable-mode=on,x-flts=on', 'x-scalable-mode=on,x-flts=on,aw-bits=39',
  'x-scalable-mode=on,x-flts=on,fs1gp=off', 'x-scalable-mode=on,x-flts=on,x-pasid-mode=on',
  'x-scalable-mode=on,x-flts=on,caching-mode=on', 'x-scalable-mode=on,x-flts=on,dma-translation=off',
  'x-scalable-mode=on,x-flts=on,snoop-control=on', 'x-scalable-mode=on,x-flts=on,pt=off', 'x-scalable-mode=on,x-flts=on,device-iotlb=on',
  'x-scalable-mode=on,x-flts=on,dma-drain=off', 'x-scalable-mode=on,x-flts=on,eim=on,x-buggy-eim=on', 'x-flts=off',
  'x-scalable-mode=on,x-pasid-mode=on,device-iotlb=on', 'x-scalable-mode=on,intremap=off', 'aw-bits=39,dma-translation=off',
  'intremap=off,eim=off', 'caching-mode=off', 'caching-mode=no', 'caching-mode=n', 'caching-mode=false', 'caching-mode=ON',
  'aw-bits=010', 'aw-bits=-1', 'aw-bits=', 'caching-mode=',
  'fs1gp=off', 'stale-tm=on', 'stale-tm=off', 'frobnicate=on',
  'intremap=on,x-buggy-eim=on,aw-bits=48,caching-mode=on,x-scalable-mode=on',
  'caching-mode=on,aw-bits=48,x-scalable-mode=on,x-pasid-mode=on,device-iotlb=on,intremap=on,dma-drain=on',
  'caching-mode=on,aw-bits=48,x-scalable-mode=on,x-pasid-mode=on,device-iotlb=on,intremap=on,dma-drain=on,x-flts=on',
];

/** One recorded string: the dwords the guest reads (hex, offset 0 first) or QEMU's error. */
export type DeviceRecord = { device: string; dwords: string[] } | { device: string; error: string };

/** Starts QEMU with `-device intel-iommu,<props>` and reads the register block, or returns its error. */
async function recordOne(qemu: string, props: string): Promise<DeviceRecord> {
  const device = props ? `intel-iommu,${props}` : 'intel-iommu';
  const proc = spawn(qemu, ['-machine', 'q35', '-S', '-display', 'none', '-nodefaults', '-qtest', 'stdio', '-qtest-log', '/dev/null', '-device', device],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<null>((resolve) => proc.on('exit', () => resolve(null)));
  try {
    const dwords: string[] = [];
    for (let off = 0; off < BLOCK; off += 4) {
      proc.stdin.write(`readl 0x${(VTD_BASE + off).toString(16)}\n`);
      const next = await Promise.race([lines.next(), exited]);
      if (next === null || next.done) {
        return { device: props, error: errorText(stderr) };
      }
      const m = /^OK (0x[0-9a-f]+)/.exec(next.value);
      if (!m) throw new Error(`qtest answered '${next.value}' for ${device}`);
      dwords.push(`0x${BigInt(m[1]!).toString(16)}`);
    }
    return { device: props, dwords };
  } finally {
    proc.stdin.end();
    proc.kill();
  }
}

/** QEMU's error line without the program name and the echo of the option. */
function errorText(stderr: string): string {
  const line = stderr.split('\n').find((l) => !l.includes('warning:') && !l.includes('GLib') && l.trim() !== '') ?? stderr;
  return line.replace(/^[^:]*: -device [^:]*: /, '').trim();
}

async function main(): Promise<void> {
  const out: Record<string, { qemu: string; records: DeviceRecord[] }> = {};
  for (const profile of ['qemu-7.2', 'qemu-10.0']) {
    const qemu = qemuFor(profile);
    const records: DeviceRecord[] = [];
    for (const props of DEVICE_STRINGS) {
      records.push(await recordOne(qemu, props));
      process.stderr.write(`${profile} ${props || '(defaults)'}: ${'error' in records.at(-1)! ? 'refused' : 'ok'}\n`);
    }
    out[profile] = { qemu: await versionOf(qemu), records };
  }
  // One record per line: diffs of a re-recording show which strings changed.
  const lines = Object.entries(out).map(([profile, { qemu, records }]) => `  ${JSON.stringify(profile)}: {\n    "qemu": ${JSON.stringify(qemu)},\n    "records": [\n${records.map((r) => `      ${JSON.stringify(r)}`).join(',\n')}\n    ]\n  }`);
  process.stdout.write(`{\n${lines.join(',\n')}\n}\n`);
}

async function versionOf(qemu: string): Promise<string> {
  const proc = spawn(qemu, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  proc.stdout.on('data', (b: Buffer) => { text += b.toString(); });
  await new Promise((resolve) => proc.on('exit', resolve));
  return text.split('\n')[0]!.trim();
}

if (process.argv[1]?.endsWith('qemu-device/record-registers.js')) {
  main().catch((e: unknown) => { console.error(String(e)); process.exitCode = 1; });
}
