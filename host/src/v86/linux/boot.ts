/**
 * Boots the Linux fixture (tools/linux-fixture) in v86, with or without the
 * IOMMU, up to the guest's command loop. Platform-neutral: the caller brings
 * the V86 class and the fixture's bytes (fixture-node.ts reads them in Node).
 */
import { attachIommu, type AttachOptions, type V86Iommu } from '../attach.js';
import type { V86Emulator } from '../v86-types.js';
import { GuestConsole, READY_MARKER, type SerialPort } from './guest-console.js';

/** The files a boot needs. */
export interface LinuxFixture {
  /** SeaBIOS (Debian `seabios`: bios.bin). */
  readonly bios: ArrayBuffer;
  /** VGA BIOS (vgabios-stdvga.bin). */
  readonly vgaBios: ArrayBuffer;
  /** tools/linux-fixture/bzImage. */
  readonly bzImage: ArrayBuffer;
  /** tools/linux-fixture/initramfs.cpio.gz. */
  readonly initramfs: ArrayBuffer;
  /** Where v86 finds its v86.wasm (a path in Node, a URL in browsers). */
  readonly v86WasmPath: string;
}

/** The `V86` class of the npm package `v86`, as far as booting uses it. */
export type V86Class = new (options: Record<string, unknown>) => V86Emulator & SerialPort & {
  add_listener(event: 'emulator-loaded' | 'serial0-output-byte', fn: (byte: number) => void): void;
  /** Starts or resumes the CPU. */
  run(): void | Promise<void>;
  /** Pauses the CPU (resolves once it stopped); `run()` resumes it. */
  stop(): Promise<void>;
  destroy(): Promise<void>;
};

/** What `bootLinux` needs. */
export interface BootOptions {
  /** v86's `V86` class. */
  readonly V86: V86Class;
  /** Firmware, kernel and initramfs. */
  readonly fixture: LinuxFixture;
  /** The test disk (its ArrayBuffer becomes /dev/sda; guest writes land in it). */
  readonly disk: Uint8Array;
  /** Kernel parameters after BASE_CMDLINE. */
  readonly cmdline: string;
  /** Attach the IOMMU with these options; absent: boot without one (no DMAR table). */
  readonly iommu?: AttachOptions;
  /** Guest RAM in MiB (v86 loads the initrd at 64 MiB: more than 64 + initrd). Default 96. */
  readonly memoryMib?: number;
  /** Give up when the guest is not ready after this long. Default 120 s. */
  readonly timeoutMs?: number;
  /** The host's CPU clock in ms (Node: from `process.cpuUsage()`): boot and time marks then also report host CPU. */
  readonly cpuMs?: () => number;
  /** Called once the emulator is loaded and the IOMMU attached, just before `run()` (a page shows the boot live). */
  readonly onStart?: (emulator: InstanceType<V86Class>, vtd: V86Iommu | undefined) => void;
}

/** A booted guest. */
export interface LinuxSession {
  /** The emulator. */
  readonly emulator: InstanceType<V86Class>;
  /** Its serial console. */
  readonly console: GuestConsole;
  /** The IOMMU, when booted with one. */
  readonly vtd: V86Iommu | undefined;
  /** Milliseconds from `run()` to the guest's command loop. */
  readonly bootMs: number;
  /** Host CPU milliseconds of the same (NaN without `cpuMs`). */
  readonly bootCpuMs: number;
  /** Stops and frees the emulator. */
  stop(): Promise<void>;
}

/**
 * Kernel parameters of every boot. `tsc=reliable`: v86's TSC follows the
 * host's real time, but Linux's clocksource watchdog checks it against
 * jiffies, which lose ticks when the host is busy, and may switch the guest
 * to a jiffies clock (4 ms steps, slow under load): guests timed against
 * each other must keep the same clock.
 */
export const BASE_CMDLINE = 'console=ttyS0 tsc=reliable';

/** Boots the fixture and waits for the guest's command loop. */
export async function bootLinux(o: BootOptions): Promise<LinuxSession> {
  const memoryMib = o.memoryMib ?? 96;
  const cpuMs = o.cpuMs ?? (() => NaN);
  const emulator = new o.V86({
    wasm_path: o.fixture.v86WasmPath,
    bios: { buffer: o.fixture.bios }, vga_bios: { buffer: o.fixture.vgaBios },
    bzimage: { buffer: o.fixture.bzImage }, initrd: { buffer: o.fixture.initramfs },
    cmdline: `${BASE_CMDLINE} ${o.cmdline}`.trim(),
    memory_size: memoryMib << 20, acpi: true, autostart: false, disable_speaker: true,
    hda: { buffer: o.disk.buffer },
  });
  const guest = new GuestConsole(emulator, cpuMs);
  const stop = async (): Promise<void> => { await emulator.destroy(); };
  try {
    await new Promise<void>((resolve) => emulator.add_listener('emulator-loaded', () => resolve()));
    const vtd = o.iommu ? await attachIommu(emulator, o.iommu) : undefined;
    o.onStart?.(emulator, vtd);
    const t0 = performance.now();
    const c0 = cpuMs();
    emulator.run();
    await guest.waitFor(READY_MARKER, o.timeoutMs ?? 120_000);
    return { emulator, console: guest, vtd, bootMs: performance.now() - t0, bootCpuMs: cpuMs() - c0, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
