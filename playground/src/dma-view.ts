/**
 * DMA panel: the devices of the machine on show (kind, bus master, ATS
 * device-TLB size), and a form that makes a DMA test or ATS device issue a
 * DMA read or write through the IOMMU (the device's own DMA port), then
 * shows the result, the fault reason if any, and the first bytes of the
 * device buffer. The shared work queue device only DMAs for work
 * descriptors with a PASID (the enqcmd / shared-pasid seed flows drive it).
 */
import { ATS_STATE, AtsDevice, type Machine } from '../../host/src/browser.js';
import { byId, faultName, fill, h, hex, parseIntIn, parseNum, showResult } from './dom.js';
import type { Session, ShownDevice } from './session.js';

const ATS_STATE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(ATS_STATE).map(([k, v]) => [v, k.toLowerCase().replace('_', ' ')]));

const canDma = (d: ShownDevice): boolean => d.kind === 'dma-test' || d.kind === 'ats';

function renderDevices(s: Session): void {
  const m = s.machine;
  const devices = s.devices;
  fill(byId('devices'), h('tr', {}, ...['BDF', 'kind', 'bus master', 'notes'].map((t) => h('th', {}, t))),
    ...devices.map((d) => {
      const dev = m.device(d.bdf);
      const note = dev instanceof AtsDevice
        ? `ATS ${dev.fn.ats?.enabled() ? 'on' : 'off'}, device-TLB ${dev.tlb.size} entries`
        : d.kind === 'swq' ? 'DMA through PASID-tagged work descriptors (seed flows enqcmd, shared-pasid)' : '';
      return h('tr', { 'data-bdf': d.bdf }, h('td', { class: 'mono' }, d.bdf), h('td', {}, d.kind),
        h('td', {}, dev.config.busMaster() ? 'on' : 'off'), h('td', { class: 'note' }, note));
    }));
  const sel = byId<HTMLSelectElement>('dma-bdf');
  const current = sel.value;
  const targets = devices.filter(canDma);
  const key = targets.map((d) => `${d.bdf} ${d.kind}`);
  if ([...sel.options].map((o) => o.textContent).join() === key.join()) return;
  fill(sel, ...targets.map((d, i) => h('option', { value: d.bdf, selected: d.bdf === current }, key[i])));
}

function buffer(m: Machine, bdf: string): Uint8Array {
  const dev = m.device(bdf);
  return dev instanceof AtsDevice ? dev.buffer() : m.dmaTest(bdf).buffer();
}

/** One DMA by the device at `bdf`; the result text ("ok" or the fault). */
function dma(m: Machine, bdf: string, write: boolean, iova: bigint, len: number): string {
  const dev = m.device(bdf);
  if (dev instanceof AtsDevice) {
    const status = write ? dev.write(iova, len) : dev.read(iova, len);
    const state = status & 7;
    const reason = (status >> 8) & 0xff;
    if (state === ATS_STATE.DONE) return 'ok';
    return `${ATS_STATE_NAMES.get(state) ?? `state ${state}`}${reason ? ` ${faultName(reason)}` : ''}${dev.config.busMaster() ? '' : ' (bus master is off)'}`;
  }
  const t = m.dmaTest(bdf);
  const r = write ? t.write(iova, len) : t.read(iova, len);
  return r.ok ? 'ok' : `fault ${faultName(r.reason)}${r.recorded ? ' (recorded)' : ' (not recorded)'}`;
}

/**
 * Issues one DMA from the form; the result line is `#dma-result`. A bad value
 * (or a device that cannot do it) is shown there instead, and the old
 * result and buffer are cleared first, so nothing stale stays on screen.
 */
function issue(s: Session, write: boolean): void {
  const result = byId('dma-result');
  const shownBuffer = byId('dma-buffer');
  showResult(result, '…');
  shownBuffer.textContent = '';
  const value = (id: string): string => byId<HTMLInputElement>(id).value;
  void s.act(`DMA ${write ? 'write' : 'read'}`, () => {
    const m = s.machine;
    const bdf = byId<HTMLSelectElement>('dma-bdf').value;
    if (!bdf) throw new Error('device: the machine on show has no device that can DMA here');
    const buf = buffer(m, bdf);
    const iova = parseNum(value('dma-iova'), 'iova');
    const len = parseIntIn(value('dma-len'), 'len', 1, buf.length);
    const byte = write ? parseIntIn(value('dma-byte'), 'write byte', 0, 0xff) : 0;
    if (write) buf.fill(byte, 0, len);
    const text = dma(m, bdf, write, iova, len);
    showResult(result, text);
    s.event(text === 'ok' ? 'obs' : 'fault', `DMA ${write ? 'write' : 'read'} ${bdf} ${hex(iova)}+${len}: ${text}`);
    const bytes = buffer(m, bdf).subarray(0, Math.min(len, 64));
    shownBuffer.textContent = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  }, (message) => showResult(result, message, true));
}

/** Wires the DMA panel. */
export function initDmaView(s: Session): void {
  byId('dma-read').addEventListener('click', () => issue(s, false));
  byId('dma-write').addEventListener('click', () => issue(s, true));
  s.onChange(() => renderDevices(s));
}
