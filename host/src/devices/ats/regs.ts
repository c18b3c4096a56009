/**
 * BAR0 layout of the ATS device (8 KiB memory BAR). Registers take 4- or
 * 8-byte accesses; the second 4 KiB is a window onto the device's buffer.
 *
 * | off    | name        | access | meaning |
 * |--------|-------------|--------|---------|
 * | 0x00   | ID          | RO     | 0x44535441 ("ATSD" little endian) |
 * | 0x08   | IOVA        | RW 64  | DMA address |
 * | 0x10   | LEN         | RW 32  | bytes to move, 1..4096 - BUF_OFF |
 * | 0x14   | CMD         | WO 32  | doorbell: 1 READ into the buffer, 2 WRITE the buffer, 3 TRANSLATE (fill the device-TLB for IOVA..IOVA+LEN), 4 FLUSH the device-TLB |
 * | 0x18   | STATUS      | RO 32  | 2:0 state (0 idle, 1 done, 2 fault, 3 bad command, 4 page wait, 5 aborted, 6 no permission), 15:8 fault reason |
 * | 0x1C   | BUF_OFF     | RW 32  | buffer offset the DMA starts at |
 * | 0x20   | COUNT       | RO 32  | commands completed |
 * | 0x24   | PASID       | RW 32  | 31 PASID valid, 30 privileged, 29 execute, 19:0 PASID |
 * | 0x28   | CTL         | RW 32  | bit 0 MSI vector 0 on completion; bit 1 ignore invalidation requests (they time out) |
 * | 0x2C   | DTLB_SIZE   | RO 32  | device-TLB entries |
 * | 0x30   | INV_COUNT   | RO 32  | invalidation requests completed |
 * | 0x34   | TR_COUNT    | RO 32  | translation requests sent |
 * | 0x38   | HITS        | RO 32  | device-TLB hits |
 * | 0x3C   | INV_TIMEOUT | RO 32  | invalidation requests not answered |
 * | 0x1000 | BUFFER      | RW     | the 4 KiB buffer |
 */

/** Register offsets. */
export const ATS = {
  ID: 0x00, IOVA: 0x08, LEN: 0x10, CMD: 0x14, STATUS: 0x18, BUF_OFF: 0x1c, COUNT: 0x20, PASID: 0x24,
  CTL: 0x28, DTLB_SIZE: 0x2c, INV_COUNT: 0x30, TR_COUNT: 0x34, HITS: 0x38, INV_TIMEOUT: 0x3c, BUFFER: 0x1000,
} as const;

/** BAR0 size. */
export const ATS_BAR_SIZE = 0x2000;
/** Buffer size. */
export const ATS_BUFFER_SIZE = 0x1000;
/** ID register value. */
export const ATS_ID = 0x44535441;

/** CMD values. */
export const ATS_CMD = { READ: 1, WRITE: 2, TRANSLATE: 3, FLUSH: 4 } as const;

/** STATUS.state values. */
export const ATS_STATE = { IDLE: 0, DONE: 1, FAULT: 2, BAD_COMMAND: 3, PAGE_WAIT: 4, ABORTED: 5, NO_PERMISSION: 6 } as const;

/** CTL bits. */
export const ATS_CTL = { IRQ: 1, NO_INV_RESPONSE: 2 } as const;

/** Builds a STATUS value. */
export const atsStatus = (state: number, reason = 0): number => (state & 7) | ((reason & 0xff) << 8);
