/**
 * Records an SMMUv3 `viommu-scenario/1` file (FORMAT.md "SMMUv3 scenarios":
 * `machine.iommu.type` "smmuv3") on a real QEMU through qtest: `-machine
 * virt,iommu=smmuv3` on `qemu-system-aarch64`, `edu` devices (as
 * `dma-test`) on the root complex behind the SMMU with their DMA mask
 * widened to 64 bits (virt's RAM starts at 1 GiB), and a firmware that
 * only waits for interrupts, so nothing but the scenario touches RAM. MMIO
 * offsets are from the SMMU's frame at 0x0905_0000; an 8-byte access at an
 * offset ≡ 4 (mod 8) is two dword accesses, low first, as for VT-d.
 *
 * Usage: node dist/tools/qemu-record/smmu-recorder.js <scenario.json> [--qemu PATH]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryStep, Qtest, runRecorderCli, type Observation } from './record.js';

/** The SMMU's register frame on virt (hw/arm/virt.c VIRT_SMMU). */
export const SMMU_BASE = 0x0905_0000n;
/** virt's ECAM with highmem (VIRT_HIGH_PCIE_ECAM). */
const ECAM = 0x40_1000_0000n;
/** Where this recorder places each edu device's 1 MiB BAR0 (inside VIRT_PCIE_MMIO). */
const EDU_BAR_BASE = 0x1000_0000n;
/** edu's DMA buffer address in its own address space (hw/misc/edu.c DMA_START). */
const EDU_DMA_START = 0x40000n;
/** edu register offsets and command bits (hw/misc/edu.c). */
const EDU = { src: 0x80n, dst: 0x88n, cnt: 0x90n, cmd: 0x98n, run: 1n, toPci: 2n } as const;
const DMA_TIMEOUT_MS = 5000;
/** Virtual time jumps to the next timer while the CPU waits (as record.ts; `VIOMMU_RECORD_ICOUNT=0` turns it off). */
const ICOUNT = process.env.VIOMMU_RECORD_ICOUNT === '0' ? [] : ['-icount', 'shift=0,sleep=off'];

interface Step { op: string; [k: string]: unknown }
/** An SMMUv3 scenario (the fields this recorder reads). */
export interface SmmuScenario {
  name: string;
  machine: { profile: string; ram_mib: number; iommu: { type: 'smmuv3' }; devices: { bdf: string; kind: string }[] };
  steps: Step[];
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

function devfn(bdf: string): number {
  const m = /^00:([0-9a-fA-F]{2})\.([0-7])$/.exec(bdf);
  if (!m) throw new Error(`bad bdf '${bdf}'`);
  return (parseInt(m[1]!, 16) << 3) | parseInt(m[2]!, 10);
}

/**
 * A 4 KiB flash image whose reset vector is `wfi; b .-4` (A64): the CPU
 * waits at once. Under /tmp, where the chroot's QEMU 10.0 also sees it.
 */
function waitFirmware(): string {
  const image = new Uint8Array(4096);
  new DataView(image.buffer).setUint32(0, 0xd503207f, true); // WFI
  new DataView(image.buffer).setUint32(4, 0x17ffffff, true); // B .-4
  const file = join(mkdtempSync('/tmp/viommu-qemu-arm-'), 'wait.bin');
  writeFileSync(file, image);
  return file;
}

function qemuArgs(s: SmmuScenario): string[] {
  const args = ['-machine', 'virt,iommu=smmuv3', '-cpu', 'max', '-bios', waitFirmware(), '-qtest', 'stdio', '-qtest-log', '/dev/null',
    '-display', 'none', ...ICOUNT, '-nodefaults', '-m', String(s.machine.ram_mib)];
  for (const d of s.machine.devices) {
    const df = devfn(d.bdf);
    args.push('-device', `edu,addr=${(df >> 3).toString(16).padStart(2, '0')}.${df & 7},dma_mask=0xffffffffffffffff`);
  }
  return args;
}

/**
 * The QEMU binary for a profile: `$QEMU_ARM_7_2` / `$QEMU_ARM_10_0`, else
 * Debian 12's `qemu-system-aarch64` (7.2) and `qemu10-system-aarch64` (the
 * Debian 13 chroot wrapper, README.md).
 */
export function qemuForArm(profile: string): string {
  if (profile === 'qemu-7.2') return process.env.QEMU_ARM_7_2 ?? 'qemu-system-aarch64';
  if (profile === 'qemu-10.0') return process.env.QEMU_ARM_10_0 ?? 'qemu10-system-aarch64';
  throw new Error(`no reference QEMU for profile '${profile}'`);
}

/** Assigns BAR0 through ECAM and enables memory space + bus mastering. */
async function setupEdu(q: Qtest, index: number, bdf: string): Promise<bigint> {
  const cfg = ECAM + (BigInt(devfn(bdf)) << 12n);
  const bar = EDU_BAR_BASE + BigInt(index) * 0x10_0000n;
  await q.cmd(`writel ${hex(cfg + 0x10n)} ${hex(bar)}`);
  await q.cmd(`writew ${hex(cfg + 0x04n)} 0x6`);
  return bar;
}

async function mmioRead(q: Qtest, off: bigint, size: number): Promise<bigint> {
  const at = SMMU_BASE + off;
  if (size === 4) return BigInt(await q.cmd(`readl ${hex(at)}`));
  if (off % 8n === 4n) return BigInt(await q.cmd(`readl ${hex(at)}`)) | (BigInt(await q.cmd(`readl ${hex(at + 4n)}`)) << 32n);
  return BigInt(await q.cmd(`readq ${hex(at)}`));
}

async function mmioWrite(q: Qtest, off: bigint, size: number, v: bigint): Promise<void> {
  const at = SMMU_BASE + off;
  if (size === 4) { await q.cmd(`writel ${hex(at)} ${hex(v & 0xffffffffn)}`); return; }
  if (off % 8n === 4n) {
    await q.cmd(`writel ${hex(at)} ${hex(v & 0xffffffffn)}`);
    await q.cmd(`writel ${hex(at + 4n)} ${hex(v >> 32n)}`);
    return;
  }
  await q.cmd(`writeq ${hex(at)} ${hex(v)}`);
}

async function dma(q: Qtest, bar: bigint, iova: bigint, len: number, toRam: boolean): Promise<void> {
  await q.cmd(`writeq ${hex(bar + EDU.src)} ${hex(toRam ? EDU_DMA_START : iova)}`);
  await q.cmd(`writeq ${hex(bar + EDU.dst)} ${hex(toRam ? iova : EDU_DMA_START)}`);
  await q.cmd(`writeq ${hex(bar + EDU.cnt)} ${hex(BigInt(len))}`);
  await q.cmd(`writeq ${hex(bar + EDU.cmd)} ${hex(EDU.run | (toRam ? EDU.toPci : 0n))}`);
  const deadline = Date.now() + DMA_TIMEOUT_MS;
  while (BigInt(await q.cmd(`readq ${hex(bar + EDU.cmd)}`)) & EDU.run) {
    if (Date.now() > deadline) throw new Error('edu DMA did not complete');
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Runs every step of `s` on QEMU and returns the observations. */
export async function recordSmmu(s: SmmuScenario, qemu = qemuForArm(s.machine.profile)): Promise<Observation[]> {
  if (s.machine.iommu?.type !== 'smmuv3') throw new Error(`${s.name}: not an smmuv3 scenario`);
  const proc = spawn(qemu, qemuArgs(s), { stdio: ['pipe', 'pipe', 'pipe'] });
  // QEMU aborts on some guest programming (e.g. g_assert_not_reached): the scenario is then not recordable.
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-400); });
  const died = new Promise<never>((_, reject) => proc.on('exit', (code) => reject(new Error(`QEMU exited (${code}): ${stderr.trim()}`))));
  died.catch(() => {});
  proc.stdin!.on('error', () => {});
  const q = new Qtest(proc);
  const cmd = q.cmd.bind(q);
  q.cmd = (text: string) => Promise.race([cmd(text), died]);
  const bars = new Map<string, bigint>();
  try {
    for (const [i, d] of s.machine.devices.entries()) bars.set(d.bdf, await setupEdu(q, i, d.bdf));
    const obs: Observation[] = [];
    for (const [i, st] of s.steps.entries()) {
      const num = (k: string) => BigInt(st[k] as string | number);
      if (await memoryStep(q, st, i, obs)) continue;
      switch (st.op) {
        case 'mmio.write': await mmioWrite(q, num('offset'), Number(st.size), num('value')); break;
        case 'mmio.read': obs.push({ step: i, op: st.op, value: hex(await mmioRead(q, num('offset'), Number(st.size))) }); break;
        case 'dma.read': case 'dma.write': {
          const bar = bars.get(st.bdf as string);
          if (bar === undefined) throw new Error(`step ${i}: no device at ${String(st.bdf)}`);
          await dma(q, bar, num('iova'), Number(st.len), st.op === 'dma.write');
          break;
        }
        default: throw new Error(`step ${i}: unknown op '${st.op}'`);
      }
    }
    return obs;
  } finally {
    proc.stdin!.end();
    proc.kill();
  }
}

if (process.argv[1]?.endsWith('smmu-recorder.js')) runRecorderCli<SmmuScenario>('smmu-recorder', process.argv.slice(2), recordSmmu);
