/**
 * The virtual command interface of one unit (spec/virtual-command.ts,
 * VT-d rev 3.3 §10.4.43-46): a guest writes a command to VCMD and reads the
 * answer from VCRSP. The commands run at once (VCRSP.IP is never seen set)
 * and are answered by a backend the VMM attaches: its PASID allocator with
 * the VM's set and quota (vmm/vcmd-pasids.ts). Without a backend every
 * allocation answers "no PASID available". Guest input never throws.
 */
import type { RegisterFile } from './register-file.js';
import { VCMD, VCMD_CMD, VCMD_STATUS, VCRSP } from './spec/virtual-command.js';
import type { Pasid } from '../types.js';

/** Who answers the guest's PASID commands (a VMM's host PASID allocator). */
export interface VirtualCommandBackend {
  /** A PASID for the guest, or 'no-pasid' (quota reached, space exhausted). */
  allocPasid(): number | 'no-pasid';
  /** Frees a PASID the guest was given; 'invalid' when it holds no such PASID. */
  freePasid(pasid: Pasid): 'ok' | 'invalid';
}

/** Commands answered so far, by outcome. */
export interface VirtualCommandStats {
  /** PASIDs handed out. */
  readonly allocated: number;
  /** PASIDs given back. */
  readonly freed: number;
  /** Commands answered with an error status. */
  readonly refused: number;
}

/** The virtual command registers' logic. */
export class VirtualCommands {
  /** The backend answering PASID commands (set by the VMM). */
  backend?: VirtualCommandBackend;
  private counts = { allocated: 0, freed: 0, refused: 0 };

  /** The interface over `regs` (VCMD, VCRSP); `log` hears refused commands. */
  constructor(private readonly regs: RegisterFile, private readonly log: (msg: string) => void) {}

  /** Runs the command in VCMD and writes VCRSP (after a VCMD write covering its low dword). */
  execute(): void {
    const vcmd = this.regs.get('VCMD');
    const cmd = VCMD.command(vcmd);
    let rsp: bigint;
    if (cmd === VCMD_CMD.ALLOC_PASID) rsp = this.alloc();
    else if (cmd === VCMD_CMD.FREE_PASID) rsp = this.free(VCMD.operandPasid(vcmd));
    else {
      this.log(`VCMD: undefined command 0x${cmd.toString(16)}`);
      this.counts.refused++;
      rsp = VCRSP.encode(VCMD_STATUS.UNDEFINED_COMMAND);
    }
    this.regs.set('VCRSP', rsp);
  }

  /** Counters. */
  stats(): VirtualCommandStats {
    return { ...this.counts };
  }

  /** Power-on state: counters zero (the registers reset with the file). */
  reset(): void {
    this.counts = { allocated: 0, freed: 0, refused: 0 };
  }

  private alloc(): bigint {
    const r = this.backend?.allocPasid() ?? 'no-pasid';
    if (r === 'no-pasid') {
      this.log(this.backend ? 'VCMD: allocate PASID: no PASID available' : 'VCMD: allocate PASID: no host allocator attached');
      this.counts.refused++;
      return VCRSP.encode(VCMD_STATUS.NO_PASID_AVAILABLE);
    }
    this.counts.allocated++;
    return VCRSP.encode(VCMD_STATUS.SUCCESS, r);
  }

  private free(pasid: number): bigint {
    if ((this.backend?.freePasid(pasid) ?? 'invalid') === 'invalid') {
      this.log(`VCMD: free PASID ${pasid}: not a PASID this guest holds`);
      this.counts.refused++;
      return VCRSP.encode(VCMD_STATUS.INVALID_PASID);
    }
    this.counts.freed++;
    return VCRSP.encode(VCMD_STATUS.SUCCESS);
  }
}
