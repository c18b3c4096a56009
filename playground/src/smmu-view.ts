/**
 * SMMUv3 panel: the Arm machine's SMMUv3 (`createArmMachine`) beside the
 * VT-d machine of the other panels. Its profile (`default`, `qemu-7.2`,
 * `qemu-10.0`), every register read through the unit's MMIO path, the
 * event queue's records decoded from guest memory, a register poke, and a
 * guest driver demo (host/src/guest/smmu): stream table, a stage-1 CD,
 * a DMA that translates and one that faults into the event queue. An
 * `smmuv3` scenario loaded in the scenario panel shows its machine here.
 */
import {
  ARM_RAM_BASE, SMMU_BASE, SMMU_EVT_NAME, createArmMachine, type ArmMachine,
} from '../../host/src/browser.js';
import { SmmuDriver } from '../../host/src/guest/smmu/driver.js';
import { LpaeTables } from '../../host/src/guest/smmu/lpae.js';
import { CONFIG, decodeEvent, encodeSte, s1Cd } from '../../host/src/guest/smmu/structures.js';
import { PageAllocator } from '../../host/src/tables/page-allocator.js';
import { byId, fill, h, hex, parseNum } from './dom.js';
import { newCore } from './platform.js';
import type { Session } from './session.js';

/** The Arm machine on show and what it is. */
const state: { machine?: ArmMachine; label: string } = { label: '' };

/** Puts an Arm machine on show in the panel (a new one, or a scenario's). */
export function showArm(s: Session, m: ArmMachine, label: string): void {
  state.machine = m;
  state.label = label;
  s.changed();
}

async function fresh(s: Session, profile: string): Promise<void> {
  const m = await createArmMachine({
    profile, ramMib: 64, core: newCore(), devices: [{ bdf: '00:03.0', kind: 'dma-test' }],
    log: (msg) => s.event('log', msg),
    onInterrupt: (irq) => s.event('msi', `SMMU ${irq.source}${irq.msi ? ` MSI to ${hex(irq.msi.address)} data ${hex(irq.msi.data)}` : ' (wired line)'}`),
  });
  showArm(s, m, `Arm machine (SMMUv3 profile ${profile})`);
}

function render(): void {
  const m = state.machine;
  if (!m) return;
  byId('smmu-label').textContent = state.label;
  const u = m.smmu;
  const rows = [...u.regs.rows.values()].sort((x, y) => x.offset - y.offset).map((r) =>
    h('tr', {}, h('td', { class: 'mono' }, hex(r.offset, 5)), h('td', {}, r.name), h('td', { class: 'mono' }, hex(u.mmioRead(r.offset, r.width), r.width * 2))));
  fill(byId('smmu-regs'), ...rows);
  // The event queue: EVENTQ_BASE's records from CONS to PROD (what a guest would read next).
  const base = u.regs.get('EVENTQ_BASE');
  const log2 = Math.min(Number(base & 0x1fn), u.caps.evtqLog2);
  const addr = base & 0x000f_ffff_ffff_ffe0n;
  const prod = Number(u.regs.get('EVENTQ_PROD'));
  const events = [];
  for (let i = Number(u.regs.get('EVENTQ_CONS')); (i & ((2 << log2) - 1)) !== (prod & ((2 << log2) - 1)) && events.length < 16; i++) {
    const at = addr + BigInt((i & ((1 << log2) - 1)) * 32);
    if (!m.ram.contains(at, 32)) break;
    const e = decodeEvent([0, 1, 2, 3].map((k) => m.ram.readU64(at + BigInt(8 * k))));
    events.push(h('li', { class: 'mono' }, `${SMMU_EVT_NAME[e.type] ?? hex(e.type)} sid ${hex(e.sid)}${e.ssv ? ` ssid ${e.ssid}` : ''} addr ${hex(e.addr)}${e.s2 ? ` S2 ipa ${hex(e.ipa)}` : ''} class ${e.cls}`));
  }
  fill(byId('smmu-events'), events.length ? h('ul', {}, ...events) : 'event queue empty');
}

/** The guest-driver demo: stage 1 for 00:03.0, a DMA through it, a fault into the event queue. */
function demo(s: Session): void {
  const m = state.machine!;
  const alloc = new PageAllocator(m.ram, ARM_RAM_BASE + 0x100_0000n, ARM_RAM_BASE + 0x200_0000n);
  const drv = new SmmuDriver(m, m.ram, alloc, SMMU_BASE);
  drv.init();
  const t = new LpaeTables(m.ram, alloc, 1, 48);
  t.map(0x7000_0000n, ARM_RAM_BASE + 0x300_0000n, 12);
  const cd = alloc.alloc();
  s1Cd(t.root, 1).forEach((w, i) => m.ram.writeU64(cd + BigInt(8 * i), w));
  drv.setSte(0x18, encodeSte({ V: true, Config: CONFIG.S1, S1ContextPtr: cd }));
  m.ram.fill(ARM_RAM_BASE + 0x300_0000n, 64, 0x5a);
  const dev = m.dmaTest('00:03.0');
  const ok = dev.read(0x7000_0000n, 16);
  s.event('obs', `DMA read VA 0x70000000 -> ${ok.ok ? `ok, buffer[0] ${hex(dev.buffer()[0]!)}` : `fault ${ok.reason}`}`);
  const bad = dev.read(0x7100_0000n, 16);
  s.event('fault', `DMA read VA 0x71000000 -> ${bad.ok ? 'ok' : `event ${SMMU_EVT_NAME[bad.reason] ?? bad.reason}`}`);
}

/** Wires the SMMUv3 panel and builds its first machine. */
export async function initSmmuView(s: Session): Promise<void> {
  await fresh(s, 'default');
  byId<HTMLSelectElement>('smmu-profile').addEventListener('change', (e) => {
    const p = (e.target as HTMLSelectElement).value;
    void s.act(`new Arm machine (${p})`, () => fresh(s, p));
  });
  byId('smmu-demo').addEventListener('click', () => void s.act('SMMUv3 guest: stage 1, DMA, fault', () => demo(s)));
  byId('smmu-poke-read').addEventListener('click', () => void s.act('SMMU MMIO read', () => {
    const off = parseNum(byId<HTMLInputElement>('smmu-poke-offset').value, 'offset');
    const v = state.machine!.mmioRead(SMMU_BASE + off, 4);
    byId('smmu-poke-result').textContent = `${hex(off)} = ${hex(v)}`;
  }));
  byId('smmu-poke-write').addEventListener('click', () => void s.act('SMMU MMIO write', () => {
    const off = parseNum(byId<HTMLInputElement>('smmu-poke-offset').value, 'offset');
    state.machine!.mmioWrite(SMMU_BASE + off, 4, parseNum(byId<HTMLInputElement>('smmu-poke-value').value, 'value'));
  }));
  s.onChange(render);
}
