/**
 * DMA panel: makes a device of the machine on show issue a DMA read or write
 * through the IOMMU (the device's own DMA port), then shows the result, the
 * fault reason if any, and the first bytes of the device buffer.
 */
import { byId, faultName, fill, h, hex, parseNum } from './dom.js';
import type { Session } from './session.js';

function renderDevices(s: Session): void {
  const sel = byId<HTMLSelectElement>('dma-bdf');
  const current = sel.value;
  if ([...sel.options].map((o) => o.value).join() === s.devices.join()) return;
  fill(sel, ...s.devices.map((d) => h('option', { value: d, selected: d === current }, d)));
}

function showBuffer(s: Session, bdf: string, len: number): void {
  const bytes = s.machine.dmaTest(bdf).buffer().subarray(0, Math.min(len, 64));
  byId('dma-buffer').textContent = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Issues one DMA from the form; the result line is `#dma-result`. */
function issue(s: Session, write: boolean): void {
  const bdf = byId<HTMLSelectElement>('dma-bdf').value;
  const iova = parseNum(byId<HTMLInputElement>('dma-iova').value, 'iova');
  const len = Number(parseNum(byId<HTMLInputElement>('dma-len').value, 'len'));
  void s.act(`DMA ${write ? 'write' : 'read'} ${bdf} iova ${hex(iova)} len ${len}`, () => {
    const dev = s.machine.dmaTest(bdf);
    if (write) dev.buffer().fill(Number(parseNum(byId<HTMLInputElement>('dma-byte').value, 'byte')) & 0xff, 0, len);
    const r = write ? dev.write(iova, len) : dev.read(iova, len);
    const text = r.ok ? 'ok' : `fault ${faultName(r.reason)}${r.recorded ? ' (recorded)' : ' (not recorded)'}`;
    byId('dma-result').textContent = text;
    s.event(r.ok ? 'obs' : 'fault', `DMA ${write ? 'write' : 'read'} ${bdf} ${hex(iova)}+${len}: ${text}`);
    showBuffer(s, bdf, len);
  });
}

/** Wires the DMA panel. */
export function initDmaView(s: Session): void {
  byId('dma-read').addEventListener('click', () => issue(s, false));
  byId('dma-write').addEventListener('click', () => issue(s, true));
  s.onChange(() => renderDevices(s));
}
