/**
 * Test helpers for the DMA test device: the flat DMA port of
 * common/testing.ts and a driver that runs commands through BAR0 as guest
 * software would.
 */
import type { DmaTestDevice } from './device.js';
import { DMAT, DMAT_CMD } from './regs.js';
import type { Iova } from '../../types.js';

export { FakeDmaPort, FakePageRequestSink, type PortRequest } from '../common/testing.js';

/** Runs one command through BAR0 (IOVA, LEN, BUF_OFF, CMD) and returns STATUS. */
export function barCommand(dev: DmaTestDevice, cmd: 'read' | 'write', iova: Iova, len: number, bufOff = 0): number {
  dev.barWrite(DMAT.IOVA, 8, iova);
  dev.barWrite(DMAT.LEN, 4, BigInt(len));
  dev.barWrite(DMAT.BUF_OFF, 4, BigInt(bufOff));
  dev.barWrite(DMAT.CMD, 4, BigInt(cmd === 'read' ? DMAT_CMD.READ : DMAT_CMD.WRITE));
  return Number(dev.barRead(DMAT.STATUS, 4));
}
