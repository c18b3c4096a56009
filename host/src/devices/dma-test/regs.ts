/**
 * BAR0 layout of the DMA test device (8 KiB memory BAR). Registers take 4- or
 * 8-byte accesses; the second 4 KiB is a window onto the device's buffer.
 *
 * | off    | name     | access | meaning |
 * |--------|----------|--------|---------|
 * | 0x00   | ID       | RO     | 0x544d4144 ("DMAT" little endian) |
 * | 0x08   | IOVA     | RW 64  | DMA address (the source of READ and COPY) |
 * | 0x10   | LEN      | RW 32  | bytes to move, 1..4096 - BUF_OFF |
 * | 0x14   | CMD      | WO 32  | doorbell: 1 READ LEN bytes at IOVA into the buffer, 2 WRITE the buffer to IOVA, 3 COPY IOVA -> DST through the buffer |
 * | 0x18   | STATUS   | RO 32  | 2:0 state (0 idle, 1 done, 2 fault, 3 bad command, 4 waiting for a page response, 5 aborted: bus master off or master abort), 15:8 fault reason |
 * | 0x1C   | BUF_OFF  | RW 32  | buffer offset the DMA starts at |
 * | 0x20   | COUNT    | RO 32  | commands completed |
 * | 0x24   | PASID    | RW 32  | 31 PASID valid, 30 privileged, 29 execute, 19:0 PASID of the requests |
 * | 0x28   | IRQ      | RW 32  | bit 0: send MSI vector 0 when a command completes |
 * | 0x2C   | RAISE    | WO 32  | sends interrupt vector `value` at once (MSI-X entry, or the MSI vector modulo the vectors enabled), as QEMU edu's 0x60 |
 * | 0x30   | DST      | RW 64  | destination of COPY |
 * | 0x1000 | BUFFER   | RW     | the 4 KiB buffer |
 */

/** Register offsets. */
export const DMAT = {
  ID: 0x00, IOVA: 0x08, LEN: 0x10, CMD: 0x14, STATUS: 0x18, BUF_OFF: 0x1c, COUNT: 0x20,
  PASID: 0x24, IRQ: 0x28, RAISE: 0x2c, DST: 0x30, BUFFER: 0x1000,
} as const;

/** BAR0 size. */
export const DMAT_BAR_SIZE = 0x2000;
/** Buffer size. */
export const DMAT_BUFFER_SIZE = 0x1000;
/** ID register value. */
export const DMAT_ID = 0x544d4144;

/** CMD values. */
export const DMAT_CMD = { READ: 1, WRITE: 2, COPY: 3 } as const;

/** STATUS.state values. */
export const DMAT_STATE = { IDLE: 0, DONE: 1, FAULT: 2, BAD_COMMAND: 3, PAGE_WAIT: 4, ABORTED: 5 } as const;

/** IRQ register bits. */
export const DMAT_IRQ = { ON_COMPLETION: 1 } as const;

/** Builds a STATUS value. */
export const dmatStatus = (state: number, reason = 0): number => (state & 7) | ((reason & 0xff) << 8);
