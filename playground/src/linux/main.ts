/**
 * The Linux page of the playground (linux.html): v86 boots the Linux fixture
 * in the tab with the unit attached (wasm-viommu/v86), the serial console is
 * shown and takes commands, and the playground's register, table, cache and
 * fault panels plus an invalidation-queue panel read the unit live while the
 * guest runs. Sets `document.body.dataset.ready` when the page can boot,
 * `dataset.guest` to 'ready' when the guest takes commands.
 */
import { VTD_BASE, type Machine } from '../../../host/src/browser.js';
import type { V86Iommu } from '../../../host/src/v86/attach.js';
import { bootLinux, type LinuxFixture, type LinuxSession, type V86Class } from '../../../host/src/v86/linux/boot.js';
import { LINUX_MODES, linuxMode } from '../../../host/src/v86/linux/modes.js';
import { makeDisk, STRAY_IOVA } from '../../../host/src/v86/linux/run.js';
import { initCachesView } from '../caches-view.js';
import { byId, fill, h, hex } from '../dom.js';
import { initFaultsView } from '../faults-view.js';
import { initLogView } from '../log-view.js';
import { compileCore } from '../platform.js';
import { initRegistersView } from '../registers-view.js';
import { Session } from '../session.js';
import { initTablesView } from '../tables-view.js';
import { initQueueView } from './queue-view.js';

/** Where build-linux.ts puts v86, the firmware and the fixture (relative to the page). */
const FILES = 'linux/';
/** v86's ESM build (libv86.mjs), copied under a .js name so any static server sends it as JavaScript. */
const V86_MODULE = 'libv86-module.js';
const REFRESH_MS = 1000;
const MAX_CONSOLE = 200_000;

let running: LinuxSession | undefined;
let vtd: V86Iommu | undefined;

/**
 * The attached unit in the shape the shared panels read (`s.machine`): its
 * unit, core, guest RAM and physical MMIO at VTD_BASE. Only what those
 * panels use; no PCI bus or devices of the model's own.
 */
function shownUnit(v: V86Iommu): Machine {
  const unit = v.iommu.unit;
  return {
    vtd: unit, core: v.iommu.core, ram: unit.mem, deviceList: () => [],
    mmioRead: (addr: bigint, size: number) => unit.mmioRead(Number(addr - VTD_BASE), size),
    mmioWrite: (addr: bigint, size: number, value: bigint) => unit.mmioWrite(Number(addr - VTD_BASE), size, value),
  } as unknown as Machine;
}

async function fetchBytes(name: string): Promise<ArrayBuffer> {
  const res = await fetch(FILES + name);
  if (!res.ok) throw new Error(`${FILES}${name}: HTTP ${res.status} (the playground build copies it; SeaBIOS comes from Debian's seabios package)`);
  return res.arrayBuffer();
}

async function loadFixture(): Promise<{ fixture: LinuxFixture; V86: V86Class }> {
  const [bios, vgaBios, bzImage, initramfs] = await Promise.all(['bios.bin', 'vgabios-stdvga.bin', 'bzImage', 'initramfs.cpio.gz'].map(fetchBytes));
  const url = new URL(`${FILES}${V86_MODULE}`, location.href).href;
  const { V86 } = (await import(/* webpackIgnore: true */ url)) as { V86: V86Class };
  return { fixture: { bios: bios!, vgaBios: vgaBios!, bzImage: bzImage!, initramfs: initramfs!, v86WasmPath: `${FILES}v86.wasm` }, V86 };
}

function renderStats(): void {
  if (!vtd) return;
  const st = vtd.stats();
  const rows: [string, string | number][] = [
    ['register reads / writes / dropped', `${st.mmio.reads} / ${st.mmio.writes} / ${st.mmio.dropped}`],
    ['IDE DMA requests (00:1e.0)', st.ide.requests], ['IDE bytes moved', st.ide.bytes], ['IDE transfers aborted', st.ide.aborted],
    ['interrupts delivered / merged / rejected', `${st.interrupts.delivered} / ${st.interrupts.merged} / ${st.interrupts.rejected}`],
    ['translations', st.core.translations ?? 0], ['faults', st.core.faults ?? 0], ['model log lines', st.logLines],
    ['guest RAM the core walks (in v86\'s memory)', vtd.ram.map((r) => `${hex(r.gpa)}+${hex(r.size)} @${hex(r.offset)}`).join(', ')],
  ];
  fill(byId('v86-stats'), ...rows.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: 'num' }, v))));
}

function appendConsole(text: string): void {
  const pre = byId('linux-console');
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = (pre.textContent + text).slice(-MAX_CONSOLE);
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

async function boot(s: Session, modeName: string): Promise<void> {
  const mode = linuxMode(modeName);
  await running?.stop();
  running = undefined;
  document.body.dataset['guest'] = 'booting';
  byId('linux-status').textContent = `booting (${mode.name}: ${mode.cmdline})…`;
  fill(byId('linux-console'));
  const [{ fixture, V86 }, core] = await Promise.all([loadFixture(), compileCore('viommu.wasm')]);
  let pending = '';
  running = await bootLinux({
    V86, fixture, disk: makeDisk(), cmdline: mode.cmdline, timeoutMs: 600_000,
    iommu: {
      core, profile: mode.profile, iommu: mode.iommu, log: (l) => s.event('log', l),
      observeInterrupt: (msi, outcome) => s.event('msi', `${msi.source} interrupt, vector ${hex(msi.data & 0xff)} to ${hex(msi.address)}: ${outcome}`),
    },
    onStart: (emulator, v) => {
      vtd = v;
      s.show(shownUnit(v!), `Linux in v86 (${mode.name})`);
      emulator.add_listener('serial0-output-byte', (b) => {
        pending += String.fromCharCode(b);
        if (b === 10) {
          appendConsole(pending.replace(/\r/g, ''));
          pending = '';
        }
      });
    },
  });
  byId('linux-status').textContent = `guest ready in ${(running.bootMs / 1000).toFixed(1)} s (${mode.name})`;
  document.body.dataset['guest'] = 'ready';
}

/**
 * A user action: logged, an Error shown in the log instead of thrown, the
 * panels re-rendered once a unit is on show (before the first boot there is
 * nothing for them to read).
 */
function act(s: Session, what: string, fn: () => void | Promise<void>): void {
  s.event('action', what);
  void Promise.resolve().then(fn)
    .catch((err: unknown) => s.event('error', err instanceof Error ? err.message : String(err)))
    .finally(() => { if (vtd) s.changed(); });
}

function wireConsole(s: Session): void {
  const send = (line: string): void => {
    if (!running) return;
    s.event('action', `guest: ${line}`);
    running.emulator.serial0_send(`${line}\n`);
    s.changed();
  };
  for (const b of document.querySelectorAll<HTMLButtonElement>('button[data-vg]')) {
    b.addEventListener('click', () => send(`vg ${b.dataset['vg']}`));
  }
  const input = byId<HTMLInputElement>('linux-input');
  const submit = (): void => {
    send(input.value);
    input.value = '';
  };
  byId('linux-send').addEventListener('click', submit);
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') submit(); });
  byId('linux-stray').addEventListener('click', () => act(s, `stray DMA read from 00:1e.0 at ${hex(STRAY_IOVA)}`, () => {
    if (!vtd) return;
    const v = vtd.busMaster(vtd.ideRid ?? 0xf0).read32s(STRAY_IOVA) >>> 0;
    s.event('obs', `the read returned ${hex(v)}; the guest's fault handler reports it (vg faults)`);
    send('vg faults');
  }));
}

async function main(): Promise<void> {
  const s = new Session();
  initRegistersView(s);
  initTablesView(s);
  initCachesView(s);
  initFaultsView(s);
  initQueueView(s);
  initLogView(s);
  s.onChange(renderStats);
  wireConsole(s);
  const select = byId<HTMLSelectElement>('linux-mode');
  fill(select, ...LINUX_MODES.map((m) => h('option', { value: m.name, title: m.describe }, m.name)));
  byId('linux-boot').addEventListener('click', () => act(s, `boot Linux (${select.value})`, () => boot(s, select.value).catch((err: unknown) => {
    byId('linux-status').textContent = 'boot failed (see the event log)';
    document.body.dataset['guest'] = 'failed';
    throw err;
  })));
  setInterval(() => { if (vtd) s.changed(); }, REFRESH_MS);
  document.body.dataset['ready'] = 'true';
}

main().catch((err: unknown) => {
  byId('fatal').textContent = `The page could not start: ${err instanceof Error ? err.message : String(err)}`;
  document.body.dataset['ready'] = 'error';
});
